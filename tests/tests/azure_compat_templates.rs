//! Compatibility with Azure TRE's API for templates and a workspace's users and roles: one
//! test per behaviour its clients (e2e tests, `tre` CLI, UI) rely on, each written from the
//! Azure TRE API model or route it names. Where this API differs on purpose, the README's
//! "differences from Azure TRE" table says so; these tests check the shared behaviour.

use reqwest::Method;
use serde_json::{json, Value};
use tre_e2e::{create, register_sample_templates, TestStack};

/// An Azure TRE registration body: `name`, `version`, `current`, `json_schema`.
fn azure_body(name: &str, version: &str, current: Value, schema: Value) -> Value {
    json!({"name": name, "version": version, "current": current, "json_schema": schema})
}

fn names(list: &Value) -> Vec<String> {
    list["templates"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Registration in Azure TRE's shape (`TemplateInCreate`, api_app/models/schemas/
/// resource_template.py), as its e2e smoke test sends it (e2e_tests/
/// test_workspace_service_templates.py: `"current": "true"`, a JSON Schema with `$schema`,
/// `$id` and `type`) and as its registration script does (porter's output beside it, and
/// `resourceType`): 201, then 409 for the same name and version; `current` as a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_takes_json_schema_and_current_as_a_string() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://github.com/microsoft/AzureTRE/templates/workspace_services/x/template_schema.json",
        "type": "object", "title": "DONOTUSE", "description": "DO NOT USE",
        "required": [], "properties": {}
    });
    let mut body = azure_body(
        "e2e-test-workspace-service",
        "0.0.1",
        json!("true"),
        schema.clone(),
    );
    // What the registration script adds from `porter explain`, and the kind.
    body["resourceType"] = json!("workspace-service");
    body["porterVersion"] = json!("v1.0.0");
    body["parameters"] = json!([{"name": "tre_id", "type": "string"}]);
    let base = "/api/workspace-service-templates";
    let created = t.post_ok(base, &admin, &body, 201).await;
    assert_eq!(created["name"], "e2e-test-workspace-service");
    assert_eq!(created["title"], "DONOTUSE");
    assert_eq!(created["current"], true);
    assert_eq!(t.post(base, &admin, &body).await.status, 409);

    // `"current": "false"` leaves the current version as it is...
    let v2 = azure_body(
        "e2e-test-workspace-service",
        "0.0.2",
        json!("false"),
        schema.clone(),
    );
    assert_eq!(t.post_ok(base, &admin, &v2, 201).await["current"], false);
    let got = t
        .get(&format!("{base}/e2e-test-workspace-service"), &admin)
        .await;
    assert_eq!(got.body["version"], "0.0.1");
    // ... `true` makes the new one current and the old one not.
    let v3 = azure_body(
        "e2e-test-workspace-service",
        "0.0.3",
        json!(true),
        schema.clone(),
    );
    t.post_ok(base, &admin, &v3, 201).await;
    let got = t
        .get(&format!("{base}/e2e-test-workspace-service"), &admin)
        .await;
    assert_eq!(got.body["version"], "0.0.3");
    let versions = t
        .get(
            &format!("{base}/e2e-test-workspace-service/versions"),
            &admin,
        )
        .await;
    let current: Vec<(&str, bool)> = versions.body["templates"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| (v["version"].as_str().unwrap_or(""), v["current"] == true))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        current,
        [("0.0.1", false), ("0.0.2", false), ("0.0.3", true)]
    );

    // The first version of a template is current whatever it asks (there must be one).
    let first = azure_body("first-not-current", "1.0.0", json!("false"), schema.clone());
    assert_eq!(t.post_ok(base, &admin, &first, 201).await["current"], true);

    // A kind that contradicts the route is a mistake, not something to ignore.
    let mut wrong = azure_body("wrong-kind", "1.0.0", json!(true), schema.clone());
    wrong["resourceType"] = json!("workspace");
    assert_eq!(t.post(base, &admin, &wrong).await.status, 400);
    // `json_schema` without its title is not a registration (Azure TRE fails with a 500).
    let untitled = azure_body(
        "untitled",
        "1.0.0",
        json!(true),
        json!({"description": "d", "properties": {}}),
    );
    assert_eq!(t.post(base, &admin, &untitled).await.status, 422);
    // Not a TRE admin: refused.
    let other = azure_body("by-researcher", "1.0.0", json!(true), schema);
    assert_eq!(
        t.post(base, &t.token("researcher"), &other).await.status,
        403
    );
}

/// The template response (`TemplateInResponse`, api_app/models/schemas/resource_template.py):
/// the schema at the top level (`type: object`, `required`,
/// `properties` with the base `display_name`/`description`/`overview` of
/// api_app/schemas/workspace.json), `resourceType`, `system_properties`, `uiSchema`,
/// `pipeline`, `customActions`; lists as `{"templates": [TemplateInfo]}`; `?version=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_template_has_the_schema_at_the_top_level() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let mut body = azure_body(
        "tre-workspace-base",
        "0.1.0",
        json!(true),
        json!({
            "title": "Base workspace", "description": "A workspace",
            "required": ["address_space_size"],
            "authorizedRoles": ["TREAdmin"],
            "properties": {
                "address_space_size": {"type": "string", "enum": ["small", "medium"], "default": "small"},
                "enable_backup": {"type": "boolean", "default": true, "updateable": true}
            },
            "uiSchema": {"enable_backup": {"ui:widget": "checkbox"}},
            "pipeline": {"install": [{"stepId": "main"}]}
        }),
    );
    body["customActions"] = json!([{"name": "restart", "description": "Restart it"}]);
    t.post_ok("/api/workspace-templates", &admin, &body, 201)
        .await;

    let got = t
        .get("/api/workspace-templates/tre-workspace-base", &admin)
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let v = &got.body;
    for key in [
        "id",
        "name",
        "title",
        "description",
        "version",
        "resourceType",
        "current",
        "type",
        "required",
        "authorizedRoles",
        "properties",
        "system_properties",
        "actions",
        "customActions",
        "uiSchema",
        "pipeline",
    ] {
        assert!(v.get(key).is_some(), "no `{key}` in {v}");
    }
    assert_eq!(v["resourceType"], "workspace");
    assert_eq!(v["type"], "object");
    assert_eq!(v["title"], "Base workspace");
    let required: Vec<&str> = v["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for r in ["display_name", "description", "address_space_size"] {
        assert!(required.contains(&r), "{required:?}");
    }
    for p in ["display_name", "description", "overview", "enable_backup"] {
        assert!(v["properties"][p].is_object(), "no property {p}: {v}");
    }
    assert_eq!(v["properties"]["display_name"]["updateable"], true);
    assert_eq!(v["authorizedRoles"], json!(["TREAdmin"]));
    assert_eq!(v["uiSchema"]["enable_backup"]["ui:widget"], "checkbox");
    assert_eq!(v["pipeline"]["install"][0]["stepId"], "main");
    assert_eq!(v["customActions"][0]["name"], "restart");
    assert_eq!(v["actions"], json!([]));
    assert!(v["system_properties"].is_object());
    // What Azure TRE's e2e test reads of it.
    assert!(v
        .get("properties")
        .and_then(|p| p.get("enable_backup"))
        .is_some());

    // A list entry, as the CLI's `templates[].{name,title,description}` reads it.
    let list = t.get("/api/workspace-templates", &admin).await;
    assert_eq!(list.status, 200);
    let entry = &list.body["templates"][0];
    assert_eq!(entry["name"], "tre-workspace-base");
    assert_eq!(entry["title"], "Base workspace");
    assert_eq!(entry["description"], "A workspace");
    assert_eq!(entry["authorizedRoles"], json!(["TREAdmin"]));
    // `authorized_only` drops templates for roles the caller lacks.
    let researcher = t.token("researcher");
    let mine = t
        .get("/api/workspace-templates?authorized_only=true", &researcher)
        .await;
    assert!(names(&mine.body).is_empty(), "{}", mine.body);

    // `?version=` picks a version, and an unknown one is not found.
    body["version"] = json!("0.2.0");
    t.post_ok("/api/workspace-templates", &admin, &body, 201)
        .await;
    let old = t
        .get(
            "/api/workspace-templates/tre-workspace-base?version=0.1.0",
            &admin,
        )
        .await;
    assert_eq!(old.body["version"], "0.1.0");
    assert_eq!(old.body["current"], false);
    let none = t
        .get(
            "/api/workspace-templates/tre-workspace-base?version=9.9.9",
            &admin,
        )
        .await;
    assert_eq!(none.status, 404);

    // A resource made from it is validated like Azure TRE validates: the base properties are
    // required and nothing undeclared passes.
    let ws = |props: Value| json!({"templateName": "tre-workspace-base", "properties": props});
    let missing = t
        .post("/api/workspaces", &admin, &ws(json!({"display_name": "x"})))
        .await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    let unknown = t
        .post(
            "/api/workspaces",
            &admin,
            &ws(json!({"display_name": "x", "description": "d", "address_space_size": "small", "surprise": 1})),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    t.post_ok(
        "/api/workspaces",
        &admin,
        &ws(json!({"display_name": "x", "description": "d", "address_space_size": "small"})),
        202,
    )
    .await;
}

/// `?is_update=true` (api_app/api/routes/workspace_templates.py and the other template routes;
/// the UI's update forms ask for it with `&version=`): every property that is not
/// `updateable` carries `readOnly: true`, conditional ones included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_update_marks_what_cannot_change_read_only() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let body = azure_body(
        "svc-with-options",
        "1.0.0",
        json!(true),
        json!({
            "title": "Options", "description": "d",
            "properties": {
                "sku": {"type": "string", "default": "small"},
                "backup": {"type": "boolean", "default": false, "updateable": true}
            },
            "allOf": [{
                "if": {"properties": {"backup": {"const": true}}, "required": ["backup"]},
                "then": {"properties": {"vault": {"type": "string"}}}
            }]
        }),
    );
    t.post_ok("/api/workspace-service-templates", &admin, &body, 201)
        .await;
    let path = "/api/workspace-service-templates/svc-with-options";
    let update = t.get(&format!("{path}?is_update=true"), &admin).await;
    assert_eq!(update.status, 200, "{}", update.body);
    let props = &update.body["properties"];
    assert_eq!(props["sku"]["readOnly"], true);
    assert!(props["backup"].get("readOnly").is_none(), "{props}");
    assert!(props["display_name"].get("readOnly").is_none(), "{props}");
    assert_eq!(
        update.body["allOf"][0]["then"]["properties"]["vault"]["readOnly"],
        true
    );
    // Without it (or with `false`), nothing is marked.
    for q in ["", "?is_update=false"] {
        let plain = t.get(&format!("{path}{q}"), &admin).await;
        assert!(plain.body["properties"]["sku"].get("readOnly").is_none());
    }
    assert_eq!(
        t.get(&format!("{path}?is_update=perhaps"), &admin)
            .await
            .status,
        400
    );
}

/// User-resource templates nested under their workspace-service template
/// (api_app/api/routes/user_resource_templates.py): POST registers under the service template
/// (404 when it has none), GET lists its own and gets one (`parentWorkspaceService`), and a
/// template of another service is not found there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_resource_templates_are_nested_under_their_service_template() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let svc_schema = json!({"title": "Guacamole", "description": "d", "properties": {}});
    t.post_ok(
        "/api/workspace-service-templates",
        &admin,
        &azure_body("tre-service-guacamole", "0.1.0", json!(true), svc_schema),
        201,
    )
    .await;
    let nested = "/api/workspace-service-templates/tre-service-guacamole/user-resource-templates";
    let vm = azure_body(
        "tre-service-guacamole-windowsvm",
        "0.1.0",
        json!("true"),
        json!({"title": "Windows VM", "description": "A VM",
               "properties": {"os_image": {"type": "string", "default": "Windows 11"}}}),
    );
    let created = t.post_ok(nested, &admin, &vm, 201).await;
    assert_eq!(created["resourceType"], "user-resource");
    assert_eq!(created["parentWorkspaceService"], "tre-service-guacamole");
    assert_eq!(t.post(nested, &admin, &vm).await.status, 409);

    let list = t.get(nested, &t.token("researcher")).await;
    assert_eq!(list.status, 200);
    assert_eq!(names(&list.body), ["tre-service-guacamole-windowsvm"]);
    let one = t
        .get(&format!("{nested}/tre-service-guacamole-windowsvm"), &admin)
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["title"], "Windows VM");
    assert_eq!(one.body["parentWorkspaceService"], "tre-service-guacamole");
    assert!(one.body["properties"]["os_image"].is_object());
    let versions = t
        .get(
            &format!("{nested}/tre-service-guacamole-windowsvm/versions"),
            &admin,
        )
        .await;
    assert_eq!(versions.body["templates"][0]["version"], "0.1.0");

    // Under another service template, it is not there.
    let other = "/api/workspace-service-templates/svc-notebook/user-resource-templates";
    assert_eq!(names(&t.get(other, &admin).await.body), ["ur-vm"]);
    assert_eq!(
        t.get(&format!("{other}/tre-service-guacamole-windowsvm"), &admin)
            .await
            .status,
        404
    );
    // A service template that does not exist cannot take user-resource templates.
    let missing = "/api/workspace-service-templates/no-such-service/user-resource-templates";
    assert_eq!(t.post(missing, &admin, &vm).await.status, 404);
    // A body naming another parent than the path is refused.
    let mut confused = vm.clone();
    confused["version"] = json!("0.2.0");
    confused["parentWorkspaceService"] = json!("svc-notebook");
    assert_eq!(t.post(nested, &admin, &confused).await.status, 400);
}

/// A workspace's view of the templates its people may use (api_app/api/routes/workspaces.py:
/// `/workspaces/{id}/workspace-service-templates` and `.../{name}/user-resource-templates`,
/// filtered by `authorizedRoles` against the caller's roles): members see what their roles
/// allow, TRE admins too, strangers see nothing of the workspace; and a template a caller's
/// roles do not allow cannot be used to create a resource either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_scoped_template_lists_follow_authorized_roles() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let schema = |roles: Value| {
        json!({"title": "t", "description": "d", "authorizedRoles": roles,
               "properties": {"display_name": {"type": "string"}}})
    };
    let svc = "/api/workspace-service-templates";
    t.post_ok(
        svc,
        &admin,
        &azure_body(
            "svc-owners-only",
            "1.0.0",
            json!(true),
            schema(json!(["WorkspaceOwner"])),
        ),
        201,
    )
    .await;
    let ur = "/api/workspace-service-templates/svc-notebook/user-resource-templates";
    t.post_ok(
        ur,
        &admin,
        &azure_body(
            "ur-owners-only",
            "1.0.0",
            json!(true),
            schema(json!(["WorkspaceOwner"])),
        ),
        201,
    )
    .await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    for (who, role) in [
        ("dev-owner", "WorkspaceOwner"),
        ("dev-researcher", "WorkspaceResearcher"),
    ] {
        t.post_ok(
            &format!("/api/workspaces/{ws}/users/assign"),
            &admin,
            &json!({"role_id": role, "user_ids": [who]}),
            202,
        )
        .await;
    }
    let in_ws = format!("/api/workspaces/{ws}/workspace-service-templates");
    let ur_in_ws = format!("{in_ws}/svc-notebook/user-resource-templates");
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let owner = t.token("owner");
    let researcher = t.token("researcher");
    assert_eq!(
        sorted(names(&t.get(&in_ws, &owner).await.body)),
        ["svc-notebook", "svc-owners-only"]
    );
    assert_eq!(
        names(&t.get(&in_ws, &researcher).await.body),
        ["svc-notebook"]
    );
    assert_eq!(
        sorted(names(&t.get(&ur_in_ws, &owner).await.body)),
        ["ur-owners-only", "ur-vm"]
    );
    assert_eq!(names(&t.get(&ur_in_ws, &researcher).await.body), ["ur-vm"]);
    // A TRE admin is not a workspace owner: the owners' template is not for them.
    assert_eq!(names(&t.get(&in_ws, &admin).await.body), ["svc-notebook"]);
    // Someone without a role in the workspace learns nothing of it.
    assert_eq!(t.get(&in_ws, &t.token("airlock-manager")).await.status, 404);

    // The roles hold at creation too: the researcher may not use the owners' template.
    let svc_id = create(
        &t,
        &format!("/api/workspaces/{ws}/workspace-services"),
        &admin,
        "svc-notebook",
        "svc",
    )
    .await;
    let urs = format!("/api/workspaces/{ws}/workspace-services/{svc_id}/user-resources");
    let body = json!({"templateName": "ur-owners-only", "properties": {"display_name": "vm", "description": "d"}});
    assert_eq!(t.post(&urs, &researcher, &body).await.status, 403);
    t.post_ok(&urs, &owner, &body, 202).await;
}

/// A workspace's roles and the people holding them (api_app/api/routes/workspace_users.py:
/// `GET /workspaces/{id}/roles` → `{"roles": [{id, displayName}]}`, `GET .../users` →
/// `{"users": [{id, displayName, userPrincipalName, email, roles: [{id, displayName}]}]}`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_roles_and_users() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    let roles = t.get(&format!("/api/workspaces/{ws}/roles"), &admin).await;
    assert_eq!(roles.status, 200, "{}", roles.body);
    let ids: Vec<&str> = roles.body["roles"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        ["WorkspaceOwner", "WorkspaceResearcher", "AirlockManager"]
    );
    assert_eq!(roles.body["roles"][0]["displayName"], "Workspace Owner");

    t.assign_roles(
        &admin,
        &ws,
        &[
            ("dev-owner", "WorkspaceOwner"),
            ("dev-researcher", "WorkspaceResearcher"),
            ("dev-researcher", "AirlockManager"),
        ],
    )
    .await;
    let owner = t.token("owner");
    let users = t.get(&format!("/api/workspaces/{ws}/users"), &owner).await;
    assert_eq!(users.status, 200, "{}", users.body);
    let list = users.body["users"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2, "{}", users.body);
    let researcher = list
        .iter()
        .find(|u| u["id"] == "dev-researcher")
        .cloned()
        .unwrap_or_default();
    for key in ["id", "displayName", "userPrincipalName", "email", "roles"] {
        assert!(researcher.get(key).is_some(), "no `{key}` in {researcher}");
    }
    assert_eq!(
        researcher["roles"],
        json!([
            {"id": "WorkspaceResearcher", "displayName": "Workspace Researcher"},
            {"id": "AirlockManager", "displayName": "Airlock Manager"}
        ])
    );
    // The caller is known by their token: the owner sees their own name and email.
    let me = list
        .iter()
        .find(|u| u["id"] == "dev-owner")
        .cloned()
        .unwrap_or_default();
    assert_eq!(me["displayName"], "Dev Workspace Owner");
    assert_eq!(me["email"], "owner@tre.localhost");

    // Who holds which role is for TRE admins and owners; strangers see no workspace.
    let researcher_token = t.token("researcher");
    assert_eq!(
        t.get(&format!("/api/workspaces/{ws}/users"), &researcher_token)
            .await
            .status,
        403
    );
    assert_eq!(
        t.get(
            &format!("/api/workspaces/{ws}/roles"),
            &t.token("airlock-manager")
        )
        .await
        .status,
        404
    );
}

/// `GET /workspaces/{id}/assignable-users?filter=&maxResultCount=` (api_app/api/routes/
/// workspace_users.py → `{"assignable_users": [{id, displayName, userPrincipalName, email}]}`).
/// There is no directory here: the principals known are the caller and those holding a role
/// in a workspace the caller manages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignable_users_come_from_known_principals() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let a = create(&t, "/api/workspaces", &admin, "ws-base", "a").await;
    let b = create(&t, "/api/workspaces", &admin, "ws-base", "b").await;
    for (ws, who) in [
        (&a, "dev-owner"),
        (&b, "alice@example.org"),
        (&b, "bob@example.org"),
    ] {
        t.post_ok(
            &format!("/api/workspaces/{ws}/role-assignments"),
            &admin,
            &json!({"principalId": who, "role": "WorkspaceOwner"}),
            201,
        )
        .await;
    }
    let path = |q: &str| format!("/api/workspaces/{a}/assignable-users{q}");
    let ids = |v: &Value| -> Vec<String> {
        v["assignable_users"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    // A TRE admin finds principals of every workspace, by part of the id, in any case.
    let found = t
        .get(&path("?filter=EXAMPLE.org&maxResultCount=10"), &admin)
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(ids(&found.body), ["alice@example.org", "bob@example.org"]);
    let first = &found.body["assignable_users"][0];
    assert_eq!(first["displayName"], "alice@example.org");
    assert_eq!(first["userPrincipalName"], "alice@example.org");
    assert_eq!(first["email"], "");
    // At most 5 unless asked; `maxResultCount` limits.
    assert_eq!(
        ids(&t.get(&path("?maxResultCount=1"), &admin).await.body).len(),
        1
    );
    let all = ids(&t.get(&path(""), &admin).await.body);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.contains(&"dev-admin".to_string()) && all.contains(&"dev-owner".to_string()));
    assert_eq!(t.get(&path("?maxResultCount=0"), &admin).await.status, 400);
    // An owner finds only the people of workspaces they own (and themselves).
    let owner = ids(&t.get(&path(""), &t.token("owner")).await.body);
    assert_eq!(owner, ["dev-owner"]);
}

/// `POST /workspaces/{id}/users/assign` with `{"role_id", "user_ids"}` → 202 with the same
/// fields, and `DELETE /workspaces/{id}/users/assign?user_id=&role_id=` → 202
/// (api_app/api/routes/workspace_users.py); what they change is what the role assignments
/// (and so authorisation) say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_assign_and_unassign() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    let assign = format!("/api/workspaces/{ws}/users/assign");
    let body = json!({"role_id": "WorkspaceResearcher", "user_ids": ["dev-researcher", "carol@example.org"]});
    let reply = t.post_ok(&assign, &admin, &body, 202).await;
    assert_eq!(reply, body);
    // Again: the same outcome, nothing to change.
    t.post_ok(&assign, &admin, &body, 202).await;
    let researcher = t.token("researcher");
    assert_eq!(
        t.get(&format!("/api/workspaces/{ws}"), &researcher)
            .await
            .status,
        200
    );
    let users = t.get(&format!("/api/workspaces/{ws}/users"), &admin).await;
    assert_eq!(users.body["users"].as_array().map(Vec::len), Some(2));

    // A role that does not exist, or no one to give it to, is refused.
    let bad = json!({"role_id": "Emperor", "user_ids": ["x"]});
    assert_eq!(t.post(&assign, &admin, &bad).await.status, 400);
    let nobody = json!({"role_id": "AirlockManager", "user_ids": []});
    assert_eq!(t.post(&assign, &admin, &nobody).await.status, 400);
    // Only TRE admins and the workspace's owners assign.
    let mine = json!({"role_id": "WorkspaceOwner", "user_ids": ["dev-researcher"]});
    assert_eq!(t.post(&assign, &researcher, &mine).await.status, 403);

    let gone = t
        .call(
            Method::DELETE,
            &format!("{assign}?user_id=dev-researcher&role_id=WorkspaceResearcher"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(gone.status, 202, "{}", gone.body);
    assert_eq!(
        gone.body,
        json!({"user_ids": ["dev-researcher"], "role_id": "WorkspaceResearcher"})
    );
    assert_eq!(
        t.get(&format!("/api/workspaces/{ws}"), &researcher)
            .await
            .status,
        404
    );
    // Both query parameters are needed.
    let half = t
        .call(
            Method::DELETE,
            &format!("{assign}?user_id=dev-researcher"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(half.status, 400);
}

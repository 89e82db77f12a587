//! Wire compatibility with Azure TRE's API for resources and operations: each test checks one
//! thing its clients (its e2e tests, its `tre` CLI, its UI) rely on, as Azure TRE's API models
//! and routes define it (api_app/models/domain/*.py, api_app/api/routes/*.py). The airlock and
//! templates have their own files.

use reqwest::Method;
use serde_json::{json, Value};
use tre_e2e::{create, register_sample_templates, TestStack};

struct Raw {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// A request with any headers (the harness only knows `If-Match`).
async fn send(
    t: &TestStack,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Raw {
    let mut req = t
        .http
        .request(method, format!("{}{}", t.stack.api_url, path));
    if let Some(tok) = token {
        req = req.bearer_auth(tok);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Raw {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn header<'a>(r: &'a Raw, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A stack with the sample templates and a deployed workspace, service and user resource.
struct Tree {
    t: TestStack,
    admin: String,
    ws: String,
    svc: String,
    ur: String,
}

async fn tree() -> Tree {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws_id = create(&t, "/api/workspaces", &admin, "ws-base", "w").await;
    let ws = format!("/api/workspaces/{ws_id}");
    let svc_base = format!("{ws}/workspace-services");
    let svc_id = create(&t, &svc_base, &admin, "svc-notebook", "s").await;
    let svc = format!("{svc_base}/{svc_id}");
    let ur_base = format!("{svc}/user-resources");
    let ur_id = create(&t, &ur_base, &admin, "ur-vm", "u").await;
    let ur = format!("{ur_base}/{ur_id}");
    Tree {
        t,
        admin,
        ws,
        svc,
        ur,
    }
}

/// Item 1 (api_app/models/schemas/workspace.py WorkspaceInResponse and its siblings): a single
/// resource or operation comes wrapped under its kind's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_items_are_wrapped_under_their_kind() {
    let x = tree().await;
    let shared = create(&x.t, "/api/shared-services", &x.admin, "shared-mirror", "m").await;
    for (path, key) in [
        (x.ws.clone(), "workspace"),
        (x.svc.clone(), "workspaceService"),
        (x.ur.clone(), "userResource"),
        (format!("/api/shared-services/{shared}"), "sharedService"),
    ] {
        let r = x.t.get(&path, &x.admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let keys: Vec<&String> = r.body.as_object().expect("object").keys().collect();
        assert_eq!(keys, [key], "{path}: {}", r.body);
        assert!(path.ends_with(r.body[key]["id"].as_str().expect("id")));
        let ops = x.t.get(&format!("{path}/operations"), &x.admin).await;
        let op_id = ops.body["operations"][0]["id"].as_str().expect("op id");
        let op =
            x.t.get(&format!("{path}/operations/{op_id}"), &x.admin)
                .await;
        assert_eq!(op.body["operation"]["id"], op_id, "{}", op.body);
    }
}

/// Item 2 (api_app/api/routes/resource_helpers.py construct_location_header): `resourcePath`
/// is below `/api`, and `Location` is `/api{resourcePath}/operations/{id}`, a path clients
/// append to the TRE's origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_paths_leave_out_api_and_location_names_the_operation() {
    let x = tree().await;
    let body = r#"{"templateName": "ws-base", "properties": {"display_name": "p"}}"#;
    let r = send(
        &x.t,
        Method::POST,
        "/api/workspaces",
        Some(&x.admin),
        &[],
        Some(body),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let op = &r.body["operation"];
    let id = op["resourceId"].as_str().expect("resourceId");
    assert_eq!(op["resourcePath"], format!("/workspaces/{id}"));
    assert_eq!(
        r.body["workspace"]["resourcePath"],
        format!("/workspaces/{id}")
    );
    let location = header(&r, "location");
    assert_eq!(
        location,
        format!(
            "/api/workspaces/{id}/operations/{}",
            op["id"].as_str().unwrap_or_default()
        )
    );
    let polled = x.t.get(location, &x.admin).await;
    assert_eq!(polled.status, 200, "{}", polled.body);
    let ur = x.t.get(&x.ur, &x.admin).await;
    assert_eq!(
        format!(
            "/api{}",
            ur.item()["resourcePath"].as_str().unwrap_or_default()
        ),
        x.ur
    );
}

/// Item 3 (api_app/db/repositories/base.py update_item_with_etag; RFC 9110 section 13.1.1):
/// Azure TRE's `etag` header gets 409 when stale; `If-Match` gets 412; `*` matches in both; a
/// change without either is 428; an unknown id is 404 whatever the headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_and_if_match_each_get_their_own_answers() {
    let x = tree().await;
    let (t, admin) = (&x.t, x.admin.as_str());
    let patch = |name: &str| format!(r#"{{"properties": {{"display_name": "{name}"}}}}"#);
    let current = t.get(&x.ws, admin).await;
    let bare = current.item()["_etag"].as_str().expect("_etag").to_string();
    let quoted = current.etag.clone().expect("ETag");
    assert_eq!(
        quoted,
        format!("\"{bare}\""),
        "the body's etag is the header's without quotes"
    );

    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("etag", &bare)],
        Some(&patch("a")),
    )
    .await;
    assert_eq!(r.status, 202, "the current etag, unquoted: {}", r.body);
    t.settled(&x.ws, admin).await;
    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("eTag", &bare)],
        Some(&patch("b")),
    )
    .await;
    assert_eq!(r.status, 409, "a stale etag: {}", r.body);
    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("If-Match", &quoted)],
        Some(&patch("b")),
    )
    .await;
    assert_eq!(r.status, 412, "a stale If-Match: {}", r.body);
    let r = send(t, Method::PATCH, &x.ws, Some(admin), &[], Some(&patch("b"))).await;
    assert_eq!(r.status, 428, "neither: {}", r.body);
    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("etag", "*")],
        Some(&patch("c")),
    )
    .await;
    assert_eq!(r.status, 202, "etag *: {}", r.body);
    t.settled(&x.ws, admin).await;
    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("If-Match", "*")],
        Some(&patch("d")),
    )
    .await;
    assert_eq!(r.status, 202, "If-Match *: {}", r.body);
    t.settled(&x.ws, admin).await;
    let name = t.get(&x.ws, admin).await.item()["properties"]["display_name"].clone();
    assert_eq!(name, "d", "only the accepted changes were made");

    let unknown = "/api/workspaces/00000000-0000-4000-8000-000000000000";
    for headers in [vec![], vec![("etag", "*")]] {
        let r = send(
            t,
            Method::PATCH,
            unknown,
            Some(admin),
            &headers,
            Some(&patch("x")),
        )
        .await;
        assert_eq!(r.status, 404, "{headers:?}: {}", r.body);
    }
}

/// Item 4 (api_app/models/domain/resource.py, user_resource.py, operation.py): the fields and
/// shapes Azure TRE's clients read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_and_operations_carry_azure_tre_fields() {
    let x = tree().await;
    let (t, admin) = (&x.t, x.admin.as_str());
    let ur = t.get(&x.ur, admin).await.item().clone();
    assert_eq!(ur["resourceType"], "user-resource", "{ur}");
    assert!(
        ur["updatedWhen"].as_f64().expect("updatedWhen") > 1.6e9,
        "{ur}"
    );
    assert_eq!(ur["user"]["id"], "dev-admin", "{ur}");
    assert!(ur["user"]["name"].is_string(), "{ur}");
    assert_eq!(
        ur["parentWorkspaceServiceId"],
        x.svc.rsplit('/').next().unwrap_or_default()
    );
    assert_eq!(
        ur["workspaceId"],
        x.ws.rsplit('/').next().unwrap_or_default()
    );
    assert_eq!(ur["ownerId"], "dev-admin");
    assert_eq!(ur["resourceVersion"], 0);
    assert_eq!(ur["availableUpgrades"], json!([]));
    for gone in ["kind", "etag", "updatedAt", "parentServiceId"] {
        assert!(ur.get(gone).is_none(), "`{gone}` is not Azure TRE's: {ur}");
    }
    let ws = t.get(&x.ws, admin).await.item().clone();
    assert_eq!(ws["resourceType"], "workspace");
    assert_eq!(ws["workspaceURL"], "");
    assert!(
        ws["properties"]["scope_id"].is_string(),
        "clients ask workspace tokens for it: {ws}"
    );

    // A newer template version shows as an upgrade; an update counts in resourceVersion.
    let newer = json!({"name": "ws-base", "version": "1.1.0", "description": "newer",
        "parameters": tre_e2e::sample_schema()});
    t.post_ok("/api/workspace-templates", admin, &newer, 201)
        .await;
    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("etag", "*")],
        Some(r#"{"properties": {"display_name": "v1"}}"#),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let ws = t.settled(&x.ws, admin).await.item().clone();
    assert_eq!(ws["resourceVersion"], 1, "{ws}");
    assert_eq!(
        ws["availableUpgrades"],
        json!([{"version": "1.1.0", "forceUpdateRequired": false}])
    );

    let op = &r.body["operation"];
    assert_eq!(op["action"], "upgrade");
    assert_eq!(
        op["resourceVersion"], 1,
        "the version the change brings the resource to"
    );
    assert!(op["createdWhen"].as_f64().is_some() && op["updatedWhen"].as_f64().is_some());
    assert_eq!(op["user"]["id"], "dev-admin");
    let step = &op["steps"][0];
    for field in [
        "stepTitle",
        "templateStepId",
        "resourceTemplateName",
        "resourceType",
        "resourceAction",
        "message",
        "status",
        "resourceId",
    ] {
        assert!(!step[field].is_null(), "step has `{field}`: {step}");
    }
    assert_eq!(step["templateStepId"], "main");
    assert_eq!(step["resourceType"], "workspace");
    assert_eq!(step["resourceAction"], "upgrade");
    let history = t.get(&format!("{}/history", x.ws), admin).await;
    let items = history.body["resource_history"]
        .as_array()
        .expect("history");
    let oldest = items.last().expect("an earlier version");
    assert_eq!(oldest["resourceVersion"], 0, "{}", history.body);
    assert_eq!(oldest["resourceId"], ws["id"]);
    assert!(oldest["updatedWhen"].is_number() && oldest["user"]["id"] == "dev-admin");
}

/// Item 5 (api_app/api/routes/workspaces.py delete_workspace, resource_helpers.py
/// delete_validation): DELETE answers 200 with the operation and its `Location`; a disabled
/// workspace is deleted with everything under it, once all of it is disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_answers_the_operation_and_takes_disabled_children_with_it() {
    let x = tree().await;
    let (t, admin) = (&x.t, x.admin.as_str());
    let off = r#"{"isEnabled": false}"#;
    let r = send(t, Method::DELETE, &x.ws, Some(admin), &[], None).await;
    assert_eq!(r.status, 409, "an enabled workspace: {}", r.body);

    let r = send(
        t,
        Method::PATCH,
        &x.ws,
        Some(admin),
        &[("etag", "*")],
        Some(off),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    t.settled(&x.ws, admin).await;
    for p in [&x.svc, &x.ur] {
        assert_eq!(
            t.get(p, admin).await.item()["isEnabled"],
            false,
            "disabled with it"
        );
    }
    let r = send(
        t,
        Method::DELETE,
        &x.ws,
        Some(admin),
        &[("etag", "*")],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let op = &r.body["operation"];
    assert_eq!(op["action"], "uninstall");
    let steps: Vec<&str> = op["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["resourceType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        steps,
        ["user-resource", "workspace-service", "workspace"],
        "deepest first"
    );
    let location = header(&r, "location").to_string();
    assert!(
        location.starts_with(&format!("{}/operations/", x.ws)),
        "{location}"
    );
    assert_eq!(t.settled(&x.ws, admin).await.status, 404);
    for p in [&x.svc, &x.ur] {
        assert_eq!(
            t.get(p, admin).await.status,
            404,
            "{p} deleted with its workspace"
        );
    }
    // Azure TRE's clients take a 404 from the operation once its resource is gone as "deleted".
    assert_eq!(t.get(&location, admin).await.status, 404);
}

/// A disabled parent whose child is still enabled (the child re-enabled after the parent's
/// disable) cannot be deleted: a single call must not remove something in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_with_an_enabled_child_is_not_deleted() {
    let x = tree().await;
    let (t, admin) = (&x.t, x.admin.as_str());
    let r = send(
        t,
        Method::PATCH,
        &x.svc,
        Some(admin),
        &[("etag", "*")],
        Some(r#"{"isEnabled": false}"#),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    t.settled(&x.svc, admin).await;
    let r = send(
        t,
        Method::PATCH,
        &x.ur,
        Some(admin),
        &[("etag", "*")],
        Some(r#"{"isEnabled": true}"#),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    t.settled(&x.ur, admin).await;
    let r = send(t, Method::DELETE, &x.svc, Some(admin), &[], None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("enabled"),
        "{}",
        r.body
    );
    assert_eq!(
        t.get(&x.ur, admin).await.item()["deploymentStatus"],
        "updated"
    );
}

/// Item 8 (api_app/api/routes/metadata.py, workspaces.py get_workspace_scope_id,
/// operations.py): the routes Azure TRE's CLI and UI call besides the resources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_scope_id_and_my_operations_answer() {
    let x = tree().await;
    let (t, admin) = (&x.t, x.admin.as_str());
    let m = send(t, Method::GET, "/api/.metadata", None, &[], None).await;
    assert_eq!(
        m.status, 200,
        "no sign-in needed to learn how to sign in: {}",
        m.body
    );
    assert_eq!(m.body["api_client_id"], tre_local::DEV_AUDIENCE);
    assert_eq!(m.body["issuer"], t.stack.issuer_url);
    assert!(m.body["api_root_scope"]
        .as_str()
        .unwrap_or_default()
        .contains(tre_local::DEV_AUDIENCE));
    assert!(m.body["api_version"].is_string());

    let s = t.get(&format!("{}/scopeid", x.ws), admin).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["workspaceAuth"]["scopeId"], m.body["api_root_scope"]);
    let stranger = t.token("researcher");
    assert_eq!(
        t.get(&format!("{}/scopeid", x.ws), &stranger).await.status,
        404
    );

    // Nothing in flight: none. A change in flight is listed until it ends.
    let mine = t.get("/api/operations", admin).await;
    assert_eq!(mine.body, json!({"operations": []}));
    let r = send(
        t,
        Method::POST,
        &format!("{}/invoke-action?action=restart", x.ws),
        Some(admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let op_id = r.body["operation"]["id"].clone();
    let listed = t.get("/api/operations", admin).await;
    let ids: Vec<&Value> = listed.body["operations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|o| &o["id"])
        .collect();
    // The no-op runner may already have finished it; if listed, it is the one started.
    assert!(ids.is_empty() || ids == [&op_id], "{}", listed.body);
    t.settled(&x.ws, admin).await;
    assert_eq!(
        t.get("/api/operations", admin).await.body,
        json!({"operations": []})
    );
    assert_eq!(
        t.get("/api/operations", &stranger).await.body,
        json!({"operations": []})
    );
}

/// Item 9 (api_app/main.py validation handler; api_app/api/routes/health.py): JSON without the
/// expected fields is 422, JSON that is not JSON 400; health lists its services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprocessable_bodies_are_422_and_health_lists_services() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    for (body, status) in [
        (r#"{"templateName": "ws-base", "colour": "red"}"#, 422),
        (r#"{"templateName": 7}"#, 422),
        (r#"{"properties": {}}"#, 422),
        (r#"{"templateName": "ws-base""#, 400),
    ] {
        let r = send(
            &t,
            Method::POST,
            "/api/workspaces",
            Some(&admin),
            &[],
            Some(body),
        )
        .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(header(&r, "content-type"), "application/problem+json");
    }
    let listed = t.get("/api/workspaces", &admin).await;
    assert_eq!(
        listed.body,
        json!({"workspaces": []}),
        "nothing was created"
    );
    let h = send(&t, Method::GET, "/api/health", None, &[], None).await;
    assert_eq!(h.status, 200);
    assert_eq!(
        h.body["services"],
        json!([{"service": "State store", "status": "OK", "message": ""}])
    );
}

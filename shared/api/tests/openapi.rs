//! The OpenAPI document states what the API really takes (checked against the validators the
//! API runs), and its links are well-formed: each names an operation of the document and only
//! parameters that operation has.

use serde_json::{json, Value};
use tre_core::domain::airlock::validate_file_name;
use tre_core::domain::template::{validate_template_name, validate_version};

fn doc() -> Value {
    tre_api::openapi::document()
}

fn schema<'a>(doc: &'a Value, pointer: &str) -> &'a Value {
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the document"))
}

/// Whether `value` is valid against `schema`, resolved inside the whole document.
fn valid(doc: &Value, schema: &Value, value: &Value) -> bool {
    let mut root = doc.clone();
    root["$ref"] = json!("#/x-under-test");
    root["x-under-test"] = schema.clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .expect("the schema compiles")
        .is_valid(value)
}

/// The document takes a sample exactly when the API's validator does.
fn agrees(doc: &Value, pointer: &str, samples: &[&str], api: impl Fn(&str) -> bool) {
    let s = schema(doc, pointer);
    for sample in samples {
        assert_eq!(
            valid(doc, s, &json!(sample)),
            api(sample),
            "{pointer} and the API disagree on {sample:?}"
        );
    }
}

#[test]
fn names_versions_and_file_names_are_stated_as_the_api_checks_them() {
    let d = doc();
    let names = [
        "tre-workspace-base",
        "a",
        "0.x_y-z",
        "",
        "-lead",
        ".lead",
        "Upper",
        "with space",
        "é",
        "a/b",
        "trailing\n",
        &"n".repeat(128),
        &"n".repeat(129),
    ];
    for pointer in [
        "/components/schemas/RegisterWorkspaceTemplate/oneOf/0/properties/name",
        "/components/schemas/RegisterUserResourceTemplate/oneOf/1/properties/name",
        "/components/schemas/CreateResource/properties/templateName",
        "/paths/~1api~1workspace-templates~1{templateName}/get/parameters/0/schema",
    ] {
        agrees(&d, pointer, &names, |n| validate_template_name(n).is_ok());
    }
    let versions = [
        "1.0.0",
        "10.20.30",
        "1.0.0-rc.1",
        "1.0.0+build.5",
        "1.0",
        "1.0.0.0",
        "v1.0.0",
        "1.a.0",
        "1.0.0 ",
        "",
        &format!("1.0.0-{}", "a".repeat(58)),
        &format!("1.0.0-{}", "a".repeat(59)),
    ];
    agrees(
        &d,
        "/components/schemas/RegisterSharedServiceTemplate/oneOf/0/properties/version",
        &versions,
        |v| validate_version(v).is_ok(),
    );
    // The document is stricter on length (characters rather than bytes): it never promises a
    // name the API refuses.
    let files = [
        "data.csv",
        "ünïcode.txt",
        ".hidden",
        ".",
        "..",
        "a/b",
        "a\\b",
        "tab\there",
        "del\u{7f}",
        "",
    ];
    agrees(
        &d,
        "/components/schemas/AddAirlockFile/properties/name",
        &files,
        |f| validate_file_name(f).is_ok(),
    );
}

#[test]
fn texts_that_must_not_be_blank_say_so() {
    let d = doc();
    let s = schema(
        &d,
        "/components/schemas/CreateAirlockRequest/properties/businessJustification",
    );
    assert!(valid(&d, s, &json!("because")));
    assert!(!valid(&d, s, &json!("")));
    assert!(!valid(&d, s, &json!("  \t")));
    assert!(!valid(&d, s, &json!("x".repeat(4001))));
    let p = schema(&d, "/components/schemas/AssignRole/properties/principalId");
    assert!(valid(&d, p, &json!("dev-researcher")));
    assert!(!valid(&d, p, &json!("a#b")));
    assert!(!valid(&d, p, &json!(" ")));
}

#[test]
fn query_and_path_parameters_have_the_types_the_handlers_parse() {
    let d = doc();
    let param = |path: &str, method: &str, name: &str| -> Value {
        d["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
    };
    assert_eq!(
        param("/api/workspace-templates", "get", "authorized_only"),
        json!({"type": "boolean"})
    );
    assert_eq!(
        param(
            "/api/workspace-templates/{templateName}",
            "get",
            "is_update"
        ),
        json!({"type": "boolean"})
    );
    assert_eq!(
        param(
            "/api/workspaces/{workspaceId}/assignable-users",
            "get",
            "maxResultCount"
        ),
        json!({"type": "integer", "minimum": 1, "maximum": 100})
    );
    assert_eq!(
        param(
            "/api/workspaces/{workspaceId}/users/assign",
            "delete",
            "role_id"
        ),
        json!({"$ref": "#/components/schemas/WorkspaceRole"})
    );
    assert_eq!(
        param("/api/workspaces/{workspaceId}", "get", "workspaceId"),
        json!({"type": "string", "format": "uuid"})
    );
    // Every query parameter of the airlock's lists is typed.
    for name in ["type", "status", "order_by", "order_ascending"] {
        assert_ne!(
            param("/api/requests", "get", name),
            json!({"type": "string"}),
            "{name}"
        );
    }
}

#[test]
fn template_registration_takes_per_route_shapes() {
    let d = doc();
    let flat = schema(&d, "/components/schemas/RegisterUserResourceTemplate");
    let own = &flat["oneOf"][0];
    assert!(own["required"]
        .as_array()
        .is_some_and(|r| r.contains(&json!("parentServiceTemplate"))));
    let ws = schema(&d, "/components/schemas/RegisterWorkspaceTemplate");
    assert!(ws["oneOf"][0]["properties"]
        .get("parentServiceTemplate")
        .is_none());
    assert_eq!(
        ws["oneOf"][1]["properties"]["resourceType"],
        json!({"enum": ["workspace"]})
    );
    assert_eq!(
        d["paths"]["/api/workspace-service-templates/{templateName}/user-resource-templates"]
            ["post"]["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/RegisterUserResourceTemplateInService"})
    );
    let body = json!({
        "name": "x", "version": "1.0.0",
        "parameters": {"type": "object", "properties": {}}
    });
    assert!(valid(&d, ws, &body));
    assert!(!valid(&d, flat, &body), "the flat route needs the parent");
}

#[test]
fn data_sources_take_one_of_their_shapes() {
    let d = doc();
    let spec = schema(&d, "/components/schemas/DataSourceSpec");
    let base = json!({
        "displayName": "Cohort", "project": "p", "licence": "CC-BY-4.0",
        "publisher": {"organisation": "o", "contactName": "n", "contactRole": "r"}
    });
    let with = |extra: Value| {
        let mut b = base.clone();
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    assert!(valid(&d, spec, &with(json!({"kind": "Uploaded"}))));
    assert!(valid(
        &d,
        spec,
        &with(json!({"kind": "Import", "objects": ["a.csv"],
            "connection": {"type": "https", "baseUrl": "https://data.example.org/x"}}))
    ));
    assert!(!valid(&d, spec, &with(json!({"kind": "Import"}))));
    assert!(!valid(
        &d,
        spec,
        &with(json!({"kind": "Uploaded", "objects": ["a.csv"]}))
    ));
    assert!(!valid(
        &d,
        spec,
        &with(json!({"kind": "Import", "objects": ["../a"],
            "connection": {"type": "https", "baseUrl": "https://data.example.org"}}))
    ));
    assert!(!valid(
        &d,
        spec,
        &with(json!({"kind": "Uploaded", "displayName": " "}))
    ));
}

#[test]
fn links_name_real_operations_and_parameters() {
    let d = doc();
    let mut ops = std::collections::HashMap::new();
    for (path, item) in d["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            ops.insert(
                op["operationId"].as_str().unwrap_or_default().to_string(),
                op,
            );
        }
        let _ = path;
    }
    let mut count = 0;
    for op in ops.values() {
        for (_, response) in op["responses"].as_object().into_iter().flatten() {
            for (_, link) in response["links"].as_object().into_iter().flatten() {
                count += 1;
                let target = link["operationId"].as_str().unwrap_or_default();
                let target_op = ops
                    .get(target)
                    .unwrap_or_else(|| panic!("a link names {target}, which is no operation"));
                for (name, _) in link["parameters"].as_object().into_iter().flatten() {
                    let (place, pname) = name.split_once('.').unwrap_or(("", name));
                    let found = target_op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == pname && p["in"] == place);
                    assert!(
                        found,
                        "a link to {target} sets {name}, which it does not take"
                    );
                }
            }
        }
    }
    assert!(count > 100, "only {count} links");
    let create = &d["paths"]["/api/workspaces"]["post"]["responses"]["202"]["links"];
    assert_eq!(
        create["getWorkspace"]["parameters"]["path.workspaceId"],
        json!("$response.body#/workspace/id")
    );
    assert_eq!(
        create["updateWorkspace"]["parameters"]["header.If-Match"],
        json!("*")
    );
    for child in [
        "createWorkspaceService",
        "deleteWorkspace",
        "invokeWorkspaceAction",
        "getWorkspaceOperation",
    ] {
        assert!(create.get(child).is_some(), "no link to {child}");
    }
    let service = &d["paths"]["/api/workspaces/{workspaceId}/workspace-services"]["post"]
        ["responses"]["202"]["links"]["getWorkspaceService"]["parameters"];
    assert_eq!(
        service,
        &json!({
            "path.workspaceId": "$request.path.workspaceId",
            "path.serviceId": "$response.body#/workspaceService/id"
        })
    );
}

#[test]
fn integers_spelled_with_a_zero_fraction_are_integers() {
    // JSON Schema's `integer` takes `2.0`; so must the API where the document says `integer`.
    let file: tre_core::app::AddAirlockFile =
        serde_json::from_value(json!({"name": "a.csv", "size": 1024.0})).expect("whole float");
    assert_eq!(file.size, Some(1024));
    for bad in [json!(1.5), json!(-1.0), json!("1"), json!(1e300)] {
        assert!(
            serde_json::from_value::<tre_core::app::AddAirlockFile>(
                json!({"name": "a.csv", "size": bad})
            )
            .is_err(),
            "{bad} taken as a size"
        );
    }
    let done: tre_core::app::CompleteAirlockFile = serde_json::from_value(
        json!({"uploadId": "u", "parts": [{"partNumber": 2.0, "etag": "e"}]}),
    )
    .expect("whole float");
    assert_eq!(done.parts[0].part_number, 2);
    assert!(
        serde_json::from_value::<tre_core::app::CompleteAirlockFile>(
            json!({"uploadId": "u", "parts": [{"partNumber": 4294967296.0, "etag": "e"}]})
        )
        .is_err()
    );
}

#[test]
fn list_pages_are_asked_for_by_a_bounded_size() {
    let d = doc();
    let size = d["paths"]["/api/workspaces/{workspaceId}/history"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "page_size"))
        .map(|p| p["schema"].clone());
    assert_eq!(
        size,
        Some(json!({"type": "integer", "minimum": 1, "maximum": tre_core::app::MAX_PAGE_SIZE}))
    );
}

//! Bad input gets a precise 4xx problem response and changes nothing in the store.

use http::Method;
use serde_json::{json, Value};
use tre_e2e::{create, register_sample_templates, Reply, TestStack};

/// Call, then check the status, the problem shape, and that the store did not change.
#[allow(clippy::too_many_arguments)]
async fn rejected(
    t: &TestStack,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
    status: u16,
    detail_contains: &str,
) -> Reply {
    let before = t.stack.store_snapshot().await.expect("snapshot");
    let r = t
        .call(method.clone(), path, Some(token), body.as_ref(), if_match)
        .await;
    let after = t.stack.store_snapshot().await.expect("snapshot");
    assert_eq!(r.status, status, "{method} {path}: {}", r.body);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{method} {path}: content type {}",
        r.content_type
    );
    assert_eq!(r.body["status"], json!(status));
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(detail_contains),
        "{method} {path}: detail `{detail}` should mention `{detail_contains}`"
    );
    assert!(
        before == after,
        "{method} {path} changed the store although it was rejected"
    );
    r
}

async fn raw(
    t: &TestStack,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let resp = t
        .http
        .post(format!("{}{}", t.stack.api_url, path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_and_changes_nothing() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    let ws_path = format!("/api/workspaces/{ws}");
    let etag = t.get(&ws_path, &admin).await.etag.expect("etag");
    let post = Method::POST;

    rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(json!({"templateName": "nope", "properties": {"display_name": "x"}})),
        None,
        400,
        "unknown",
    )
    .await;
    let r = rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(
            json!({"templateName": "ws-base", "properties": {"display_name": "x", "size": "big"}}),
        ),
        None,
        400,
        "schema",
    )
    .await;
    assert!(
        r.body["errors"].to_string().contains("/size"),
        "errors name the path: {}",
        r.body
    );
    rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(json!({"templateName": "ws-base", "properties": {}})),
        None,
        400,
        "display_name",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(json!({"templateName": "ws-base", "properties": {"display_name": "x", "size": 1000}})),
        None,
        400,
        "schema",
    )
    .await;
    rejected(&t, post.clone(), "/api/workspaces", &admin,
        Some(json!({"templateName": "ws-base", "properties": {"display_name": "x", "colour": "red"}})), None, 400, "schema").await;
    rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(json!({"properties": {"display_name": "x"}})),
        None,
        422,
        "templateName",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(json!({"templateName": 5})),
        None,
        422,
        "expected",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/workspaces",
        &admin,
        Some(json!({"templateName": "ws-base", "surprise": true})),
        None,
        422,
        "surprise",
    )
    .await;

    // JSON without the expected fields and types is 422 above; oversize, not JSON and
    // malformed JSON below.
    let before = t.stack.store_snapshot().await.expect("snapshot");
    let big = format!(
        "{{\"templateName\":\"ws-base\",\"properties\":{{\"display_name\":\"{}\"}}}}",
        "x".repeat(300 * 1024)
    );
    let (s, v) = raw(
        &t,
        "/api/workspaces",
        &admin,
        "application/json",
        big.into_bytes(),
    )
    .await;
    assert_eq!(s, 413, "{v}");
    let (s, v) = raw(
        &t,
        "/api/workspaces",
        &admin,
        "text/plain",
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(s, 415, "{v}");
    let (s, v) = raw(
        &t,
        "/api/workspaces",
        &admin,
        "application/json",
        b"{\"templateName\":".to_vec(),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not valid JSON"),
        "{v}"
    );
    assert!(
        before == t.stack.store_snapshot().await.expect("snapshot"),
        "raw bad bodies changed the store"
    );

    // Updates: etag rules, updateable rules.
    let patch = Method::PATCH;
    rejected(
        &t,
        patch.clone(),
        &ws_path,
        &admin,
        Some(json!({"isEnabled": false})),
        None,
        428,
        "If-Match",
    )
    .await;
    rejected(
        &t,
        patch.clone(),
        &ws_path,
        &admin,
        Some(json!({"isEnabled": false})),
        Some("\"999\""),
        412,
        "changed",
    )
    .await;
    rejected(
        &t,
        patch.clone(),
        &ws_path,
        &admin,
        Some(json!({"properties": {"size": 5}})),
        Some(&etag),
        400,
        "not updateable",
    )
    .await;
    rejected(
        &t,
        patch.clone(),
        &ws_path,
        &admin,
        Some(json!({"properties": {"colour": "red"}})),
        Some(&etag),
        400,
        "not a parameter",
    )
    .await;
    rejected(
        &t,
        patch.clone(),
        &ws_path,
        &admin,
        Some(json!({"properties": {"display_name": ""}})),
        Some(&etag),
        400,
        "schema",
    )
    .await;
    rejected(
        &t,
        patch.clone(),
        &ws_path,
        &admin,
        Some(json!({})),
        Some(&etag),
        400,
        "nothing to change",
    )
    .await;
    rejected(
        &t,
        patch,
        &ws_path,
        &admin,
        Some(json!({"templateVersion": "9.9.9"})),
        Some(&etag),
        400,
        "no version",
    )
    .await;

    // Delete needs a disabled resource; actions must exist.
    rejected(
        &t,
        Method::DELETE,
        &ws_path,
        &admin,
        None,
        None,
        409,
        "disable",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        &format!("{ws_path}/invoke-action?action=explode"),
        &admin,
        None,
        None,
        400,
        "no custom action",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        &format!("{ws_path}/invoke-action"),
        &admin,
        None,
        None,
        400,
        "action",
    )
    .await;

    // Templates: duplicates, bad names, bad versions, bad schemas.
    let tmpl = |name: &str, version: &str, params: Value| json!({"name": name, "version": version, "parameters": params});
    rejected(
        &t,
        post.clone(),
        "/api/workspace-templates",
        &admin,
        Some(tmpl("ws-base", "1.0.0", json!({"type": "object"}))),
        None,
        409,
        "already registered",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/workspace-templates",
        &admin,
        Some(tmpl("../etc", "1.0.0", json!({"type": "object"}))),
        None,
        400,
        "template name",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/workspace-templates",
        &admin,
        Some(tmpl("ok-name", "one", json!({"type": "object"}))),
        None,
        400,
        "semantic version",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/workspace-templates",
        &admin,
        Some(tmpl(
            "ok-name",
            "1.0.0",
            json!({"type": "object", "properties": {"a": {"type": 7}}}),
        )),
        None,
        400,
        "JSON Schema",
    )
    .await;
    rejected(
        &t,
        post.clone(),
        "/api/user-resource-templates",
        &admin,
        Some(tmpl("ur-x", "1.0.0", json!({"type": "object"}))),
        None,
        400,
        "parentServiceTemplate",
    )
    .await;

    // Role assignments.
    rejected(
        &t,
        post.clone(),
        &format!("{ws_path}/role-assignments"),
        &admin,
        Some(json!({"principalId": "someone", "role": "Emperor"})),
        None,
        422,
        "unknown variant",
    )
    .await;
    rejected(
        &t,
        post,
        &format!("{ws_path}/role-assignments"),
        &admin,
        Some(json!({"principalId": "", "role": "AirlockManager"})),
        None,
        400,
        "principalId",
    )
    .await;
    rejected(
        &t,
        Method::DELETE,
        &format!("{ws_path}/role-assignments/someone/Emperor"),
        &admin,
        None,
        None,
        400,
        "not a role",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_parameters_are_never_returned() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let body = json!({"templateName": "ws-base", "properties": {"display_name": "s", "secret_key": "hunter2-very-secret"}});
    let created = t.post_ok("/api/workspaces", &admin, &body, 202).await;
    let id = created["operation"]["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/workspaces/{id}");
    let etag = t.settled(&path, &admin).await.etag.expect("etag");
    let r = t
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({"properties": {"secret_key": "rotated-secret-value"}})),
            Some(&etag),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    for p in [
        path.clone(),
        format!("{path}/history"),
        format!("{path}/operations"),
        "/api/workspaces".into(),
    ] {
        let text = t.get(&p, &admin).await.body.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("rotated-secret"),
            "{p} leaked a secret: {text}"
        );
    }
    assert!(!created.to_string().contains("hunter2"));
    assert!(!r.body.to_string().contains("rotated-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_must_pin_their_bundle_by_digest() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    for bundle in [
        "registry.example.org/tre/base:1.0.0",
        "oci:/x@sha256:1234",
        "@sha256:",
    ] {
        let body = json!({"name": "pinned", "version": "1.0.0", "parameters": {"type": "object"}, "bundle": bundle});
        rejected(
            &t,
            Method::POST,
            "/api/workspace-templates",
            &admin,
            Some(body),
            None,
            400,
            "pinned by digest",
        )
        .await;
    }
    let ok = json!({"name": "pinned", "version": "1.0.0", "parameters": {"type": "object"},
                    "bundle": format!("registry.example.org/tre/base@sha256:{}", "ab".repeat(32))});
    t.post_ok("/api/workspace-templates", &admin, &ok, 201)
        .await;
}

/// On a TREAdmin-only route a caller without the role is refused before their body is judged:
/// they learn nothing of its rules, whatever they send (not JSON, the wrong fields, the wrong
/// content type, or a valid body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_refuse_other_callers_before_judging_the_body() {
    let t = TestStack::start().await.expect("stack");
    let researcher = t.token("researcher");
    let admin = t.token("admin");
    let routes = [
        "/api/datasources",
        "/api/workspace-templates",
        "/api/workspace-service-templates",
        "/api/shared-service-templates",
        "/api/workspace-service-templates/any/user-resource-templates",
        "/api/datasources/00000000-0000-4000-8000-000000000000/review",
        "/api/datasources/00000000-0000-4000-8000-000000000000/files",
        "/api/workspaces/00000000-0000-4000-8000-000000000000/datasources",
    ];
    let bodies: [(&str, &[u8]); 4] = [
        ("application/json", b"{not json"),
        ("application/json", br#"{"unexpected": true}"#),
        ("text/plain", b"hello"),
        (
            "application/json",
            br#"{"approved": true, "comment": "fine"}"#,
        ),
    ];
    for path in routes {
        for (content_type, body) in bodies {
            let (status, problem) = raw(&t, path, &researcher, content_type, body.to_vec()).await;
            assert_eq!(
                status, 403,
                "POST {path} ({content_type}) as a researcher: {problem}"
            );
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("only a TREAdmin may"),
                "POST {path}: detail `{detail}`"
            );
        }
        // The admin gets the body's own answer.
        let (status, _) = raw(&t, path, &admin, "application/json", b"{not json".to_vec()).await;
        assert_eq!(status, 400, "POST {path} with a broken body as the admin");
    }
}

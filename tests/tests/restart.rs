//! The local stack keeps its data (and its issuer key) across a restart.

use serde_json::json;
use tre_local::DevStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();

    let first = DevStack::start(tre_e2e::test_options(dir.path()))
        .await
        .expect("start");
    let admin = first.token_for("admin").expect("token");
    let tmpl = json!({"name": "ws", "version": "1.0.0", "parameters": {"type": "object", "properties": {}}});
    let r = http
        .post(format!("{}/api/workspace-templates", first.api_url))
        .bearer_auth(&admin)
        .json(&tmpl)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    let r = http
        .post(format!("{}/api/workspaces", first.api_url))
        .bearer_auth(&admin)
        .json(&json!({"templateName": "ws", "properties": {}}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let created: serde_json::Value = r.json().await.expect("json");
    let id = created["operation"]["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    let kid = first.issuer.kid();
    first.shutdown().await;

    let second = DevStack::start(tre_e2e::test_options(dir.path()))
        .await
        .expect("restart");
    assert_eq!(
        second.issuer.kid(),
        kid,
        "the issuer key is reused, so old tokens stay valid"
    );
    // The old token names the old port in `iss`; a fresh one is needed for the new address.
    let admin = second.token_for("admin").expect("token");
    let r = http
        .get(format!("{}/api/workspaces/{id}", second.api_url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let ws: serde_json::Value = r.json().await.expect("json");
    assert_eq!(ws["workspace"]["templateName"], "ws");
    second.shutdown().await;
}

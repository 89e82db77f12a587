//! The registry's token realm on the TRE API: what each caller gets for each asked scope.

use serde_json::json;
use tre_e2e::{create, register_sample_templates, TestStack};

async fn granted(t: &TestStack, token: &str, scope: &str, basic: bool) -> Vec<String> {
    let url = format!(
        "{}/api/registry/token?service=tre-registry&scope={scope}",
        t.stack.api_url
    );
    let req = t.http.get(url);
    let req = if basic {
        req.basic_auth("anyone", Some(token))
    } else {
        req.bearer_auth(token)
    };
    let resp = req.send().await.expect("token");
    assert_eq!(resp.status().as_u16(), 200);
    let v: serde_json::Value = resp.json().await.expect("json");
    let (_, access) = t
        .stack
        .registry_tokens
        .verify(v["token"].as_str().expect("token"))
        .expect("a valid registry token");
    access.into_iter().flat_map(|a| a.actions).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_gets_what_the_rules_allow() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    for (who, role) in [
        ("dev-owner", "WorkspaceOwner"),
        ("dev-researcher", "WorkspaceResearcher"),
    ] {
        t.post_ok(
            &format!("/api/workspaces/{ws}/role-assignments"),
            &admin,
            &json!({"principalId": who, "role": role}),
            201,
        )
        .await;
    }
    let (owner, researcher, manager) = (
        t.token("owner"),
        t.token("researcher"),
        t.token("airlock-manager"),
    );
    let bundles = "repository:tre/bundles/base:pull,push";
    let workspace = format!("repository:workspaces/{ws}/tools:pull,push");
    assert_eq!(granted(&t, &admin, bundles, false).await, ["pull", "push"]);
    assert_eq!(granted(&t, &researcher, bundles, true).await, ["pull"]);
    assert_eq!(
        granted(&t, &owner, &workspace, false).await,
        ["pull", "push"]
    );
    assert_eq!(granted(&t, &researcher, &workspace, false).await, ["pull"]);
    assert!(
        granted(&t, &manager, &workspace, false).await.is_empty(),
        "not a member"
    );
    assert!(
        granted(&t, &researcher, "repository:elsewhere/app:pull", false)
            .await
            .is_empty()
    );
    assert!(granted(&t, &researcher, "registry:catalog:*", false)
        .await
        .is_empty());
    assert_eq!(
        granted(&t, &admin, "registry:catalog:*", false).await,
        ["*"]
    );
    // Without a token, or for another service: refused.
    let anon = t
        .http
        .get(format!(
            "{}/api/registry/token?scope={bundles}",
            t.stack.api_url
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(anon.status().as_u16(), 401);
    let other = t
        .http
        .get(format!(
            "{}/api/registry/token?service=elsewhere",
            t.stack.api_url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get");
    assert_eq!(other.status().as_u16(), 400);
}

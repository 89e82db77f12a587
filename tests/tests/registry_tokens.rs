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

/// The token spec's several scopes: space-separated in one `scope` parameter (as a challenge
/// naming several hands them to clients) and in several parameters, each granted or dropped by
/// the rules on its own; a refused one stays in the token with no actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_scopes_in_one_parameter_or_several_are_each_granted_or_dropped() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    t.post_ok(
        &format!("/api/workspaces/{ws}/role-assignments"),
        &admin,
        &json!({"principalId": "dev-researcher", "role": "WorkspaceResearcher"}),
        201,
    )
    .await;
    let researcher = t.token("researcher");
    let tools = format!("workspaces/{ws}/tools");
    let by_name = |v: serde_json::Value| {
        let (_, access) = t
            .stack
            .registry_tokens
            .verify(v["token"].as_str().expect("token"))
            .expect("a valid registry token");
        access
            .into_iter()
            .map(|a| (a.name, a.actions))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let ask = |query: String| {
        let req = t
            .http
            .get(format!(
                "{}/api/registry/token?service=tre-registry&{query}",
                t.stack.api_url
            ))
            .basic_auth("anyone", Some(&researcher));
        async move {
            let resp = req.send().await.expect("token");
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    // One parameter, space-separated (`+` or `%20`), as clients send a challenge's scope.
    for sep in ["+", "%20"] {
        let got = by_name(
            ask(format!(
                "scope=repository:{tools}:pull,push{sep}repository:tre/bundles/base:pull{sep}repository:elsewhere/x:pull"
            ))
            .await,
        );
        assert_eq!(got[&tools], ["pull"], "{sep}");
        assert_eq!(got["tre/bundles/base"], ["pull"], "{sep}");
        assert!(got["elsewhere/x"].is_empty(), "{sep}: refused, kept empty");
        assert_eq!(got.len(), 3, "{sep}");
    }
    // Several parameters, one of them with two scopes; the same repository twice is merged.
    let got = by_name(
        ask(format!(
            "scope=repository:tre/bundles/a:pull,push&scope=repository:{tools}:pull+repository:tre/bundles/b:pull&scope=repository:tre/bundles/a:delete"
        ))
        .await,
    );
    assert_eq!(got["tre/bundles/a"], ["pull"]);
    assert_eq!(got[&tools], ["pull"]);
    assert_eq!(got["tre/bundles/b"], ["pull"]);
    assert_eq!(got.len(), 3);
}

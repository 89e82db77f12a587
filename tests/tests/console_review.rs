//! Review environments in a real browser: a workspace whose `airlock_review_config` names, for
//! exports, the review bundle under its notebook service. An airlock manager (not the requester)
//! opens an export request in review, presses "Open review environment", follows its status to
//! deployed and gets the link to open it (the environment's `connection_uri`); they approve in
//! the page, and the page then says the environment was removed, as the API does. An import of
//! the same workspace, which has no review environment configured, says it is reviewed through
//! download links. Screenshots land in `target/test-artifacts/console/`.

mod console_support;

use std::time::{Duration, Instant};

use console_support::*;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};
use tre_e2e::{create, register_bundle, sample_bundle, TestStack};

const REVIEW_TEMPLATE: &str = "tre-user-resource-airlock-review";

/// A review environment whose removal takes a while (as a cloud VM's does), so that the page
/// must keep following it after the request is decided.
const SLOW_REVIEW_BUNDLE: &str = r#"
name: tre-console-slow-review
version: 1.0.0
description: A review environment that takes seconds to remove.
type: user_resource
parentServiceTemplate: tre-service-notebook
parameters:
  type: object
  properties:
    display_name: {type: string, maxLength: 100}
  additionalProperties: false
outputs:
  - {name: connection_uri}
actions:
  install: {steps: [{name: create, exec: [sh, -c, 'printf "{\"connection_uri\": \"https://review.example.org/%s\"}" "$TRE_RESOURCE_ID" > "$TRE_OUTPUTS_FILE"']}]}
  upgrade: {steps: [{name: configure, exec: ["true"]}]}
  uninstall: {steps: [{name: remove, exec: [sleep, "6"]}]}
"#;

/// Until the request reaches a status `done` accepts (through the API, as `token`).
async fn until(t: &TestStack, path: &str, token: &str, done: impl Fn(&str) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = t.get(path, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let request = &r.body["airlockRequest"];
        if done(request["status"].as_str().unwrap_or_default()) {
            return request.clone();
        }
        assert!(Instant::now() < deadline, "request stuck: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request of `kind` with one file, opened and submitted by `researcher`, once in review;
/// returns its API path.
async fn in_review(t: &TestStack, ws: &str, researcher: &str, kind: &str, title: &str) -> String {
    let base = format!("/api/workspaces/{ws}/requests");
    let body = json!({"type": kind, "title": title, "businessJustification": "for the study"});
    let r = t.post_ok(&base, researcher, &body, 201).await;
    let path = format!("{base}/{}", r["airlockRequest"]["id"].as_str().expect("id"));
    let link = t
        .post_ok(
            &format!("{path}/files"),
            researcher,
            &json!({"name": "results.csv"}),
            200,
        )
        .await;
    let put = t
        .http
        .put(link["url"].as_str().expect("url"))
        .body(b"model,auc\nbaseline,0.71\n".to_vec())
        .send()
        .await
        .expect("upload");
    assert!(put.status().is_success(), "{}", put.status());
    t.post_ok(&format!("{path}/submit"), researcher, &json!({}), 200)
        .await;
    until(t, &path, researcher, |s| s == "in_review").await;
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_airlock_manager_opens_a_review_environment_and_approval_removes_it() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    for bundle in [
        "tre-workspace-base",
        "tre-service-notebook",
        REVIEW_TEMPLATE,
    ] {
        register_bundle(&t, &admin, &sample_bundle(bundle)).await;
    }
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Review study",
    )
    .await;
    let ws_path = format!("/api/workspaces/{ws}");
    let svc_base = format!("{ws_path}/workspace-services");
    let svc = create(&t, &svc_base, &admin, "tre-service-notebook", "Notebooks").await;
    for (user, role) in [
        ("dev-researcher", "WorkspaceResearcher"),
        ("dev-airlock-manager", "AirlockManager"),
    ] {
        t.post_ok(
            &format!("{ws_path}/role-assignments"),
            &admin,
            &json!({"principalId": user, "role": role}),
            201,
        )
        .await;
    }

    // Exports of this workspace are reviewed in the review bundle under its notebook service;
    // imports are not configured.
    let etag = t.get(&ws_path, &admin).await.etag.expect("etag");
    let config = json!({"export": {
        "export_vm_workspace_service_id": svc,
        "export_vm_user_resource_template_name": REVIEW_TEMPLATE,
    }});
    let patched = t
        .call(
            Method::PATCH,
            &ws_path,
            Some(&admin),
            Some(&json!({"properties": {"airlock_review_config": config}})),
            Some(&etag),
        )
        .await;
    assert_eq!(patched.status, 202, "PATCH {ws_path}: {}", patched.body);
    let settled = t.settled(&ws_path, &admin).await;
    assert_eq!(
        settled.item()["deploymentStatus"],
        "updated",
        "{}",
        settled.body
    );
    assert_eq!(
        settled.item()["properties"]["airlock_review_config"],
        config
    );

    let researcher = t.token("researcher");
    let manager = t.token("airlock-manager");
    let export = in_review(&t, &ws, &researcher, "export", "Results table").await;
    let import = in_review(&t, &ws, &researcher, "import", "Reference data").await;
    let review_env = format!("{export}/review-user-resource");
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);
    let page = |path: &str| format!("{console}#{}", path.trim_start_matches("/api"));

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in(&c, &console, "airlock-manager").await;

    // The import: no review environment here, the note says the files are reviewed by link.
    c.goto(&page(&import)).await.expect("open import");
    text_contains(&c, "#request-status", "in review").await;
    text_contains(&c, "#review-env-kind", "download links").await;
    assert!(c.find(Locator::Css("#review-env-open")).await.is_err());
    screenshot(&c, "review-01-import-by-links").await;

    // The export: the manager asks for a review environment and follows it to deployed.
    c.goto(&page(&export)).await.expect("open export");
    text_contains(&c, "#request-status", "in review").await;
    text_contains(&c, "#review-env-kind", "review environment").await;
    accessibility_basics(&c).await;
    screenshot(&c, "review-02-offered").await;
    assert_eq!(t.get(&review_env, &manager).await.status, 404);
    click(&c, "#review-env-open").await;
    let first = text_contains(&c, "#review-env-status", "Your review environment is").await;
    assert!(
        ["awaiting deployment", "deploying", "deployed"]
            .iter()
            .any(|s| first.contains(s)),
        "{first}"
    );
    let open = element(&c, "#review-env-link").await;
    text_contains(&c, "#review-env-status", "deployed").await;
    text_contains(&c, "#review-env-state", "deployed").await;
    let env = t.get(&review_env, &manager).await;
    assert_eq!(env.status, 200, "{}", env.body);
    let resource = &env.body["userResource"];
    assert_eq!(resource["deploymentStatus"], "deployed", "{}", env.body);
    assert_eq!(resource["ownerId"], "dev-airlock-manager", "{}", env.body);
    assert_eq!(resource["templateName"], REVIEW_TEMPLATE);
    let uri = resource["properties"]["connection_uri"]
        .as_str()
        .unwrap_or_else(|| panic!("no connection_uri: {}", env.body));
    assert_eq!(open.attr("href").await.expect("href").as_deref(), Some(uri));
    assert_eq!(
        open.attr("target").await.expect("target").as_deref(),
        Some("_blank")
    );
    text_contains(&c, "#review-env-link", "Open review environment (new tab)").await;
    accessibility_basics(&c).await;
    screenshot(&c, "review-03-deployed").await;
    let resource_path = format!(
        "{svc_base}/{svc}/user-resources/{}",
        resource["id"].as_str().expect("id")
    );

    // Approve in the page: the environment goes with the decision. Every text the status line
    // shows from here on is recorded (the page redraws it), to check the order they came in.
    c.execute(
        r#"
        window.__envStatus = [];
        new MutationObserver(() => {
          const t = document.getElementById('review-env-status')?.textContent || '';
          if (t && window.__envStatus[window.__envStatus.length - 1] !== t) window.__envStatus.push(t);
        }).observe(document.getElementById('main'), { subtree: true, childList: true, characterData: true });
        "#,
        Vec::new(),
    )
    .await
    .expect("observe the status");
    fill(&c, "#review-comment", "Aggregate results only").await;
    click(&c, "#approve").await;
    text_contains(&c, "#notice", "Approved").await;
    until(&t, &export, &researcher, |s| s == "approved").await;
    text_contains(&c, "#request-status", "approved").await;
    text_contains(&c, "#review-env-status", "has been removed").await;
    assert!(c.find(Locator::Css("#review-env-link")).await.is_err());
    assert!(c.find(Locator::Css("#review-env-open")).await.is_err());
    screenshot(&c, "review-04-removed").await;
    // Once removed, nothing said it was there again (no older reading drawn over it), and while
    // it went the page did not offer to open it.
    let seen = c
        .execute("return window.__envStatus", Vec::new())
        .await
        .expect("statuses");
    let seen: Vec<String> = seen
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    let removed = seen
        .iter()
        .position(|s| s.contains("has been removed"))
        .unwrap_or_else(|| panic!("never said removed: {seen:?}"));
    assert!(
        seen[removed..]
            .iter()
            .all(|s| s.contains("has been removed")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|s| s.contains("open it with the link")),
        "{seen:?}"
    );
    let gone = t.get(&review_env, &manager).await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    let deleted = t.get(&resource_path, &admin).await;
    assert!(
        deleted.status == 404 || deleted.item()["deploymentStatus"] == "deleted",
        "{resource_path}: {} {}",
        deleted.status,
        deleted.body
    );

    // A second export, reviewed in an environment whose removal outlasts the rejection: the
    // page keeps following it after the request has settled, until it is gone.
    let slow = bundle_dir(SLOW_REVIEW_BUNDLE);
    let slow_template = register_bundle(&t, &admin, slow.path()).await;
    let etag = t.get(&ws_path, &admin).await.etag.expect("etag");
    let config = json!({"export": {
        "export_vm_workspace_service_id": svc,
        "export_vm_user_resource_template_name": slow_template,
    }});
    let patched = t
        .call(
            Method::PATCH,
            &ws_path,
            Some(&admin),
            Some(&json!({"properties": {"airlock_review_config": config}})),
            Some(&etag),
        )
        .await;
    assert_eq!(patched.status, 202, "PATCH {ws_path}: {}", patched.body);
    t.settled(&ws_path, &admin).await;
    let second = in_review(&t, &ws, &researcher, "export", "Second table").await;
    c.goto(&page(&second)).await.expect("open second export");
    text_contains(&c, "#request-status", "in review").await;
    click(&c, "#review-env-open").await;
    let open = element(&c, "#review-env-link").await;
    let env = t
        .get(&format!("{second}/review-user-resource"), &manager)
        .await;
    assert_eq!(env.status, 200, "{}", env.body);
    assert_eq!(env.body["userResource"]["templateName"], slow_template);
    assert_eq!(
        open.attr("href").await.expect("href").as_deref(),
        env.body["userResource"]["properties"]["connection_uri"].as_str()
    );
    fill(&c, "#review-comment", "Row-level data").await;
    click(&c, "#reject").await;
    text_contains(&c, "#notice", "Rejected").await;
    until(&t, &second, &researcher, |s| s == "rejected").await;
    text_contains(&c, "#request-status", "rejected").await;
    text_contains(
        &c,
        "#review-env-status",
        "The request is rejected: your review environment is being removed",
    )
    .await;
    screenshot(&c, "review-05-being-removed").await;
    text_contains(&c, "#review-env-status", "has been removed").await;
    let gone = t
        .get(&format!("{second}/review-user-resource"), &manager)
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    let calls = api_calls(&c, &t.stack.api_url).await;
    let env_calls = calls
        .iter()
        .filter(|p| p.ends_with("/review-user-resource"))
        .count();
    assert!(env_calls >= 4, "{calls:?}");

    // The admin changes the setting back in the workspace's settings form, where it is JSON
    // text holding the current value; text that is not JSON is refused by the API at the field.
    element(&c, "#user button")
        .await
        .click()
        .await
        .expect("sign out");
    sign_in(&c, &console, "admin").await;
    c.goto(&page(&ws_path)).await.expect("open workspace");
    let field = element(&c, "#field-airlock_review_config").await;
    assert_eq!(field.tag_name().await.expect("tag"), "textarea");
    let shown = field
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    let shown: Value = serde_json::from_str(&shown).unwrap_or_else(|e| panic!("{e}: {shown}"));
    assert_eq!(shown, config);
    accessibility_basics(&c).await;
    fill(&c, "#field-airlock_review_config", "{\"export\": ").await;
    click(&c, "#save-changes").await;
    text_contains(
        &c,
        "#field-airlock_review_config-error",
        "airlock_review_config",
    )
    .await;
    let first_config = json!({"export": {
        "export_vm_workspace_service_id": svc,
        "export_vm_user_resource_template_name": REVIEW_TEMPLATE,
    }});
    fill(
        &c,
        "#field-airlock_review_config",
        &first_config.to_string(),
    )
    .await;
    click(&c, "#save-changes").await;
    text_contains(&c, "#notice", "Saving airlock_review_config").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let w = t.settled(&ws_path, &admin).await;
        if w.item()["properties"]["airlock_review_config"] == first_config {
            break;
        }
        assert!(Instant::now() < deadline, "not saved: {}", w.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(&c, "review-06-settings").await;

    // Every call was an API route.
    api_calls(&c, &t.stack.api_url).await;
    c.close().await.expect("close browser");
}

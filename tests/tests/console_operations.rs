//! The console's live operations view in a real browser: operations the caller starts appear
//! while they run, with their steps' progress, and stay on the page with how they ended; a
//! failed one shows its message, and is among its owner's notifications. Screenshots land in `target/test-artifacts/console/`.

mod console_support;

use console_support::*;
use serde_json::json;
use tre_e2e::{register_bundle, TestStack};

/// Workspace bundles whose install takes a few seconds, so the page sees them running.
fn slow_bundle(name: &str, last_step: &str) -> String {
    format!(
        r#"
name: {name}
version: 1.0.0
description: Takes its time.
type: workspace
parameters:
  type: object
  properties:
    display_name: {{type: string, default: slow}}
actions:
  install:
    steps:
      - {{name: wait, exec: [sh, -c, "sleep 5"]}}
      - {{name: finish, exec: [sh, -c, "{last_step}"]}}
  upgrade: {{steps: [{{name: noop, exec: ["true"]}}]}}
  uninstall: {{steps: [{{name: noop, exec: ["true"]}}]}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_followed_live_and_a_failed_one_shows_its_message() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let ok = bundle_dir(&slow_bundle("tre-slow", "true"));
    let bad = bundle_dir(&slow_bundle(
        "tre-slow-failing",
        "echo 'quota exceeded: no room for a new workspace' >&2; exit 7",
    ));
    register_bundle(&t, &admin, ok.path()).await;
    register_bundle(&t, &admin, bad.path()).await;
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in(&c, &console, "admin").await;
    link(&c, "Operations")
        .await
        .click()
        .await
        .expect("operations");
    text_contains(&c, "main", "Nothing is running").await;

    for (template, name) in [
        ("tre-slow", "Slow study"),
        ("tre-slow-failing", "Doomed study"),
    ] {
        t.post_ok(
            "/api/workspaces",
            &admin,
            &json!({"templateName": template, "properties": {"display_name": name}}),
            202,
        )
        .await;
    }
    // Both appear while they run, with their steps...
    text_contains(&c, "#operations-summary", "2 running").await;
    element(&c, "main table progress[aria-label^=\"Steps of install\"]").await;
    text_contains(&c, "main table", "deploying").await;
    accessibility_basics(&c).await;
    screenshot(&c, "operations-01-running").await;
    // ...and stay with how they ended.
    text_contains(&c, "#operations-summary", "0 running, 1 failed, 1 finished").await;
    let page = text_contains(&c, "main table", "deployment failed").await;
    assert!(page.contains("deployed"), "{page}");
    let failure = element(&c, "main table .field-error")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        !failure.trim().is_empty() && failure != "failed",
        "{failure}"
    );
    screenshot(&c, "operations-02-ended").await;
    let calls = api_calls(&c, &t.stack.api_url).await;
    assert!(calls.iter().any(|p| p == "/api/operations"), "{calls:?}");

    // The failure is among the owner's notifications, linking to the operation's page.
    link(&c, "Notifications")
        .await
        .click()
        .await
        .expect("notifications");
    let listed = text_contains(
        &c,
        "main table",
        "The install of workspace Doomed study failed",
    )
    .await;
    assert!(listed.contains("this TRE sends no email"), "{listed}");
    assert!(
        !listed.contains("Slow study"),
        "only the failure is notified: {listed}"
    );
    accessibility_basics(&c).await;
    screenshot(&c, "operations-03-notified").await;
    link(&c, "The install of workspace Doomed study failed")
        .await
        .click()
        .await
        .expect("open the notification");
    text_contains(&c, "main", "quota exceeded").await;
    c.close().await.expect("close browser");
}

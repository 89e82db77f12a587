//! The console's resource pages in a real browser: a researcher creates a user resource through
//! the form generated from its template's JSON Schema (the API's schema violation shown at its
//! field first), follows its operation to deployed, runs its `stop` and `start` actions, disables
//! and deletes it after a confirmation. Screenshots land in `target/test-artifacts/console/`.

mod console_support;

use console_support::*;
use fantoccini::Locator;
use serde_json::json;
use tre_e2e::{create, register_bundle, sample_bundle, TestStack};

/// A user resource that can be stopped and started, with constrained, enumerated and sensitive
/// parameters, and a `connection_uri` output (how Azure TRE's resources say how to open them).
const VM_BUNDLE: &str = r#"
name: tre-console-vm
version: 1.0.0
description: A desktop VM that can be stopped and started.
type: user_resource
parentServiceTemplate: tre-service-notebook
parameters:
  type: object
  required: [display_name]
  properties:
    display_name: {type: string, minLength: 1, title: Name, description: Shown to you and the workspace owners}
    idle_minutes: {type: integer, minimum: 5, maximum: 480, default: 60, updateable: true, title: Idle timeout, description: Minutes without use before it stops itself}
    size: {type: string, enum: [small, large], default: small, title: Size}
    desktop_password: {type: string, sensitive: true, title: Desktop password}
  additionalProperties: false
outputs:
  - {name: power_state}
  - {name: connection_uri}
actions:
  install: {steps: [{name: create, exec: [sh, -c, 'printf "{\"power_state\": \"running\", \"connection_uri\": \"https://desktop.example.org/vm\"}" > "$TRE_OUTPUTS_FILE"']}]}
  upgrade: {steps: [{name: configure, exec: ["true"]}]}
  uninstall: {steps: [{name: remove, exec: ["true"]}]}
  stop:
    description: Stop the VM (its disk is kept)
    steps: [{name: stop, exec: [sh, -c, 'printf "{\"power_state\": \"stopped\"}" > "$TRE_OUTPUTS_FILE"']}]
  start:
    description: Start the VM
    steps: [{name: start, exec: [sh, -c, 'printf "{\"power_state\": \"running\"}" > "$TRE_OUTPUTS_FILE"']}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_researcher_creates_stops_starts_and_deletes_a_user_resource_in_the_browser() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    register_bundle(&t, &admin, &sample_bundle("tre-service-notebook")).await;
    let vm = bundle_dir(VM_BUNDLE);
    register_bundle(&t, &admin, vm.path()).await;
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Cohort study",
    )
    .await;
    let svc_base = format!("/api/workspaces/{ws}/workspace-services");
    let svc = create(&t, &svc_base, &admin, "tre-service-notebook", "Notebooks").await;
    t.post_ok(
        &format!("/api/workspaces/{ws}/role-assignments"),
        &admin,
        &json!({"principalId": "dev-researcher", "role": "WorkspaceResearcher"}),
        201,
    )
    .await;
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in(&c, &console, "researcher").await;
    link(&c, "Cohort study")
        .await
        .click()
        .await
        .expect("workspace");
    link(&c, "Notebooks").await.click().await.expect("service");
    click(&c, "#new-user-resource").await;
    click(&c, "#template-tre-console-vm").await;

    // The form follows the schema: a number with its bounds, an enum as a choice with its
    // default, the secret as a password field.
    let idle = element(&c, "#field-idle_minutes").await;
    assert_eq!(
        idle.attr("type").await.expect("type").as_deref(),
        Some("number")
    );
    assert_eq!(idle.attr("max").await.expect("max").as_deref(), Some("480"));
    assert_eq!(
        idle.prop("value").await.expect("value").as_deref(),
        Some("60")
    );
    let size = element(&c, "#field-size").await;
    assert_eq!(size.tag_name().await.expect("tag"), "select");
    text_contains(&c, "#field-size option:checked", "small").await;
    let secret = element(&c, "#field-desktop_password").await;
    assert_eq!(
        secret.attr("type").await.expect("type").as_deref(),
        Some("password")
    );
    text_contains(&c, "label[for=\"field-display_name\"]", "(required)").await;
    text_contains(&c, "#field-idle_minutes-hint", "at most 480").await;
    accessibility_basics(&c).await;

    // Out of bounds: the API refuses it, and the console says so at the field.
    fill(&c, "#field-display_name", "My desktop").await;
    fill(&c, "#field-idle_minutes", "5000").await;
    fill(&c, "#field-desktop_password", "correct-horse-battery").await;
    click(&c, "#create").await;
    let message = text_contains(&c, "#field-idle_minutes-error", "maximum of 480").await;
    assert!(message.contains("5000"), "{message}");
    let invalid = element(&c, "#field-idle_minutes").await;
    assert_eq!(
        invalid.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true")
    );
    let focused = c.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("field-idle_minutes"),
        "focus moves to the field to fix"
    );
    screenshot(&c, "resources-01-field-error").await;
    fill(&c, "#field-idle_minutes", "30").await;
    click(&c, "#create").await;

    // Its page follows the install to deployed, with its outputs and the way to open it.
    text_contains(&c, "#resource-status", "deployed").await;
    text_contains(&c, "#resource-progress", "install, deployed").await;
    text_contains(&c, "main", "1 of 1 steps done").await;
    let open = element(&c, "#open-resource").await;
    assert_eq!(
        open.attr("href").await.expect("href").as_deref(),
        Some("https://desktop.example.org/vm")
    );
    let page = element(&c, "main").await.text().await.expect("text");
    assert!(
        !page.contains("correct-horse-battery"),
        "the secret is never shown"
    );
    assert!(page.contains("running"), "{page}");
    accessibility_basics(&c).await;
    screenshot(&c, "resources-02-deployed").await;

    // Stop, then start: custom actions of the template, each followed to its end.
    click(&c, "#action-stop").await;
    text_contains(&c, "#resource-progress", "stop, action succeeded").await;
    text_contains(&c, "main", "stopped").await;
    screenshot(&c, "resources-03-stopped").await;
    click(&c, "#action-start").await;
    text_contains(&c, "#resource-progress", "start, action succeeded").await;
    let page = element(&c, "main").await.text().await.expect("text");
    assert!(
        page.contains("running") && !page.contains("stopped"),
        "{page}"
    );

    // Change an updateable parameter: out of bounds first, shown at the field, then accepted.
    let size_editable = c.find(Locator::Css("#field-size")).await.is_ok();
    assert!(!size_editable, "what is not updateable is not offered");
    text_contains(&c, "#field-idle_minutes-hint", "at most 480").await;
    fill(&c, "#field-idle_minutes", "1000").await;
    click(&c, "#save-changes").await;
    text_contains(&c, "#field-idle_minutes-error", "maximum of 480").await;
    fill(&c, "#field-idle_minutes", "90").await;
    click(&c, "#save-changes").await;
    text_contains(&c, "#resource-progress", "upgrade, updated").await;
    text_contains(&c, "main table", "90").await;
    screenshot(&c, "resources-04-updated").await;

    // Delete: only once disabled, after a confirmation naming it.
    click(&c, "#disable").await;
    text_contains(&c, "#resource-enabled", "no").await;
    click(&c, "#delete").await;
    let question = text_contains(&c, "#confirm-text", "My desktop").await;
    assert!(question.contains("Nothing else goes with it"), "{question}");
    let focused = c.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("keep"),
        "the safe choice has the focus"
    );
    screenshot(&c, "resources-05-confirm-delete").await;
    click(&c, "#confirm-delete-yes").await;
    text_contains(&c, "#resource-status", "deleted").await;
    screenshot(&c, "resources-06-deleted").await;

    // The API agrees: the researcher's resource is gone.
    let researcher = t.token("researcher");
    let list = t
        .get(&format!("{svc_base}/{svc}/user-resources"), &researcher)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let alive: Vec<_> = list.body["userResources"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|u| u["deploymentStatus"] != "deleted")
        .collect();
    assert!(alive.is_empty(), "{alive:?}");

    let calls = api_calls(&c, &t.stack.api_url).await;
    assert!(
        calls.iter().any(|p| p.ends_with("/invoke-action")),
        "{calls:?}"
    );
    c.close().await.expect("close browser");
}

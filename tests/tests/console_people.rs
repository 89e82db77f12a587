//! The console's workspace pages for owners, in a real browser: a workspace owner adds a
//! workspace service from its template's form, gives a researcher a role (and takes another
//! role away), and the researcher then finds the workspace and its service. Screenshots land in
//! `target/test-artifacts/console/`.

mod console_support;

use console_support::*;
use fantoccini::Locator;
use serde_json::json;
use tre_e2e::{register_bundle, sample_bundle, TestStack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_adds_a_service_and_assigns_a_researcher_who_then_sees_the_workspace() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    register_bundle(&t, &admin, &sample_bundle("tre-service-notebook")).await;
    let researcher = t.token("researcher");
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;

    // A TRE admin creates the workspace from its template's form and makes dev-owner its owner.
    sign_in(&c, &console, "admin").await;
    click(&c, "#new-workspace").await;
    click(&c, "#template-tre-workspace-base").await;
    let key = element(&c, "#field-storage_key").await;
    assert_eq!(
        key.attr("type").await.expect("type").as_deref(),
        Some("password")
    );
    click(&c, "#create").await;
    // display_name is required and has no default: the API's answer lands at the field.
    text_contains(&c, "#field-display_name-error", "display_name").await;
    fill(&c, "#field-display_name", "Genomics").await;
    fill(&c, "#field-storage_key", "k-browser-secret").await;
    click(&c, "#create").await;
    text_contains(&c, "h1", "Genomics").await;
    text_contains(&c, "main table", "install").await;
    let url = c.current_url().await.expect("url").to_string();
    let ws = url.rsplit('/').next().expect("workspace id").to_string();
    t.settled(&format!("/api/workspaces/{ws}"), &admin).await;
    c.refresh().await.expect("reload");
    text_contains(&c, "main dl", "deployed").await;
    let page = element(&c, "main").await.text().await.expect("text");
    assert!(
        !page.contains("k-browser-secret"),
        "the secret is never shown"
    );
    accessibility_basics(&c).await;
    screenshot(&c, "people-00-workspace-created").await;
    let assignments = format!("/api/workspaces/{ws}/role-assignments");
    click(&c, "#people").await;
    fill(&c, "#principal", "dev-owner").await;
    click(&c, "#assign").await;
    text_contains(&c, "#notice", "dev-owner is now Workspace Owner").await;
    let before = t.get("/api/workspaces", &researcher).await;
    assert_eq!(before.body["workspaces"], json!([]), "{}", before.body);
    element(&c, "#user button")
        .await
        .click()
        .await
        .expect("sign out");

    sign_in(&c, &console, "owner").await;
    link(&c, "Genomics").await.click().await.expect("workspace");

    // A workspace service, from the form of its template.
    click(&c, "#new-service").await;
    click(&c, "#template-tre-service-notebook").await;
    let name = element(&c, "#field-display_name").await;
    assert_eq!(
        name.prop("value").await.expect("value").as_deref(),
        Some("Notebooks"),
        "the schema's default is filled in"
    );
    fill(&c, "#field-display_name", "Team notebooks").await;
    accessibility_basics(&c).await;
    click(&c, "#create").await;
    text_contains(&c, "h1", "Team notebooks").await;
    text_contains(&c, "#resource-status", "deployed").await;
    text_contains(&c, "main", "notebook_url").await;
    screenshot(&c, "people-01-service-deployed").await;

    // People: an empty name is refused at the field; then a researcher and an airlock manager
    // get their roles, and the airlock manager's is taken away again.
    link(&c, "← Back").await.click().await.expect("back");
    text_contains(&c, "main", "Team notebooks").await;
    click(&c, "#people").await;
    text_contains(&c, "main", "dev-owner").await;
    click(&c, "#assign").await;
    text_contains(&c, "#principal-error", "Say whom").await;
    fill(&c, "#principal", "dev-researcher").await;
    element(&c, "#role")
        .await
        .select_by_value("WorkspaceResearcher")
        .await
        .expect("choose role");
    click(&c, "#assign").await;
    text_contains(&c, "#notice", "dev-researcher is now Workspace Researcher").await;
    fill(&c, "#principal", "dev-airlock-manager").await;
    element(&c, "#role")
        .await
        .select_by_value("AirlockManager")
        .await
        .expect("choose role");
    click(&c, "#assign").await;
    text_contains(&c, "main", "dev-airlock-manager").await;
    accessibility_basics(&c).await;
    screenshot(&c, "people-02-assigned").await;
    click(
        &c,
        "button[data-principal=\"dev-airlock-manager\"][data-role=\"AirlockManager\"]",
    )
    .await;
    text_contains(
        &c,
        "#notice",
        "dev-airlock-manager is no longer Airlock Manager",
    )
    .await;
    let table = element(&c, "main table").await.text().await.expect("text");
    assert!(!table.contains("dev-airlock-manager"), "{table}");
    let held = t.get(&assignments, &admin).await;
    let mut pairs: Vec<(String, String)> = held.body["roleAssignments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            (
                a["principalId"].as_str().unwrap_or_default().to_string(),
                a["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("dev-owner".to_string(), "WorkspaceOwner".to_string()),
            (
                "dev-researcher".to_string(),
                "WorkspaceResearcher".to_string()
            ),
        ]
    );
    api_calls(&c, &t.stack.api_url).await;

    // The researcher now finds the workspace and its service.
    element(&c, "#user button")
        .await
        .click()
        .await
        .expect("sign out");
    sign_in(&c, &console, "researcher").await;
    link(&c, "Genomics").await.click().await.expect("workspace");
    link(&c, "Team notebooks").await;
    assert!(
        c.find(Locator::Css("#people")).await.is_err(),
        "a researcher does not manage people"
    );
    screenshot(&c, "people-03-researcher-sees-workspace").await;
    api_calls(&c, &t.stack.api_url).await;
    c.close().await.expect("close browser");
}

//! The console's data source pages and the workspace's at-a-glance chart in a real browser: a TRE
//! admin registers an HTTP data source through the form (the API's refusal of a bad licence shown
//! first), imports it from a server the test starts, reviews it (an empty comment refused) and
//! binds it to a workspace, then unbinds it; a workspace's chart counts its operations' outcomes
//! per day and its airlock requests by status. Screenshots land in
//! `target/test-artifacts/console/`.

mod console_support;

use console_support::*;
use fantoccini::Locator;
use http::Method;
use serde_json::{json, Value};
use tre_e2e::{
    create, register_bundle, sample_bundle, serve_exports, sha256_hex, TestStack, ADMISSIONS,
    CODEBOOK, EXPORTS,
};

async fn bound_ids(t: &TestStack, ws: &str) -> Vec<String> {
    let r = t
        .get(
            &format!("/api/workspaces/{ws}/datasources"),
            &t.token("admin"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["dataSources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["dataSourceId"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_registers_imports_reviews_and_binds_an_http_data_source() {
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Cohort study",
    )
    .await;
    let base = serve_exports(EXPORTS).await;
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in(&c, &console, "admin").await;
    link(&c, "Data sources")
        .await
        .click()
        .await
        .expect("data sources");
    text_contains(&c, "main", "No data sources are registered").await;
    click(&c, "#new-datasource").await;
    // Each kind asks for its own connection fields.
    let kind = element(&c, "#ds-kind").await;
    kind.select_by_value("postgres").await.expect("postgres");
    for field in ["#ds-host", "#ds-port", "#ds-table", "#ds-format", "#ds-ca"] {
        element(&c, field).await;
    }
    kind.select_by_value("s3").await.expect("s3");
    element(&c, "#ds-bucket").await;
    kind.select_by_value("uploaded").await.expect("uploaded");
    let fields = c
        .find_all(Locator::Css(
            "#ds-connection input, #ds-connection textarea",
        ))
        .await
        .expect("fields");
    assert!(fields.is_empty(), "an uploaded source has no connection");
    kind.select_by_value("https").await.expect("https");

    for (field, value) in [
        ("#ds-name", "Regional admissions"),
        ("#ds-description", "Weekly admissions by region"),
        ("#ds-project", "Cohort study"),
        ("#ds-licence", "free for all!"),
        ("#ds-organisation", "Example Trust"),
        ("#ds-contact-name", "A. Steward"),
        ("#ds-contact-role", "Data steward"),
        ("#ds-base-url", &format!("{base}/exports")),
        ("#ds-objects", "admissions.csv\n2026/codebook.txt"),
    ] {
        fill(&c, field, value).await;
    }
    accessibility_basics(&c).await;
    screenshot(&c, "datasources-01-form").await;
    // The API's rule, in its words, and nothing registered.
    click(&c, "#register-datasource").await;
    text_contains(&c, "#datasource-errors", "licence").await;
    let none = t.get("/api/datasources", &admin).await;
    assert_eq!(none.body["dataSources"], json!([]), "{}", none.body);

    fill(&c, "#ds-licence", "CC-BY-4.0").await;
    click(&c, "#register-datasource").await;
    text_contains(&c, "main h1", "Data source: Regional admissions").await;
    text_contains(&c, "#datasource-state", "pending").await;
    let list = t.get("/api/datasources", &admin).await;
    let ds = &list.body["dataSources"][0];
    let id = ds["id"].as_str().expect("registered").to_string();
    assert_eq!(ds["connection"]["baseUrl"], format!("{base}/exports"));
    assert_eq!(
        ds["objects"],
        json!(["admissions.csv", "2026/codebook.txt"])
    );
    assert_eq!(ds["publisher"]["contactRole"], "Data steward");
    assert!(
        ds.get("credentialsSecret").is_none_or(Value::is_null),
        "{ds}"
    );

    // The import runs; the page follows it to review, with each file's checksum.
    click(&c, "#start-import").await;
    text_contains(&c, "#datasource-state", "in review").await;
    let files = text_contains(&c, "main table", "admissions.csv").await;
    assert!(files.contains(&sha256_hex(ADMISSIONS)), "{files}");
    assert!(files.contains(&sha256_hex(CODEBOOK)), "{files}");
    accessibility_basics(&c).await;
    screenshot(&c, "datasources-02-in-review").await;

    // A review needs a comment: refused in the page, the source still in review.
    click(&c, "#ds-approve").await;
    text_contains(&c, "#ds-comment-error", "A comment is required").await;
    let still = t.get(&format!("/api/datasources/{id}"), &admin).await;
    assert_eq!(still.body["dataState"], "InReview", "{}", still.body);
    fill(&c, "#ds-review-comment", "matches the publisher's extract").await;
    click(&c, "#ds-approve").await;
    text_contains(&c, "#datasource-state", "completed").await;
    text_contains(
        &c,
        "#datasource-review-result",
        "matches the publisher's extract",
    )
    .await;
    let done = t.get(&format!("/api/datasources/{id}"), &admin).await;
    assert_eq!(done.body["dataState"], "Completed");
    assert_eq!(done.body["review"]["reviewer"], "dev-admin");

    // Bound to the workspace, then unbound.
    let choice = element(&c, "#bind-workspace").await;
    choice
        .select_by_value(&ws)
        .await
        .expect("choose the workspace");
    click(&c, "#bind").await;
    text_contains(&c, "#notice", "Bound to “Cohort study”").await;
    let bound = text_contains(&c, "main", "Unbind from Cohort study").await;
    assert!(!bound.contains("Not bound to any workspace"), "{bound}");
    assert_eq!(bound_ids(&t, &ws).await, std::slice::from_ref(&id));
    accessibility_basics(&c).await;
    screenshot(&c, "datasources-03-bound").await;
    click(&c, &format!("#unbind-{ws}")).await;
    text_contains(&c, "main", "Not bound to any workspace").await;
    assert_eq!(bound_ids(&t, &ws).await, Vec::<String>::new());

    // The list shows it, completed.
    link(&c, "Data sources")
        .await
        .click()
        .await
        .expect("data sources");
    text_contains(&c, "main table", "completed").await;
    let calls = api_calls(&c, &t.stack.api_url).await;
    for want in [
        "/api/datasources".to_string(),
        format!("/api/datasources/{id}/import"),
        format!("/api/datasources/{id}/review"),
        format!("/api/workspaces/{ws}/datasources"),
        format!("/api/workspaces/{ws}/datasources/{id}"),
    ] {
        assert!(calls.contains(&want), "{want} not in {calls:?}");
    }
    c.close().await.expect("close browser");
}

/// A workspace with one action that succeeds and one that fails.
const ACTIVE_BUNDLE: &str = r#"
name: tre-console-active
version: 1.0.0
description: A workspace with actions that succeed and fail.
type: workspace
parameters:
  type: object
  properties:
    display_name: {type: string, default: active}
actions:
  install: {steps: [{name: create, exec: ["true"]}]}
  upgrade: {steps: [{name: noop, exec: ["true"]}]}
  uninstall: {steps: [{name: noop, exec: ["true"]}]}
  check:
    description: Succeeds
    steps: [{name: check, exec: ["true"]}]
  explode:
    description: Fails
    steps: [{name: explode, exec: [sh, -c, "echo 'out of quota' >&2; exit 3"]}]
"#;

/// The UTC calendar day of POSIX seconds, as YYYY-MM-DD (Howard Hinnant's civil_from_days).
fn utc_day(secs: f64) -> String {
    let z = (secs / 86_400.0).floor() as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

async fn table_rows(c: &fantoccini::Client, caption: &str) -> Vec<Vec<String>> {
    let css = "#glance table";
    text_contains(c, "#glance", caption).await;
    let mut out = Vec::new();
    for t in c.find_all(Locator::Css(css)).await.expect("tables") {
        let cap = t
            .find(Locator::Css("caption"))
            .await
            .expect("caption")
            .text()
            .await
            .expect("text");
        if cap != caption {
            continue;
        }
        for tr in t.find_all(Locator::Css("tbody tr")).await.expect("rows") {
            let mut row = Vec::new();
            for td in tr.find_all(Locator::Css("td")).await.expect("cells") {
                row.push(td.text().await.expect("text"));
            }
            out.push(row);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_chart_counts_operation_outcomes_and_requests_by_status() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let bundle = bundle_dir(ACTIVE_BUNDLE);
    register_bundle(&t, &admin, bundle.path()).await;
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-console-active",
        "Busy study",
    )
    .await;
    let path = format!("/api/workspaces/{ws}");
    for action in ["check", "explode"] {
        let r = t
            .call(
                Method::POST,
                &format!("{path}/invoke-action?action={action}"),
                Some(&admin),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 202, "{action}: {}", r.body);
        t.settled(&path, &admin).await;
    }
    t.post_ok(
        &format!("{path}/role-assignments"),
        &admin,
        &json!({"principalId": "dev-researcher", "role": "WorkspaceResearcher"}),
        201,
    )
    .await;
    let researcher = t.token("researcher");
    let mut requests = Vec::new();
    for title in ["First", "Second", "Third"] {
        let r = t
            .post_ok(
                &format!("{path}/requests"),
                &researcher,
                &json!({"type": "import", "title": title, "businessJustification": "for the study"}),
                201,
            )
            .await;
        requests.push(r["airlockRequest"]["id"].as_str().expect("id").to_string());
    }
    let cancelled = t
        .post(
            &format!("{path}/requests/{}/cancel", requests[0]),
            &researcher,
            &json!({}),
        )
        .await;
    assert!(cancelled.status < 300, "cancel: {}", cancelled.body);
    // What the API says happened, to compare the chart with.
    let ops = t.get(&format!("{path}/operations"), &admin).await;
    let ops = ops.body["operations"]
        .as_array()
        .expect("operations")
        .clone();
    let statuses: Vec<&str> = ops.iter().filter_map(|o| o["status"].as_str()).collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    let days: std::collections::BTreeSet<String> = ops
        .iter()
        .map(|o| utc_day(o["updatedWhen"].as_f64().expect("updatedWhen")))
        .collect();
    assert_eq!(
        days.len(),
        1,
        "the operations ran across midnight: {days:?}"
    );
    let day = days.into_iter().next().expect("a day");

    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);
    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in(&c, &console, "researcher").await;
    let nav = nav_labels(&c).await;
    assert!(!nav.contains(&"Data sources".to_string()), "{nav:?}");
    c.goto(&format!("{console}#/workspaces/{ws}"))
        .await
        .expect("workspace page");
    text_contains(&c, "main h1", "Busy study").await;
    assert_eq!(
        table_rows(&c, "Operation outcomes per day").await,
        [vec![day.clone(), "2".to_string(), "1".to_string()]]
    );
    assert_eq!(
        table_rows(&c, "Airlock requests by status").await,
        [
            vec!["draft".to_string(), "2".to_string()],
            vec!["cancelled".to_string(), "1".to_string()],
        ]
    );
    // The picture says the same in words to a screen reader, and each bar names its count.
    let svg = element(&c, "#glance svg[role=img]").await;
    let label = c
        .execute(
            "const ids = arguments[0].getAttribute('aria-labelledby').split(' ');
             return ids.map((i) => document.getElementById(i).textContent).join(' ');",
            vec![serde_json::to_value(&svg).expect("element")],
        )
        .await
        .expect("label");
    let label = label.as_str().unwrap_or_default();
    assert!(label.contains("2 succeeded, 1 failed"), "{label}");
    assert!(label.contains("2 draft, 1 cancelled"), "{label}");
    let bars = c
        .execute(
            "return [...document.querySelectorAll('#glance svg rect title')].map((t) => t.textContent)",
            Vec::new(),
        )
        .await
        .expect("bar titles");
    let bars: Vec<&str> = bars
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        format!("{day}: 2 succeeded"),
        format!("{day}: 1 failed"),
        "2 draft".to_string(),
        "1 cancelled".to_string(),
    ] {
        assert!(bars.contains(&want.as_str()), "{want} not in {bars:?}");
    }
    accessibility_basics(&c).await;
    screenshot(&c, "workspace-glance").await;
    api_calls(&c, &t.stack.api_url).await;
    c.close().await.expect("close browser");
}

/// The page's requests to the API, once the signed storage links are set aside (uploads go to
/// the storage, not to the API); each is checked to be an API route.
async fn api_calls_besides_signed_links(c: &fantoccini::Client, origin: &str) -> Vec<String> {
    let urls = c
        .execute(
            "return performance.getEntriesByType('resource').map((e) => e.name)
               .filter((u) => !new URL(u).pathname.startsWith('/objects'))",
            Vec::new(),
        )
        .await
        .expect("resource timing");
    let routes = tre_api::routes::route_table();
    let mut api = Vec::new();
    for url in urls.as_array().expect("list") {
        let url = url.as_str().expect("url");
        let path = url
            .strip_prefix(origin)
            .unwrap_or_else(|| panic!("the console called another origin: {url}"));
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if path.starts_with("/console/") || path.starts_with("/oidc/") {
            continue;
        }
        assert!(
            routes.iter().any(|r| route_matches(&r.path, path)),
            "the console called {path}, which is no API route"
        );
        api.push(path.to_string());
    }
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_source_is_filled_from_the_browser_imported_and_rejected() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let dir = tempfile::tempdir().expect("files");
    let survey = dir.path().join("survey.csv");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&survey, ADMISSIONS).expect("write");
    std::fs::write(&notes, CODEBOOK).expect("write");
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in(&c, &console, "admin").await;
    c.goto(&format!("{console}#/datasources/new"))
        .await
        .expect("form");
    element(&c, "#ds-kind")
        .await
        .select_by_value("uploaded")
        .await
        .expect("uploaded");
    for (field, value) in [
        ("#ds-name", "Survey returns"),
        ("#ds-project", "Cohort study"),
        ("#ds-licence", "OGL-UK-3.0"),
        ("#ds-organisation", "Example Trust"),
        ("#ds-contact-name", "C. Analyst"),
        ("#ds-contact-role", "Analyst"),
    ] {
        fill(&c, field, value).await;
    }
    click(&c, "#register-datasource").await;
    text_contains(&c, "main h1", "Data source: Survey returns").await;
    assert!(c.find(Locator::Css("#start-import")).await.is_err());

    element(&c, "#ds-files")
        .await
        .send_keys(&format!("{}\n{}", survey.display(), notes.display()))
        .await
        .expect("choose files");
    click(&c, "#ds-upload").await;
    text_contains(&c, "#notice", "2 of 2 files uploaded").await;
    text_contains(&c, "#ds-uploads", "notes.txt").await;
    accessibility_basics(&c).await;
    click(&c, "#start-import").await;
    text_contains(&c, "#datasource-state", "in review").await;
    let files = text_contains(&c, "main table", "survey.csv").await;
    assert!(files.contains(&sha256_hex(ADMISSIONS)), "{files}");
    assert!(files.contains(&sha256_hex(CODEBOOK)), "{files}");

    fill(&c, "#ds-review-comment", "not the agreed extract").await;
    click(&c, "#ds-reject").await;
    text_contains(&c, "#datasource-state", "failed").await;
    text_contains(&c, "main", "not the agreed extract").await;
    screenshot(&c, "datasources-04-rejected").await;
    let list = t.get("/api/datasources", &admin).await;
    assert_eq!(list.body["dataSources"][0]["dataState"], "Failed");
    let calls = api_calls_besides_signed_links(&c, &t.stack.api_url).await;
    assert!(
        calls.iter().any(|p| p.ends_with("/files")),
        "no upload link asked for: {calls:?}"
    );
    c.close().await.expect("close browser");
}

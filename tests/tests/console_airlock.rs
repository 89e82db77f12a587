//! The airlock in a real browser, from the requester's side: a researcher opens an import
//! request, uploads a small file and a 70 MiB one (in parts, one part failing once and retried)
//! with a progress bar each, and submits it; an airlock manager approves it in the console, and
//! the file in the workspace's data has the original's sha256. An approved export is then
//! downloaded by its requester in the browser, byte-equal. Screenshots land in
//! `target/test-artifacts/console/`.

mod console_support;

use std::time::{Duration, Instant};

use console_support::*;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use tre_core::domain::airlock::{object_key, Stage};
use tre_e2e::{create, register_bundle, sample_bundle, sha256_hex, TestStack};

const BIG: usize = 70 * 1024 * 1024;

/// Until the request reaches a status `done` accepts (through the API, as the researcher).
async fn until(t: &TestStack, ws: &str, rid: &str, done: impl Fn(&str) -> bool) -> Value {
    let path = format!("/api/workspaces/{ws}/requests/{rid}");
    let researcher = t.token("researcher");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = t.get(&path, &researcher).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let request = &r.body["airlockRequest"];
        if done(request["status"].as_str().unwrap_or_default()) {
            return request.clone();
        }
        assert!(Instant::now() < deadline, "request stuck: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens a request from the workspace page and returns its id (from the page's address).
async fn open_request(c: &Client, kind: &str, title: &str) -> String {
    click(c, "#new-request").await;
    click(c, &format!("#type-{kind}")).await;
    fill(c, "#request-title", title).await;
    // The justification is required: the API's refusal is shown at the field.
    click(c, "#create-request").await;
    text_contains(c, "#request-justification-error", "businessJustification").await;
    fill(
        c,
        "#request-justification",
        "Needed for the baseline analysis",
    )
    .await;
    click(c, "#create-request").await;
    text_contains(c, "#request-status", "draft").await;
    let url = c.current_url().await.expect("url").to_string();
    url.rsplit('/').next().expect("request id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_researcher_uploads_in_parts_and_downloads_an_approved_export_in_the_browser() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Airlock study",
    )
    .await;
    t.assign_roles(
        &admin,
        &ws,
        &[
            ("dev-researcher", "WorkspaceResearcher"),
            ("dev-airlock-manager", "AirlockManager"),
        ],
    )
    .await;
    let files = tempfile::tempdir().expect("files");
    let small = b"region,n\nnorth,12\nsouth,7\n".to_vec();
    // Not all one byte, so a part sent in the wrong place would change the digest.
    let big: Vec<u8> = (0..BIG).map(|i| (i * 31 % 251) as u8).collect();
    let small_path = files.path().join("counts.csv");
    let big_path = files.path().join("cohort.bin");
    std::fs::write(&small_path, &small).expect("write");
    std::fs::write(&big_path, &big).expect("write");
    let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let downloads = tempfile::tempdir().expect("downloads");
    let c = browser_saving_to(&driver, profile.path(), downloads.path()).await;
    sign_in(&c, &console, "researcher").await;
    link(&c, "Airlock study")
        .await
        .click()
        .await
        .expect("workspace");
    let rid = open_request(&c, "import", "Baseline extract").await;
    accessibility_basics(&c).await;

    // The first part link the page uses is spoiled once (its signature altered), so the storage
    // refuses it and the console must try that part again.
    c.execute(
        r#"
        const open = XMLHttpRequest.prototype.open;
        window.__spoiled = 0;
        XMLHttpRequest.prototype.open = function (method, url, ...rest) {
          if (window.__spoiled === 0 && String(url).includes('method=PART')) {
            window.__spoiled += 1;
            url = String(url).replace('sig=', 'sig=00');
          }
          return open.call(this, method, url, ...rest);
        };
        "#,
        Vec::new(),
    )
    .await
    .expect("spoil a part");
    element(&c, "#file-input")
        .await
        .send_keys(&format!("{}\n{}", small_path.display(), big_path.display()))
        .await
        .expect("choose files");
    click(&c, "#upload").await;
    text_contains(&c, "#upload-summary", "2 of 2 file(s) uploaded").await;
    let status = text_contains(&c, "#upload-status-cohort_bin", "uploaded").await;
    assert!(status.contains("after 1 retry"), "{status}");
    for (bar, size) in [
        ("#progress-counts_csv", small.len()),
        ("#progress-cohort_bin", BIG),
    ] {
        element(&c, bar).await;
        let got = c
            .execute(
                "const p = document.querySelector(arguments[0]); return [p.max, p.value];",
                vec![json!(bar)],
            )
            .await
            .expect("progress");
        assert_eq!(got, json!([size, size]), "{bar}");
    }
    let spoiled = c
        .execute("return window.__spoiled", Vec::new())
        .await
        .expect("js");
    assert_eq!(spoiled, json!(1));
    text_contains(&c, "#files", "cohort.bin").await;
    accessibility_basics(&c).await;
    screenshot(&c, "airlock-01-uploaded").await;
    click(&c, "#submit-request").await;
    text_contains(&c, "#notice", "Submitted").await;
    text_contains(&c, "#request-status", "in review").await;
    screenshot(&c, "airlock-02-in-review").await;
    let calls = api_calls_and_signed_links(&c, &t.stack.api_url).await;
    assert!(calls.iter().any(|p| p.ends_with("/complete")), "{calls:?}");

    // The airlock manager approves it in the console.
    element(&c, "#user button")
        .await
        .click()
        .await
        .expect("sign out");
    sign_in(&c, &console, "airlock-manager").await;
    c.goto(&format!("{console}#/workspaces/{ws}/requests/{rid}"))
        .await
        .expect("goto");
    fill(&c, "#review-comment", "Counts and a pseudonymised cohort").await;
    click(&c, "#approve").await;
    text_contains(&c, "#notice", "Approved").await;
    let approved = until(&t, &ws, &rid, |s| s == "approved").await;
    let names: Vec<&str> = approved["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{approved}");
    for (name, content) in [("cohort.bin", &big), ("counts.csv", &small)] {
        let got = t
            .read_workspace_data(&object_key(Stage::WorkspaceData, &ws, &rid, name))
            .await
            .unwrap_or_else(|| panic!("{name} is not in the workspace's data"));
        assert_eq!(sha256_hex(&got), sha256_hex(content), "{name}");
    }

    // A cancelled upload: the transfer stops, nothing of the file is kept in staging, and the
    // request is then cancelled with its history showing it. Part uploads are held back a
    // moment in the page so that Cancel comes mid-upload.
    element(&c, "#user button")
        .await
        .click()
        .await
        .expect("sign out");
    sign_in(&c, &console, "researcher").await;
    link(&c, "Airlock study")
        .await
        .click()
        .await
        .expect("workspace");
    let abandoned = open_request(&c, "import", "Abandoned extract").await;
    c.execute(
        r#"
        const open = XMLHttpRequest.prototype.open;
        const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.open = function (method, url, ...rest) {
          this.__part = String(url).includes('method=PART');
          return open.call(this, method, url, ...rest);
        };
        XMLHttpRequest.prototype.send = function (body) {
          if (!this.__part) return send.call(this, body);
          setTimeout(() => { if (this.readyState === 1) send.call(this, body); }, 3000);
        };
        "#,
        Vec::new(),
    )
    .await
    .expect("slow parts down");
    element(&c, "#file-input")
        .await
        .send_keys(&big_path.display().to_string())
        .await
        .expect("choose file");
    click(&c, "#upload").await;
    text_contains(&c, "#upload-status-cohort_bin", "uploading part 1").await;
    click(&c, "#cancel-upload-cohort_bin").await;
    text_contains(&c, "#upload-status-cohort_bin", "cancelled").await;
    text_contains(&c, "#upload-summary", "0 of 1 file(s) uploaded").await;
    screenshot(&c, "airlock-03-upload-cancelled").await;
    let staging = t
        .stack
        .app
        .airlock
        .as_ref()
        .expect("airlock storage")
        .store(Stage::ImportStaging)
        .expect("store");
    let key = object_key(Stage::ImportStaging, &ws, &abandoned, "cohort.bin");
    assert!(staging.head(&key).await.expect("head").is_none());
    // The page took the file off the draft (aborting its parts), so the draft submits with only
    // the file uploaded next; then the requester cancels it in review.
    let draft = until(&t, &ws, &abandoned, |s| s == "draft").await;
    assert_eq!(draft["files"], json!([]), "{draft}");
    let calls = api_calls_and_signed_links(&c, &t.stack.api_url).await;
    assert!(
        calls.iter().any(|p| p.ends_with("/files/cohort.bin")),
        "{calls:?}"
    );
    element(&c, "#file-input")
        .await
        .send_keys(&small_path.display().to_string())
        .await
        .expect("choose file");
    click(&c, "#upload").await;
    text_contains(&c, "#upload-summary", "1 of 1 file(s) uploaded").await;
    click(&c, "#submit-request").await;
    text_contains(&c, "#notice", "Submitted").await;
    let submitted = until(&t, &ws, &abandoned, |s| s == "in_review").await;
    let names: Vec<&str> = submitted["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["counts.csv"], "{submitted}");
    text_contains(&c, "#request-status", "in review").await;
    click(&c, "#cancel-request").await;
    text_contains(&c, "#notice", "Cancelled").await;
    text_contains(&c, "#request-status", "cancelled").await;
    let history = text_contains(&c, "main", "Every status change").await;
    assert!(history.contains("draft"), "{history}");
    until(&t, &ws, &abandoned, |s| s == "cancelled").await;

    // An export: the researcher opens it and uploads its file; once approved, they download it.
    link(&c, "Workspaces")
        .await
        .click()
        .await
        .expect("workspaces");
    link(&c, "Airlock study")
        .await
        .click()
        .await
        .expect("workspace");
    let export = open_request(&c, "export", "Results table").await;
    let results = b"model,auc\nbaseline,0.71\n".to_vec();
    let results_path = files.path().join("results.csv");
    std::fs::write(&results_path, &results).expect("write");
    element(&c, "#file-input")
        .await
        .send_keys(&results_path.display().to_string())
        .await
        .expect("choose file");
    click(&c, "#upload").await;
    text_contains(&c, "#upload-summary", "1 of 1 file(s) uploaded").await;
    click(&c, "#submit-request").await;
    until(&t, &ws, &export, |s| s == "in_review").await;
    let manager = t.token("airlock-manager");
    t.post_ok(
        &format!("/api/workspaces/{ws}/requests/{export}/review"),
        &manager,
        &json!({"approval": true, "decisionExplanation": "aggregate results"}),
        200,
    )
    .await;
    until(&t, &ws, &export, |s| s == "approved").await;
    c.goto(&format!("{console}#/workspaces/{ws}/requests/{export}"))
        .await
        .expect("goto");
    c.refresh().await.expect("reload");
    text_contains(&c, "#request-status", "approved").await;
    click(&c, "button.download").await;
    text_contains(&c, "#download-status", "verified").await;
    let saved = downloads.path().join("results.csv");
    let deadline = Instant::now() + WAIT;
    while !saved.exists() {
        assert!(
            Instant::now() < deadline,
            "the browser saved no results.csv"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(std::fs::read(&saved).expect("read download"), results);
    screenshot(&c, "airlock-04-export-downloaded").await;
    assert!(c.find(Locator::Css("#review-comment")).await.is_err());
    api_calls_and_signed_links(&c, &t.stack.api_url).await;
    c.close().await.expect("close browser");
}

/// [`api_calls`], once the signed object links the API handed out are set aside: uploads and
/// downloads go to the storage, not to the API.
async fn api_calls_and_signed_links(c: &Client, origin: &str) -> Vec<String> {
    c.execute(
        r#"
        const keep = performance.getEntriesByType('resource').filter((e) => !new URL(e.name).pathname.startsWith('/objects'));
        performance.clearResourceTimings();
        window.__kept = keep.map((e) => e.name);
        "#,
        Vec::new(),
    )
    .await
    .expect("resource timing");
    let kept = c
        .execute("return window.__kept", Vec::new())
        .await
        .expect("js");
    api_paths(&kept, origin)
}

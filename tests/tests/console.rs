//! The web console in a real browser: headless Chromium (Debian's `chromium`) driven through
//! ChromeDriver (`chromium-driver`) over WebDriver. An airlock manager signs in through the
//! development issuer (authorization code + PKCE), approves one request and rejects another from
//! the console, and the API then shows both decisions with their comments; a researcher signs in
//! and finds no review queue. Screenshots land in `target/test-artifacts/console/`.

mod console_support;

use std::time::{Duration, Instant};

use console_support::*;
use fantoccini::Locator;
use serde_json::{json, Value};
use tre_e2e::{create, register_bundle, sample_bundle, TestStack};

struct Fixture {
    t: TestStack,
    ws: String,
    researcher: String,
}

impl Fixture {
    async fn new() -> Self {
        let t = TestStack::start().await.expect("stack");
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
        t.assign_roles(
            &admin,
            &ws,
            &[
                ("dev-researcher", "WorkspaceResearcher"),
                ("dev-airlock-manager", "AirlockManager"),
            ],
        )
        .await;
        Self {
            researcher: t.token("researcher"),
            t,
            ws,
        }
    }

    /// A request with one file, submitted and waiting in review.
    async fn in_review(&self, title: &str, file: &str, content: &[u8]) -> String {
        let base = format!("/api/workspaces/{}/requests", self.ws);
        let body =
            json!({"type": "import", "title": title, "businessJustification": "for the study"});
        let r = self.t.post_ok(&base, &self.researcher, &body, 201).await;
        let rid = r["airlockRequest"]["id"].as_str().expect("id").to_string();
        let link = self
            .t
            .post_ok(
                &format!("{base}/{rid}/files"),
                &self.researcher,
                &json!({"name": file}),
                200,
            )
            .await;
        let put = self
            .t
            .http
            .put(link["url"].as_str().expect("url"))
            .body(content.to_vec())
            .send()
            .await
            .expect("upload");
        assert!(put.status().is_success());
        self.t
            .post_ok(
                &format!("{base}/{rid}/submit"),
                &self.researcher,
                &json!({}),
                200,
            )
            .await;
        self.until(&rid, |s| s == "in_review").await;
        rid
    }

    async fn until(&self, rid: &str, done: impl Fn(&str) -> bool) -> Value {
        let path = format!("/api/workspaces/{}/requests/{rid}", self.ws);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.t.get(&path, &self.researcher).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let request = &r.body["airlockRequest"];
            if done(request["status"].as_str().unwrap_or_default()) {
                return request.clone();
            }
            assert!(Instant::now() < deadline, "request stuck: {}", r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_airlock_manager_reviews_in_the_browser_and_a_researcher_has_no_queue() {
    let f = Fixture::new().await;
    let approve_id = f
        .in_review("Aggregated counts", "counts.csv", b"region,n\nnorth,12\n")
        .await;
    let reject_id = f
        .in_review("Patient list", "patients.csv", b"nhs_number\n9434765919\n")
        .await;
    let console = format!("{}{}", f.t.stack.api_url, tre_console::MOUNT);

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;

    // The airlock manager: the review queue lists both requests.
    sign_in(&c, &console, "airlock-manager").await;
    assert!(nav_labels(&c).await.contains(&"Review queue".to_string()));
    link(&c, "Review queue")
        .await
        .click()
        .await
        .expect("open queue");
    link(&c, "Aggregated counts").await;
    link(&c, "Patient list").await;
    screenshot(&c, "01-review-queue").await;

    // Approve the first, after the console refuses an empty comment.
    link(&c, "Aggregated counts")
        .await
        .click()
        .await
        .expect("open request");
    element(&c, "#review-comment").await;
    text_contains(&c, "main", "counts.csv").await;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"region,n\nnorth,12\n",
    ));
    text_contains(&c, "main", &sha).await;
    accessibility_basics(&c).await;
    element(&c, "#approve")
        .await
        .click()
        .await
        .expect("approve");
    text_contains(&c, "#comment-error", "comment is required").await;
    screenshot(&c, "02-comment-required").await;
    let approve_comment = "Aggregate counts only, no identifiers";
    element(&c, "#review-comment")
        .await
        .send_keys(approve_comment)
        .await
        .expect("type");
    element(&c, "#approve")
        .await
        .click()
        .await
        .expect("approve");
    text_contains(&c, "#notice", "Approved").await;
    screenshot(&c, "03-approved").await;

    // Reject the second, reached from the queue again, by keyboard: Tab from the comment box
    // to the buttons, Enter on Reject.
    link(&c, "Review queue")
        .await
        .click()
        .await
        .expect("open queue");
    link(&c, "Patient list")
        .await
        .click()
        .await
        .expect("open request");
    let reject_comment = "Contains NHS numbers; export aggregates instead";
    let comment = element(&c, "#review-comment").await;
    comment.send_keys(reject_comment).await.expect("type");
    comment.send_keys(TAB).await.expect("tab to Approve");
    let focused = c.active_element().await.expect("focus");
    focused.send_keys(TAB).await.expect("tab to Reject");
    let focused = c.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("reject")
    );
    focused.send_keys(ENTER).await.expect("press Reject");
    text_contains(&c, "#notice", "Rejected").await;
    screenshot(&c, "04-rejected").await;

    // The API shows the decisions with their comments, and the workflow finished them.
    let approved = f.until(&approve_id, |s| s == "approved").await;
    assert_eq!(
        approved["reviews"][0]["decisionExplanation"],
        approve_comment
    );
    assert_eq!(
        approved["reviews"][0]["reviewer"]["id"],
        "dev-airlock-manager"
    );
    let rejected = f.until(&reject_id, |s| s == "rejected").await;
    assert_eq!(
        rejected["reviews"][0]["decisionExplanation"],
        reject_comment
    );
    assert_eq!(rejected["reviews"][0]["reviewDecision"], "rejected");

    let reviewer_calls = api_calls(&c, &f.t.stack.api_url).await;
    assert!(
        reviewer_calls.iter().any(|p| p.ends_with("/review")),
        "{reviewer_calls:?}"
    );

    // Sign out; the researcher has no review queue, in the menu or at its address.
    element(&c, "#user button")
        .await
        .click()
        .await
        .expect("sign out");
    element(&c, "#sign-in").await;
    sign_in(&c, &console, "researcher").await;
    let nav = nav_labels(&c).await;
    assert!(nav.contains(&"Workspaces".to_string()), "{nav:?}");
    assert!(!nav.contains(&"Review queue".to_string()), "{nav:?}");
    c.goto(&format!("{console}#/review")).await.expect("goto");
    text_contains(&c, "main", "not an airlock manager").await;
    screenshot(&c, "05-researcher-no-queue").await;
    // Their workspace, its operations with step progress, and the templates.
    link(&c, "Workspaces")
        .await
        .click()
        .await
        .expect("workspaces");
    link(&c, "Cohort study")
        .await
        .click()
        .await
        .expect("workspace");
    text_contains(&c, "main", "Patient list").await;
    link(&c, "install").await.click().await.expect("operation");
    text_contains(&c, "main", "Steps").await;
    text_contains(&c, "main", "install of tre-workspace-base deployed").await;
    screenshot(&c, "06-researcher-operation").await;
    link(&c, "Templates")
        .await
        .click()
        .await
        .expect("templates");
    text_contains(&c, "main", "tre-workspace-base").await;
    accessibility_basics(&c).await;
    // Their own request shows its outcome and no review form.
    c.goto(&format!(
        "{console}#/workspaces/{}/requests/{reject_id}",
        f.ws
    ))
    .await
    .expect("goto");
    text_contains(&c, "#request-status", "rejected").await;
    text_contains(&c, "main", reject_comment).await;
    assert!(c.find(Locator::Css("#review-comment")).await.is_err());
    screenshot(&c, "07-researcher-request").await;

    api_calls(&c, &f.t.stack.api_url).await;
    c.close().await.expect("close browser");
}

/// `GET /api/me`, which the console uses to show only what applies to the user.
#[tokio::test]
async fn me_tells_the_caller_their_roles() {
    let f = Fixture::new().await;
    let me = f.t.get("/api/me", &f.t.token("airlock-manager")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["id"], "dev-airlock-manager");
    assert_eq!(me.body["treRoles"], json!(["TREUser"]));
    assert_eq!(
        me.body["workspaceRoles"],
        json!([{"workspaceId": f.ws, "roles": ["AirlockManager"]}])
    );
    let admin = f.t.get("/api/me", &f.t.token("admin")).await;
    assert_eq!(admin.body["treRoles"], json!(["TREAdmin", "TREUser"]));
    assert_eq!(admin.body["workspaceRoles"], json!([]));
    let anonymous =
        f.t.call(reqwest::Method::GET, "/api/me", None, None, None)
            .await;
    assert_eq!(anonymous.status, 401);
}

/// The console's files come with a policy that allows no inline code and no other origin, and
/// its configuration names the development issuer, whose redirect URI is registered.
#[tokio::test]
async fn console_is_served_with_its_configuration_and_a_strict_policy() {
    let t = TestStack::start().await.expect("stack");
    let base = format!("{}{}", t.stack.api_url, tre_console::MOUNT);
    let page = t.http.get(&base).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(!html.contains("<script>"), "no inline scripts");
    assert!(!html.contains("https://"), "no external resources");
    let cfg: Value = t
        .http
        .get(format!("{base}config.json"))
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    assert_eq!(cfg["issuer"], t.stack.issuer_url);
    assert_eq!(cfg["redirectUri"], base);
    // The dev issuer accepts the console's redirect URI and refuses another one.
    let authorize = |redirect: &str| {
        format!(
            "{}/authorize?response_type=code&client_id=tre-console&redirect_uri={redirect}&code_challenge={}&code_challenge_method=S256&state=s",
            t.stack.issuer_url,
            "a".repeat(43)
        )
    };
    let ok = t
        .http
        .get(authorize(&base))
        .send()
        .await
        .expect("authorize");
    assert_eq!(ok.status(), 200);
    let bad = t
        .http
        .get(authorize("http://evil.example/"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(bad.status(), 400);
    for file in ["app.js", "style.css"] {
        let r = t
            .http
            .get(format!("{base}{file}"))
            .send()
            .await
            .expect("file");
        assert_eq!(r.status(), 200, "{file}");
    }
}

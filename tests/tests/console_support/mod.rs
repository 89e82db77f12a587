//! What the browser tests of the console share: ChromeDriver and headless Chromium, waits that
//! say what the page showed instead, screenshots, the check that every request is an API route,
//! and the mechanical accessibility checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub fn find_program(env: &str, candidates: &[&str], package: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} not found: install Debian's {package} (.ci/run does) or set {env}",
                candidates[0]
            )
        })
}

/// A ChromeDriver on a free loopback port, stopped with the test.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_driver() -> Driver {
    let program = find_program(
        "TRE_CHROMEDRIVER",
        &["/usr/bin/chromedriver"],
        "chromium-driver",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await {
            let body: Value = r.json().await.unwrap_or_default();
            if body["value"]["ready"] == true {
                return driver;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn browser(driver: &Driver, profile: &Path) -> Client {
    browser_saving_to(driver, profile, &profile.join("downloads")).await
}

/// A browser whose downloads are saved, without asking, in `downloads`.
pub async fn browser_saving_to(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let chromium = find_program(
        "TRE_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        "chromium",
    );
    // Without the background-networking flags Chromium keeps dialling out, which a closed
    // network refuses; --no-sandbox because CI runs as root.
    let options = json!({
        "binary": chromium,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": {
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
        },
    });
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // Plain HTTP: the driver listens on loopback.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

pub fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/console");
    std::fs::create_dir_all(&dir).expect("artefact directory");
    dir
}

pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(artefacts().join(format!("{name}.png")), png).expect("write screenshot");
}

pub const WAIT: Duration = Duration::from_secs(30);
/// WebDriver's codes for the Tab and Enter keys.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

pub async fn wait_for(c: &Client, what: Locator<'_>) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(what).await {
        Ok(el) => el,
        Err(e) => {
            screenshot(c, "failure").await;
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let text = match c.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("no {what:?} on {url}: {e}\npage text:\n{text}")
        }
    }
}

pub async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    wait_for(c, Locator::Css(css)).await
}

pub async fn link(c: &Client, text: &str) -> fantoccini::elements::Element {
    wait_for(c, Locator::LinkText(text)).await
}

/// Waits until the element's text contains `want`.
pub async fn text_contains(c: &Client, css: &str, want: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if t.contains(want) {
                    return t;
                }
            }
        }
        if Instant::now() > deadline {
            screenshot(c, "failure").await;
            let body = match c.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("`{css}` never showed `{want}`; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs in from the console's start page as a sample user of the development issuer.
pub async fn sign_in(c: &Client, console: &str, user: &str) {
    c.goto(console).await.expect("open console");
    element(c, "#sign-in")
        .await
        .click()
        .await
        .expect("click sign in");
    // The dev issuer's page: one button per sample user.
    element(c, &format!("button[value=\"dev-{user}\"]"))
        .await
        .click()
        .await
        .expect("choose user");
    text_contains(c, "#user", "Signed in as").await;
}

pub async fn nav_labels(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for a in c.find_all(Locator::Css("#nav a")).await.expect("nav") {
        out.push(a.text().await.unwrap_or_default());
    }
    out
}

/// Every request the page made to the TRE's origin (the browser's resource timing entries), each
/// checked to be a route of the API's route table, the issuer's or the console's own file: the
/// console has no path of its own into the system.
pub async fn api_calls(c: &Client, origin: &str) -> Vec<String> {
    let urls = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            Vec::new(),
        )
        .await
        .expect("resource timing");
    let api = api_paths(&urls, origin);
    assert!(!api.is_empty(), "the console made no API call");
    api
}

/// The API paths among `urls` (a JSON list of the page's request URLs), each checked to be a
/// route of the route table; the console's own files and the issuer's pass, any other origin
/// fails the test.
pub fn api_paths(urls: &serde_json::Value, origin: &str) -> Vec<String> {
    let routes = tre_api::routes::route_table();
    let mut api = Vec::new();
    for url in urls.as_array().expect("list") {
        let url = url.as_str().expect("url");
        let Some(path) = url.strip_prefix(origin) else {
            panic!("the console called another origin: {url}");
        };
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

pub fn route_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// What can be checked mechanically of the page's accessibility: a language, one h1, every form
/// control with a label, every button and link with a name, every table with a caption and
/// header cells, and a skip link to the main content.
pub async fn accessibility_basics(c: &Client) {
    let problems = c
        .execute(
            r##"
            const p = [];
            if (!document.documentElement.lang) p.push('no lang on <html>');
            if (document.querySelectorAll('main h1').length !== 1) p.push('main has no single h1');
            for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
              const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.getAttribute('aria-label');
              if (!labelled) p.push(`control without a label: ${el.outerHTML.slice(0, 80)}`);
            }
            for (const el of document.querySelectorAll('button, a')) {
              if (!el.textContent.trim() && !el.getAttribute('aria-label')) p.push(`unnamed ${el.tagName}`);
            }
            for (const t of document.querySelectorAll('table')) {
              if (!t.querySelector('caption')) p.push('table without a caption');
              if (!t.querySelector('th')) p.push('table without header cells');
            }
            if (!document.querySelector('a.skip-link[href="#main"]')) p.push('no skip link');
            return p;
            "##,
            Vec::new(),
        )
        .await
        .expect("script");
    assert_eq!(problems, serde_json::json!([]), "accessibility problems");
}

/// Clicks the element once it exists and is enabled (buttons stay disabled while an operation
/// runs).
pub async fn click(c: &Client, css: &str) {
    let enabled = format!("{css}:not([disabled])");
    element(c, &enabled)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Replaces the text of an input.
pub async fn fill(c: &Client, css: &str, text: &str) {
    let el = element(c, css).await;
    el.clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    el.send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// A bundle written for a browser test, registered from a temporary directory.
pub fn bundle_dir(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("bundle dir");
    std::fs::write(dir.path().join("bundle.yaml"), yaml).expect("write bundle.yaml");
    dir
}

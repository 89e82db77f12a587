//! The console signs in through a real, independent OpenID provider instead of the development
//! issuer: npm's `oidc-provider` (OpenID Certified), configured the way a Keycloak realm issues
//! tokens (roles in `realm_access.roles`, groups mapped to TRE roles). The API trusts it through
//! the same `TRE_OIDC_*` settings a deployment reads, and refuses the development issuer's tokens.

mod console_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use console_support::*;
use fantoccini::{Client, Locator};
use reqwest::Method;
use tre_e2e::TestStack;
use tre_local::ExternalOidc;

const AUDIENCE: &str = "tre-api";
const CLIENT_ID: &str = "tre-console";

/// The provider's Node process, stopped with the test.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts the provider (missing Node or an uninstalled package fails the test, loudly). `Err`
/// when it did not come up on `port` (another process took the port meanwhile).
fn try_start_provider(port: u16, redirect_uri: &str) -> Result<Provider, String> {
    let node = find_program(
        "TRE_NODE",
        &["/usr/bin/node", "/usr/local/bin/node"],
        "nodejs",
    );
    let dir = provider_dir();
    assert!(
        dir.join("node_modules/oidc-provider/package.json").exists(),
        "oidc-provider is not installed: run `npm ci` in {} (scripts/test does)",
        dir.display()
    );
    let mut child = Command::new(node)
        .arg("index.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect_uri)
        .env("AUDIENCE", AUDIENCE)
        .env("CLIENT_ID", CLIENT_ID)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the OpenID provider");
    let stdout = child.stdout.take().expect("provider stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("read the provider's output");
    // Whatever it prints later goes to the test's output (a closed pipe would stop it).
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            eprintln!("oidc-provider: {l}");
        }
    });
    let issuer = format!("http://127.0.0.1:{port}");
    if line.trim() != format!("ready {issuer}") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("it said {:?}", line.trim()));
    }
    Ok(Provider { child, issuer })
}

/// Signs in on the provider's own login page, typing a username and password.
async fn sign_in_at_provider(c: &Client, console: &str, user: &str, issuer: &str) {
    c.goto(console).await.expect("open console");
    click(c, "#sign-in").await;
    fill(c, "input[name=login]", user).await;
    let url = c.current_url().await.expect("url").to_string();
    assert!(url.starts_with(issuer), "not the provider's page: {url}");
    fill(c, "input[name=password]", "correct horse battery staple").await;
    screenshot(c, &format!("oidc-provider-login-{user}")).await;
    click(c, "button[type=submit]").await;
    text_contains(c, "#user", "Signed in as").await;
}

async fn console_token(c: &Client) -> String {
    let v = c
        .execute(
            "return JSON.parse(sessionStorage.getItem('tre.console.token')).token",
            Vec::new(),
        )
        .await
        .expect("token");
    v.as_str().expect("a token").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn console_signs_in_through_an_independent_openid_provider() {
    // The port is picked before the stack starts (the stack trusts the issuer at that address)
    // and taken by Node after it: a parallel test may take it first, so try another.
    let mut attempt = 0;
    let (t, provider, issuer, console) = loop {
        attempt += 1;
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        // What a deployment's environment holds for a Keycloak realm.
        let settings: HashMap<String, String> = [
            ("TRE_OIDC_ISSUER", issuer.clone()),
            ("TRE_OIDC_AUDIENCE", AUDIENCE.to_string()),
            ("TRE_OIDC_JWKS_URL", format!("{issuer}/jwks")),
            ("TRE_OIDC_ROLES_CLAIM", "realm_access.roles".to_string()),
            ("TRE_OIDC_GROUPS_CLAIM", "groups".to_string()),
            (
                "TRE_OIDC_GROUP_ROLES",
                "tre-researchers=TREUser".to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let t = TestStack::start_with(|o| {
            o.external_oidc = Some(ExternalOidc {
                settings,
                console_client_id: CLIENT_ID.to_string(),
            })
        })
        .await
        .expect("stack");
        let console = format!("{}{}", t.stack.api_url, tre_console::MOUNT);
        match try_start_provider(port, &console) {
            Ok(provider) => break (t, provider, issuer, console),
            Err(why) if attempt < 5 => {
                eprintln!(
                    "the OpenID provider did not start on port {port} ({why}); trying another"
                );
                t.stack_shutdown().await;
            }
            Err(why) => panic!("the OpenID provider did not start: {why}"),
        }
    };
    assert_eq!(provider.issuer, issuer);

    // Clients are told to sign in there.
    let meta = t
        .call(Method::GET, "/api/.metadata", None, None, None)
        .await;
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body["issuer"], issuer.as_str(), "{}", meta.body);

    // A token of the development issuer is worth nothing here.
    let dev = t.token("admin");
    let refused = t
        .call(Method::GET, "/api/workspaces", Some(&dev), None, None)
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);

    let driver = start_driver().await;

    // The admin's realm roles make them a TRE admin.
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in_at_provider(&c, &console, "admin", &issuer).await;
    let nav = nav_labels(&c).await;
    assert!(nav.contains(&"Data sources".to_string()), "{nav:?}");
    link(&c, "Data sources")
        .await
        .click()
        .await
        .expect("data sources");
    text_contains(&c, "main", "No data sources are registered").await;
    screenshot(&c, "oidc-provider-admin").await;
    let admin = console_token(&c).await;
    let listed = t
        .call(Method::GET, "/api/datasources", Some(&admin), None, None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    c.close().await.expect("close");

    // The researcher's group maps to TREUser: the researcher's view, nothing of an admin's.
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&driver, profile.path()).await;
    sign_in_at_provider(&c, &console, "researcher", &issuer).await;
    let nav = nav_labels(&c).await;
    assert!(!nav.contains(&"Data sources".to_string()), "{nav:?}");
    assert!(nav.contains(&"Workspaces".to_string()), "{nav:?}");
    screenshot(&c, "oidc-provider-researcher").await;
    let researcher = console_token(&c).await;
    let me = t
        .call(
            Method::GET,
            "/api/workspaces",
            Some(&researcher),
            None,
            None,
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    let denied = t
        .call(
            Method::GET,
            "/api/datasources",
            Some(&researcher),
            None,
            None,
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    c.find(Locator::Css("#user")).await.expect("user");
    c.close().await.expect("close");
}

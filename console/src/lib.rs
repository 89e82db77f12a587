//! The TRE web console. Its pages are plain static files (`console/static/`, no build step); this
//! crate embeds them so `tre dev` serves them from any working directory, together with the
//! `config.json` that tells the pages where the API and the sign-in service are. In AWS the same
//! files go to S3 behind CloudFront, with a `config.json` Terraform writes.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

/// Where the console is mounted on the local stack.
pub const MOUNT: &str = "/console/";

/// The OAuth client id the console signs in with on the local stack.
pub const DEV_CLIENT_ID: &str = "tre-console";

/// The console's static files: (name, content type, content).
pub const FILES: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../static/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../static/style.css"),
    ),
];

/// What the pages read from `config.json`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleConfig {
    /// Base URL of the TRE API (empty: the console's own origin).
    pub api_url: String,
    /// The OIDC issuer; its discovery document gives the authorize and token endpoints.
    pub issuer: String,
    pub client_id: String,
    pub scope: String,
    /// The console's own address, registered with the issuer as a redirect URI.
    pub redirect_uri: String,
}

impl ConsoleConfig {
    /// The local stack's console: same origin as the API, the development issuer under `/oidc`.
    pub fn for_local_stack(api_url: &str) -> Self {
        let api_url = api_url.trim_end_matches('/');
        Self {
            api_url: api_url.to_string(),
            issuer: format!("{api_url}/oidc"),
            client_id: DEV_CLIENT_ID.to_string(),
            scope: "openid profile email".into(),
            redirect_uri: format!("{api_url}{MOUNT}"),
        }
    }

    /// The Content-Security-Policy for the pages: scripts and styles from the console's origin
    /// only (no inline code, no CDN), network calls only to the API and the issuer.
    pub fn content_security_policy(&self) -> String {
        let mut connect = vec!["'self'".to_string()];
        for u in [&self.api_url, &self.issuer] {
            if let Ok(parsed) = url::Url::parse(u) {
                let origin = parsed.origin().ascii_serialization();
                if origin != "null" && !connect.contains(&origin) {
                    connect.push(origin);
                }
            }
        }
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src {}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            connect.join(" ")
        )
    }
}

fn headers(content_type: &str, csp: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let pairs = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // The pages change with the program: always ask again.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    h
}

/// Serves the console under [`MOUNT`], and redirects `/` and `/console` there.
pub fn router(config: ConsoleConfig) -> Router {
    let csp = config.content_security_policy();
    let config_json = serde_json::to_string(&config).unwrap_or_else(|_| "{}".into());
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::to(MOUNT) }))
        .route("/console", get(|| async { Redirect::to(MOUNT) }));
    for (name, content_type, body) in FILES {
        let path = if name == "index.html" {
            MOUNT.to_string()
        } else {
            format!("{MOUNT}{name}")
        };
        let h = headers(content_type, &csp);
        router = router.route(&path, get(move || async move { (h, body).into_response() }));
    }
    let h = headers("application/json", &csp);
    router.route(
        &format!("{MOUNT}config.json"),
        get(move || async move { (StatusCode::OK, h, config_json).into_response() }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_calls_to_the_api_and_the_issuer_only() {
        let cfg = ConsoleConfig {
            api_url: "https://api.tre.example/".into(),
            issuer: "https://login.example.org/realms/tre".into(),
            client_id: "console".into(),
            scope: "openid".into(),
            redirect_uri: "https://console.tre.example/".into(),
        };
        let csp = cfg.content_security_policy();
        assert!(
            csp.contains("connect-src 'self' https://api.tre.example https://login.example.org;")
        );
        assert!(csp.starts_with("default-src 'none'; script-src 'self';"));
        // The local stack: everything on one origin.
        let local = ConsoleConfig::for_local_stack("http://127.0.0.1:8080");
        assert_eq!(local.redirect_uri, "http://127.0.0.1:8080/console/");
        assert_eq!(local.issuer, "http://127.0.0.1:8080/oidc");
        assert!(local
            .content_security_policy()
            .contains("connect-src 'self' http://127.0.0.1:8080;"));
    }

    #[test]
    fn every_static_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}

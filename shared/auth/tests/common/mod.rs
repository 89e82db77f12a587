//! Shared set-up: a dev issuer served on 127.0.0.1:0 and validators pointed at it.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;
use tre_auth::{DevIssuer, DevIssuerConfig, Validator, ValidatorConfig};

pub const AUDIENCE: &str = "tre-api";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// RSA key generation is slow in debug builds: generate one key per test binary and copy it
/// into each test's data directory.
fn shared_key_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        DevIssuer::open(DevIssuerConfig::new("http://unused", AUDIENCE, dir.path())).unwrap();
        std::fs::read_to_string(dir.path().join(tre_auth::DEV_KEY_FILE)).unwrap()
    })
}

pub struct Served {
    pub issuer: DevIssuer,
    pub base: String,
    pub dir: TempDir,
}

/// Serve `router` on a fresh local port; returns its base URL.
pub async fn serve(router: axum::Router, listener: tokio::net::TcpListener) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

pub async fn start_issuer() -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(tre_auth::DEV_KEY_FILE), shared_key_pem()).unwrap();
    let mut config = DevIssuerConfig::new(&base, AUDIENCE, dir.path());
    config.redirect_uris = vec![REDIRECT.to_string()];
    let issuer = DevIssuer::open(config).unwrap();
    serve(issuer.router(), listener).await;
    Served { issuer, base, dir }
}

pub fn config_for(base: &str) -> ValidatorConfig {
    let mut c = ValidatorConfig::new(base, AUDIENCE);
    c.min_refresh_interval = Duration::ZERO;
    c
}

pub fn validator(base: &str) -> Validator {
    Validator::new(config_for(base)).unwrap()
}

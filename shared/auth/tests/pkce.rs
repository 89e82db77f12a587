//! Browser sign-in against the dev issuer: authorization code + PKCE (S256).

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{start_issuer, validator, REDIRECT};
use reqwest::redirect::Policy;
use serde_json::Value;
use sha2::{Digest, Sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-with-some-more-entropy";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn authorize_params(redirect: &str, method: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", "tre-console".into()),
        ("redirect_uri", redirect.into()),
        ("state", "st<ate>".into()),
        ("nonce", "n-1".into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", method.into()),
    ]
}

/// Choose `user` on the sign-in page; returns the code from the redirect.
async fn sign_in(base: &str, user: &str) -> String {
    let c = client();
    let page = c
        .get(format!("{base}/authorize"))
        .query(&authorize_params(REDIRECT, "S256"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("value=\"dev-airlock-manager\"") && html.contains("st&lt;ate&gt;"));
    // No external assets: no scripts, stylesheets or images loaded from anywhere.
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="));

    let mut form = authorize_params(REDIRECT, "S256");
    form.push(("user", user.into()));
    let resp = c
        .post(format!("{base}/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st<ate>");
    q["code"].clone()
}

async fn exchange(base: &str, code: &str, verifier: &str) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", "tre-console"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn code_flow_happy_path_then_reuse_fails() {
    let s = start_issuer().await;
    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{}/authorize", s.base)
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    let code = sign_in(&s.base, "dev-researcher").await;
    let (status, body) = exchange(&s.base, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    let p = validator(&s.base)
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(p.id, "dev-researcher");

    // The ID token is for the client, carries the nonce, and is signed by the same key.
    let mut id_cfg = common::config_for(&s.base);
    id_cfg.audience = "tre-console".into();
    let id = tre_auth::Validator::new(id_cfg).unwrap();
    let claims = id
        .validate_claims(body["id_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["nonce"].as_str()),
        (Some("dev-researcher"), Some("n-1"))
    );

    let (status, body) = exchange(&s.base, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn wrong_verifier_burns_the_code() {
    let s = start_issuer().await;
    let code = sign_in(&s.base, "dev-admin").await;
    let wrong = "x".repeat(50);
    let (status, body) = exchange(&s.base, &code, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = exchange(&s.base, &code, VERIFIER).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn bad_authorize_requests_are_refused_without_redirect() {
    let s = start_issuer().await;
    let c = client();
    let cases = [
        authorize_params("http://evil.example/cb", "S256"),
        authorize_params(REDIRECT, "plain"),
        authorize_params(REDIRECT, ""),
    ];
    for params in cases {
        let page = c
            .get(format!("{}/authorize", s.base))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 400);
        let mut form = params.clone();
        form.push(("user", "dev-admin".into()));
        let chosen = c
            .post(format!("{}/authorize", s.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(chosen.status(), 400);
        assert!(chosen.headers().get("location").is_none());
    }
    let mut unknown_user = authorize_params(REDIRECT, "S256");
    unknown_user.push(("user", "root".into()));
    let resp = c
        .post(format!("{}/authorize", s.base))
        .form(&unknown_user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = c
        .post(format!("{}/token", s.base))
        .form(&[("grant_type", "password"), ("username", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

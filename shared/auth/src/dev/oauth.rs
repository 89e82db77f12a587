//! Browser sign-in for the dev issuer: authorization code flow with PKCE (S256 only).
//! `/authorize` shows the sample users; choosing one redirects with a single-use code that
//! `/token` exchanges, within 60 s, for an access token and an ID token.

use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{DevIssuer, DevUser};

const CODE_TTL: Duration = Duration::from_secs(60);

pub(super) struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    user: DevUser,
    expires: Instant,
}

/// 32 random bytes, base64url: codes and token ids.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn routes(issuer: DevIssuer) -> Router {
    Router::new()
        .route("/authorize", get(authorize_page).post(authorize_choose))
        .route("/token", post(token))
        .with_state(issuer)
}

#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    scope: Option<String>,
    /// Set by the sign-in page's buttons.
    user: Option<String>,
}

fn bad_request(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(page("Sign-in request refused", &escape(msg))),
    )
        .into_response()
}

fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The checks shared by the page and the choice. An unregistered redirect URI is never
/// redirected to, so every failure is answered here.
fn check(issuer: &DevIssuer, p: &AuthorizeParams) -> Result<(), &'static str> {
    let redirect = p.redirect_uri.as_deref().ok_or("redirect_uri is missing")?;
    if !issuer.config().redirect_uris.iter().any(|r| r == redirect) {
        return Err("redirect_uri is not registered with the dev issuer");
    }
    if p.response_type.as_deref() != Some("code") {
        return Err("response_type must be `code`");
    }
    if p.client_id.as_deref().is_none_or(str::is_empty) {
        return Err("client_id is missing");
    }
    if p.code_challenge_method.as_deref() != Some("S256") {
        return Err("code_challenge_method must be `S256`");
    }
    match p.code_challenge.as_deref() {
        Some(c) if c.len() == 43 && is_pkce_value(c) => Ok(()),
        _ => Err("code_challenge must be a base64url SHA-256 digest"),
    }
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:28em;margin:3em auto}}\
         button{{display:block;width:100%;margin:.5em 0;padding:.6em;font-size:1em}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>"
    )
}

async fn authorize_page(
    State(issuer): State<DevIssuer>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    if let Err(msg) = check(&issuer, &p) {
        return bad_request(msg);
    }
    // The request travels on as hidden fields; each button submits it with its user.
    let hidden: String = [
        ("response_type", &p.response_type),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("state", &p.state),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
        ("nonce", &p.nonce),
        ("scope", &p.scope),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            escape(v)
        )
    })
    .collect();
    let buttons: String = DevUser::samples()
        .iter()
        .map(|u| {
            format!(
                "<button type=\"submit\" name=\"user\" value=\"{}\">{} ({})</button>",
                escape(&u.id),
                escape(&u.name),
                escape(&u.username)
            )
        })
        .collect();
    let body = format!(
        "<p>Local development sign-in. Choose a sample user:</p>\
         <form method=\"post\" action=\"authorize\">{hidden}{buttons}</form>"
    );
    let mut resp = Html(page("TRE dev sign-in", &body)).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

async fn authorize_choose(
    State(issuer): State<DevIssuer>,
    Form(p): Form<AuthorizeParams>,
) -> Response {
    if let Err(msg) = check(&issuer, &p) {
        return bad_request(msg);
    }
    let Some(user) = p.user.as_deref().and_then(DevUser::find) else {
        return bad_request("unknown user");
    };
    let (Some(client_id), Some(redirect_uri), Some(challenge)) =
        (p.client_id, p.redirect_uri, p.code_challenge)
    else {
        return bad_request("incomplete request");
    };
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return bad_request("redirect_uri is not a URL");
    };
    let code = random_token();
    {
        let mut codes = issuer.inner.codes.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        codes.retain(|_, c| c.expires > now);
        codes.insert(
            code.clone(),
            PendingCode {
                client_id,
                redirect_uri,
                challenge,
                nonce: p.nonce,
                user,
                expires: now + CODE_TTL,
            },
        );
    }
    {
        let mut query = target.query_pairs_mut();
        query.append_pair("code", &code);
        if let Some(state) = &p.state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenParams {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
}

fn token_error(error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

async fn token(State(issuer): State<DevIssuer>, Form(p): Form<TokenParams>) -> Response {
    if p.grant_type.as_deref() != Some("authorization_code") {
        return token_error(
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    // Taking the code out first makes it single-use even when this attempt fails.
    let pending = p.code.as_deref().and_then(|code| {
        issuer
            .inner
            .codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(code)
    });
    let Some(pending) = pending.filter(|c| c.expires > Instant::now()) else {
        return token_error("invalid_grant", "the code is unknown, used or expired");
    };
    if p.client_id.as_deref() != Some(pending.client_id.as_str())
        || p.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str())
    {
        return token_error("invalid_grant", "client_id or redirect_uri does not match");
    }
    let verified = p.code_verifier.as_deref().is_some_and(|v| {
        is_pkce_value(v)
            && URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == pending.challenge
    });
    if !verified {
        return token_error(
            "invalid_grant",
            "the code_verifier does not match the challenge",
        );
    }
    let ttl = issuer.config().token_ttl;
    let access = issuer.mint(&pending.user, ttl);
    let mut id_claims = pending.user.profile_claims();
    issuer.stamp(&mut id_claims, &pending.client_id, ttl);
    if let (Some(map), Some(nonce)) = (id_claims.as_object_mut(), pending.nonce) {
        map.insert("nonce".into(), json!(nonce));
    }
    let id = issuer.sign_claims(&id_claims);
    match (access, id) {
        (Ok(access_token), Ok(id_token)) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "access_token": access_token,
                "id_token": id_token,
                "token_type": "Bearer",
                "expires_in": ttl.as_secs(),
            })),
        )
            .into_response(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "dev issuer could not sign tokens");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "server_error"})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevIssuerConfig;

    #[tokio::test]
    async fn key_is_private_and_reused_and_codes_expire() {
        let dir = tempfile::tempdir().unwrap();
        let config = DevIssuerConfig::new("http://127.0.0.1:9", "tre-api", dir.path());
        let issuer = DevIssuer::open(config.clone()).unwrap();
        let again = DevIssuer::open(config).unwrap();
        assert_eq!(issuer.kid(), again.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join(super::super::KEY_FILE)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }

        let verifier = "v".repeat(43);
        issuer.inner.codes.lock().unwrap().insert(
            "old".into(),
            PendingCode {
                client_id: "c".into(),
                redirect_uri: "http://r".into(),
                challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
                nonce: None,
                user: DevUser::admin(),
                expires: Instant::now() - Duration::from_secs(1),
            },
        );
        let params = TokenParams {
            grant_type: Some("authorization_code".into()),
            code: Some("old".into()),
            redirect_uri: Some("http://r".into()),
            client_id: Some("c".into()),
            code_verifier: Some(verifier),
        };
        let resp = token(State(issuer), Form(params)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
}

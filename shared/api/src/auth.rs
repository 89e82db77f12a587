//! How a caller is authenticated. It is pluggable: the local server and the tests verify bearer
//! JWTs themselves; behind API Gateway the JWT authorizer has already verified the token and
//! its claims arrive in the request context. The middleware that applies it is `middleware`.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tre_core::domain::Principal;

use crate::problem::Problem;

/// Why a request is not authenticated. `detail` is safe to show (it never contains the token).
#[derive(Debug, Clone)]
pub struct AuthFailure {
    pub detail: String,
    /// The token could not be checked because the issuer is unreachable or we are
    /// misconfigured: 503, not 401 (the caller did nothing wrong).
    pub server_fault: bool,
}

impl AuthFailure {
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            server_fault: false,
        }
    }
}

#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, AuthFailure>;
}

/// The token of a request, or why there is none: `Bearer <token>`, or `Basic` with the token as
/// the password (what container clients send to the registry's token endpoint).
pub fn bearer_token(headers: &HeaderMap) -> Result<String, AuthFailure> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AuthFailure::new("no `Authorization: Bearer <token>` header"))?
        .to_str()
        .map_err(|_| AuthFailure::new("the Authorization header is not valid text"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| AuthFailure::new("the Authorization header must be `Bearer <token>`"))?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| AuthFailure::new("the Basic credentials are not base64 text"))?;
        let password = decoded.split_once(':').map(|(_, p)| p).unwrap_or_default();
        if password.is_empty() {
            return Err(AuthFailure::new(
                "with Basic, the password is the TRE token",
            ));
        }
        return Ok(password.to_string());
    }
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthFailure::new(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    Ok(token.to_string())
}

pub(crate) fn unauthorized(detail: &str) -> Response {
    let mut resp = Problem::new(StatusCode::UNAUTHORIZED, detail).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    resp
}

/// An authenticator that accepts nobody; a safe default for misconfiguration.
pub struct DenyAll;

#[async_trait]
impl Authenticator for DenyAll {
    async fn authenticate(&self, _parts: &http::request::Parts) -> Result<Principal, AuthFailure> {
        Err(AuthFailure::new("authentication is not configured"))
    }
}

pub type SharedAuthenticator = Arc<dyn Authenticator>;

/// Verifies bearer JWTs itself (the local server; or Lambdas without an API Gateway authorizer).
pub struct JwtAuthenticator {
    validator: tre_auth::Validator,
}

impl JwtAuthenticator {
    pub fn new(validator: tre_auth::Validator) -> Self {
        Self { validator }
    }
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, AuthFailure> {
        let token = bearer_token(&parts.headers)?;
        self.validator.validate(&token).await.map_err(|e| {
            if e.is_server_fault() {
                tracing::error!(error = %e, "token validation could not reach the issuer");
            } else {
                tracing::debug!(error = %e, "token refused");
            }
            AuthFailure {
                detail: e.to_string(),
                server_fault: e.is_server_fault(),
            }
        })
    }
}

//! Authentication middleware. How a principal is established is pluggable: the local server and
//! the tests verify bearer JWTs themselves; behind API Gateway the JWT authorizer has already
//! verified the token and its claims arrive in the request context.

use std::sync::Arc;

use async_trait::async_trait;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tre_core::app::{AuditEntry, Caller};
use tre_core::domain::audit::RequestContext;
use tre_core::domain::Principal;

use crate::problem::Problem;
use crate::router::ApiState;

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

/// Middleware on every authenticated route: establish the caller or answer 401.
pub(crate) async fn require_auth(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let context = request_context(&parts);
    match state.authenticator.authenticate(&parts).await {
        Ok(principal) => {
            let span = tracing::Span::current();
            span.record("principal", principal.id.as_str());
            let caller = Caller::new(principal).with_context(context.clone());
            parts.extensions.insert(caller.clone());
            let response = next.run(Request::from_parts(parts, body)).await;
            let status = response.status();
            // Every 403, and the 404s that hide what the caller may not see (a 404 for what
            // does not exist is no refusal).
            let refused = status == StatusCode::FORBIDDEN
                || response
                    .extensions()
                    .get::<crate::problem::Refusal>()
                    .is_some();
            if refused {
                audit_refusal(&state, Some(&caller), context, status, "").await;
            }
            response
        }
        Err(failure) if failure.server_fault => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the token cannot be checked right now; try again",
        )
        .into_response(),
        Err(failure) => {
            audit_refusal(
                &state,
                None,
                context,
                StatusCode::UNAUTHORIZED,
                &failure.detail,
            )
            .await;
            unauthorized(&failure.detail)
        }
    }
}

/// What the audit trail records of the request: its route, where it came from, its id.
fn request_context(parts: &http::request::Parts) -> RequestContext {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let (gateway_source, gateway_request_id) = gateway_context(parts);
    let source = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .or(gateway_source);
    // API Gateway's id first: it is the one its access logs carry.
    let request_id = gateway_request_id.or_else(|| {
        parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    RequestContext {
        method: parts.method.as_str().to_string(),
        route,
        source,
        request_id,
    }
}

/// The client's address and the request id as API Gateway saw them (behind it, the TCP peer is
/// API Gateway itself).
#[cfg(feature = "lambda")]
fn gateway_context(parts: &http::request::Parts) -> (Option<String>, Option<String>) {
    match parts
        .extensions
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.http.source_ip.clone(), ctx.request_id.clone())
        }
        _ => (None, None),
    }
}

#[cfg(not(feature = "lambda"))]
fn gateway_context(_parts: &http::request::Parts) -> (Option<String>, Option<String>) {
    (None, None)
}

/// Record a refused request. A failure to record is logged, not turned into another answer:
/// the caller is refused either way.
async fn audit_refusal(
    state: &ApiState,
    caller: Option<&Caller>,
    context: RequestContext,
    status: StatusCode,
    detail: &str,
) {
    let entry = AuditEntry::refusal(caller, context, status.as_u16(), detail);
    if let Err(e) = state.app.audit(&entry).await {
        tracing::error!(error = %e, status = status.as_u16(), "could not record a refusal in the audit trail");
    }
}

/// The header carrying a request's id (set from the client's, or drawn, on the way in).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Give every request an id before anything logs it: the client's `x-request-id` if it sent a
/// sane one, else a new one.
pub(crate) async fn ensure_request_id(mut req: Request, next: Next) -> Response {
    let sane = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.is_empty() && v.len() <= 200);
    if !sane {
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            req.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
    }
    next.run(req).await
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

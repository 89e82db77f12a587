//! The middleware of every request: an id before anything logs it, and on authenticated routes
//! the caller (or a 401), with every refusal written to the audit trail.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tre_core::app::{AuditEntry, Caller};
use tre_core::domain::audit::RequestContext;

use crate::auth::unauthorized;
use crate::problem::Problem;
use crate::state::ApiState;

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

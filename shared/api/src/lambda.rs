//! Glue for running the API in AWS Lambda behind API Gateway (HTTP API with a JWT authorizer).
//! API Gateway has already verified the token; its claims arrive in the request context as a
//! map of strings, which we turn back into JSON and map to a principal like any other token.

use std::sync::Arc;

use async_trait::async_trait;
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};
use tre_core::app::App;
use tre_core::domain::Principal;

use crate::auth::{AuthFailure, Authenticator};
use crate::{router_for, ApiState, RouteGroup};

/// Authenticates from the claims API Gateway's JWT authorizer verified.
pub struct ApiGatewayAuthenticator {
    mapping: tre_auth::ClaimMapping,
}

impl ApiGatewayAuthenticator {
    pub fn new(mapping: tre_auth::ClaimMapping) -> Self {
        Self { mapping }
    }
}

/// API Gateway renders array claims as `[a b]` (or `[a, b]`) and may pass JSON text for
/// objects; undo that so claim paths like `realm_access.roles` work as with a raw token.
pub fn claim_value(raw: &str) -> Value {
    let t = raw.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        if v.is_array() || v.is_object() {
            return v;
        }
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return Value::Array(
            inner
                .split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        );
    }
    Value::String(raw.to_string())
}

#[async_trait]
impl Authenticator for ApiGatewayAuthenticator {
    async fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, AuthFailure> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| &jwt.claims),
            _ => None,
        }
        .ok_or_else(|| AuthFailure::new("no verified token claims in the request context"))?;
        let json: Map<String, Value> = claims
            .iter()
            .map(|(k, v)| (k.clone(), claim_value(v)))
            .collect();
        tre_auth::principal_from_claims(&Value::Object(json), &self.mapping)
            .map_err(|e| AuthFailure::new(e.to_string()))
    }
}

/// A route group behind API Gateway's authoriser, with no registry token realm and no sign-in
/// settings: what the sample events exercise. The deployed Lambdas build theirs from their
/// settings (`tre-lambda`'s `api_router`), which read the environment once.
pub fn lambda_router(group: RouteGroup, app: App, mapping: tre_auth::ClaimMapping) -> axum::Router {
    router_for(
        group,
        ApiState::new(app, Arc::new(ApiGatewayAuthenticator::new(mapping))),
    )
}

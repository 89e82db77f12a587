//! The API's own routes (served by the `api-meta` Lambda, without a token): its health, and how
//! clients sign in. The OpenAPI document's route is the table's own (`routes::route_table`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::spec::{Reply, Route, RouteGroup, Routes};
use crate::state::ApiState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaAction {
    Health,
    Metadata,
}

pub(crate) fn routes() -> Vec<Route<MetaAction>> {
    let mut r = Routes::new(RouteGroup::Meta, "meta");
    r.get("/api/health", MetaAction::Health)
        .id("getHealth")
        .summary("Health of the API and its store")
        .answers(200, Reply::Schema("Health"))
        .public();
    r.get("/api/.metadata", MetaAction::Metadata)
        .id("getMetadata")
        .summary(
            "How clients sign in: the issuer, the client id (audience) and the scope to ask for",
        )
        .answers(200, Reply::Schema("Metadata"))
        .public();
    r.into_routes()
}

pub(crate) fn method_router(action: MetaAction, filter: MethodFilter) -> MethodRouter<ApiState> {
    match action {
        MetaAction::Health => on(filter, health),
        MetaAction::Metadata => on(filter, metadata),
    }
}

/// One backing service as health reports it (Azure TRE's `services[]` entries).
#[derive(Serialize, ToSchema)]
pub struct ServiceHealth {
    pub service: String,
    /// `OK` or `Not OK`.
    pub status: String,
    /// Why it is not OK (empty when it is).
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the store answers.
    pub status: String,
    pub version: String,
    /// Each backing service the API itself depends on.
    pub services: Vec<ServiceHealth>,
}

/// Health answers 200 when everything is OK, 503 when a backing service is not (load balancers
/// and probes read the status; Azure TRE's clients read `services`).
async fn health(State(s): State<ApiState>) -> Response {
    let probe = tre_core::ports::Key::new("HEALTH", "PROBE");
    let store = match s.app.table.get(&probe).await {
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "health check: store unavailable");
            Some("State store is not responding".to_string())
        }
    };
    let (code, status) = match store {
        None => (StatusCode::OK, "ok"),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
    };
    let body = Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        services: vec![ServiceHealth {
            service: "State store".into(),
            status: if store.is_none() { "OK" } else { "Not OK" }.into(),
            message: store.unwrap_or_default(),
        }],
    };
    (code, Json(body)).into_response()
}

/// What a client needs to sign in (Azure TRE's `/.metadata`, which its CLI's login reads).
#[derive(Serialize, ToSchema)]
pub struct Metadata {
    pub api_version: String,
    /// The client id (audience) tokens for this API are issued to.
    pub api_client_id: String,
    /// The scope to ask for.
    pub api_root_scope: String,
    /// Azure TRE's tenant; here the OIDC issuer that signs the tokens.
    pub aad_tenant_id: String,
    /// The OIDC issuer URL (its discovery document is below it).
    pub issuer: String,
}

async fn metadata(State(s): State<ApiState>) -> Response {
    Json(Metadata {
        api_version: env!("CARGO_PKG_VERSION").into(),
        api_client_id: s.sign_in.client_id.clone(),
        api_root_scope: s.sign_in.scope_id.clone(),
        aad_tenant_id: s.sign_in.issuer.clone(),
        issuer: s.sign_in.issuer.clone(),
    })
    .into_response()
}

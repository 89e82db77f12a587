//! Who the caller is (`/api/me`, the console's first call, which also records their name and
//! address for notifications) and the registry's token realm (served by `api-workspaces`).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde_json::json;
use tre_core::app::Caller;

use super::spec::{Reply, Route, RouteGroup, Routes};
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityAction {
    Me,
    RegistryToken,
}

pub(crate) fn routes() -> Vec<Route<IdentityAction>> {
    let mut r = Routes::new(RouteGroup::Workspaces, "identity");
    r.get("/api/me", IdentityAction::Me)
        .id("getMe")
        .summary("The caller: identity, TRE roles and the roles held in each workspace")
        .answers(200, Reply::Schema("Me"));
    r.get("/api/registry/token", IdentityAction::RegistryToken)
        .id("getRegistryToken")
        .summary("A short-lived registry token for the asked `scope`s that the caller may have (the registry's token realm; the TRE token as Bearer, or as the Basic password)")
        .tag("registry")
        .answers(200, Reply::AnyObject)
        .query([
            ("service", false, "the registry's name"),
            ("scope", false, "e.g. repository:tre/bundles/base:pull,push (repeatable)"),
        ]);
    r.into_routes()
}

pub(crate) fn method_router(
    action: IdentityAction,
    filter: MethodFilter,
) -> MethodRouter<ApiState> {
    match action {
        IdentityAction::Me => on(filter, me),
        IdentityAction::RegistryToken => on(filter, registry_token),
    }
}

/// Who the caller is: identity, TRE roles and the roles held in each workspace.
async fn me(State(s): State<ApiState>, Extension(c): Extension<Caller>) -> ApiResult {
    Ok(Json(s.app.whoami(&c).await?).into_response())
}

/// The registry's token realm: one token for every asked scope, with only the actions the
/// caller may have (none is not an error: the registry then refuses what is not granted).
async fn registry_token(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> ApiResult {
    caller.require_user()?;
    let Some(key) = &s.registry_tokens else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "this TRE runs no registry").into());
    };
    let mut access: Vec<tre_auth::registry_token::Access> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k == "service" && v.as_ref() != key.service() {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "this realm issues tokens for `{}`, not `{v}`",
                    key.service()
                ),
            )
            .into());
        }
        if k != "scope" {
            continue;
        }
        // Clients send several `scope` parameters, or several scopes in one, space-separated
        // (the token spec's form, and what a challenge naming several scopes hands them).
        for one in v.split_whitespace() {
            let Some(mut a) = tre_auth::registry_token::Access::parse_scope(one) else {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("`{one}` is not a scope (type:name:actions)"),
                )
                .into());
            };
            a.actions = s
                .app
                .registry_actions(&caller, &a.kind, &a.name, &a.actions)
                .await?;
            // A refused scope stays, with no actions: the registry tells "refused" from "not
            // asked" by it (it opens an ordinary upload instead of asking again for a mount).
            match access
                .iter_mut()
                .find(|b| b.kind == a.kind && b.name == a.name)
            {
                Some(b) => {
                    for action in a.actions {
                        if !b.actions.contains(&action) {
                            b.actions.push(action);
                        }
                    }
                }
                None => access.push(a),
            }
        }
    }
    let scopes: Vec<serde_json::Value> = access
        .iter()
        .map(|a| json!(format!("{}:{}:{}", a.kind, a.name, a.actions.join(","))))
        .collect();
    s.app
        .audit(&tre_core::app::AuditEntry::by(&caller, "registry.token").detail("scopes", scopes))
        .await?;
    let ttl = std::time::Duration::from_secs(300);
    let token = key
        .issue(caller.id(), access, ttl)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(json!({
        "token": token, "access_token": token, "expires_in": ttl.as_secs(),
        "issued_at": chrono::Utc::now().to_rfc3339(),
    }))
    .into_response())
}

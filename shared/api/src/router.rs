//! Builds the axum `Router` from the route table.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::body::MAX_BODY_BYTES;
use crate::middleware;
use crate::problem::Problem;
use crate::routes::{self, route_table, Action, RouteGroup, RouteSpec};
use crate::state::ApiState;

/// The whole API (what the local server serves).
pub fn router(state: ApiState) -> Router {
    build(state, |_| true)
}

/// The routes of one Lambda's group.
pub fn router_for(group: RouteGroup, state: ApiState) -> Router {
    build(state, move |g| g == group)
}

fn build(state: ApiState, include: impl Fn(RouteGroup) -> bool) -> Router {
    let mut public = Router::new();
    let mut private = Router::new();
    let mut any_private = false;
    for spec in route_table().into_iter().filter(|s| include(s.group)) {
        // The table's builder makes only methods a filter exists for; were one added that
        // has none, its route is left out, loudly, rather than served on another method.
        let mr = match method_router(&spec) {
            Ok(mr) => mr,
            Err(e) => {
                tracing::error!(error = %e, "a route of the table has a method the router cannot serve");
                continue;
            }
        };
        if spec.authenticated {
            private = private.route(&spec.path, mr);
            any_private = true;
        } else {
            public = public.route(&spec.path, mr);
        }
    }
    // axum refuses a route layer on an empty router (the Meta group has only public routes).
    if any_private {
        public = public.merge(private.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_auth,
        )));
    }
    public
        .fallback(|| async {
            Problem::new(
                StatusCode::NOT_FOUND,
                "no such route; see /api/openapi.json",
            )
            .into_response()
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            )
            .into_response()
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(middleware::REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %request_id,
                principal = tracing::field::Empty,
            )
        }))
        .layer(axum::middleware::from_fn(middleware::ensure_request_id))
        .with_state(state)
}

/// The handler of a route, on its method only (another method on its path answers 405).
fn method_router(spec: &RouteSpec) -> Result<MethodRouter<ApiState>, String> {
    let filter = MethodFilter::try_from(spec.method.clone())
        .map_err(|e| format!("{} {}: {e}", spec.method, spec.path))?;
    Ok(match spec.action {
        Action::Meta(a) => routes::meta::method_router(a, filter),
        Action::OpenApi => on(filter, crate::openapi::serve),
        Action::Templates(a) => routes::templates::method_router(a, filter),
        Action::Resources(a) => routes::resources::method_router(a, filter),
        Action::Users(a) => routes::users::method_router(a, filter),
        Action::Airlock(a) => routes::airlock::method_router(a, filter),
        Action::DataSources(a) => routes::data_sources::method_router(a, filter),
        Action::Audit(a) => routes::audit::method_router(a, filter),
        Action::Notifications(a) => routes::notifications::method_router(a, filter),
        Action::Identity(a) => routes::identity::method_router(a, filter),
    })
}

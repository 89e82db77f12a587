//! Builds the axum `Router` from the route table.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Router};
use tower_http::trace::TraceLayer;
use tre_core::app::{App, Caller};

use crate::auth::{require_auth, SharedAuthenticator};
use crate::body::JsonBody;
use crate::handlers::{self as h, Params};
use crate::problem::Problem;
use crate::routes::{route_table, Action, RouteGroup, RouteSpec};
use crate::MAX_BODY_BYTES;

/// Shared state of every request.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    pub authenticator: SharedAuthenticator,
    /// The OpenAPI document, rendered once, when first asked for: a Lambda that is never asked
    /// does not pay for it before its first answer (its cold start).
    pub openapi: Arc<std::sync::LazyLock<String>>,
    /// Signs registry tokens (absent where this TRE runs no registry).
    pub registry_tokens: Option<tre_auth::registry_token::RegistryTokenKey>,
    /// How clients sign in (served by `/api/.metadata`).
    pub sign_in: SignIn,
}

/// How clients get tokens for this API: the OIDC issuer, the audience (client id) tokens are
/// issued to, and the scope to ask for. Empty where the deployment does not say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignIn {
    pub issuer: String,
    pub client_id: String,
    /// What a client asks for; one scope serves every workspace here (Azure TRE has one per
    /// workspace: its clients read it from `properties.scope_id` or `/scopeid`).
    pub scope_id: String,
}

impl SignIn {
    /// The scope is `api://<client id>` unless given.
    pub fn new(issuer: &str, client_id: &str) -> Self {
        Self {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            scope_id: if client_id.is_empty() {
                String::new()
            } else if client_id.contains("://") {
                client_id.to_string()
            } else {
                format!("api://{client_id}")
            },
        }
    }
}

impl ApiState {
    pub fn new(app: App, authenticator: SharedAuthenticator) -> Self {
        fn render() -> String {
            serde_json::to_string_pretty(&crate::openapi::document()).unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not render the OpenAPI document");
                "{}".into()
            })
        }
        Self {
            app,
            authenticator,
            openapi: Arc::new(std::sync::LazyLock::new(render)),
            registry_tokens: None,
            sign_in: SignIn::default(),
        }
    }

    pub fn with_sign_in(mut self, sign_in: SignIn) -> Self {
        self.sign_in = sign_in;
        self
    }

    pub fn with_registry_tokens(mut self, key: tre_auth::registry_token::RegistryTokenKey) -> Self {
        self.registry_tokens = Some(key);
        self
    }
}

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
        let mr = method_router(&spec);
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
            require_auth,
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
                .get(crate::auth::REQUEST_ID_HEADER)
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
        .layer(axum::middleware::from_fn(crate::auth::ensure_request_id))
        .with_state(state)
}

type S = State<ApiState>;
type C = Extension<Caller>;

fn method_router(spec: &RouteSpec) -> MethodRouter<ApiState> {
    let filter = match spec.method.as_str() {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        "PUT" => MethodFilter::PUT,
        _ => MethodFilter::GET,
    };
    match spec.action {
        Action::Health => on(filter, h::health),
        Action::Metadata => on(filter, h::metadata),
        Action::OpenApi => on(filter, h::openapi),
        Action::MyOperations => on(filter, h::my_operations),
        Action::WorkspaceScopeId => on(filter, h::workspace_scope_id),
        Action::Templates(a) => crate::template_routes::method_router(a, filter),
        Action::List(k) => on(
            filter,
            move |State(s): S, Extension(c): C, p: Params, uri: Uri| {
                h::list_resources(k, s, c, p, uri)
            },
        ),
        Action::Create(k) => on(
            filter,
            move |State(s): S, Extension(c): C, p: Params, JsonBody(b)| {
                h::create_resource(k, s, c, p, b)
            },
        ),
        Action::Get(k) => on(filter, move |State(s): S, Extension(c): C, p: Params| {
            h::get_resource(k, s, c, p)
        }),
        Action::Patch(k) => on(
            filter,
            move |State(s): S, Extension(c): C, p: Params, headers: HeaderMap, JsonBody(b)| {
                h::patch_resource(k, s, c, p, headers, b)
            },
        ),
        Action::Delete(k) => on(filter, move |State(s): S, Extension(c): C, p: Params| {
            h::delete_resource(k, s, c, p)
        }),
        Action::InvokeAction(k) => on(filter, move |State(s): S, Extension(c): C, p: Params, q| {
            h::invoke_action(k, s, c, p, q)
        }),
        Action::ListOperations(k) => on(
            filter,
            move |State(s): S, Extension(c): C, p: Params, uri: Uri| {
                h::list_operations(k, s, c, p, uri)
            },
        ),
        Action::GetOperation(k) => on(filter, move |State(s): S, Extension(c): C, p: Params| {
            h::get_operation(k, s, c, p)
        }),
        Action::History(k) => on(
            filter,
            move |State(s): S, Extension(c): C, p: Params, uri: Uri| h::history(k, s, c, p, uri),
        ),
        Action::Users(a) => crate::user_routes::method_router(a, filter),
        Action::Airlock(a) => crate::airlock_handlers::method_router(a, filter),
        Action::RegistryToken => on(filter, h::registry_token),
        Action::Me => on(filter, h::me),
        Action::DataSources(a) => crate::datasource_routes::method_router(a, filter),
        Action::Audit(a) => crate::audit_routes::method_router(a, filter),
        Action::Notifications => crate::notification_routes::method_router(filter),
    }
}

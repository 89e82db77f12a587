//! The TRE HTTP API: one axum `Router`, served by the Lambdas (through lambda_http) and by the
//! local server alike. Handlers are thin: they parse, call an application service, and map the
//! result (or the `AppError`) to a response.

mod airlock_handlers;
pub mod airlock_routes;
pub mod audit_routes;
pub mod auth;
mod body;
pub mod datasource_routes;
mod handlers;
mod notification_routes;
pub mod openapi;
pub mod problem;
mod router;
pub mod routes;
pub mod template_routes;
pub mod user_routes;
pub mod wire;

#[cfg(feature = "lambda")]
pub mod lambda;

pub use auth::{AuthFailure, Authenticator, JwtAuthenticator};
pub use router::{router, router_for, ApiState, SignIn};
pub use routes::{route_table, RouteGroup, RouteSpec};

/// Largest JSON body accepted (templates carry schemas; nothing legitimate comes near this).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub use axum::body::Body;

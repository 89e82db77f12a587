//! The TRE HTTP API: one axum `Router`, served by the Lambdas (through lambda_http) and by the
//! local server alike. Handlers are thin: they parse, call an application service, and map the
//! result (or the `AppError`) to a response.
//!
//! `routes` holds the route table and, one file per area, each area's routes and handlers;
//! `router` builds the `Router` from the table; `state` is what every handler is given;
//! `middleware` establishes the caller; `path`, `body` and `paging` parse requests;
//! `problem` shapes errors; `wire` holds Azure TRE's wire shapes; `openapi` describes it all.

pub mod auth;
mod body;
#[cfg(feature = "lambda")]
pub mod lambda;
mod middleware;
pub mod openapi;
mod paging;
mod path;
pub mod problem;
mod router;
pub mod routes;
mod state;
pub mod wire;

pub use auth::{AuthFailure, Authenticator, JwtAuthenticator};
pub use body::MAX_BODY_BYTES;
pub use middleware::REQUEST_ID_HEADER;
pub use router::{router, router_for};
pub use routes::{route_table, RouteGroup, RouteSpec};
pub use state::{ApiState, SignIn};

pub use axum::body::Body;

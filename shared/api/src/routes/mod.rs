//! The route table: every route of the API, with its Lambda group and its OpenAPI description.
//! The router, the OpenAPI document and the infrastructure consistency test all read this one
//! table, so they cannot disagree.
//!
//! Each area has one file holding its routes (built with named properties, `spec::Routes`),
//! its handlers and its action type; this module puts the areas' routes together.

pub mod airlock;
pub mod audit;
pub mod data_sources;
pub mod identity;
pub mod meta;
pub mod notifications;
pub mod resources;
pub mod spec;
pub mod templates;
pub mod users;

pub use spec::{QueryParam, Reply, RouteGroup};

use airlock::AirlockAction;
use audit::AuditAction;
use data_sources::DataSourceAction;
use identity::IdentityAction;
use meta::MetaAction;
use notifications::NotificationAction;
use resources::ResourceAction;
use templates::TemplateAction;
use users::UserAction;

/// A route of the table.
pub type RouteSpec = spec::Route<Action>;

/// Which handler serves a route: its area, and what it does there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Meta(MetaAction),
    /// The OpenAPI document (`crate::openapi`), which describes this table.
    OpenApi,
    Templates(TemplateAction),
    Resources(ResourceAction),
    Users(UserAction),
    Airlock(AirlockAction),
    DataSources(DataSourceAction),
    Audit(AuditAction),
    Notifications(NotificationAction),
    Identity(IdentityAction),
}

/// Every route of the API.
pub fn route_table() -> Vec<RouteSpec> {
    let mut all: Vec<RouteSpec> = Vec::new();
    all.extend(meta::routes().into_iter().map(|r| r.map(Action::Meta)));
    let mut own = spec::Routes::new(RouteGroup::Meta, "meta");
    own.get("/api/openapi.json", Action::OpenApi)
        .id("getOpenApi")
        .summary("This OpenAPI document")
        .answers(200, Reply::AnyObject)
        .public();
    all.extend(own.into_routes());
    all.extend(
        templates::routes()
            .into_iter()
            .map(|r| r.map(Action::Templates)),
    );
    all.extend(
        resources::routes()
            .into_iter()
            .map(|r| r.map(Action::Resources)),
    );
    all.extend(users::routes().into_iter().map(|r| r.map(Action::Users)));
    all.extend(
        airlock::routes()
            .into_iter()
            .map(|r| r.map(Action::Airlock)),
    );
    all.extend(
        data_sources::routes()
            .into_iter()
            .map(|r| r.map(Action::DataSources)),
    );
    all.extend(audit::routes().into_iter().map(|r| r.map(Action::Audit)));
    all.extend(
        notifications::routes()
            .into_iter()
            .map(|r| r.map(Action::Notifications)),
    );
    all.extend(
        identity::routes()
            .into_iter()
            .map(|r| r.map(Action::Identity)),
    );
    for r in all.iter_mut().filter(|r| r.paged) {
        r.query.extend(crate::paging::PAGE_QUERY);
    }
    all
}

/// The names of a route's path parameters, in order.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// The API Gateway view of the route table (`infra/api-routes.json` is this, generated):
/// route key, the function that serves it, and whether the JWT authorizer guards it.
pub fn api_gateway_routes() -> serde_json::Value {
    let routes: Vec<serde_json::Value> = route_table()
        .iter()
        .map(|r| {
            serde_json::json!({
                "routeKey": format!("{} {}", r.method, r.path),
                "function": r.group.function_name(),
                "authenticated": r.authenticated,
            })
        })
        .collect();
    serde_json::json!({
        "generatedBy": "cargo run -p tre-cli -- routes > infra/api-routes.json",
        "routes": routes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_and_routes_are_unique() {
        let routes = route_table();
        let mut ids: Vec<_> = routes.iter().map(|r| r.operation_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), routes.len());
        let mut keys: Vec<_> = routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), routes.len());
    }

    /// The builder starts a route with blanks; every route fills them in, and answers a body
    /// exactly when it does not answer 204.
    #[test]
    fn every_route_says_what_it_is_and_answers() {
        for r in route_table() {
            let key = format!("{} {}", r.method, r.path);
            assert!(!r.operation_id.is_empty(), "{key} has no operation id");
            assert!(!r.summary.is_empty(), "{key} has no summary");
            assert!(!r.tag.is_empty(), "{key} has no tag");
            assert_eq!(
                r.reply == Reply::Empty,
                r.success == 204,
                "{key} answers {} with {:?}",
                r.success,
                r.reply
            );
        }
    }
}

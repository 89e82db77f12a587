//! The route table: every route of the API, with its Lambda group and its OpenAPI description.
//! The router, the OpenAPI document and the infrastructure consistency test all read this one
//! table, so they cannot disagree.

use http::Method;
use tre_core::domain::ResourceKind;

/// Which Lambda serves a route (one function crate per group under `functions/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteGroup {
    Meta,
    Templates,
    Workspaces,
    SharedServices,
    Airlock,
}

impl RouteGroup {
    pub const ALL: [RouteGroup; 5] = [
        Self::Meta,
        Self::Templates,
        Self::Workspaces,
        Self::SharedServices,
        Self::Airlock,
    ];

    /// The function crate (and Lambda) that serves this group.
    pub fn function_name(&self) -> &'static str {
        match self {
            Self::Meta => "api-meta",
            Self::Templates => "api-templates",
            Self::Workspaces => "api-workspaces",
            Self::SharedServices => "api-shared-services",
            Self::Airlock => "api-airlock",
        }
    }

    pub fn from_function_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.function_name() == name)
    }
}

/// What a successful response carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Empty,
    Schema(&'static str),
    /// `{ "<key>": [ <schema> ... ] }`
    ListOf(&'static str, &'static str),
    /// `{ "<key>": <schema> }` (Azure TRE wraps single items so)
    Wrapped(&'static str, &'static str),
    /// `{ "operation": Operation, "<key>": Resource }`
    OperationAndResource(&'static str),
    /// `{ "operation": Operation }`
    OperationOnly,
    /// `[ <schema> ... ]`
    ArrayOf(&'static str),
    /// Any JSON object (the OpenAPI document itself).
    AnyObject,
}

#[derive(Clone, Debug)]
pub struct RouteSpec {
    pub action: Action,
    pub method: Method,
    /// Path with `{param}` placeholders (the same syntax for axum and OpenAPI).
    pub path: String,
    pub group: RouteGroup,
    pub operation_id: String,
    pub summary: String,
    pub tag: &'static str,
    pub authenticated: bool,
    /// Component schema of the JSON request body.
    pub request: Option<&'static str>,
    /// The body may be left out (an empty body means its defaults).
    pub request_optional: bool,
    pub success: u16,
    pub reply: Reply,
    /// Query parameters: (name, required, description).
    pub query: Vec<(&'static str, bool, &'static str)>,
    pub if_match: bool,
}

/// Collections of resources and how their paths look.
pub(crate) struct Collection {
    pub kind: ResourceKind,
    pub base: &'static str,
    pub item_param: &'static str,
    pub list_key: &'static str,
    /// The key a single item is wrapped in.
    pub item_key: &'static str,
    pub noun: &'static str,
    pub group: RouteGroup,
}

pub(crate) const COLLECTIONS: [Collection; 4] = [
    Collection {
        kind: ResourceKind::Workspace,
        base: "/api/workspaces",
        item_param: "workspaceId",
        list_key: "workspaces",
        item_key: "workspace",
        noun: "workspace",
        group: RouteGroup::Workspaces,
    },
    Collection {
        kind: ResourceKind::WorkspaceService,
        base: "/api/workspaces/{workspaceId}/workspace-services",
        item_param: "serviceId",
        list_key: "workspaceServices",
        item_key: "workspaceService",
        noun: "workspace service",
        group: RouteGroup::Workspaces,
    },
    Collection {
        kind: ResourceKind::UserResource,
        base: "/api/workspaces/{workspaceId}/workspace-services/{serviceId}/user-resources",
        item_param: "userResourceId",
        list_key: "userResources",
        item_key: "userResource",
        noun: "user resource",
        group: RouteGroup::Workspaces,
    },
    Collection {
        kind: ResourceKind::SharedService,
        base: "/api/shared-services",
        item_param: "sharedServiceId",
        list_key: "sharedServices",
        item_key: "sharedService",
        noun: "shared service",
        group: RouteGroup::SharedServices,
    },
];

fn camel(noun: &str) -> String {
    noun.split([' ', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Which handler serves a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Health,
    Metadata,
    OpenApi,
    MyOperations,
    WorkspaceScopeId,
    Templates(crate::template_routes::TemplateAction),
    List(ResourceKind),
    Create(ResourceKind),
    Get(ResourceKind),
    Patch(ResourceKind),
    Delete(ResourceKind),
    InvokeAction(ResourceKind),
    ListOperations(ResourceKind),
    GetOperation(ResourceKind),
    History(ResourceKind),
    Users(crate::user_routes::UserAction),
    Airlock(crate::airlock_routes::AirlockAction),
    RegistryToken,
    Me,
    DataSources(crate::datasource_routes::DataSourceAction),
    Audit(crate::audit_routes::AuditAction),
    Notifications,
}

pub(crate) struct Builder {
    routes: Vec<RouteSpec>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        action: Action,
        method: Method,
        path: impl Into<String>,
        group: RouteGroup,
        operation_id: String,
        summary: impl Into<String>,
        tag: &'static str,
        request: Option<&'static str>,
        success: u16,
        reply: Reply,
    ) -> &mut RouteSpec {
        self.routes.push(RouteSpec {
            action,
            method,
            path: path.into(),
            group,
            operation_id,
            summary: summary.into(),
            tag,
            authenticated: true,
            request,
            request_optional: false,
            success,
            reply,
            query: Vec::new(),
            if_match: false,
        });
        let last = self.routes.len() - 1;
        &mut self.routes[last]
    }
}

/// Every route of the API.
pub fn route_table() -> Vec<RouteSpec> {
    use Action as A;
    let mut b = Builder { routes: Vec::new() };
    let meta = RouteGroup::Meta;
    b.add(
        A::Health,
        Method::GET,
        "/api/health",
        meta,
        "getHealth".into(),
        "Health of the API and its store",
        "meta",
        None,
        200,
        Reply::Schema("Health"),
    )
    .authenticated = false;
    b.add(
        A::Metadata,
        Method::GET,
        "/api/.metadata",
        meta,
        "getMetadata".into(),
        "How clients sign in: the issuer, the client id (audience) and the scope to ask for",
        "meta",
        None,
        200,
        Reply::Schema("Metadata"),
    )
    .authenticated = false;
    b.add(
        A::OpenApi,
        Method::GET,
        "/api/openapi.json",
        meta,
        "getOpenApi".into(),
        "This OpenAPI document",
        "meta",
        None,
        200,
        Reply::AnyObject,
    )
    .authenticated = false;

    crate::template_routes::add(&mut b);

    for c in &COLLECTIONS {
        let (kind, g, tag) = (c.kind, c.group, c.list_key);
        let n = camel(c.noun);
        let item = format!("{}/{{{}}}", c.base, c.item_param);
        b.add(
            A::List(kind),
            Method::GET,
            c.base,
            g,
            format!("list{n}s"),
            format!("List the {}s the caller may see", c.noun),
            tag,
            None,
            200,
            Reply::ListOf(c.list_key, "Resource"),
        );
        b.add(
            A::Create(kind),
            Method::POST,
            c.base,
            g,
            format!("create{n}"),
            format!("Create a {} (starts an install operation)", c.noun),
            tag,
            Some("CreateResource"),
            202,
            Reply::OperationAndResource(c.item_key),
        );
        b.add(
            A::Get(kind),
            Method::GET,
            item.clone(),
            g,
            format!("get{n}"),
            format!("Get a {}", c.noun),
            tag,
            None,
            200,
            Reply::Wrapped(c.item_key, "Resource"),
        );
        b.add(
            A::Patch(kind),
            Method::PATCH,
            item.clone(),
            g,
            format!("update{n}"),
            format!(
                "Update a {} (needs `If-Match` or `etag`; starts an upgrade)",
                c.noun
            ),
            tag,
            Some("PatchResource"),
            202,
            Reply::OperationAndResource(c.item_key),
        )
        .if_match = true;
        b.add(
            A::Delete(kind),
            Method::DELETE,
            item.clone(),
            g,
            format!("delete{n}"),
            format!(
                "Delete a disabled {} and everything under it (starts an uninstall)",
                c.noun
            ),
            tag,
            None,
            200,
            Reply::OperationOnly,
        );
        b.add(
            A::InvokeAction(kind),
            Method::POST,
            format!("{item}/invoke-action"),
            g,
            format!("invoke{n}Action"),
            "Run one of the template's custom actions",
            tag,
            None,
            202,
            Reply::OperationAndResource(c.item_key),
        )
        .query
        .push(("action", true, "Name of the custom action"));
        b.add(
            A::ListOperations(kind),
            Method::GET,
            format!("{item}/operations"),
            g,
            format!("list{n}Operations"),
            "Operations on the resource, newest first",
            tag,
            None,
            200,
            Reply::ListOf("operations", "Operation"),
        );
        b.add(
            A::GetOperation(kind),
            Method::GET,
            format!("{item}/operations/{{operationId}}"),
            g,
            format!("get{n}Operation"),
            "One operation",
            tag,
            None,
            200,
            Reply::Wrapped("operation", "Operation"),
        );
        b.add(
            A::History(kind),
            Method::GET,
            format!("{item}/history"),
            g,
            format!("get{n}History"),
            "Earlier versions of the resource, newest first",
            tag,
            None,
            200,
            Reply::ListOf("resource_history", "HistoryItem"),
        );
    }
    b.add(
        A::MyOperations,
        Method::GET,
        "/api/operations",
        RouteGroup::Workspaces,
        "listMyOperations".into(),
        "The caller's operations that have not ended, oldest first",
        "operations",
        None,
        200,
        Reply::ListOf("operations", "Operation"),
    );
    b.add(
        A::WorkspaceScopeId,
        Method::GET,
        "/api/workspaces/{workspaceId}/scopeid",
        RouteGroup::Workspaces,
        "getWorkspaceScopeId".into(),
        "The scope to ask tokens for to act in a workspace",
        "workspaces",
        None,
        200,
        Reply::Wrapped("workspaceAuth", "WorkspaceAuth"),
    );

    crate::user_routes::add(&mut b);
    crate::airlock_routes::add(&mut b);
    crate::datasource_routes::add(&mut b);
    crate::audit_routes::add(&mut b);
    crate::notification_routes::add(&mut b);
    b.add(
        A::Me,
        Method::GET,
        "/api/me",
        RouteGroup::Workspaces,
        "getMe".into(),
        "The caller: identity, TRE roles and the roles held in each workspace",
        "identity",
        None,
        200,
        Reply::Schema("Me"),
    );
    b.add(
        A::RegistryToken,
        Method::GET,
        "/api/registry/token",
        RouteGroup::Workspaces,
        "getRegistryToken".into(),
        "A short-lived registry token for the asked `scope`s that the caller may have (the registry's token realm; the TRE token as Bearer, or as the Basic password)",
        "registry",
        None,
        200,
        Reply::AnyObject,
    )
    .query = vec![
        ("service", false, "the registry's name"),
        ("scope", false, "e.g. repository:tre/bundles/base:pull,push (repeatable)"),
    ];
    for r in b.routes.iter_mut().filter(|r| is_paged(&r.action)) {
        r.query.extend(PAGE_QUERY);
    }
    b.routes
}

/// The query parameters of every paged list (the answer's `nextLink` carries them on).
const PAGE_QUERY: [(&str, bool, &str); 2] = [
    (
        "page_size",
        false,
        "Items per page, 1-1000 (default 200); the answer's `nextLink` (and `Link: rel=\"next\"`) names the next page, absent on the last",
    ),
    (
        "page_token",
        false,
        "Where to resume: only as found in the previous page's `nextLink`, for the same caller and list",
    ),
];

/// Lists that answer in pages.
fn is_paged(action: &Action) -> bool {
    use crate::airlock_routes::AirlockAction as Air;
    use crate::datasource_routes::DataSourceAction as Ds;
    use crate::user_routes::UserAction as U;
    matches!(
        action,
        Action::List(_)
            | Action::ListOperations(_)
            | Action::History(_)
            | Action::MyOperations
            | Action::Users(U::ListAssignments | U::ListUsers)
            | Action::Airlock(Air::List | Air::MyRequests | Air::ReviewQueue)
            | Action::DataSources(Ds::List)
            | Action::Audit(_)
            | Action::Notifications
    )
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
}

//! What a route is: its method and path, the Lambda group that serves it, and what the OpenAPI
//! document says of it. Each area builds its routes with [`Routes`], naming every property.

use http::Method;

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

/// A query parameter: (name, required, description).
pub type QueryParam = (&'static str, bool, &'static str);

/// One route, whose handler `action` names (an area's own action type while the area builds
/// it; `routes::Action` in the table).
#[derive(Clone, Debug)]
pub struct Route<A> {
    pub action: A,
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
    /// Query parameters, the paging ones last on a paged list.
    pub query: Vec<QueryParam>,
    pub if_match: bool,
    /// The list answers in pages (`page_size`, `page_token`, `nextLink`).
    pub paged: bool,
}

impl<A> Route<A> {
    pub fn id(&mut self, operation_id: impl Into<String>) -> &mut Self {
        self.operation_id = operation_id.into();
        self
    }

    pub fn summary(&mut self, summary: impl Into<String>) -> &mut Self {
        self.summary = summary.into();
        self
    }

    pub fn tag(&mut self, tag: &'static str) -> &mut Self {
        self.tag = tag;
        self
    }

    /// The JSON body's component schema.
    pub fn body(&mut self, schema: &'static str) -> &mut Self {
        self.request = Some(schema);
        self
    }

    /// The body may be left out.
    pub fn optional_body(&mut self) -> &mut Self {
        self.request_optional = true;
        self
    }

    /// The status and body of a success.
    pub fn answers(&mut self, status: u16, reply: Reply) -> &mut Self {
        self.success = status;
        self.reply = reply;
        self
    }

    pub fn query(&mut self, params: impl IntoIterator<Item = QueryParam>) -> &mut Self {
        self.query.extend(params);
        self
    }

    /// Changes need `If-Match` (or Azure TRE's `etag`).
    pub fn if_match(&mut self) -> &mut Self {
        self.if_match = true;
        self
    }

    /// Served without a token.
    pub fn public(&mut self) -> &mut Self {
        self.authenticated = false;
        self
    }

    pub fn paged(&mut self) -> &mut Self {
        self.paged = true;
        self
    }

    /// The same route, its action wrapped (an area's into the table's).
    pub fn map<B>(self, wrap: impl FnOnce(A) -> B) -> Route<B> {
        Route {
            action: wrap(self.action),
            method: self.method,
            path: self.path,
            group: self.group,
            operation_id: self.operation_id,
            summary: self.summary,
            tag: self.tag,
            authenticated: self.authenticated,
            request: self.request,
            request_optional: self.request_optional,
            success: self.success,
            reply: self.reply,
            query: self.query,
            if_match: self.if_match,
            paged: self.paged,
        }
    }
}

/// An area's routes, all in one Lambda group and, unless a route says otherwise, one tag.
pub struct Routes<A> {
    group: RouteGroup,
    tag: &'static str,
    routes: Vec<Route<A>>,
}

impl<A> Routes<A> {
    pub fn new(group: RouteGroup, tag: &'static str) -> Self {
        Self {
            group,
            tag,
            routes: Vec::new(),
        }
    }

    pub fn get(&mut self, path: impl Into<String>, action: A) -> &mut Route<A> {
        self.add(Method::GET, path.into(), action)
    }

    pub fn post(&mut self, path: impl Into<String>, action: A) -> &mut Route<A> {
        self.add(Method::POST, path.into(), action)
    }

    pub fn patch(&mut self, path: impl Into<String>, action: A) -> &mut Route<A> {
        self.add(Method::PATCH, path.into(), action)
    }

    pub fn delete(&mut self, path: impl Into<String>, action: A) -> &mut Route<A> {
        self.add(Method::DELETE, path.into(), action)
    }

    /// An authenticated route answering 200 with nothing said yet of its body: every route
    /// states its operation id, summary and reply (a test checks none is left out).
    fn add(&mut self, method: Method, path: String, action: A) -> &mut Route<A> {
        self.routes.push(Route {
            action,
            method,
            path,
            group: self.group,
            operation_id: String::new(),
            summary: String::new(),
            tag: self.tag,
            authenticated: true,
            request: None,
            request_optional: false,
            success: 200,
            reply: Reply::Empty,
            query: Vec::new(),
            if_match: false,
            paged: false,
        });
        let last = self.routes.len() - 1;
        &mut self.routes[last]
    }

    pub fn into_routes(self) -> Vec<Route<A>> {
        self.routes
    }
}

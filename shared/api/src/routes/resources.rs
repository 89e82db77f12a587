//! Workspaces, workspace services, user resources and shared services: four collections with
//! one set of routes each (list, create, get, update, delete, custom actions, operations,
//! history), in Azure TRE's shapes, and the caller's operations across them.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tre_core::app::{Caller, CreateResource, PatchResource, Precondition, ResourceScope};
use tre_core::domain::version::AvailableUpgrade;
use tre_core::domain::{Operation, Resource, ResourceKind};
use utoipa::ToSchema;

use super::spec::{Reply, Route, RouteGroup, Routes};
use crate::body::JsonBody;
use crate::paging::{page_request, paged};
use crate::path::{ApiPath, ResourcePath, WorkspacePath};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;
use crate::wire::operation::Operation as WireOperation;
use crate::wire::resource::{HistoryItem, Resource as WireResource};

/// Collections of resources and how their paths look.
pub struct Collection {
    pub kind: ResourceKind,
    pub base: &'static str,
    pub item_param: &'static str,
    pub list_key: &'static str,
    /// The key a single item is wrapped in.
    pub item_key: &'static str,
    pub noun: &'static str,
    pub group: RouteGroup,
}

pub const COLLECTIONS: [Collection; 4] = [
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

/// A resource route's handler: what it does, to which kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceAction {
    List(ResourceKind),
    Create(ResourceKind),
    Get(ResourceKind),
    Patch(ResourceKind),
    Delete(ResourceKind),
    InvokeAction(ResourceKind),
    ListOperations(ResourceKind),
    GetOperation(ResourceKind),
    History(ResourceKind),
    /// The caller's operations that have not ended, on every resource.
    MyOperations,
    WorkspaceScopeId,
}

pub(crate) fn routes() -> Vec<Route<ResourceAction>> {
    use ResourceAction as A;
    let mut all = Vec::new();
    for c in &COLLECTIONS {
        let kind = c.kind;
        let n = camel(c.noun);
        let item = format!("{}/{{{}}}", c.base, c.item_param);
        let mut r = Routes::new(c.group, c.list_key);
        r.get(c.base, A::List(kind))
            .id(format!("list{n}s"))
            .summary(format!("List the {}s the caller may see", c.noun))
            .answers(200, Reply::ListOf(c.list_key, "Resource"))
            .paged();
        r.post(c.base, A::Create(kind))
            .id(format!("create{n}"))
            .summary(format!("Create a {} (starts an install operation)", c.noun))
            .body("CreateResource")
            .answers(202, Reply::OperationAndResource(c.item_key));
        r.get(item.clone(), A::Get(kind))
            .id(format!("get{n}"))
            .summary(format!("Get a {}", c.noun))
            .answers(200, Reply::Wrapped(c.item_key, "Resource"));
        r.patch(item.clone(), A::Patch(kind))
            .id(format!("update{n}"))
            .summary(format!(
                "Update a {} (needs `If-Match` or `etag`; starts an upgrade)",
                c.noun
            ))
            .body("PatchResource")
            .answers(202, Reply::OperationAndResource(c.item_key))
            .if_match();
        r.delete(item.clone(), A::Delete(kind))
            .id(format!("delete{n}"))
            .summary(format!(
                "Delete a disabled {} and everything under it (starts an uninstall)",
                c.noun
            ))
            .answers(200, Reply::OperationOnly);
        r.post(format!("{item}/invoke-action"), A::InvokeAction(kind))
            .id(format!("invoke{n}Action"))
            .summary("Run one of the template's custom actions")
            .answers(202, Reply::OperationAndResource(c.item_key))
            .query([("action", true, "Name of the custom action")]);
        r.get(format!("{item}/operations"), A::ListOperations(kind))
            .id(format!("list{n}Operations"))
            .summary("Operations on the resource, newest first")
            .answers(200, Reply::ListOf("operations", "Operation"))
            .paged();
        r.get(
            format!("{item}/operations/{{operationId}}"),
            A::GetOperation(kind),
        )
        .id(format!("get{n}Operation"))
        .summary("One operation")
        .answers(200, Reply::Wrapped("operation", "Operation"));
        r.get(format!("{item}/history"), A::History(kind))
            .id(format!("get{n}History"))
            .summary("Earlier versions of the resource, newest first")
            .answers(200, Reply::ListOf("resource_history", "HistoryItem"))
            .paged();
        all.extend(r.into_routes());
    }
    let mut r = Routes::new(RouteGroup::Workspaces, "operations");
    r.get("/api/operations", A::MyOperations)
        .id("listMyOperations")
        .summary("The caller's operations that have not ended, oldest first")
        .answers(200, Reply::ListOf("operations", "Operation"))
        .paged();
    r.get("/api/workspaces/{workspaceId}/scopeid", A::WorkspaceScopeId)
        .id("getWorkspaceScopeId")
        .summary("The scope to ask tokens for to act in a workspace")
        .tag("workspaces")
        .answers(200, Reply::Wrapped("workspaceAuth", "WorkspaceAuth"));
    all.extend(r.into_routes());
    all
}

type S = State<ApiState>;
type C = Extension<Caller>;

pub(crate) fn method_router(
    action: ResourceAction,
    filter: MethodFilter,
) -> MethodRouter<ApiState> {
    use ResourceAction as A;
    match action {
        A::List(k) => on(
            filter,
            move |State(s): S, Extension(c): C, ApiPath(p), uri: Uri| {
                list_resources(k, s, c, p, uri)
            },
        ),
        A::Create(k) => on(
            filter,
            move |State(s): S, Extension(c): C, ApiPath(p), JsonBody(b)| {
                create_resource(k, s, c, p, b)
            },
        ),
        A::Get(k) => on(filter, move |State(s): S, Extension(c): C, ApiPath(p)| {
            get_resource(k, s, c, p)
        }),
        A::Patch(k) => on(
            filter,
            move |State(s): S, Extension(c): C, ApiPath(p), headers: HeaderMap, JsonBody(b)| {
                patch_resource(k, s, c, p, headers, b)
            },
        ),
        A::Delete(k) => on(filter, move |State(s): S, Extension(c): C, ApiPath(p)| {
            delete_resource(k, s, c, p)
        }),
        A::InvokeAction(k) => on(
            filter,
            move |State(s): S, Extension(c): C, ApiPath(p), q| invoke_action(k, s, c, p, q),
        ),
        A::ListOperations(k) => on(
            filter,
            move |State(s): S, Extension(c): C, ApiPath(p), uri: Uri| {
                list_operations(k, s, c, p, uri)
            },
        ),
        A::GetOperation(k) => on(filter, move |State(s): S, Extension(c): C, ApiPath(p)| {
            get_operation(k, s, c, p)
        }),
        A::History(k) => on(
            filter,
            move |State(s): S, Extension(c): C, ApiPath(p), uri: Uri| history(k, s, c, p, uri),
        ),
        A::MyOperations => on(filter, my_operations),
        A::WorkspaceScopeId => on(filter, workspace_scope_id),
    }
}

/// Where a resource route points: the collection (from its parents' ids) and, on an item's
/// route, the item's id (empty on a collection's).
fn scope_and_id(kind: ResourceKind, p: ResourcePath) -> Result<(ResourceScope, String), ApiError> {
    fn given(v: Option<String>, name: &str) -> Result<String, ApiError> {
        v.ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("missing path parameter `{name}`"),
            )
            .into()
        })
    }
    let (scope, id) = match kind {
        ResourceKind::Workspace => (ResourceScope::Workspaces, p.workspace_id),
        ResourceKind::SharedService => (ResourceScope::SharedServices, p.shared_service_id),
        ResourceKind::WorkspaceService => (
            ResourceScope::WorkspaceServices {
                workspace_id: given(p.workspace_id, "workspaceId")?,
            },
            p.service_id,
        ),
        ResourceKind::UserResource => (
            ResourceScope::UserResources {
                workspace_id: given(p.workspace_id, "workspaceId")?,
                service_id: given(p.service_id, "serviceId")?,
            },
            p.user_resource_id,
        ),
    };
    Ok((scope, id.unwrap_or_default()))
}

/// The route table's entry for a kind of resource (every kind has one).
fn collection(kind: ResourceKind) -> Option<&'static Collection> {
    let all: &'static [Collection] = &COLLECTIONS;
    all.iter().find(|c| c.kind == kind)
}

fn list_key(kind: ResourceKind) -> &'static str {
    collection(kind).map_or("items", |c| c.list_key)
}

/// The key a single resource of a kind is wrapped in (`{"workspace": {...}}`).
fn item_key(kind: ResourceKind) -> &'static str {
    collection(kind).map_or("item", |c| c.item_key)
}

fn with_etag(mut resp: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// `Location` of an operation, as Azure TRE's clients fetch it (a path starting `/api`).
fn with_location(mut resp: Response, op: &WireOperation) -> Response {
    let location = format!("/api{}/operations/{}", op.resource_path, op.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The wire form of resources, each with its available upgrades (looked up once per template
/// version, however many resources share it).
async fn wire_resources(s: &ApiState, items: Vec<Resource>) -> Result<Vec<WireResource>, ApiError> {
    let mut upgrades: HashMap<(ResourceKind, String, String), Vec<AvailableUpgrade>> =
        HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for r in items {
        let key = (r.kind, r.template_name.clone(), r.template_version.clone());
        let ups = match upgrades.get(&key) {
            Some(u) => u.clone(),
            None => {
                let u = s.app.available_upgrades(&r).await?;
                upgrades.insert(key, u.clone());
                u
            }
        };
        out.push(WireResource::new(r, ups, &s.sign_in.scope_id));
    }
    Ok(out)
}

async fn wire_resource(s: &ApiState, r: Resource) -> Result<WireResource, ApiError> {
    let ups = s.app.available_upgrades(&r).await?;
    Ok(WireResource::new(r, ups, &s.sign_in.scope_id))
}

/// What a change answers: the operation (what Azure TRE's clients read) and, under its kind's
/// key, the resource as it now is; `Location` names the operation, `ETag` the resource's version.
async fn changed(
    s: &ApiState,
    status: StatusCode,
    resource: Resource,
    operation: Operation,
) -> ApiResult {
    let upgrades = s.app.available_upgrades(&resource).await?;
    changed_with(s, status, (resource, operation, upgrades))
}

/// [`changed`], for a change that found its resource's available upgrades itself.
fn changed_with(
    s: &ApiState,
    status: StatusCode,
    (resource, operation, upgrades): (Resource, Operation, Vec<AvailableUpgrade>),
) -> ApiResult {
    let etag = resource.etag.clone();
    let key = item_key(resource.kind);
    let resource = WireResource::new(resource, upgrades, &s.sign_in.scope_id);
    let operation = WireOperation::from(operation);
    let resp = (
        status,
        Json(json!({ "operation": &operation, key: resource })),
    )
        .into_response();
    Ok(with_etag(with_location(resp, &operation), &etag))
}

async fn list_resources(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
    uri: Uri,
) -> ApiResult {
    let (scope, _) = scope_and_id(kind, p)?;
    let page = page_request(&s, &caller, &uri)?;
    let got = s.app.list_resources_page(&caller, &scope, &page).await?;
    let items = wire_resources(&s, got.items).await?;
    Ok(paged(
        &s,
        &caller,
        &uri,
        list_key(kind),
        items,
        got.next.as_ref(),
    ))
}

async fn create_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
    body: CreateResource,
) -> ApiResult {
    let (scope, _) = scope_and_id(kind, p)?;
    let (resource, operation) = s.app.create_resource(&caller, &scope, body).await?;
    changed(&s, StatusCode::ACCEPTED, resource, operation).await
}

async fn get_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, p)?;
    let r = s.app.get_resource(&caller, &scope, &id).await?;
    let etag = r.etag.clone();
    let key = item_key(r.kind);
    let r = wire_resource(&s, r).await?;
    Ok(with_etag(Json(json!({ key: r })).into_response(), &etag))
}

/// The precondition the client sent: `If-Match` (HTTP's) wins over `etag` (Azure TRE's).
fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let text = |name: header::HeaderName| -> Result<Option<String>, ApiError> {
        match headers.get(&name) {
            None => Ok(None),
            Some(v) => v.to_str().map(|t| Some(t.to_string())).map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("the `{name}` header is not visible ASCII"),
                )
                .into()
            }),
        }
    };
    if let Some(v) = text(header::IF_MATCH)? {
        return Ok(Some(Precondition::IfMatch(v)));
    }
    Ok(text(header::ETAG)?.map(Precondition::Etag))
}

async fn patch_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
    headers: HeaderMap,
    body: PatchResource,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, p)?;
    let pre = precondition(&headers)?;
    let done = s
        .app
        .patch_resource(&caller, &scope, &id, pre.as_ref(), body)
        .await?;
    changed_with(&s, StatusCode::ACCEPTED, done)
}

/// DELETE answers 200 with the operation, as Azure TRE does (its clients check for 200).
async fn delete_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, p)?;
    let operation = WireOperation::from(s.app.delete_resource(&caller, &scope, &id).await?);
    let resp = (StatusCode::OK, Json(json!({ "operation": &operation }))).into_response();
    Ok(with_location(resp, &operation))
}

#[derive(Deserialize)]
struct ActionQuery {
    action: String,
}

async fn invoke_action(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
    q: Result<Query<ActionQuery>, QueryRejection>,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, p)?;
    let Query(q) = q.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("query: {e}")))?;
    let done = s.app.invoke_action(&caller, &scope, &id, &q.action).await?;
    changed_with(&s, StatusCode::ACCEPTED, done)
}

async fn list_operations(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
    uri: Uri,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, p)?;
    let page = page_request(&s, &caller, &uri)?;
    let got = s.app.list_operations(&caller, &scope, &id, &page).await?;
    let ops: Vec<WireOperation> = got.items.into_iter().map(Into::into).collect();
    Ok(paged(
        &s,
        &caller,
        &uri,
        "operations",
        ops,
        got.next.as_ref(),
    ))
}

async fn get_operation(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
) -> ApiResult {
    let operation_id = p.operation_id.clone().unwrap_or_default();
    let (scope, id) = scope_and_id(kind, p)?;
    let op = s
        .app
        .get_operation(&caller, &scope, &id, &operation_id)
        .await?;
    Ok(Json(json!({ "operation": WireOperation::from(op) })).into_response())
}

/// The caller's operations that have not ended, on every resource (Azure TRE's
/// `GET /api/operations`).
async fn my_operations(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> ApiResult {
    let page = page_request(&s, &caller, &uri)?;
    let got = s.app.my_operations(&caller, &page).await?;
    let ops: Vec<WireOperation> = got.items.into_iter().map(Into::into).collect();
    Ok(paged(
        &s,
        &caller,
        &uri,
        "operations",
        ops,
        got.next.as_ref(),
    ))
}

async fn history(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: ResourcePath,
    uri: Uri,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, p)?;
    let page = page_request(&s, &caller, &uri)?;
    let got = s.app.resource_history(&caller, &scope, &id, &page).await?;
    let items: Vec<HistoryItem> = got.items.into_iter().map(Into::into).collect();
    Ok(paged(
        &s,
        &caller,
        &uri,
        "resource_history",
        items,
        got.next.as_ref(),
    ))
}

/// The scope to ask tokens for in a workspace.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceAuth {
    pub scope_id: String,
}

/// The scope clients ask tokens for to act in a workspace (Azure TRE's `scopeid` route).
async fn workspace_scope_id(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(p): ApiPath<WorkspacePath>,
) -> ApiResult {
    let ws = s
        .app
        .get_resource(&caller, &ResourceScope::Workspaces, &p.workspace_id)
        .await?;
    let scope = ws
        .properties
        .get("scope_id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| s.sign_in.scope_id.clone());
    Ok(Json(json!({ "workspaceAuth": WorkspaceAuth { scope_id: scope } })).into_response())
}

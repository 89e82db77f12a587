//! Route handlers: parse the request, call the application service, shape the response.

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tre_core::app::{
    Caller, CreateResource, PagePosition, PageRequest, PatchResource, Precondition, ResourceScope,
};
use tre_core::domain::version::AvailableUpgrade;
use tre_core::domain::{Operation, Resource, ResourceKind};
use utoipa::ToSchema;

use crate::wire::operation::Operation as WireOperation;
use crate::wire::resource::{HistoryItem, Resource as WireResource};

use crate::problem::{ApiError, Problem};
use crate::router::ApiState;
use crate::routes::{Collection, COLLECTIONS};

pub(crate) type Params = Result<Path<HashMap<String, String>>, PathRejection>;
pub(crate) type ApiResult = Result<Response, ApiError>;

/// Query parameters of every paged list.
pub(crate) const PAGE_SIZE_PARAM: &str = "page_size";
pub(crate) const PAGE_TOKEN_PARAM: &str = "page_token";

/// The page a list request asks for: `page_size` (default and maximum in `tre_core`) and
/// `page_token`, which must be one this list (its path: route and scope) gave this caller.
pub(crate) fn page_request(
    s: &ApiState,
    caller: &Caller,
    uri: &Uri,
) -> Result<PageRequest, ApiError> {
    let (mut size, mut token) = (None, None);
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            PAGE_SIZE_PARAM => size = Some(v.into_owned()),
            PAGE_TOKEN_PARAM => token = Some(v.into_owned()),
            _ => {}
        }
    }
    let size = PageRequest::size_from(size.as_deref())?;
    let after = match token.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(s.app.page_tokens.open(caller.id(), uri.path(), t)?),
    };
    Ok(PageRequest { size, after })
}

/// The link to the page after this one: the same path and query with a new `page_token`.
pub(crate) fn next_link(
    s: &ApiState,
    caller: &Caller,
    uri: &Uri,
    next: Option<&PagePosition>,
) -> Option<String> {
    let next = next?;
    let token = s.app.page_tokens.seal(caller.id(), uri.path(), next);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k != PAGE_TOKEN_PARAM {
            q.append_pair(&k, &v);
        }
    }
    q.append_pair(PAGE_TOKEN_PARAM, &token);
    Some(format!("{}?{}", uri.path(), q.finish()))
}

/// A page as Azure TRE's clients read it, `{"<list key>": [...]}`, with `nextLink` beside the
/// list and the same link in a `Link: <...>; rel="next"` header. The last page has neither, so
/// a list that fits one page is exactly Azure TRE's body.
pub(crate) fn paged<T: Serialize>(
    s: &ApiState,
    caller: &Caller,
    uri: &Uri,
    list_key: &str,
    items: Vec<T>,
    next: Option<&PagePosition>,
) -> Response {
    let link = next_link(s, caller, uri, next);
    let body = match &link {
        Some(l) => json!({ list_key: items, "nextLink": l }),
        None => json!({ list_key: items }),
    };
    with_next_header(Json(body).into_response(), link.as_deref())
}

/// `Link: <next>; rel="next"` (RFC 8288), for lists whose body is a bare array.
pub(crate) fn with_next_header(mut resp: Response, link: Option<&str>) -> Response {
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"next\"")).ok())
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

pub(crate) fn params(p: Params) -> Result<HashMap<String, String>, ApiError> {
    p.map(|Path(m)| m)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("bad path: {e}")).into())
}

pub(crate) fn param<'a>(m: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    m.get(name).map(String::as_str).ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("missing path parameter `{name}`"),
        )
        .into()
    })
}

fn scope_and_id(
    kind: ResourceKind,
    m: &HashMap<String, String>,
) -> Result<(ResourceScope, String), ApiError> {
    let scope = match kind {
        ResourceKind::Workspace => ResourceScope::Workspaces,
        ResourceKind::SharedService => ResourceScope::SharedServices,
        ResourceKind::WorkspaceService => ResourceScope::WorkspaceServices {
            workspace_id: param(m, "workspaceId")?.to_string(),
        },
        ResourceKind::UserResource => ResourceScope::UserResources {
            workspace_id: param(m, "workspaceId")?.to_string(),
            service_id: param(m, "serviceId")?.to_string(),
        },
    };
    let item_param = collection(kind).map_or("id", |c| c.item_param);
    let id = m.get(item_param).cloned().unwrap_or_default();
    Ok((scope, id))
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

pub(crate) async fn list_resources(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    uri: Uri,
) -> ApiResult {
    let (scope, _) = scope_and_id(kind, &params(p)?)?;
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

pub(crate) async fn create_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    body: CreateResource,
) -> ApiResult {
    let (scope, _) = scope_and_id(kind, &params(p)?)?;
    let (resource, operation) = s.app.create_resource(&caller, &scope, body).await?;
    changed(&s, StatusCode::ACCEPTED, resource, operation).await
}

pub(crate) async fn get_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
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

pub(crate) async fn patch_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    headers: HeaderMap,
    body: PatchResource,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
    let pre = precondition(&headers)?;
    let done = s
        .app
        .patch_resource(&caller, &scope, &id, pre.as_ref(), body)
        .await?;
    changed_with(&s, StatusCode::ACCEPTED, done)
}

/// DELETE answers 200 with the operation, as Azure TRE does (its clients check for 200).
pub(crate) async fn delete_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
    let operation = WireOperation::from(s.app.delete_resource(&caller, &scope, &id).await?);
    let resp = (StatusCode::OK, Json(json!({ "operation": &operation }))).into_response();
    Ok(with_location(resp, &operation))
}

#[derive(Deserialize)]
pub(crate) struct ActionQuery {
    action: String,
}

pub(crate) async fn invoke_action(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    q: Result<Query<ActionQuery>, QueryRejection>,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
    let Query(q) = q.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("query: {e}")))?;
    let done = s.app.invoke_action(&caller, &scope, &id, &q.action).await?;
    changed_with(&s, StatusCode::ACCEPTED, done)
}

pub(crate) async fn list_operations(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    uri: Uri,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
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

pub(crate) async fn get_operation(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let m = params(p)?;
    let (scope, id) = scope_and_id(kind, &m)?;
    let op = s
        .app
        .get_operation(&caller, &scope, &id, param(&m, "operationId")?)
        .await?;
    Ok(Json(json!({ "operation": WireOperation::from(op) })).into_response())
}

/// The caller's operations that have not ended, on every resource (Azure TRE's
/// `GET /api/operations`).
pub(crate) async fn my_operations(
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

pub(crate) async fn history(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    uri: Uri,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
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
pub(crate) async fn workspace_scope_id(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    p: Params,
) -> ApiResult {
    let m = params(p)?;
    let ws = s
        .app
        .get_resource(
            &caller,
            &ResourceScope::Workspaces,
            param(&m, "workspaceId")?,
        )
        .await?;
    let scope = ws
        .properties
        .get("scope_id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| s.sign_in.scope_id.clone());
    Ok(Json(json!({ "workspaceAuth": WorkspaceAuth { scope_id: scope } })).into_response())
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
pub(crate) async fn health(State(s): State<ApiState>) -> Response {
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

pub(crate) async fn metadata(State(s): State<ApiState>) -> Response {
    Json(Metadata {
        api_version: env!("CARGO_PKG_VERSION").into(),
        api_client_id: s.sign_in.client_id.clone(),
        api_root_scope: s.sign_in.scope_id.clone(),
        aad_tenant_id: s.sign_in.issuer.clone(),
        issuer: s.sign_in.issuer.clone(),
    })
    .into_response()
}

pub(crate) async fn openapi(State(s): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        String::clone(&s.openapi),
    )
        .into_response()
}

/// The registry's token realm: one token for every asked scope, with only the actions the
/// caller may have (none is not an error: the registry then refuses what is not granted).
pub(crate) async fn me(State(s): State<ApiState>, Extension(c): Extension<Caller>) -> ApiResult {
    Ok(Json(s.app.whoami(&c).await?).into_response())
}

pub(crate) async fn registry_token(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    uri: axum::http::Uri,
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

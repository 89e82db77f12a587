//! Route handlers: parse the request, call the application service, shape the response.

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tre_core::app::{
    AssignRole, Caller, CreateResource, PatchResource, RegisterTemplate, ResourceScope,
};
use tre_core::domain::{Operation, Resource, ResourceKind, WorkspaceRole};
use utoipa::ToSchema;

use crate::body::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::router::ApiState;
use crate::routes::COLLECTIONS;

pub(crate) type Params = Result<Path<HashMap<String, String>>, PathRejection>;
pub(crate) type ApiResult = Result<Response, ApiError>;

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
    let item_param = COLLECTIONS
        .iter()
        .find(|c| c.kind == kind)
        .map(|c| c.item_param)
        .unwrap_or("id");
    let id = m.get(item_param).cloned().unwrap_or_default();
    Ok((scope, id))
}

fn list_key(kind: ResourceKind) -> &'static str {
    COLLECTIONS
        .iter()
        .find(|c| c.kind == kind)
        .map(|c| c.list_key)
        .unwrap_or("items")
}

fn with_etag(mut resp: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

#[derive(Serialize, ToSchema)]
pub struct ResourceAndOperation {
    pub resource: Resource,
    pub operation: Operation,
}

fn accepted(resource: Resource, operation: Operation) -> Response {
    let location = format!("{}/operations/{}", operation.resource_path, operation.id);
    let etag = resource.etag.clone();
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(ResourceAndOperation {
            resource,
            operation,
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    with_etag(resp, &etag)
}

pub(crate) async fn list_resources(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let (scope, _) = scope_and_id(kind, &params(p)?)?;
    let items = s.app.list_resources(&caller, &scope).await?;
    Ok(Json(json!({ list_key(kind): items })).into_response())
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
    Ok(accepted(resource, operation))
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
    Ok(with_etag(Json(r).into_response(), &etag))
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
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let (resource, operation) = s
        .app
        .patch_resource(&caller, &scope, &id, if_match, body)
        .await?;
    Ok(accepted(resource, operation))
}

pub(crate) async fn delete_resource(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
    let operation = s.app.delete_resource(&caller, &scope, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "operation": operation })),
    )
        .into_response())
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
    let (resource, operation) = s.app.invoke_action(&caller, &scope, &id, &q.action).await?;
    Ok(accepted(resource, operation))
}

pub(crate) async fn list_operations(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
    let ops = s.app.list_operations(&caller, &scope, &id).await?;
    Ok(Json(json!({ "operations": ops })).into_response())
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
    Ok(Json(op).into_response())
}

pub(crate) async fn history(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let (scope, id) = scope_and_id(kind, &params(p)?)?;
    let items = s.app.resource_history(&caller, &scope, &id).await?;
    Ok(Json(json!({ "history": items })).into_response())
}

pub(crate) async fn list_templates(kind: ResourceKind, s: ApiState, caller: Caller) -> ApiResult {
    let items = s.app.list_templates(&caller, kind).await?;
    Ok(Json(json!({ "templates": items })).into_response())
}

pub(crate) async fn register_template(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    body: RegisterTemplate,
) -> ApiResult {
    let t = s.app.register_template(&caller, kind, body).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct VersionQuery {
    version: Option<String>,
}

pub(crate) async fn get_template(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> ApiResult {
    let m = params(p)?;
    let Query(q) = q.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("query: {e}")))?;
    let t = s
        .app
        .get_template(
            &caller,
            kind,
            param(&m, "templateName")?,
            q.version.as_deref(),
        )
        .await?;
    Ok(Json(t).into_response())
}

pub(crate) async fn template_versions(
    kind: ResourceKind,
    s: ApiState,
    caller: Caller,
    p: Params,
) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .template_versions(&caller, kind, param(&m, "templateName")?)
        .await?;
    Ok(Json(json!({ "templates": items })).into_response())
}

pub(crate) async fn list_roles(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    p: Params,
) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .list_role_assignments(&caller, param(&m, "workspaceId")?)
        .await?;
    Ok(Json(json!({ "roleAssignments": items })).into_response())
}

pub(crate) async fn assign_role(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    p: Params,
    JsonBody(body): JsonBody<AssignRole>,
) -> ApiResult {
    let m = params(p)?;
    let a = s
        .app
        .assign_role(&caller, param(&m, "workspaceId")?, body)
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

pub(crate) async fn remove_role(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    p: Params,
) -> ApiResult {
    let m = params(p)?;
    let role_name = param(&m, "role")?;
    let role: WorkspaceRole = serde_json::from_value(json!(role_name)).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("`{role_name}` is not a role: use WorkspaceOwner, WorkspaceResearcher or AirlockManager"),
        )
    })?;
    s.app
        .remove_role(
            &caller,
            param(&m, "workspaceId")?,
            param(&m, "principalId")?,
            role,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the store answers.
    pub status: String,
    pub version: String,
}

pub(crate) async fn health(State(s): State<ApiState>) -> Response {
    let probe = tre_core::ports::Key::new("HEALTH", "PROBE");
    let (code, status) = match s.app.table.get(&probe).await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    };
    let body = Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    (code, Json(body)).into_response()
}

pub(crate) async fn openapi(State(s): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        s.openapi.as_ref().clone(),
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
    let mut access = Vec::new();
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
        let Some(mut a) = tre_auth::registry_token::Access::parse_scope(&v) else {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("`{v}` is not a scope (type:name:actions)"),
            )
            .into());
        };
        a.actions = s
            .app
            .registry_actions(&caller, &a.kind, &a.name, &a.actions)
            .await?;
        access.push(a);
    }
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

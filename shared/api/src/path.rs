//! Typed path parameters: each route's parameters parsed once, by name, into a struct its
//! handler takes (`ApiPath<RequestPath>`), with a problem response when they do not parse.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::problem::{ApiError, Problem};

/// The path parameters of a route, as `T` (its fields are the `{names}` of the route's path).
pub(crate) struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(Self(t)),
            Err(e) => Err(Problem::new(StatusCode::BAD_REQUEST, format!("bad path: {e}")).into()),
        }
    }
}

/// `/api/workspaces/{workspaceId}/...`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspacePath {
    pub workspace_id: String,
}

/// `.../requests/{requestId}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestPath {
    pub workspace_id: String,
    pub request_id: String,
}

/// `.../requests/{requestId}/files/{fileName}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestFilePath {
    pub workspace_id: String,
    pub request_id: String,
    pub file_name: String,
}

/// `/api/<kind>-templates/{templateName}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplatePath {
    pub template_name: String,
}

/// `.../{templateName}/user-resource-templates/{userResourceTemplateName}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceTemplatePath {
    pub template_name: String,
    pub user_resource_template_name: String,
}

/// `/api/workspaces/{workspaceId}/workspace-service-templates/{templateName}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspaceTemplatePath {
    pub workspace_id: String,
    pub template_name: String,
}

/// `/api/data-sources/{dataSourceId}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DataSourcePath {
    pub data_source_id: String,
}

/// `/api/workspaces/{workspaceId}/data-sources/{dataSourceId}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspaceDataSourcePath {
    pub workspace_id: String,
    pub data_source_id: String,
}

/// `/api/workspaces/{workspaceId}/role-assignments/{principalId}/{role}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleAssignmentPath {
    pub workspace_id: String,
    pub principal_id: String,
    pub role: String,
}

/// `/api/audit/chains/{chain}/...`
#[derive(Deserialize)]
pub(crate) struct ChainPath {
    pub chain: String,
}

/// The parameters of a resource route, whichever kind: a collection's are its parents' ids, an
/// item's add its own id, an operation's add `operationId`. Which are present is fixed by the
/// route, so a handler reads the ones its kind has (`resources::scope_and_id`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourcePath {
    pub workspace_id: Option<String>,
    pub service_id: Option<String>,
    pub user_resource_id: Option<String>,
    pub shared_service_id: Option<String>,
    pub operation_id: Option<String>,
}

//! Data source routes (served by the `api-airlock` Lambda, beside the airlock they feed) and
//! their handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde_json::json;
use tre_core::app::{AddDataSourceFile, BindDataSource, Caller, ReviewDataSource};

use super::spec::{Reply, Route, RouteGroup, Routes};
use crate::body::RawJson;
use crate::paging::{page_request, paged};
use crate::path::{ApiPath, DataSourcePath, WorkspaceDataSourcePath, WorkspacePath};
use crate::problem::ApiResult;
use crate::state::ApiState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSourceAction {
    List,
    Register,
    Get,
    Import,
    Review,
    AddFile,
    Bind,
    ListBound,
    Unbind,
    Link,
}

pub(crate) fn routes() -> Vec<Route<DataSourceAction>> {
    use DataSourceAction as D;
    let mut r = Routes::new(RouteGroup::Airlock, "datasources");
    let base = "/api/datasources";
    let one = Reply::Schema("DataSource");
    r.get(base, D::List)
        .id("listDataSources")
        .summary("Every registered data source (TREAdmin)")
        .answers(200, Reply::ListOf("dataSources", "DataSource"))
        .paged();
    r.post(base, D::Register)
        .id("registerDataSource")
        .summary("Register a data source: where its data lives, who publishes it, its licence; credentials only as a secret's name (TREAdmin)")
        .body("DataSourceSpec")
        .answers(201, one.clone());
    r.get(format!("{base}/{{dataSourceId}}"), D::Get)
        .id("getDataSource")
        .summary("One data source with its data state (TREAdmin)")
        .answers(200, one.clone());
    r.post(format!("{base}/{{dataSourceId}}/import"), D::Import)
        .id("importDataSource")
        .summary("Start (or re-run) the import: the objects are fetched, checksummed, scanned and described in an RO-Crate, then wait for review (TREAdmin)")
        .answers(200, one.clone());
    r.post(format!("{base}/{{dataSourceId}}/review"), D::Review)
        .id("reviewDataSource")
        .summary("Approve (Completed) or reject (Failed; the files are deleted) an imported data source, with a comment (TREAdmin)")
        .body("ReviewDataSource")
        .answers(200, one);
    r.post(format!("{base}/{{dataSourceId}}/files"), D::AddFile)
        .id("addDataSourceFile")
        .summary("Name a file of an Uploaded data source and get a pre-signed link to upload it; the next import takes it (TREAdmin)")
        .body("AddDataSourceFile")
        .answers(200, Reply::Schema("FileLink"));
    let bound = "/api/workspaces/{workspaceId}/datasources";
    r.post(bound, D::Bind)
        .id("bindDataSource")
        .summary("Bind a Completed data source to a workspace: its people may read it, its bundles are told where it is (TREAdmin)")
        .body("BindDataSource")
        .answers(201, Reply::Schema("BoundDataSource"));
    r.get(bound, D::ListBound)
        .id("listWorkspaceDataSources")
        .summary("The data sources bound to a workspace (its people and TRE admins)")
        .answers(200, Reply::ListOf("dataSources", "BoundDataSource"));
    r.delete(format!("{bound}/{{dataSourceId}}"), D::Unbind)
        .id("unbindDataSource")
        .summary("Unbind a data source from a workspace (TREAdmin)")
        .answers(204, Reply::Empty);
    r.get(format!("{bound}/{{dataSourceId}}/link"), D::Link)
        .id("dataSourceLink")
        .summary("A read-only link to one file (`file`, or ro-crate-metadata.json) of a bound data source (the workspace's people)")
        .answers(200, Reply::Schema("FileLink"))
        .query([("file", true, "the file's name within the data source")]);
    r.into_routes()
}

type S = State<ApiState>;
type C = Extension<Caller>;

pub(crate) fn method_router(
    action: DataSourceAction,
    filter: MethodFilter,
) -> MethodRouter<ApiState> {
    match action {
        DataSourceAction::List => on(filter, list),
        DataSourceAction::Register => on(filter, register),
        DataSourceAction::Get => on(filter, get),
        DataSourceAction::Import => on(filter, import),
        DataSourceAction::Review => on(filter, review),
        DataSourceAction::AddFile => on(filter, add_file),
        DataSourceAction::Bind => on(filter, bind),
        DataSourceAction::ListBound => on(filter, list_bound),
        DataSourceAction::Unbind => on(filter, unbind),
        DataSourceAction::Link => on(filter, link),
    }
}

async fn list(State(s): S, Extension(c): C, uri: axum::http::Uri) -> ApiResult {
    let page = page_request(&s, &c, &uri)?;
    let got = s.app.list_data_sources(&c, &page).await?;
    Ok(paged(
        &s,
        &c,
        &uri,
        "dataSources",
        got.items,
        got.next.as_ref(),
    ))
}

async fn register(State(s): S, Extension(c): C, body: RawJson) -> ApiResult {
    c.require_admin("register data sources")?;
    let ds = s.app.register_data_source(&c, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json(ds)).into_response())
}

async fn get(State(s): S, Extension(c): C, ApiPath(p): ApiPath<DataSourcePath>) -> ApiResult {
    let ds = s.app.get_data_source(&c, &p.data_source_id).await?;
    Ok(Json(ds).into_response())
}

async fn import(State(s): S, Extension(c): C, ApiPath(p): ApiPath<DataSourcePath>) -> ApiResult {
    let ds = s
        .app
        .start_data_source_import(&c, &p.data_source_id)
        .await?;
    Ok(Json(ds).into_response())
}

async fn review(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<DataSourcePath>,
    body: RawJson,
) -> ApiResult {
    c.require_admin("review data sources")?;
    let body: ReviewDataSource = body.parse()?;
    let ds = s
        .app
        .review_data_source(&c, &p.data_source_id, body)
        .await?;
    Ok(Json(ds).into_response())
}

async fn bind(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    body: RawJson,
) -> ApiResult {
    c.require_admin("bind data sources to workspaces")?;
    let body: BindDataSource = body.parse()?;
    let b = s.app.bind_data_source(&c, &p.workspace_id, body).await?;
    Ok((StatusCode::CREATED, Json(b)).into_response())
}

async fn list_bound(State(s): S, Extension(c): C, ApiPath(p): ApiPath<WorkspacePath>) -> ApiResult {
    let items = s.app.workspace_data_sources(&c, &p.workspace_id).await?;
    Ok(Json(json!({ "dataSources": items })).into_response())
}

async fn unbind(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspaceDataSourcePath>,
) -> ApiResult {
    s.app
        .unbind_data_source(&c, &p.workspace_id, &p.data_source_id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
struct LinkQuery {
    file: String,
}

async fn link(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspaceDataSourcePath>,
    q: Result<axum::extract::Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = q.map_err(|_| {
        crate::problem::ApiError::from(tre_core::app::AppError::validation(
            "the `file` query parameter names the file",
        ))
    })?;
    let l = s
        .app
        .data_source_link(&c, &p.workspace_id, &p.data_source_id, &q.file)
        .await?;
    Ok(Json(l).into_response())
}

async fn add_file(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<DataSourcePath>,
    body: RawJson,
) -> ApiResult {
    c.require_admin("upload data source files")?;
    let body: AddDataSourceFile = body.parse()?;
    let link = s
        .app
        .add_data_source_upload(&c, &p.data_source_id, &body.name)
        .await?;
    Ok(Json(link).into_response())
}

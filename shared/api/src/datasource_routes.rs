//! Data source routes (served by the `api-airlock` Lambda, beside the airlock they feed) and
//! their handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use http::Method;
use serde_json::json;
use tre_core::app::{AddDataSourceFile, BindDataSource, Caller, ReviewDataSource};

use crate::body::RawJson;
use crate::handlers::{param, params, ApiResult, Params};
use crate::router::ApiState;
use crate::routes::{Action, Builder, Reply, RouteGroup};

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

pub(crate) fn add(b: &mut Builder) {
    use DataSourceAction as D;
    let base = "/api/datasources";
    let one = Reply::Schema("DataSource");
    let rows = [
        (D::List, Method::GET, base.to_string(), "listDataSources",
         "Every registered data source (TREAdmin)", None, 200,
         Reply::ListOf("dataSources", "DataSource")),
        (D::Register, Method::POST, base.to_string(), "registerDataSource",
         "Register a data source: where its data lives, who publishes it, its licence; credentials only as a secret's name (TREAdmin)",
         Some("DataSourceSpec"), 201, one.clone()),
        (D::Get, Method::GET, format!("{base}/{{dataSourceId}}"), "getDataSource",
         "One data source with its data state (TREAdmin)", None, 200, one.clone()),
        (D::Import, Method::POST, format!("{base}/{{dataSourceId}}/import"), "importDataSource",
         "Start (or re-run) the import: the objects are fetched, checksummed, scanned and described in an RO-Crate, then wait for review (TREAdmin)",
         None, 200, one.clone()),
        (D::Review, Method::POST, format!("{base}/{{dataSourceId}}/review"), "reviewDataSource",
         "Approve (Completed) or reject (Failed; the files are deleted) an imported data source, with a comment (TREAdmin)",
         Some("ReviewDataSource"), 200, one),
        (D::AddFile, Method::POST, format!("{base}/{{dataSourceId}}/files"), "addDataSourceFile",
         "Name a file of an Uploaded data source and get a pre-signed link to upload it; the next import takes it (TREAdmin)",
         Some("AddDataSourceFile"), 200, Reply::Schema("FileLink")),
    ];
    let bound = "/api/workspaces/{workspaceId}/datasources";
    let more = [
        (D::Bind, Method::POST, bound.to_string(), "bindDataSource",
         "Bind a Completed data source to a workspace: its people may read it, its bundles are told where it is (TREAdmin)",
         Some("BindDataSource"), 201, Reply::Schema("BoundDataSource")),
        (D::ListBound, Method::GET, bound.to_string(), "listWorkspaceDataSources",
         "The data sources bound to a workspace (its people and TRE admins)", None, 200,
         Reply::ListOf("dataSources", "BoundDataSource")),
        (D::Unbind, Method::DELETE, format!("{bound}/{{dataSourceId}}"), "unbindDataSource",
         "Unbind a data source from a workspace (TREAdmin)", None, 204, Reply::Empty),
        (D::Link, Method::GET, format!("{bound}/{{dataSourceId}}/link"), "dataSourceLink",
         "A read-only link to one file (`file`, or ro-crate-metadata.json) of a bound data source (the workspace's people)",
         None, 200, Reply::Schema("FileLink")),
    ];
    for (action, method, path, id, summary, body, status, reply) in rows.into_iter().chain(more) {
        b.add(
            Action::DataSources(action),
            method,
            path,
            RouteGroup::Airlock,
            id.into(),
            summary,
            "datasources",
            body,
            status,
            reply,
        )
        .query = if action == D::Link {
            vec![("file", true, "the file's name within the data source")]
        } else {
            Vec::new()
        };
    }
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
    let page = crate::handlers::page_request(&s, &c, &uri)?;
    let got = s.app.list_data_sources(&c, &page).await?;
    Ok(crate::handlers::paged(
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

async fn get(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let ds = s
        .app
        .get_data_source(&c, param(&m, "dataSourceId")?)
        .await?;
    Ok(Json(ds).into_response())
}

async fn import(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let ds = s
        .app
        .start_data_source_import(&c, param(&m, "dataSourceId")?)
        .await?;
    Ok(Json(ds).into_response())
}

async fn review(State(s): S, Extension(c): C, p: Params, body: RawJson) -> ApiResult {
    c.require_admin("review data sources")?;
    let body: ReviewDataSource = body.parse()?;
    let m = params(p)?;
    let ds = s
        .app
        .review_data_source(&c, param(&m, "dataSourceId")?, body)
        .await?;
    Ok(Json(ds).into_response())
}

async fn bind(State(s): S, Extension(c): C, p: Params, body: RawJson) -> ApiResult {
    c.require_admin("bind data sources to workspaces")?;
    let body: BindDataSource = body.parse()?;
    let m = params(p)?;
    let b = s
        .app
        .bind_data_source(&c, param(&m, "workspaceId")?, body)
        .await?;
    Ok((StatusCode::CREATED, Json(b)).into_response())
}

async fn list_bound(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .workspace_data_sources(&c, param(&m, "workspaceId")?)
        .await?;
    Ok(Json(json!({ "dataSources": items })).into_response())
}

async fn unbind(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    s.app
        .unbind_data_source(&c, param(&m, "workspaceId")?, param(&m, "dataSourceId")?)
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
    p: Params,
    q: Result<axum::extract::Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let m = params(p)?;
    let q = q.map_err(|_| {
        crate::problem::ApiError::from(tre_core::app::AppError::validation(
            "the `file` query parameter names the file",
        ))
    })?;
    let l = s
        .app
        .data_source_link(
            &c,
            param(&m, "workspaceId")?,
            param(&m, "dataSourceId")?,
            &q.file,
        )
        .await?;
    Ok(Json(l).into_response())
}

async fn add_file(State(s): S, Extension(c): C, p: Params, body: RawJson) -> ApiResult {
    c.require_admin("upload data source files")?;
    let body: AddDataSourceFile = body.parse()?;
    let m = params(p)?;
    let link = s
        .app
        .add_data_source_upload(&c, param(&m, "dataSourceId")?, &body.name)
        .await?;
    Ok(Json(link).into_response())
}

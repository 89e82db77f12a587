//! Data source routes (served by the `api-airlock` Lambda, beside the airlock they feed) and
//! their handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use http::Method;
use serde_json::json;
use tre_core::app::{Caller, ReviewDataSource};
use tre_core::domain::datasource::DataSourceSpec;

use crate::body::JsonBody;
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
    ];
    for (action, method, path, id, summary, body, status, reply) in rows {
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
        );
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
    }
}

async fn list(State(s): S, Extension(c): C) -> ApiResult {
    let items = s.app.list_data_sources(&c).await?;
    Ok(Json(json!({ "dataSources": items })).into_response())
}

async fn register(
    State(s): S,
    Extension(c): C,
    JsonBody(body): JsonBody<DataSourceSpec>,
) -> ApiResult {
    let ds = s.app.register_data_source(&c, body).await?;
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

async fn review(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<ReviewDataSource>,
) -> ApiResult {
    let m = params(p)?;
    let ds = s
        .app
        .review_data_source(&c, param(&m, "dataSourceId")?, body)
        .await?;
    Ok(Json(ds).into_response())
}

//! Airlock route handlers: parse, call the use case, shape the response.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde_json::json;
use tre_core::app::{
    AddAirlockFile, Caller, CompleteAirlockFile, CreateAirlockRequest, ReviewAirlockRequest,
};

use crate::airlock_routes::AirlockAction;
use crate::body::JsonBody;
use crate::handlers::{param, params, ApiResult, Params};
use crate::router::ApiState;

type S = State<ApiState>;
type C = Extension<Caller>;

pub(crate) fn method_router(action: AirlockAction, filter: MethodFilter) -> MethodRouter<ApiState> {
    use AirlockAction as A;
    match action {
        A::List => on(filter, list),
        A::Create => on(filter, create),
        A::Get => on(filter, get),
        A::AddFile => on(filter, add_file),
        A::CompleteFile => on(filter, complete_file),
        A::DownloadLink => on(filter, download_link),
        A::Submit => on(filter, |s: S, c: C, p: Params| {
            transition(s, c, p, "submit")
        }),
        A::Cancel => on(filter, |s: S, c: C, p: Params| {
            transition(s, c, p, "cancel")
        }),
        A::Revoke => on(filter, |s: S, c: C, p: Params| {
            transition(s, c, p, "revoke")
        }),
        A::Review => on(filter, review),
        A::ReviewQueue => on(filter, review_queue),
    }
}

async fn list(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .list_airlock_requests(&c, param(&m, "workspaceId")?)
        .await?;
    Ok(Json(json!({ "airlockRequests": items })).into_response())
}

async fn create(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<CreateAirlockRequest>,
) -> ApiResult {
    let m = params(p)?;
    let req = s
        .app
        .create_airlock_request(&c, param(&m, "workspaceId")?, body)
        .await?;
    Ok((StatusCode::CREATED, Json(req)).into_response())
}

async fn get(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let req = s
        .app
        .get_airlock_request(&c, param(&m, "workspaceId")?, param(&m, "requestId")?)
        .await?;
    Ok(Json(req).into_response())
}

async fn add_file(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<AddAirlockFile>,
) -> ApiResult {
    let m = params(p)?;
    let link = s
        .app
        .add_airlock_file(&c, param(&m, "workspaceId")?, param(&m, "requestId")?, body)
        .await?;
    Ok(Json(link).into_response())
}

async fn complete_file(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<CompleteAirlockFile>,
) -> ApiResult {
    let m = params(p)?;
    let req = s
        .app
        .complete_airlock_file(
            &c,
            param(&m, "workspaceId")?,
            param(&m, "requestId")?,
            param(&m, "fileName")?,
            body,
        )
        .await?;
    Ok(Json(req).into_response())
}

async fn download_link(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let link = s
        .app
        .airlock_download_link(
            &c,
            param(&m, "workspaceId")?,
            param(&m, "requestId")?,
            param(&m, "fileName")?,
        )
        .await?;
    Ok(Json(link).into_response())
}

async fn transition(State(s): S, Extension(c): C, p: Params, what: &'static str) -> ApiResult {
    let m = params(p)?;
    let (ws, rid) = (param(&m, "workspaceId")?, param(&m, "requestId")?);
    let req = match what {
        "submit" => s.app.submit_airlock_request(&c, ws, rid).await?,
        "cancel" => s.app.cancel_airlock_request(&c, ws, rid).await?,
        _ => s.app.revoke_airlock_request(&c, ws, rid).await?,
    };
    Ok(Json(req).into_response())
}

async fn review(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<ReviewAirlockRequest>,
) -> ApiResult {
    let m = params(p)?;
    let req = s
        .app
        .review_airlock_request(&c, param(&m, "workspaceId")?, param(&m, "requestId")?, body)
        .await?;
    Ok(Json(req).into_response())
}

async fn review_queue(State(s): S, Extension(c): C) -> ApiResult {
    let items = s.app.airlock_review_queue(&c).await?;
    Ok(Json(json!({ "airlockRequests": items })).into_response())
}

//! Airlock route handlers: parse, call the use case, shape the response in Azure TRE's wire
//! shapes (`crate::wire::airlock`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde_json::json;
use tre_core::app::{
    AddAirlockFile, AirlockRequestView, Caller, CompleteAirlockFile, CreateAirlockRequest, Paged,
    RequestFilter, RequestOrder, ReviewAirlockRequest, ReviewEnvironment, RevokeAirlockRequest,
};
use tre_core::domain::airlock::{RequestStatus, RequestType};

use crate::airlock_routes::AirlockAction;
use crate::body::JsonBody;
use crate::handlers::{
    next_link, page_request, paged, param, params, with_next_header, ApiResult, Params,
};
use crate::problem::{ApiError, Problem};
use crate::router::ApiState;
use crate::wire::airlock::{
    AirlockLink, AirlockRequest, AirlockRequestWithAllowedUserActions, AirlockReviewEnvironment,
};
use crate::wire::operation::Operation as WireOperation;
use crate::wire::resource::Resource as WireResource;
use crate::MAX_BODY_BYTES;

type S = State<ApiState>;
type C = Extension<Caller>;
type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

pub(crate) fn method_router(action: AirlockAction, filter: MethodFilter) -> MethodRouter<ApiState> {
    use AirlockAction as A;
    match action {
        A::List => on(filter, list),
        A::Create => on(filter, create),
        A::Get => on(filter, get),
        A::AddFile => on(filter, add_file),
        A::CompleteFile => on(filter, complete_file),
        A::RemoveFile => on(filter, remove_file),
        A::DownloadLink => on(filter, download_link),
        A::Link => on(filter, link),
        A::Submit => on(filter, |s: S, c: C, p: Params| {
            transition(s, c, p, Verb::Submit)
        }),
        A::Cancel => on(filter, |s: S, c: C, p: Params| {
            transition(s, c, p, Verb::Cancel)
        }),
        A::Revoke => on(filter, revoke),
        A::Review => on(filter, review),
        A::ReviewUserResource => on(filter, create_review_environment),
        A::GetReviewUserResource => on(filter, get_review_environment),
        A::ReviewQueue => on(filter, review_queue),
        A::MyRequests => on(filter, my_requests),
    }
}

fn item(view: &AirlockRequestView) -> Json<AirlockRequestWithAllowedUserActions> {
    Json(view.into())
}

fn items(s: &ApiState, c: &Caller, uri: &Uri, views: Paged<AirlockRequestView>) -> Response {
    let wrapped: Vec<AirlockRequestWithAllowedUserActions> =
        views.items.iter().map(Into::into).collect();
    paged(s, c, uri, "airlockRequests", wrapped, views.next.as_ref())
}

/// A query parameter that does not fit its type is unprocessable (422), as a body is.
fn unfit(detail: String) -> ApiError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).into()
}

fn query(q: Q) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|e| unfit(format!("bad query: {e}")))
}

fn flag(m: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, ApiError> {
    match m.get(name).map(String::as_str) {
        None | Some("") => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(unfit(format!("`{name}` is true or false, not `{v}`"))),
    }
}

/// The filter of a request list from Azure TRE's query parameters.
fn filter(m: &HashMap<String, String>) -> Result<RequestFilter, ApiError> {
    let value = |name: &str| m.get(name).filter(|v| !v.is_empty());
    let kind = match value("type") {
        None => None,
        Some(t) => Some(
            serde_json::from_value::<RequestType>(json!(t))
                .map_err(|_| unfit(format!("`type` is import or export, not `{t}`")))?,
        ),
    };
    let status = match value("status") {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<RequestStatus>(json!(s))
                .map_err(|_| unfit(format!("`{s}` is not a request status")))?,
        ),
    };
    let order_by = match value("order_by") {
        None => RequestOrder::default(),
        Some(o) => RequestOrder::parse(o).ok_or_else(|| {
            unfit(format!(
                "`order_by` is one of {}, not `{o}`",
                RequestOrder::NAMES.join(", ")
            ))
        })?,
    };
    Ok(RequestFilter {
        creator: value("creator_user_id").cloned(),
        kind,
        status,
        order_by,
        ascending: flag(m, "order_ascending", true)?,
    })
}

async fn list(State(s): S, Extension(c): C, p: Params, q: Q, uri: Uri) -> ApiResult {
    let m = params(p)?;
    let f = filter(&query(q)?)?;
    let page = page_request(&s, &c, &uri)?;
    let got = s
        .app
        .list_airlock_requests(&c, param(&m, "workspaceId")?, &f, &page)
        .await?;
    Ok(items(&s, &c, &uri, got))
}

/// Azure TRE's `GET /api/requests` answers a bare array: the next page is in `Link` only.
async fn my_requests(State(s): S, Extension(c): C, q: Q, uri: Uri) -> ApiResult {
    let q = query(q)?;
    let f = filter(&q)?;
    let manager = flag(&q, "airlock_manager", false)?;
    let page = page_request(&s, &c, &uri)?;
    let found = s.app.my_airlock_requests(&c, manager, &f, &page).await?;
    let wire: Vec<AirlockRequest> = found.items.iter().map(AirlockRequest::from).collect();
    let link = next_link(&s, &c, &uri, found.next.as_ref());
    Ok(with_next_header(
        Json(wire).into_response(),
        link.as_deref(),
    ))
}

async fn create(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<CreateAirlockRequest>,
) -> ApiResult {
    let m = params(p)?;
    let view = s
        .app
        .create_airlock_request(&c, param(&m, "workspaceId")?, body)
        .await?;
    Ok((StatusCode::CREATED, item(&view)).into_response())
}

async fn get(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let view = s
        .app
        .get_airlock_request(&c, param(&m, "workspaceId")?, param(&m, "requestId")?)
        .await?;
    Ok(item(&view).into_response())
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
    let view = s
        .app
        .complete_airlock_file(
            &c,
            param(&m, "workspaceId")?,
            param(&m, "requestId")?,
            param(&m, "fileName")?,
            body,
        )
        .await?;
    Ok(item(&view).into_response())
}

/// `204` whether the file was there or not: a retried cancel answers as the first one did.
async fn remove_file(State(s): S, Extension(c): C, p: Params, q: Q) -> ApiResult {
    let m = params(p)?;
    let q = query(q)?;
    s.app
        .remove_airlock_file(
            &c,
            param(&m, "workspaceId")?,
            param(&m, "requestId")?,
            param(&m, "fileName")?,
            q.get("upload_id").map(String::as_str),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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

async fn link(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let link = s
        .app
        .airlock_link(&c, param(&m, "workspaceId")?, param(&m, "requestId")?)
        .await?;
    Ok(Json(AirlockLink::from(link)).into_response())
}

#[derive(Clone, Copy)]
enum Verb {
    Submit,
    Cancel,
}

async fn transition(State(s): S, Extension(c): C, p: Params, verb: Verb) -> ApiResult {
    let m = params(p)?;
    let (ws, rid) = (param(&m, "workspaceId")?, param(&m, "requestId")?);
    let view = match verb {
        Verb::Submit => s.app.submit_airlock_request(&c, ws, rid).await?,
        Verb::Cancel => s.app.cancel_airlock_request(&c, ws, rid).await?,
    };
    Ok(item(&view).into_response())
}

async fn review(
    State(s): S,
    Extension(c): C,
    p: Params,
    JsonBody(body): JsonBody<ReviewAirlockRequest>,
) -> ApiResult {
    let m = params(p)?;
    let view = s
        .app
        .review_airlock_request(&c, param(&m, "workspaceId")?, param(&m, "requestId")?, body)
        .await?;
    Ok(item(&view).into_response())
}

/// The revoke body is optional: an empty one revokes without a reason; anything else must be
/// the JSON body, under the same rules as every other body.
async fn revoke(State(s): S, Extension(c): C, p: Params, req: Request) -> ApiResult {
    let m = params(p)?;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than the {MAX_BODY_BYTES} bytes accepted"),
            )
        })?;
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        RevokeAirlockRequest::default()
    } else {
        let again = Request::from_parts(parts, Body::from(bytes));
        JsonBody::<RevokeAirlockRequest>::from_request(again, &())
            .await?
            .0
    };
    let view = s
        .app
        .revoke_airlock_request(&c, param(&m, "workspaceId")?, param(&m, "requestId")?, body)
        .await?;
    Ok(item(&view).into_response())
}

/// A review environment (Azure TRE's `review-user-resource`): 202 with its install operation
/// (`Location` names it) when made now, 200 when the caller already had one.
async fn create_review_environment(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let env = s
        .app
        .create_review_environment(&c, param(&m, "workspaceId")?, param(&m, "requestId")?)
        .await?;
    review_environment_response(&s, env).await
}

async fn get_review_environment(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let env = s
        .app
        .review_environment(&c, param(&m, "workspaceId")?, param(&m, "requestId")?)
        .await?;
    review_environment_response(&s, env).await
}

async fn review_environment_response(s: &ApiState, env: ReviewEnvironment) -> ApiResult {
    let status = if env.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let upgrades = s.app.available_upgrades(&env.resource).await?;
    let operation = env.operation.map(WireOperation::from);
    let location = operation
        .as_ref()
        .filter(|_| env.created)
        .map(|op| format!("/api{}/operations/{}", op.resource_path, op.id));
    let body = AirlockReviewEnvironment {
        airlock_request: env.request.as_ref().map(Into::into),
        operation,
        user_resource: WireResource::new(env.resource, upgrades, &s.sign_in.scope_id),
    };
    let mut resp = (status, Json(body)).into_response();
    if let Some(v) = location.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(resp)
}

async fn review_queue(State(s): S, Extension(c): C, uri: Uri) -> ApiResult {
    let page = page_request(&s, &c, &uri)?;
    let views = s.app.airlock_review_queue(&c, &page).await?;
    Ok(items(&s, &c, &uri, views))
}

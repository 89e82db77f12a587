//! The airlock's routes (served by the `api-airlock` Lambda) and their handlers, in Azure TRE's
//! shapes (api_app/api/routes/airlock.py, requests.py; `crate::wire::airlock`) with this TRE's
//! per-file uploads beside them.

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

use super::spec::{QueryParam, Reply, Route, RouteGroup, Routes};
use crate::body::{JsonBody, MAX_BODY_BYTES};
use crate::paging::{next_link, page_request, paged, with_next_header};
use crate::path::{ApiPath, RequestFilePath, RequestPath, WorkspacePath};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;
use crate::wire::airlock::{
    AirlockLink, AirlockRequest, AirlockRequestWithAllowedUserActions, AirlockReviewEnvironment,
};
use crate::wire::operation::Operation as WireOperation;
use crate::wire::resource::Resource as WireResource;

type S = State<ApiState>;
type C = Extension<Caller>;
type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AirlockAction {
    List,
    Create,
    Get,
    AddFile,
    CompleteFile,
    RemoveFile,
    DownloadLink,
    Link,
    Submit,
    Cancel,
    Review,
    Revoke,
    ReviewUserResource,
    GetReviewUserResource,
    ReviewQueue,
    MyRequests,
}

/// The filters and order of a request list (Azure TRE's query parameters).
const LIST_QUERY: [QueryParam; 4] = [
    ("type", false, "Only `import` or only `export` requests"),
    (
        "status",
        false,
        "Only requests in this status (e.g. `in_review`)",
    ),
    (
        "order_by",
        false,
        "createdWhen (default), updatedWhen, title, type, status or createdBy.name",
    ),
    ("order_ascending", false, "`true` (default) or `false`"),
];

pub(crate) fn routes() -> Vec<Route<AirlockAction>> {
    use AirlockAction as A;
    let mut r = Routes::new(RouteGroup::Airlock, "airlock");
    let base = "/api/workspaces/{workspaceId}/requests";
    let item = format!("{base}/{{requestId}}");
    let one = Reply::Schema("AirlockRequestWithAllowedUserActions");
    let list = Reply::ListOf("airlockRequests", "AirlockRequestWithAllowedUserActions");
    r.get(base, A::List)
        .id("listAirlockRequests")
        .summary("Airlock requests of a workspace (its members), each with what the caller may do")
        .answers(200, list.clone())
        .query([(
            "creator_user_id",
            false,
            "Only requests created by this subject id",
        )])
        .query(LIST_QUERY)
        .paged();
    r.post(base, A::Create)
        .id("createAirlockRequest")
        .summary("Open an import or export request (a draft; workspace owners and researchers)")
        .body("CreateAirlockRequest")
        .answers(201, one.clone());
    r.get(item.clone(), A::Get)
        .id("getAirlockRequest")
        .summary("An airlock request with its files, scan result, reviews and history")
        .answers(200, one.clone());
    r.post(format!("{item}/files"), A::AddFile)
        .id("addAirlockFile")
        .summary("Name a file of a draft and get a pre-signed link to upload it (the requester)")
        .body("AddAirlockFile")
        .answers(200, Reply::Schema("FileLink"));
    r.post(
        format!("{item}/files/{{fileName}}/complete"),
        A::CompleteFile,
    )
    .id("completeAirlockFile")
    .summary("Assemble a large file uploaded in parts, from the parts' ETags (the requester)")
    .body("CompleteAirlockFile")
    .answers(200, one.clone());
    r.delete(format!("{item}/files/{{fileName}}"), A::RemoveFile)
        .id("removeAirlockFile")
        .summary("Take a file off a draft (the requester): aborts its upload in parts (`upload_id`), deletes what was staged; 204 also when the file is already gone")
        .answers(204, Reply::Empty)
        .query([(
            "upload_id",
            false,
            "The upload in parts in progress for this file (from its `multipart.uploadId`), to abort",
        )]);
    r.get(format!("{item}/files/{{fileName}}/link"), A::DownloadLink)
        .id("airlockDownloadLink")
        .summary("A pre-signed link to read a file: reviewers while in review, the requester once an export is approved")
        .answers(200, Reply::Schema("FileLink"));
    r.get(format!("{item}/link"), A::Link)
        .id("airlockRequestLink")
        .summary("In draft, a signed form upload limited to the request's files (the requester); afterwards the read link of each file, for whoever may read them")
        .answers(200, Reply::Schema("AirlockLink"));
    r.post(format!("{item}/submit"), A::Submit)
        .id("submitAirlockRequest")
        .summary("Submit a draft whose files are uploaded: they are copied, scanned, then reviewed")
        .answers(200, one.clone());
    r.post(format!("{item}/cancel"), A::Cancel)
        .id("cancelAirlockRequest")
        .summary("Cancel a draft or a request in review (the requester or a workspace owner)")
        .answers(200, one.clone());
    r.post(format!("{item}/review"), A::Review)
        .id("reviewAirlockRequest")
        .summary("Approve or reject with an explanation (an airlock manager who did not create it)")
        .body("ReviewAirlockRequest")
        .answers(200, one.clone());
    r.post(format!("{item}/revoke"), A::Revoke)
        .id("revokeAirlockRequest")
        .summary("Revoke an approved request (an airlock manager): its files can no longer be downloaded")
        .body("RevokeAirlockRequest")
        .optional_body()
        .answers(200, one);
    r.post(format!("{item}/review-user-resource"), A::ReviewUserResource)
        .id("createAirlockReviewUserResource")
        .summary("A review environment for the calling airlock manager (202; 200 with the one they already have): a user resource, where the workspace's `airlock_review_config` says, that reads only this request's in-review files; removed when the request leaves review")
        .answers(202, Reply::Schema("AirlockReviewEnvironment"));
    r.get(format!("{item}/review-user-resource"), A::GetReviewUserResource)
        .id("getAirlockReviewUserResource")
        .summary("The calling airlock manager's review environment for the request, with its latest operation (404 when they have none)")
        .answers(200, Reply::Schema("AirlockReviewEnvironment"));
    r.get("/api/airlock/review-queue", A::ReviewQueue)
        .id("airlockReviewQueue")
        .summary("Requests waiting for the caller's review, in every workspace where they are an airlock manager")
        .answers(200, list)
        .paged();
    r.get("/api/requests", A::MyRequests)
        .id("listMyAirlockRequests")
        .summary("The caller's own requests in every workspace where they hold a role, or with `airlock_manager=true` every request of the workspaces where they are an airlock manager")
        .answers(200, Reply::ArrayOf("AirlockRequest"))
        .query([(
            "airlock_manager",
            false,
            "`true`: every request of the workspaces where the caller is an airlock manager",
        )])
        .query(LIST_QUERY)
        .paged();
    r.into_routes()
}

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
        A::Submit => on(filter, |s: S, c: C, p: ApiPath<RequestPath>| {
            transition(s, c, p, Verb::Submit)
        }),
        A::Cancel => on(filter, |s: S, c: C, p: ApiPath<RequestPath>| {
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

async fn list(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    q: Q,
    uri: Uri,
) -> ApiResult {
    let f = filter(&query(q)?)?;
    let page = page_request(&s, &c, &uri)?;
    let got = s
        .app
        .list_airlock_requests(&c, &p.workspace_id, &f, &page)
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
    ApiPath(p): ApiPath<WorkspacePath>,
    JsonBody(body): JsonBody<CreateAirlockRequest>,
) -> ApiResult {
    let view = s
        .app
        .create_airlock_request(&c, &p.workspace_id, body)
        .await?;
    Ok((StatusCode::CREATED, item(&view)).into_response())
}

async fn get(State(s): S, Extension(c): C, ApiPath(p): ApiPath<RequestPath>) -> ApiResult {
    let view = s
        .app
        .get_airlock_request(&c, &p.workspace_id, &p.request_id)
        .await?;
    Ok(item(&view).into_response())
}

async fn add_file(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestPath>,
    JsonBody(body): JsonBody<AddAirlockFile>,
) -> ApiResult {
    let link = s
        .app
        .add_airlock_file(&c, &p.workspace_id, &p.request_id, body)
        .await?;
    Ok(Json(link).into_response())
}

async fn complete_file(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestFilePath>,
    JsonBody(body): JsonBody<CompleteAirlockFile>,
) -> ApiResult {
    let view = s
        .app
        .complete_airlock_file(&c, &p.workspace_id, &p.request_id, &p.file_name, body)
        .await?;
    Ok(item(&view).into_response())
}

/// `204` whether the file was there or not: a retried cancel answers as the first one did.
async fn remove_file(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestFilePath>,
    q: Q,
) -> ApiResult {
    let q = query(q)?;
    s.app
        .remove_airlock_file(
            &c,
            &p.workspace_id,
            &p.request_id,
            &p.file_name,
            q.get("upload_id").map(String::as_str),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn download_link(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestFilePath>,
) -> ApiResult {
    let link = s
        .app
        .airlock_download_link(&c, &p.workspace_id, &p.request_id, &p.file_name)
        .await?;
    Ok(Json(link).into_response())
}

async fn link(State(s): S, Extension(c): C, ApiPath(p): ApiPath<RequestPath>) -> ApiResult {
    let link = s
        .app
        .airlock_link(&c, &p.workspace_id, &p.request_id)
        .await?;
    Ok(Json(AirlockLink::from(link)).into_response())
}

#[derive(Clone, Copy)]
enum Verb {
    Submit,
    Cancel,
}

async fn transition(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestPath>,
    verb: Verb,
) -> ApiResult {
    let (ws, rid) = (&p.workspace_id, &p.request_id);
    let view = match verb {
        Verb::Submit => s.app.submit_airlock_request(&c, ws, rid).await?,
        Verb::Cancel => s.app.cancel_airlock_request(&c, ws, rid).await?,
    };
    Ok(item(&view).into_response())
}

async fn review(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestPath>,
    JsonBody(body): JsonBody<ReviewAirlockRequest>,
) -> ApiResult {
    let view = s
        .app
        .review_airlock_request(&c, &p.workspace_id, &p.request_id, body)
        .await?;
    Ok(item(&view).into_response())
}

/// The revoke body is optional: an empty one revokes without a reason; anything else must be
/// the JSON body, under the same rules as every other body.
async fn revoke(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestPath>,
    req: Request,
) -> ApiResult {
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
        .revoke_airlock_request(&c, &p.workspace_id, &p.request_id, body)
        .await?;
    Ok(item(&view).into_response())
}

/// A review environment (Azure TRE's `review-user-resource`): 202 with its install operation
/// (`Location` names it) when made now, 200 when the caller already had one.
async fn create_review_environment(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestPath>,
) -> ApiResult {
    let env = s
        .app
        .create_review_environment(&c, &p.workspace_id, &p.request_id)
        .await?;
    review_environment_response(&s, env).await
}

async fn get_review_environment(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RequestPath>,
) -> ApiResult {
    let env = s
        .app
        .review_environment(&c, &p.workspace_id, &p.request_id)
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

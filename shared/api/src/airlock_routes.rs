//! The airlock's routes (served by the `api-airlock` Lambda), in Azure TRE's shapes
//! (api_app/api/routes/airlock.py, requests.py) with this TRE's per-file uploads beside them.

use http::Method;

use crate::routes::{Action, Builder, Reply, RouteGroup};

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

/// action, method, path, operation id, summary, request schema, success status, reply.
type Row = (
    AirlockAction,
    Method,
    String,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
    Reply,
);

/// The filters and order of a request list (Azure TRE's query parameters).
const LIST_QUERY: [(&str, bool, &str); 4] = [
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

pub(crate) fn add(b: &mut Builder) {
    use AirlockAction as A;
    let g = RouteGroup::Airlock;
    let base = "/api/workspaces/{workspaceId}/requests";
    let item = format!("{base}/{{requestId}}");
    let one = Reply::Schema("AirlockRequestWithAllowedUserActions");
    let list = Reply::ListOf("airlockRequests", "AirlockRequestWithAllowedUserActions");
    let routes: [Row; 16] = [
        (A::List, Method::GET, base.into(), "listAirlockRequests",
         "Airlock requests of a workspace (its members), each with what the caller may do", None, 200,
         list.clone()),
        (A::Create, Method::POST, base.into(), "createAirlockRequest",
         "Open an import or export request (a draft; workspace owners and researchers)",
         Some("CreateAirlockRequest"), 201, one.clone()),
        (A::Get, Method::GET, item.clone(), "getAirlockRequest",
         "An airlock request with its files, scan result, reviews and history", None, 200, one.clone()),
        (A::AddFile, Method::POST, format!("{item}/files"), "addAirlockFile",
         "Name a file of a draft and get a pre-signed link to upload it (the requester)",
         Some("AddAirlockFile"), 200, Reply::Schema("FileLink")),
        (A::CompleteFile, Method::POST, format!("{item}/files/{{fileName}}/complete"), "completeAirlockFile",
         "Assemble a large file uploaded in parts, from the parts' ETags (the requester)",
         Some("CompleteAirlockFile"), 200, one.clone()),
        (A::RemoveFile, Method::DELETE, format!("{item}/files/{{fileName}}"), "removeAirlockFile",
         "Take a file off a draft (the requester): aborts its upload in parts (`upload_id`), deletes what was staged; 204 also when the file is already gone",
         None, 204, Reply::Empty),
        (A::DownloadLink, Method::GET, format!("{item}/files/{{fileName}}/link"), "airlockDownloadLink",
         "A pre-signed link to read a file: reviewers while in review, the requester once an export is approved",
         None, 200, Reply::Schema("FileLink")),
        (A::Link, Method::GET, format!("{item}/link"), "airlockRequestLink",
         "In draft, a signed form upload limited to the request's files (the requester); afterwards the read link of each file, for whoever may read them",
         None, 200, Reply::Schema("AirlockLink")),
        (A::Submit, Method::POST, format!("{item}/submit"), "submitAirlockRequest",
         "Submit a draft whose files are uploaded: they are copied, scanned, then reviewed", None, 200, one.clone()),
        (A::Cancel, Method::POST, format!("{item}/cancel"), "cancelAirlockRequest",
         "Cancel a draft or a request in review (the requester or a workspace owner)", None, 200, one.clone()),
        (A::Review, Method::POST, format!("{item}/review"), "reviewAirlockRequest",
         "Approve or reject with an explanation (an airlock manager who did not create it)",
         Some("ReviewAirlockRequest"), 200, one.clone()),
        (A::Revoke, Method::POST, format!("{item}/revoke"), "revokeAirlockRequest",
         "Revoke an approved request (an airlock manager): its files can no longer be downloaded",
         Some("RevokeAirlockRequest"), 200, one.clone()),
        (A::ReviewUserResource, Method::POST, format!("{item}/review-user-resource"), "createAirlockReviewUserResource",
         "A review environment for the calling airlock manager (202; 200 with the one they already have): a user resource, where the workspace's `airlock_review_config` says, that reads only this request's in-review files; removed when the request leaves review",
         None, 202, Reply::Schema("AirlockReviewEnvironment")),
        (A::GetReviewUserResource, Method::GET, format!("{item}/review-user-resource"), "getAirlockReviewUserResource",
         "The calling airlock manager's review environment for the request, with its latest operation (404 when they have none)",
         None, 200, Reply::Schema("AirlockReviewEnvironment")),
        (A::ReviewQueue, Method::GET, "/api/airlock/review-queue".into(), "airlockReviewQueue",
         "Requests waiting for the caller's review, in every workspace where they are an airlock manager",
         None, 200, list),
        (A::MyRequests, Method::GET, "/api/requests".into(), "listMyAirlockRequests",
         "The caller's own requests in every workspace where they hold a role, or with `airlock_manager=true` every request of the workspaces where they are an airlock manager",
         None, 200, Reply::ArrayOf("AirlockRequest")),
    ];
    for (action, method, path, id, summary, body, status, reply) in routes {
        let spec = b.add(
            Action::Airlock(action),
            method,
            path,
            g,
            id.into(),
            summary,
            "airlock",
            body,
            status,
            reply,
        );
        match action {
            A::List => {
                spec.query = vec![(
                    "creator_user_id",
                    false,
                    "Only requests created by this subject id",
                )];
                spec.query.extend(LIST_QUERY);
            }
            A::MyRequests => {
                spec.query = vec![(
                    "airlock_manager",
                    false,
                    "`true`: every request of the workspaces where the caller is an airlock manager",
                )];
                spec.query.extend(LIST_QUERY);
            }
            A::RemoveFile => {
                spec.query = vec![(
                    "upload_id",
                    false,
                    "The upload in parts in progress for this file (from its `multipart.uploadId`), to abort",
                )];
            }
            A::Revoke => spec.request_optional = true,
            _ => {}
        }
    }
}

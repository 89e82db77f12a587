//! The airlock's routes (served by the `api-airlock` Lambda).

use http::Method;

use crate::routes::{Action, Builder, Reply, RouteGroup};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AirlockAction {
    List,
    Create,
    Get,
    AddFile,
    CompleteFile,
    DownloadLink,
    Submit,
    Cancel,
    Review,
    Revoke,
    ReviewQueue,
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

pub(crate) fn add(b: &mut Builder) {
    use AirlockAction as A;
    let g = RouteGroup::Airlock;
    let base = "/api/workspaces/{workspaceId}/requests";
    let item = format!("{base}/{{requestId}}");
    let request = Reply::Schema("AirlockRequest");
    let routes: [Row; 11] = [
        (A::List, Method::GET, base.into(), "listAirlockRequests",
         "Airlock requests of a workspace (its members)", None, 200,
         Reply::ListOf("airlockRequests", "AirlockRequest")),
        (A::Create, Method::POST, base.into(), "createAirlockRequest",
         "Open an import or export request (a draft; workspace owners and researchers)",
         Some("CreateAirlockRequest"), 201, request.clone()),
        (A::Get, Method::GET, item.clone(), "getAirlockRequest",
         "An airlock request with its files, scan result, reviews and history", None, 200, request.clone()),
        (A::AddFile, Method::POST, format!("{item}/files"), "addAirlockFile",
         "Name a file of a draft and get a pre-signed link to upload it (the requester)",
         Some("AddAirlockFile"), 200, Reply::Schema("FileLink")),
        (A::CompleteFile, Method::POST, format!("{item}/files/{{fileName}}/complete"), "completeAirlockFile",
         "Assemble a large file uploaded in parts, from the parts' ETags (the requester)",
         Some("CompleteAirlockFile"), 200, request.clone()),
        (A::DownloadLink, Method::GET, format!("{item}/files/{{fileName}}/link"), "airlockDownloadLink",
         "A pre-signed link to read a file: reviewers while in review, the requester once an export is approved",
         None, 200, Reply::Schema("FileLink")),
        (A::Submit, Method::POST, format!("{item}/submit"), "submitAirlockRequest",
         "Submit a draft whose files are uploaded: they are copied, scanned, then reviewed", None, 200, request.clone()),
        (A::Cancel, Method::POST, format!("{item}/cancel"), "cancelAirlockRequest",
         "Cancel a draft or a request in review (the requester or a workspace owner)", None, 200, request.clone()),
        (A::Review, Method::POST, format!("{item}/review"), "reviewAirlockRequest",
         "Approve or reject with a comment (an airlock manager who did not create it)",
         Some("ReviewAirlockRequest"), 200, request.clone()),
        (A::Revoke, Method::POST, format!("{item}/revoke"), "revokeAirlockRequest",
         "Revoke an approved request (an airlock manager): its files can no longer be downloaded",
         None, 200, request.clone()),
        (A::ReviewQueue, Method::GET, "/api/airlock/review-queue".into(), "airlockReviewQueue",
         "Requests waiting for the caller's review, in every workspace where they are an airlock manager",
         None, 200, Reply::ListOf("airlockRequests", "AirlockRequest")),
    ];
    for (action, method, path, id, summary, body, status, reply) in routes {
        b.add(
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
    }
}

//! The caller's notifications (served by the `api-workspaces` Lambda): what needed them, newest
//! first, with how each reached them by email.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Extension;
use tre_core::app::Caller;

use super::spec::{Reply, Route, RouteGroup, Routes};
use crate::paging::{page_request, paged};
use crate::problem::ApiResult;
use crate::state::ApiState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationAction {
    List,
}

pub(crate) fn routes() -> Vec<Route<NotificationAction>> {
    let mut r = Routes::new(RouteGroup::Workspaces, "notifications");
    r.get("/api/notifications", NotificationAction::List)
        .id("listMyNotifications")
        .summary("The caller's notifications, newest first: requests to review, decisions, failed operations, data sources to review")
        .answers(200, Reply::ListOf("notifications", "ReceivedNotification"))
        .paged();
    r.into_routes()
}

pub(crate) fn method_router(
    action: NotificationAction,
    filter: MethodFilter,
) -> MethodRouter<ApiState> {
    match action {
        NotificationAction::List => on(filter, list),
    }
}

async fn list(State(s): State<ApiState>, Extension(c): Extension<Caller>, uri: Uri) -> ApiResult {
    let page = page_request(&s, &c, &uri)?;
    let got = s.app.list_notifications(&c, &page).await?;
    Ok(paged(
        &s,
        &c,
        &uri,
        "notifications",
        got.items,
        got.next.as_ref(),
    ))
}

//! The caller's notifications (served by the `api-workspaces` Lambda): what needed them, newest
//! first, with how each reached them by email.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Extension;
use http::Method;
use tre_core::app::Caller;

use crate::handlers::{page_request, paged, ApiResult};
use crate::router::ApiState;
use crate::routes::{Action, Builder, Reply, RouteGroup};

pub(crate) fn add(b: &mut Builder) {
    b.add(
        Action::Notifications,
        Method::GET,
        "/api/notifications",
        RouteGroup::Workspaces,
        "listMyNotifications".into(),
        "The caller's notifications, newest first: requests to review, decisions, failed operations, data sources to review",
        "notifications",
        None,
        200,
        Reply::ListOf("notifications", "ReceivedNotification"),
    );
}

pub(crate) fn method_router(filter: MethodFilter) -> MethodRouter<ApiState> {
    on(filter, list)
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

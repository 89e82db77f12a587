//! Notifications: telling a person that something needs them (a request to review, a decision,
//! a failed operation, a data source to review). Written with the change that causes them, so
//! none is lost; delivered afterwards, at least once, so sending never holds up or fails the
//! change. They carry ids, names and a link, never a parameter value or file content.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum NotificationKind {
    /// An airlock request was submitted: its workspace's airlock managers review it.
    AirlockSubmitted,
    /// A decision was made on an airlock request: its requester learns it.
    AirlockDecided,
    /// An operation failed: the resource's owner learns it.
    OperationFailed,
    /// A data source's import waits for its review: TRE admins review it.
    DataSourceAwaitingReview,
}

/// Who is to be told, resolved when the notification is delivered (so a role given meanwhile
/// counts, and the change that caused it reads nothing more).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Audience {
    Principal { id: String },
    AirlockManagers { workspace_id: String },
    TreAdmins,
}

/// One notification, as it waits in the outbox and as each recipient sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub kind: NotificationKind,
    pub at: DateTime<Utc>,
    pub subject: String,
    pub text: String,
    /// The console page it is about (a path under the console).
    pub link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Someone whose own action caused it is not told about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<String>,
}

/// A notification in the outbox, with how far its delivery got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    pub notification: Notification,
    pub audience: Audience,
    /// A delivery in progress holds the notification until then (a delivery that died lets
    /// go of it when this passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub attempts: u32,
    /// Recipients already told (a retry skips them).
    #[serde(default)]
    pub delivered_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How a notification reached one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum EmailDelivery {
    Sent,
    /// The TRE knows no address for the recipient (they have not signed in since it learnt
    /// addresses), or sends no email: the console lists it all the same.
    NoAddress,
    NotConfigured,
    /// The mail service refused the recipient's address for good.
    Refused,
}

/// One recipient's copy (what the console lists).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedNotification {
    #[serde(flatten)]
    pub notification: Notification,
    pub recipient: String,
    pub email: EmailDelivery,
}

//! Notifications: an outbox item written in the transaction of the change that causes it (so a
//! change never happens without it), delivered afterwards by the status consumer: resolved to
//! recipients, emailed where an address is known, and kept for each recipient to list. A
//! delivery holds a lease on the item, so two consumers do not both send it; a delivery that
//! dies leaves the item to the next one. At least once, never blocking the change.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Duration as Span;
use serde_json::json;

use super::paging::{PageRequest, Paged, Walk};
use super::{keys, App, AppError, AppResult, Caller};
use crate::domain::notification::{
    Audience, EmailDelivery, Notification, NotificationKind, Outgoing, ReceivedNotification,
};
use crate::domain::{Principal, TreRole, WorkspaceRole};
use crate::ports::{Condition, Mail, PortError, Query, WriteOp, INDEX_GSI1};

/// How long a delivery holds a notification before another may take it over.
const DELIVERY_LEASE_SECONDS: i64 = 300;
/// Attempts before a notification is left alone (it stays in the outbox, logged).
const MAX_ATTEMPTS: u32 = 20;
/// Notifications one delivery run takes on.
const DELIVERY_BATCH: usize = 50;
/// What the status queue carries to ask for a delivery run.
pub const DELIVER_MESSAGE: &str = r#"{"deliverNotifications":{}}"#;

/// What was delivered in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub notifications: usize,
    pub emails: usize,
    /// Left for a later run (the mail service failed, or another delivery holds them).
    pub deferred: usize,
}

/// Principals whose profile this process has recorded (id → what was recorded).
#[derive(Default)]
pub struct SeenPrincipals(Mutex<HashMap<String, String>>);

/// What a change wants people told: built by the use case, written with its transaction.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub kind: NotificationKind,
    pub audience: Audience,
    pub subject: String,
    pub text: String,
    pub link: String,
    pub workspace_id: Option<String>,
    pub resource_id: Option<String>,
    pub caused_by: Option<String>,
}

impl App {
    /// The outbox write of `n`, to add to the transaction of the change that causes it.
    pub(super) fn notification_op(&self, n: NewNotification) -> AppResult<WriteOp> {
        let notification = Notification {
            id: self.ids.new_id(),
            kind: n.kind,
            at: self.clock.now(),
            subject: n.subject,
            text: n.text,
            link: n.link,
            workspace_id: n.workspace_id,
            resource_id: n.resource_id,
            caused_by: n.caused_by,
        };
        let index = keys::outbox_index(&notification.at, &notification.id);
        let key = keys::outbox(&notification.id);
        let outgoing = Outgoing {
            notification,
            audience: n.audience,
            leased_until: None,
            attempts: 0,
            delivered_to: Vec::new(),
            last_error: None,
        };
        Ok(WriteOp::Put {
            key,
            index: Some(index),
            body: serde_json::to_value(&outgoing)?,
            condition: Condition::Absent,
        })
    }

    /// Ask for a delivery run now (best effort: the periodic sweep delivers what this misses).
    pub(super) async fn nudge_delivery(&self) {
        if let Some(queue) = &self.notify_queue {
            if let Err(e) = queue.send(DELIVER_MESSAGE, None).await {
                tracing::warn!(error = %e, "could not ask for notifications to be delivered; the sweep will");
            }
        }
    }

    /// Record who a signed-in principal is (their name, address and TRE roles), so
    /// notifications can reach them. Written when this process has not recorded them as they
    /// are now; a failure only means no email until next time.
    pub async fn remember_principal(&self, p: &Principal) {
        let admin = p.roles.contains(&TreRole::TREAdmin);
        let profile = json!({
            "id": p.id, "name": p.name, "email": p.email, "admin": admin,
        });
        let text = profile.to_string();
        if let Ok(seen) = self.seen_principals.0.lock() {
            if seen.get(&p.id) == Some(&text) {
                return;
            }
        }
        let key = keys::profile(&p.id);
        let index = admin.then(|| keys::admin_index(&p.id));
        let result = match self.table.get(&key).await {
            Ok(Some(item)) if item.body == profile => Ok(0),
            Ok(Some(item)) => {
                self.table
                    .put(
                        &key,
                        index.as_ref(),
                        &profile,
                        Condition::Version(item.version),
                    )
                    .await
            }
            Ok(None) => {
                self.table
                    .put(&key, index.as_ref(), &profile, Condition::Absent)
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => {
                if let Ok(mut seen) = self.seen_principals.0.lock() {
                    if seen.len() > 10_000 {
                        seen.clear();
                    }
                    seen.insert(p.id.clone(), text);
                }
            }
            // Another request recorded them meanwhile: next time settles it.
            Err(PortError::ConditionFailed(_)) => {}
            Err(e) => {
                tracing::warn!(principal = %p.id, error = %e, "could not record the principal's profile")
            }
        }
    }

    /// Deliver what waits in the outbox (oldest first, a batch at a time).
    pub async fn deliver_notifications(&self) -> AppResult<Delivered> {
        let page = self
            .table
            .query(&Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::OUTBOX_INDEX_PK.into(),
                limit: Some(DELIVERY_BATCH),
                ..Default::default()
            })
            .await?;
        let mut done = Delivered::default();
        for item in page.items {
            let mut out: Outgoing = serde_json::from_value(item.body)?;
            let now = self.clock.now();
            if out.leased_until.is_some_and(|t| t > now) || out.attempts >= MAX_ATTEMPTS {
                done.deferred += 1;
                continue;
            }
            out.leased_until = Some(now + Span::seconds(DELIVERY_LEASE_SECONDS));
            out.attempts += 1;
            let claimed = match self
                .table
                .put(
                    &item.key,
                    item.index.as_ref(),
                    &serde_json::to_value(&out)?,
                    Condition::Version(item.version),
                )
                .await
            {
                Ok(v) => v,
                // Another delivery took it.
                Err(PortError::ConditionFailed(_)) => {
                    done.deferred += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let recipients = self.recipients(&out).await?;
            let mut failed = None;
            for recipient in recipients {
                match self.deliver_to(&out.notification, &recipient).await {
                    Ok(sent) => {
                        done.emails += usize::from(sent);
                        out.delivered_to.push(recipient);
                    }
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            match failed {
                None => {
                    self.table
                        .delete(&item.key, Condition::Version(claimed))
                        .await?;
                    done.notifications += 1;
                    tracing::info!(notification = %out.notification.id, kind = ?out.notification.kind, recipients = out.delivered_to.len(), "notification delivered");
                }
                Some(error) => {
                    tracing::warn!(notification = %out.notification.id, attempt = out.attempts, %error, "notification not delivered yet");
                    out.leased_until = None;
                    out.last_error = Some(error);
                    self.table
                        .put(
                            &item.key,
                            item.index.as_ref(),
                            &serde_json::to_value(&out)?,
                            Condition::Version(claimed),
                        )
                        .await?;
                    done.deferred += 1;
                }
            }
        }
        Ok(done)
    }

    /// Everyone the notification is for, but whoever caused it and whoever has it already.
    async fn recipients(&self, out: &Outgoing) -> AppResult<Vec<String>> {
        let mut ids: Vec<String> = match &out.audience {
            Audience::Principal { id } => vec![id.clone()],
            Audience::AirlockManagers { workspace_id } => self
                .query_all(Query {
                    pk: keys::roles_pk(workspace_id),
                    sk_prefix: Some(keys::ROLE_PREFIX.into()),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .filter(|i| {
                    i.body.get("role").and_then(|r| r.as_str())
                        == Some(WorkspaceRole::AirlockManager.as_str())
                })
                .filter_map(|i| {
                    i.body
                        .get("principalId")
                        .and_then(|p| p.as_str())
                        .map(str::to_string)
                })
                .collect(),
            Audience::TreAdmins => self
                .query_all(Query {
                    index: Some(INDEX_GSI1.into()),
                    pk: keys::ADMINS_INDEX_PK.into(),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .filter_map(|i| {
                    i.body
                        .get("id")
                        .and_then(|p| p.as_str())
                        .map(str::to_string)
                })
                .collect(),
        };
        ids.sort();
        ids.dedup();
        ids.retain(|id| {
            Some(id) != out.notification.caused_by.as_ref() && !out.delivered_to.contains(id)
        });
        Ok(ids)
    }

    /// Email one recipient (where possible) and keep their copy. True when an email was sent.
    async fn deliver_to(&self, n: &Notification, recipient: &str) -> AppResult<bool> {
        let email = match &self.mailer {
            None => EmailDelivery::NotConfigured,
            Some(mailer) => {
                let address = self
                    .table
                    .get(&keys::profile(recipient))
                    .await?
                    .and_then(|i| {
                        i.body
                            .get("email")
                            .and_then(|e| e.as_str())
                            .map(str::to_string)
                    })
                    .filter(|e| !e.is_empty());
                match address {
                    None => EmailDelivery::NoAddress,
                    Some(to) => {
                        let text = format!(
                            "{}\n\nOpen it in the TRE console: {}{}\n\nYou receive this because of your role in the TRE.\n",
                            n.text, self.console_url, n.link
                        );
                        let sent = mailer
                            .send(&Mail {
                                to,
                                subject: n.subject.clone(),
                                text,
                            })
                            .await;
                        match sent {
                            Ok(()) => EmailDelivery::Sent,
                            // Refused for good (a bad address): retrying cannot help, and must
                            // not hold back the other recipients.
                            Err(PortError::Invalid(why)) => {
                                tracing::warn!(notification = %n.id, recipient, reason = %why, "the mail service refused a notification's address");
                                EmailDelivery::Refused
                            }
                            // The mail service's own words, for the outbox's `lastError`.
                            Err(e) => return Err(AppError::Unavailable(e.to_string())),
                        }
                    }
                }
            }
        };
        let sent = email == EmailDelivery::Sent;
        let copy = ReceivedNotification {
            notification: n.clone(),
            recipient: recipient.to_string(),
            email,
        };
        match self
            .table
            .put(
                &keys::inbox(recipient, &n.at, &n.id),
                None,
                &serde_json::to_value(&copy)?,
                Condition::Absent,
            )
            .await
        {
            Ok(_) | Err(PortError::ConditionFailed(_)) => Ok(sent),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of the caller's notifications, newest first.
    pub async fn list_notifications(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<ReceivedNotification>> {
        caller.require_user()?;
        let mut walk = Walk::new(
            Query {
                pk: keys::inbox_pk(caller.id()),
                descending: true,
                ..Default::default()
            },
            page,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                if walk.push(serde_json::from_value(item.body)?) {
                    break;
                }
            }
        }
        Ok(walk.finish())
    }
}

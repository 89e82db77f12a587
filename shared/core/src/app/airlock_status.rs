//! What the airlock workflow reports through the status queue: the airlock runner's progress
//! (`airlockStatus`) and the opening of the review step with its task token (`airlockReview`).
//! Applied with conditional writes; duplicates and reordering change nothing.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{App, AppError, AppResult, Applied, AuditEntry};
use crate::domain::airlock::{next_status, Actor, AirlockFile, Event, RequestStatus, ScanResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AirlockEvent {
    /// The files were copied to review with their checksums, and scanned.
    Scanned,
    /// The files reached their destination (approve) or were deleted (reject, block, cancel).
    Finished,
    /// A step of the workflow failed.
    Failed,
}

/// What the airlock runner sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AirlockStatus {
    pub request_id: String,
    pub workspace_id: String,
    pub event: AirlockEvent,
    #[serde(default)]
    pub files: Vec<AirlockFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
    #[serde(default)]
    pub message: String,
    /// Strictly increasing per request (the failure report uses `FINAL_SEQUENCE`).
    pub sequence: u64,
}

/// What the workflow's review step sends: the token that completes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AirlockReviewOpened {
    pub request_id: String,
    pub workspace_id: String,
    pub task_token: String,
}

impl App {
    pub async fn apply_airlock_status(&self, msg: &AirlockStatus) -> AppResult<Applied> {
        let (mut req, version) = self
            .load_airlock_request(&msg.workspace_id, &msg.request_id)
            .await?;
        if msg.sequence <= req.sequence {
            return Ok(Applied::Ignored);
        }
        req.sequence = msg.sequence;
        let now = self.clock.now();
        match msg.event {
            AirlockEvent::Scanned => {
                if req.status != RequestStatus::Submitted {
                    return Ok(Applied::Ignored);
                }
                let scan = msg.scan.clone().ok_or_else(|| {
                    AppError::validation("a `scanned` report must carry the scan result")
                })?;
                req.files = msg.files.clone();
                let threat = scan.verdict != "clean";
                req.scan = Some(scan);
                if threat {
                    let to = next_status(req.status, Event::ScanThreat, Actor::System)
                        .map_err(AppError::Conflict)?;
                    Self::transition(&mut req, to, "system", now, msg.message.clone());
                }
            }
            AirlockEvent::Finished => {
                match next_status(req.status, Event::Finished, Actor::System) {
                    Ok(to) => {
                        if !msg.files.is_empty() {
                            req.files = msg.files.clone();
                        }
                        Self::transition(&mut req, to, "system", now, msg.message.clone())
                    }
                    // A cancelled or failed request's files were discarded: nothing to record.
                    Err(_) if req.status.is_final() => {}
                    Err(e) => return Err(AppError::Conflict(e)),
                }
            }
            AirlockEvent::Failed => {
                if let Ok(to) = next_status(req.status, Event::Fail, Actor::System) {
                    Self::transition(&mut req, to, "system", now, msg.message.clone());
                } else {
                    tracing::warn!(request_id = %req.id, status = req.status.as_str(), message = %msg.message, "a failure reported after the request ended");
                }
            }
        }
        self.save_airlock_request(&mut req, version, AuditEntry::system("airlock.status"))
            .await?;
        // Normally done when the review was decided; again here in case that was cut short.
        self.end_review_environments(&req).await;
        Ok(Applied::Applied)
    }

    pub async fn apply_airlock_review_opened(
        &self,
        msg: &AirlockReviewOpened,
    ) -> AppResult<Applied> {
        self.open_airlock_review(&msg.workspace_id, &msg.request_id, &msg.task_token)
            .await
    }
}

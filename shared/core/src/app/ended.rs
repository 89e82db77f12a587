//! Workflows that end badly without reporting it themselves (timed out, aborted, failed in a
//! way no Catch saw): in AWS an EventBridge rule puts an `executionEnded` message on the status
//! queue (infra/provisioning.tf); locally the engine's listener does the same through
//! [`App::fail_unfinished_operation`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    AirlockEvent, AirlockReviewOpened, AirlockStatus, App, AppError, AppResult, Applied,
    StatusMessage,
};
use crate::ports::{Execution, ExecutionStatus};

/// The part of EventBridge's "Step Functions Execution Status Change" event the rule forwards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionEnded {
    pub execution_arn: String,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
}

/// Anything the status queue carries.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusQueueMessage {
    Status(StatusMessage),
    ExecutionEnded(ExecutionEnded),
    AirlockStatus(AirlockStatus),
    AirlockReviewOpened(AirlockReviewOpened),
    DataSourceStatus(super::DataSourceStatus),
    /// Remove review environments whose request left review (sent on a schedule); also
    /// delivers whatever notifications still wait.
    SweepReviewEnvironments,
    /// Deliver the notifications waiting in the outbox (sent right after a change causes one).
    DeliverNotifications,
}

impl StatusQueueMessage {
    /// Parse a message body; the error says precisely what is wrong with it.
    pub fn parse(body: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
        // The wrapped kinds name themselves by their only key; a bare object is a runner's
        // status message.
        let wrapped = |key: &str| {
            value
                .as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.get(key))
                .cloned()
        };
        if let Some(v) = wrapped("executionEnded") {
            return serde_json::from_value(v)
                .map(StatusQueueMessage::ExecutionEnded)
                .map_err(|e| format!("not an executionEnded message: {e}"));
        }
        if let Some(v) = wrapped("airlockStatus") {
            return serde_json::from_value(v)
                .map(StatusQueueMessage::AirlockStatus)
                .map_err(|e| format!("not an airlockStatus message: {e}"));
        }
        if let Some(v) = wrapped("dataSourceStatus") {
            return serde_json::from_value(v)
                .map(StatusQueueMessage::DataSourceStatus)
                .map_err(|e| format!("not a dataSourceStatus message: {e}"));
        }
        if let Some(v) = wrapped("sweepReviewEnvironments") {
            return match v {
                Value::Object(o) if o.is_empty() => Ok(StatusQueueMessage::SweepReviewEnvironments),
                _ => Err("a sweepReviewEnvironments message carries an empty object".into()),
            };
        }
        if let Some(v) = wrapped("deliverNotifications") {
            return match v {
                Value::Object(o) if o.is_empty() => Ok(StatusQueueMessage::DeliverNotifications),
                _ => Err("a deliverNotifications message carries an empty object".into()),
            };
        }
        if let Some(v) = wrapped("airlockReview") {
            return serde_json::from_value(v)
                .map(StatusQueueMessage::AirlockReviewOpened)
                .map_err(|e| format!("not an airlockReview message: {e}"));
        }
        serde_json::from_value(value)
            .map(StatusQueueMessage::Status)
            .map_err(|e| format!("not a status message: {e}"))
    }
}

fn describe(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Running => "is still running",
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::TimedOut => "timed out",
        ExecutionStatus::Aborted => "was aborted",
    }
}

impl App {
    /// Apply any message of the status queue.
    pub async fn apply_queue_message(&self, message: &StatusQueueMessage) -> AppResult<Applied> {
        match message {
            StatusQueueMessage::Status(m) => self.apply_status(m).await,
            StatusQueueMessage::ExecutionEnded(e) => self.apply_execution_ended(e).await,
            StatusQueueMessage::AirlockStatus(m) => self.apply_airlock_status(m).await,
            StatusQueueMessage::AirlockReviewOpened(m) => self.apply_airlock_review_opened(m).await,
            StatusQueueMessage::DataSourceStatus(m) => self.apply_data_source_status(m).await,
            StatusQueueMessage::SweepReviewEnvironments => {
                self.sweep_review_environments().await?;
                // The periodic sweep is also the retry of every delivery that failed or was
                // never asked for.
                if let Err(e) = self.deliver_notifications().await {
                    tracing::warn!(error = %e, "notifications could not be delivered; the next sweep retries");
                }
                Ok(Applied::Applied)
            }
            StatusQueueMessage::DeliverNotifications => {
                self.deliver_notifications().await?;
                Ok(Applied::Applied)
            }
        }
    }

    /// Apply an `executionEnded` message: when the execution of an operation ended in any way
    /// but success, fail what is unfinished of the operation. Duplicates change nothing.
    pub async fn apply_execution_ended(&self, ended: &ExecutionEnded) -> AppResult<Applied> {
        if ended.status == "SUCCEEDED" {
            return Ok(Applied::Ignored);
        }
        // The event is only a hint: the execution's own record is the truth.
        let execution = self
            .workflows
            .describe_execution(&ended.execution_arn)
            .await?;
        if matches!(
            execution.status,
            ExecutionStatus::Running | ExecutionStatus::Succeeded
        ) {
            return Ok(Applied::Ignored);
        }
        self.workflow_ended_badly(&execution).await
    }

    /// An execution ended without success: fail what is unfinished of the operation or the
    /// airlock request it ran for. Nothing changes when everything already ended.
    pub async fn workflow_ended_badly(&self, execution: &Execution) -> AppResult<Applied> {
        let mut message = format!("the workflow {}", describe(execution.status));
        for part in [&execution.error, &execution.cause].into_iter().flatten() {
            message.push_str(": ");
            message.push_str(part);
        }
        let text = |k: &str| execution.input.get(k).and_then(Value::as_str);
        let outcome = if let (Some(op), Some(res)) = (text("operationId"), text("resourceId")) {
            self.fail_unfinished_operation(res, op, &message).await
        } else if let (Some(rid), Some(ws)) = (text("requestId"), text("workspaceId")) {
            self.apply_airlock_status(&AirlockStatus {
                request_id: rid.to_string(),
                workspace_id: ws.to_string(),
                event: AirlockEvent::Failed,
                files: Vec::new(),
                scan: None,
                message,
                sequence: super::FINAL_SEQUENCE,
            })
            .await
        } else {
            tracing::info!(execution = %execution.id, "not a workflow of an operation or a request; nothing to fail");
            return Ok(Applied::Ignored);
        };
        match outcome {
            // Deleted since: nothing is left to fail.
            Err(AppError::NotFound(_)) => Ok(Applied::Ignored),
            other => other,
        }
    }
}

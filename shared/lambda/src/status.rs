//! The status consumer: SQS batches of runner status messages (and of `executionEnded` messages
//! from the EventBridge rule on workflow ends), applied one by one. A message
//! that cannot be applied is reported as a batch item failure, so SQS delivers it again and,
//! after the queue's maxReceiveCount, moves it to the dead-letter queue (which is alarmed).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tre_core::app::{App, Applied, StatusQueueMessage};

/// Apply every message of a batch; the response names the ones to retry.
pub async fn handle_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("status_message", message_id = %id, operation_id = tracing::field::Empty);
        let _guard = span.enter();
        let body = record.body.unwrap_or_default();
        let outcome = match StatusQueueMessage::parse(&body) {
            Err(e) => Err(e),
            Ok(msg) => {
                if let StatusQueueMessage::Status(m) = &msg {
                    span.record("operation_id", m.operation_id.as_str());
                }
                app.apply_queue_message(&msg)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        match outcome {
            Ok(Applied::Applied) => tracing::info!("applied"),
            Ok(Applied::Ignored) => tracing::info!("duplicate or out of date; ignored"),
            Err(e) => {
                tracing::warn!(error = %e, "could not apply; will be retried, then dead-lettered");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

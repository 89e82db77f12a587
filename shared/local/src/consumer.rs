//! The local status consumer: what the status-consumer Lambda does in AWS, as a loop over the
//! embedded queue. A message that cannot be applied becomes visible again after the visibility
//! timeout and, after `MAX_RECEIVES` receives, moves to the dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tre_core::app::{App, StatusQueueMessage};
use tre_core::ports::Queue;

pub const STATUS_QUEUE: &str = "status";
pub const STATUS_DEAD_LETTERS: &str = "status-dlq";
pub const MAX_RECEIVES: u32 = 5;

/// Apply every message that is visible now, then return (used at start-up, so that what the
/// runners reported before a restart lands before unfinished operations are judged).
pub(crate) async fn drain(app: &App, queue: &Arc<dyn Queue>, retry_after: Duration) {
    loop {
        let messages = match queue.receive(10, retry_after, Duration::ZERO).await {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "status queue unavailable");
                return;
            }
        };
        for m in messages {
            handle(app, queue, m).await;
        }
    }
}

async fn handle(app: &App, queue: &Arc<dyn Queue>, m: tre_core::ports::QueueMessage) {
    let applied = match StatusQueueMessage::parse(&m.body) {
        Ok(msg) => app
            .apply_queue_message(&msg)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match applied {
        Ok(outcome) => {
            tracing::debug!(?outcome, message_id = %m.id, "status applied");
            if let Err(e) = queue.delete(&m.receipt).await {
                tracing::warn!(error = %e, "could not delete an applied status message");
            }
        }
        Err(e) => tracing::warn!(
            error = %e,
            message_id = %m.id,
            receive_count = m.receive_count,
            "status message not applied; it will be retried, then dead-lettered"
        ),
    }
}

pub(crate) async fn run(
    app: App,
    queue: Arc<dyn Queue>,
    retry_after: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = tokio::select! {
            r = queue.receive(10, retry_after, Duration::from_secs(1)) => r,
            _ = stop.changed() => return,
        };
        let messages = match batch {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "status queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for m in messages {
            handle(&app, &queue, m).await;
        }
    }
}

//! The local status consumer: what the status-consumer Lambda does in AWS, as a loop over the
//! embedded queue. A message that cannot be applied becomes visible again after the visibility
//! timeout and, after `MAX_RECEIVES` receives, moves to the dead-letter queue.
//!
//! The long poll returns as soon as a message is sent (a runner process rings the data
//! directory's doorbell), so a report lands within the time it takes to apply it. A batch is
//! applied one operation after another only within an operation (its messages' order and
//! conditional writes stay as they were); different operations are applied side by side, so a
//! burst of runners does not queue behind one store round trip after another.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;
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
        handle_batch(app, queue, messages).await;
    }
}

/// Which messages must be applied in order: those of one operation. Other kinds of messages
/// (executions that ended, airlock and data source reports) keep one sequence of their own.
fn order_key(m: &tre_core::ports::QueueMessage) -> Option<String> {
    match StatusQueueMessage::parse(&m.body) {
        Ok(StatusQueueMessage::Status(s)) => Some(s.operation_id),
        _ => None,
    }
}

async fn handle_batch(
    app: &App,
    queue: &Arc<dyn Queue>,
    messages: Vec<tre_core::ports::QueueMessage>,
) {
    if messages.len() == 1 {
        for m in messages {
            handle(app, queue, m).await;
        }
        return;
    }
    let mut groups: Vec<(Option<String>, Vec<tre_core::ports::QueueMessage>)> = Vec::new();
    for m in messages {
        let key = order_key(&m);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(m),
            None => groups.push((key, vec![m])),
        }
    }
    futures::future::join_all(groups.into_iter().map(|(_, group)| async move {
        for m in group {
            handle(app, queue, m).await;
        }
    }))
    .await;
}

async fn handle(app: &App, queue: &Arc<dyn Queue>, m: tre_core::ports::QueueMessage) {
    let span = tracing::debug_span!("status_message", message_id = %m.id);
    handle_in(app, queue, m).instrument(span).await
}

async fn handle_in(app: &App, queue: &Arc<dyn Queue>, m: tre_core::ports::QueueMessage) {
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
        handle_batch(&app, &queue, messages).await;
    }
}

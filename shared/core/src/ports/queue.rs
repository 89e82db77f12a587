use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    /// Handle for `delete`/`change_visibility`; valid for this receive only.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// A message queue with visibility timeouts and a dead-letter queue (SQS; SQLite locally).
/// A message received `max_receives` times without being deleted moves to the dead-letter
/// queue configured for the adapter instead of being delivered again.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Returns the message id.
    async fn send(&self, body: &str, delay: Option<Duration>) -> PortResult<String>;

    /// Up to `max` (1..=10) visible messages; each becomes invisible for `visibility`.
    /// Waits up to `wait` for at least one message (long polling).
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> PortResult<Vec<QueueMessage>>;

    /// Deleting with a stale receipt of an already deleted message is not an error.
    async fn delete(&self, receipt: &str) -> PortResult<()>;

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> PortResult<()>;

    /// Approximate number of messages (visible and in flight).
    async fn approximate_len(&self) -> PortResult<u64>;
}

//! Local stand-ins for AWS service integrations that need only the core ports.

use std::sync::Arc;

use async_trait::async_trait;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use tre_core::ports::Queue;

use crate::engine::{Integration, TaskContext, TaskError};

/// Finds the queue a `QueueUrl` names (by its last path segment), or says why there is none.
pub type QueueLookup = Arc<dyn Fn(&str) -> Result<Arc<dyn Queue>, String> + Send + Sync>;

/// `arn:aws:states:::sqs:sendMessage`: sends `MessageBody` (a string, or JSON text of any other
/// value) and answers like the service integration (`MessageId`, `MD5OfMessageBody`). With
/// `.waitForTaskToken` the engine then waits for the token the body carries.
pub struct SqsSendMessage {
    queues: QueueLookup,
}

impl SqsSendMessage {
    pub fn new(queues: QueueLookup) -> Self {
        Self { queues }
    }
}

#[async_trait]
impl Integration for SqsSendMessage {
    async fn invoke(
        &self,
        _resource: &str,
        parameters: Value,
        _ctx: &TaskContext,
    ) -> Result<Value, TaskError> {
        let url = parameters
            .get("QueueUrl")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            return Err(TaskError::new(
                "SQS.InvalidAddressException",
                "QueueUrl is missing",
            ));
        }
        let body = match parameters.get("MessageBody") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(TaskError::new(
                    "SQS.MissingParameterException",
                    "MessageBody is missing",
                ))
            }
        };
        let delay = parameters
            .get("DelaySeconds")
            .and_then(Value::as_u64)
            .map(std::time::Duration::from_secs);
        let queue = (self.queues)(name).map_err(|e| {
            TaskError::new(
                "SQS.QueueDoesNotExistException",
                format!("queue {name}: {e}"),
            )
        })?;
        let id = queue
            .send(&body, delay)
            .await
            .map_err(|e| TaskError::new("SQS.AmazonSQSException", e.to_string()))?;
        Ok(json!({
            "MessageId": id,
            "MD5OfMessageBody": hex::encode(Md5::digest(body.as_bytes())),
        }))
    }
}

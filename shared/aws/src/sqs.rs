//! `Queue` on SQS. Dead-lettering is the queue's own redrive policy (maxReceiveCount).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use tre_core::ports::{PortError, PortResult, Queue, QueueMessage};

use crate::errors::{backend, code};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

/// SQS takes whole seconds; round up so a message is never visible earlier than asked.
fn secs_up(d: Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s).unwrap_or(i32::MAX)
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn from_conf(conf: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(conf), url)
    }
}

/// Create a queue and its dead-letter queue (after `max_receives` receives); returns both URLs.
pub async fn create_queue_with_dlq(
    client: &Client,
    name: &str,
    max_receives: u32,
) -> PortResult<(String, String)> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| backend("create dead-letter queue", e))?;
    let dlq_url = dlq.queue_url().unwrap_or_default().to_string();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| backend("dead-letter queue arn", e))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| PortError::Backend("the dead-letter queue has no ARN".into()))?;
    let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string()});
    let q = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .map_err(|e| backend("create queue", e))?;
    Ok((q.queue_url().unwrap_or_default().to_string(), dlq_url))
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Option<Duration>) -> PortResult<String> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        if let Some(d) = delay {
            if d > Duration::from_secs(900) {
                return Err(PortError::Invalid(
                    "SQS delays are at most 15 minutes".into(),
                ));
            }
            req = req.delay_seconds(secs_up(d));
        }
        let out = req.send().await.map_err(|e| backend("send", e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> PortResult<Vec<QueueMessage>> {
        if !(1..=10).contains(&max) {
            return Err(PortError::Invalid("receive takes 1 to 10 messages".into()));
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max as i32)
            .visibility_timeout(secs_up(visibility))
            .wait_time_seconds(secs_up(wait).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| backend("receive", e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| QueueMessage {
                id: m.message_id().unwrap_or_default().to_string(),
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> PortResult<()> {
        match self
            .client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already deleted (or expired): deleting is idempotent.
            Err(e) if code(&e) == Some("ReceiptHandleIsInvalid") => Ok(()),
            Err(e) => Err(backend("delete", e)),
        }
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> PortResult<()> {
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs_up(visibility))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    code(&e),
                    Some("ReceiptHandleIsInvalid" | "MessageNotInflight")
                ) =>
            {
                Err(PortError::Invalid("the receipt is stale".into()))
            }
            Err(e) => Err(backend("change visibility", e)),
        }
    }

    async fn approximate_len(&self) -> PortResult<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| backend("queue length", e))?;
        let attrs = out.attributes();
        let n = |k: QueueAttributeName| {
            attrs
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + n(QueueAttributeName::ApproximateNumberOfMessagesDelayed))
    }
}

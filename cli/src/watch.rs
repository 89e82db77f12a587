//! Follow an operation until it finishes, with a progress indicator.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::client::ApiClient;

/// Statuses after which an operation changes no more.
fn is_final(status: &str) -> bool {
    !status.starts_with("awaiting_")
        && !matches!(
            status,
            "deploying" | "updating" | "deleting" | "invoking_action" | "pipeline_running"
        )
}

/// Poll `operation_path` until the operation ends or `timeout` passes; returns the last state.
pub async fn watch(
    client: &ApiClient,
    operation_path: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}")?);
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = std::time::Instant::now();
    loop {
        // Once an uninstall has finished, its resource is gone and so is the operation.
        let Some(reply) = client.get_if_found(operation_path).await? else {
            bar.finish_with_message("deleted");
            return Ok(serde_json::json!({"status": "deleted", "path": operation_path}));
        };
        let op = reply.get("operation").cloned().unwrap_or(reply);
        let status = op
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let steps: Vec<String> = op
            .get("steps")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .map(|st| {
                        format!(
                            "{}:{}",
                            st.get("id").and_then(Value::as_str).unwrap_or("?"),
                            st.get("status").and_then(Value::as_str).unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        bar.set_message(format!("{status} [{}]", steps.join(", ")));
        if is_final(&status) {
            bar.finish_with_message(status.clone());
            return Ok(op);
        }
        if started.elapsed() > timeout {
            bar.abandon_with_message(format!(
                "still {status} after {timeout:?}; stopped watching"
            ));
            return Ok(op);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

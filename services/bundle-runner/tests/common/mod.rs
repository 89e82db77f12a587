//! What the runner's process tests share: starting the runner on one job, and reading back
//! what it reported.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tre_core::ports::Queue;

/// One job for the runner process: exit code and what it wrote to stderr (its log).
pub struct Job<'a> {
    pub bundle: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub params: &'a Value,
}

/// Run the runner binary on `job` with `env` (its data directory, AWS settings...).
pub fn run<'e>(job: Job<'_>, env: impl IntoIterator<Item = (&'e str, &'e str)>) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bundle-runner"))
        .envs(env)
        .env("TRE_OPERATION_ID", "op-1")
        .env("TRE_STEP_ID", "main")
        .env("TRE_RESOURCE_ID", job.resource)
        .env("TRE_ACTION", job.action)
        .env("TRE_BUNDLE", job.bundle)
        .env("TRE_PARAMETERS", job.params.to_string())
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every status message on the stack's queue, in order; the queue is left empty.
pub async fn drain_status(embedded: &tre_embedded::Embedded) -> Vec<Value> {
    let q = embedded.queue("status", None).expect("queue");
    let mut all = Vec::new();
    loop {
        let batch = q
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        if batch.is_empty() {
            return all;
        }
        for m in batch {
            all.push(serde_json::from_str(&m.body).expect("json"));
            q.delete(&m.receipt).await.expect("delete");
        }
    }
}

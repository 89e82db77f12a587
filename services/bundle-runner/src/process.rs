//! The runner as a program: configuration from the environment, the exit code contract.

use std::sync::Arc;

use anyhow::Context;
use tracing::Instrument;

use crate::{run, Job, Ports, Settings};

/// Exit codes: the action succeeded / failed (and said why) / could not start.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_ENVIRONMENT: i32 = 2;

async fn ports_from_env() -> anyhow::Result<Ports> {
    // Locally the runner shares the stack's SQLite store; in AWS it uses DynamoDB and SQS.
    if let Ok(dir) = std::env::var("TRE_DATA_DIR") {
        let embedded = tre_embedded::Embedded::open(std::path::Path::new(&dir))?;
        let queue = std::env::var("TRE_STATUS_QUEUE").unwrap_or_else(|_| "status".into());
        // Review environments get a copy of their request's files from the local airlock
        // (in AWS they read them themselves, with a role limited to them).
        let airlock = embedded.airlock_storage("http://127.0.0.1")?;
        return Ok(Ports {
            table: Arc::new(embedded.table()),
            status_queue: Arc::new(embedded.queue(&queue, None)?),
            airlock: Some(Arc::new(airlock)),
        });
    }
    let table =
        std::env::var(tre_aws::ENV_TABLE).context("set TRE_TABLE (AWS) or TRE_DATA_DIR (local)")?;
    let queue = std::env::var(tre_aws::ENV_STATUS_QUEUE_URL).context("set TRE_STATUS_QUEUE_URL")?;
    let conf = tre_aws::sdk_config().await;
    Ok(Ports {
        table: Arc::new(tre_aws::DynamoTable::from_conf(&conf, table)),
        status_queue: Arc::new(tre_aws::SqsQueue::from_conf(&conf, queue)),
        airlock: None,
    })
}

/// Run the job the environment describes; returns the process exit code. Shared by the
/// `bundle-runner` binary and `tre bundle run-action` (so `tre dev` needs no second binary).
pub async fn run_from_env() -> i32 {
    let started = match Job::from_env() {
        Ok(job) => ports_from_env().await.map(|p| (job, p)),
        Err(e) => Err(e.into()),
    };
    let (job, ports) = match started {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bundle-runner: {e:#}");
            return EXIT_BAD_ENVIRONMENT;
        }
    };
    let span = tracing::info_span!("operation", operation_id = %job.operation_id, step_id = %job.step_id, action = %job.action);
    let settings = Settings::from_env();
    match run(&job, &ports, &settings).instrument(span).await {
        Ok(_) => EXIT_OK,
        Err(message) => {
            eprintln!("bundle-runner: {message}");
            EXIT_FAILED
        }
    }
}

//! `bundle-runner`: one bundle action for one step of an operation. Configured entirely by its
//! environment (the state machine sets it through the task's container overrides). Exits 0
//! when the action succeeded, 1 when it failed (after reporting why), 2 when it could not
//! even start (bad environment).

use std::sync::Arc;

use anyhow::Context;
use bundle_runner::{run, Job, Ports};
use tracing::Instrument;

async fn ports_from_env() -> anyhow::Result<Ports> {
    // Locally the runner shares the stack's SQLite store; in AWS it uses DynamoDB and SQS.
    if let Ok(dir) = std::env::var("TRE_DATA_DIR") {
        let embedded = tre_embedded::Embedded::open(std::path::Path::new(&dir))?;
        let queue = std::env::var("TRE_STATUS_QUEUE").unwrap_or_else(|_| "status".into());
        return Ok(Ports {
            table: Arc::new(embedded.table()),
            status_queue: Arc::new(embedded.queue(&queue, None)?),
        });
    }
    let table =
        std::env::var(tre_aws::ENV_TABLE).context("set TRE_TABLE (AWS) or TRE_DATA_DIR (local)")?;
    let queue = std::env::var(tre_aws::ENV_STATUS_QUEUE_URL).context("set TRE_STATUS_QUEUE_URL")?;
    let conf = tre_aws::sdk_config().await;
    Ok(Ports {
        table: Arc::new(tre_aws::DynamoTable::from_conf(&conf, table)),
        status_queue: Arc::new(tre_aws::SqsQueue::from_conf(&conf, queue)),
    })
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let started = match Job::from_env() {
        Ok(job) => ports_from_env().await.map(|p| (job, p)),
        Err(e) => Err(e.into()),
    };
    let (job, ports) = match started {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bundle-runner: {e:#}");
            std::process::exit(2);
        }
    };
    let span = tracing::info_span!("operation", operation_id = %job.operation_id, step_id = %job.step_id, action = %job.action);
    match run(&job, &ports).instrument(span).await {
        Ok(_) => std::process::exit(0),
        Err(message) => {
            eprintln!("bundle-runner: {message}");
            std::process::exit(1);
        }
    }
}

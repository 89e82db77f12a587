//! `bundle-runner`: one bundle action for one step of an operation. Configured entirely by its
//! environment (the state machine sets it through the task's container overrides). Exits 0
//! when the action succeeded, 1 when it failed (after reporting why), 2 when it could not
//! even start (bad environment).

use std::sync::Arc;

use anyhow::Context;
use bundle_runner::{run, Job, Ports};
use tracing::Instrument;

fn ports_from_env() -> anyhow::Result<Ports> {
    // Locally the runner shares the stack's SQLite store; in AWS it uses DynamoDB and SQS.
    let dir = std::env::var("TRE_DATA_DIR").context(
        "TRE_DATA_DIR is not set (the AWS backend of the runner arrives with the AWS adapters)",
    )?;
    let embedded = tre_embedded::Embedded::open(std::path::Path::new(&dir))?;
    let queue = std::env::var("TRE_STATUS_QUEUE").unwrap_or_else(|_| "status".into());
    Ok(Ports {
        table: Arc::new(embedded.table()),
        status_queue: Arc::new(embedded.queue(&queue, None)?),
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
    let started = Job::from_env()
        .map_err(anyhow::Error::from)
        .and_then(|job| Ok((job, ports_from_env()?)));
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

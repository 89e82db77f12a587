//! The runner as a program: configuration from the environment, the exit code contract.

use std::sync::Arc;

use anyhow::Context;
use tracing::Instrument;

use crate::scan::{Policy, Scanner};
use crate::{run, Job, Ports};

/// Exit codes: the step succeeded / failed (and said why) / could not start.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_ENVIRONMENT: i32 = 2;

/// Environment of the runner's AWS backend (set in its task definition).
pub const AWS_ENV_VARS: &[&str] = &[
    tre_aws::ENV_TABLE,
    tre_aws::ENV_STATUS_QUEUE_URL,
    tre_aws::ENV_AIRLOCK_BUCKET_PREFIX,
];

/// What the runner calls through the AWS adapters in a Fargate task: (adapter, SDK operation).
pub const SDK_CALLS: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("SqsQueue", "send_message"),
    ("S3ObjectStore", "get_object"),
    ("S3ObjectStore", "head_object"),
    ("S3ObjectStore", "put_object"),
    ("S3ObjectStore", "delete_object"),
    ("S3ObjectStore", "create_multipart_upload"),
    ("S3ObjectStore", "upload_part"),
    ("S3ObjectStore", "complete_multipart_upload"),
    ("S3ObjectStore", "abort_multipart_upload"),
    // Data source imports replace what an earlier run left, with credentials from secrets.
    ("S3ObjectStore", "list_objects_v2"),
    ("SecretsManagerSecrets", "get_secret_value"),
];

async fn ports_from_env() -> anyhow::Result<Ports> {
    let mut scanners: Vec<Arc<dyn Scanner>> =
        vec![Arc::new(Policy::from_env().map_err(anyhow::Error::msg)?)];
    if let Some(clamd) = crate::clamd::Clamd::from_env() {
        scanners.push(Arc::new(clamd));
    }
    // Locally the runner shares the stack's store; in AWS it uses DynamoDB, SQS and S3.
    if let Ok(dir) = std::env::var("TRE_DATA_DIR") {
        let embedded = tre_embedded::Embedded::open(std::path::Path::new(&dir))?;
        let queue = std::env::var("TRE_STATUS_QUEUE").unwrap_or_else(|_| "status".into());
        return Ok(Ports {
            // The runner signs no links: any base URL will do.
            storage: embedded.airlock_storage("http://127.0.0.1")?,
            table: Arc::new(embedded.table()),
            status_queue: Arc::new(embedded.queue(&queue, None)?),
            scanners,
            secrets: Arc::new(tre_embedded::FileSecrets::new(
                std::path::Path::new(&dir).join(tre_embedded::SECRETS_FILE),
            )),
        });
    }
    let var = |k: &str| {
        std::env::var(k).with_context(|| format!("set {k} (AWS) or TRE_DATA_DIR (local)"))
    };
    let table = var(tre_aws::ENV_TABLE)?;
    let queue = var(tre_aws::ENV_STATUS_QUEUE_URL)?;
    let buckets = var(tre_aws::ENV_AIRLOCK_BUCKET_PREFIX)?;
    let conf = tre_aws::sdk_config().await;
    Ok(Ports {
        storage: tre_aws::airlock_storage(&conf, &buckets),
        table: Arc::new(tre_aws::DynamoTable::from_conf(&conf, table)),
        status_queue: Arc::new(tre_aws::SqsQueue::from_conf(&conf, queue)),
        scanners,
        secrets: Arc::new(tre_aws::SecretsManagerSecrets::from_conf(&conf)),
    })
}

/// Run the job the environment describes; returns the process exit code. Shared by the
/// `airlock-runner` binary and `tre run-airlock-action` (so `tre dev` needs no second binary).
pub async fn run_from_env() -> i32 {
    match crate::datasource::ImportJob::from_env() {
        Ok(Some(job)) => return run_import(job).await,
        Ok(None) => {}
        Err(e) => {
            eprintln!("airlock-runner: {e}");
            return EXIT_BAD_ENVIRONMENT;
        }
    }
    let started = match Job::from_env() {
        Ok(job) => ports_from_env().await.map(|p| (job, p)),
        Err(e) => Err(e.into()),
    };
    let (job, ports) = match started {
        Ok(x) => x,
        Err(e) => {
            eprintln!("airlock-runner: {e:#}");
            return EXIT_BAD_ENVIRONMENT;
        }
    };
    let span = tracing::info_span!("airlock", request_id = %job.request_id, action = ?job.action);
    match run(&job, &ports).instrument(span).await {
        Ok(()) => EXIT_OK,
        Err(message) => {
            eprintln!("airlock-runner: {message}");
            EXIT_FAILED
        }
    }
}

async fn run_import(job: crate::datasource::ImportJob) -> i32 {
    let settings = match crate::datasource::ImportSettings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("airlock-runner: {e}");
            return EXIT_BAD_ENVIRONMENT;
        }
    };
    let ports = match ports_from_env().await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("airlock-runner: {e:#}");
            return EXIT_BAD_ENVIRONMENT;
        }
    };
    let span = tracing::info_span!("datasource-import", data_source_id = %job.data_source_id, run = job.run);
    match crate::datasource::run(&job, &ports, &settings)
        .instrument(span)
        .await
    {
        Ok(()) => EXIT_OK,
        Err(message) => {
            eprintln!("airlock-runner: {message}");
            EXIT_FAILED
        }
    }
}

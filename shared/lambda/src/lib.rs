//! What every Lambda shares, so that each `functions/*/src/main.rs` is one call.
//!
//! The backend comes from the environment: with `TRE_DATA_DIR`, the embedded adapters; otherwise
//! the DynamoDB/Step Functions adapters (`TRE_TABLE`, `TRE_STATE_MACHINE_PREFIX`), the embedded ones
//! so `cargo lambda watch` / `cargo lambda invoke` work on a laptop with no AWS at all.

pub mod status;

use std::sync::Arc;

use tre_api::RouteGroup;
use tre_core::app::App;

/// Environment variables this crate reads (the infrastructure test checks Terraform sets the
/// AWS ones).
pub const ENV_DATA_DIR: &str = "TRE_DATA_DIR";

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("backend: {0}")]
    Backend(String),
}

/// Build the application services on the backend the environment names.
pub async fn app_from_env() -> Result<App, WiringError> {
    if let Ok(dir) = std::env::var(ENV_DATA_DIR) {
        let db = tre_embedded::Db::open(std::path::Path::new(&dir))
            .map_err(|e| WiringError::Backend(e.to_string()))?;
        let embedded = tre_embedded::Embedded::open(std::path::Path::new(&dir))
            .map_err(|e| WiringError::Backend(e.to_string()))?;
        // Links point at the local stack serving this directory (`tre dev`), by default.
        let base =
            std::env::var("TRE_OBJECTS_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
        let airlock = embedded
            .airlock_storage(&base)
            .map_err(|e| WiringError::Backend(e.to_string()))?;
        return Ok(App::new(
            Arc::new(tre_embedded::SqliteTable::new(db.clone())),
            Arc::new(tre_embedded::RecordedWorkflows::new(db)),
        )
        .with_airlock(airlock));
    }
    aws_app_from_env().await
}

async fn aws_app_from_env() -> Result<App, WiringError> {
    let var = |k: &str| {
        std::env::var(k).map_err(|_| {
            WiringError::Config(format!(
                "set {k} (AWS backend) or {ENV_DATA_DIR} (embedded backend)"
            ))
        })
    };
    let table = var(tre_aws::ENV_TABLE)?;
    let prefix = var(tre_aws::ENV_STATE_MACHINE_PREFIX)?;
    let conf = tre_aws::sdk_config().await;
    let mut app = App::new(
        Arc::new(tre_aws::DynamoTable::from_conf(&conf, table)),
        Arc::new(tre_aws::SfnWorkflows::from_conf(&conf, prefix)),
    );
    if let Ok(buckets) = std::env::var(tre_aws::ENV_AIRLOCK_BUCKET_PREFIX) {
        app = app.with_airlock(tre_aws::airlock_storage(&conf, &buckets));
    }
    // Steps whose bundle lives in the registry get a pull token for it.
    if let Some(key) = registry_token_key_from_env()? {
        app = app.with_bundle_tokens(Arc::new(tre_bundle::RegistryPullTokens::new(key)));
    }
    Ok(app)
}

/// The registry's token key (`TRE_REGISTRY_TOKEN_KEY`, base64), where a registry is deployed.
fn registry_token_key_from_env(
) -> Result<Option<tre_auth::registry_token::RegistryTokenKey>, WiringError> {
    use base64::Engine;
    let Some(raw) = std::env::var("TRE_REGISTRY_TOKEN_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|e| WiringError::Config(format!("TRE_REGISTRY_TOKEN_KEY is not base64: {e}")))?;
    let service = std::env::var("TRE_REGISTRY_SERVICE").unwrap_or_else(|_| "tre-registry".into());
    tre_auth::registry_token::RegistryTokenKey::new(key, service)
        .map(Some)
        .map_err(WiringError::Config)
}

/// Serve one API route group until the Lambda runtime stops the process.
pub async fn run_api(group: RouteGroup) -> Result<(), lambda_http::Error> {
    tre_api::lambda::init_tracing();
    let app = app_from_env().await?;
    let mapping = tre_auth::ClaimMapping::from_env()?;
    tre_api::lambda::serve(group, app, mapping).await
}

/// Serve the status consumer (SQS event source with partial batch responses).
pub async fn run_status_consumer() -> Result<(), lambda_runtime::Error> {
    tre_api::lambda::init_tracing();
    let app = app_from_env().await?;
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(status::handle_batch(app, event.payload).await)
        },
    ))
    .await
}

/// What each function crate's code calls through the AWS adapters: (adapter, SDK operation).
/// The infrastructure test checks each function's IAM role allows exactly these (via
/// `tre_aws::IAM_ACTIONS`).
pub const FUNCTION_SDK_CALLS: &[(&str, &[(&str, &str)])] = &[
    ("api-meta", &[("DynamoTable", "get_item")]),
    ("api-templates", TABLE_READ_WRITE),
    ("api-workspaces", API_WITH_WORKFLOWS),
    ("api-shared-services", API_WITH_WORKFLOWS),
    ("status-consumer", STATUS_CONSUMER),
    ("api-airlock", API_AIRLOCK),
];

const API_AIRLOCK: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("SfnWorkflows", "start_execution"),
    ("SfnWorkflows", "send_task_success"),
    // Submission checks every file was uploaded.
    ("S3ObjectStore", "head_object"),
    // Pre-signed links (signed put_object / get_object requests) act with the function's
    // role: uploads put, downloads get.
    ("S3ObjectStore", "put_object"),
    ("S3ObjectStore", "get_object"),
    // Large files: parts through signed upload_part links, then assembled.
    ("S3ObjectStore", "create_multipart_upload"),
    ("S3ObjectStore", "upload_part"),
    ("S3ObjectStore", "complete_multipart_upload"),
];

const TABLE_READ_WRITE: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("DynamoTable", "delete_item"),
    ("DynamoTable", "transact_write_items"),
];

const API_WITH_WORKFLOWS: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("DynamoTable", "delete_item"),
    ("DynamoTable", "transact_write_items"),
    ("SfnWorkflows", "start_execution"),
    ("SfnWorkflows", "describe_execution"),
];

// The event source mapping receives and deletes on the function's behalf, with its role.
const STATUS_CONSUMER: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("DynamoTable", "delete_item"),
    ("DynamoTable", "transact_write_items"),
    ("SqsQueue", "receive_message"),
    ("SqsQueue", "delete_message"),
    ("SqsQueue", "get_queue_attributes"),
    ("SqsQueue", "change_message_visibility"),
    // executionEnded messages: the execution's record says how it ended.
    ("SfnWorkflows", "describe_execution"),
    // airlockReview messages: a blocked request's review step is released at once.
    ("SfnWorkflows", "send_task_success"),
];

/// Environment variables every function reads in AWS (Terraform must set each).
pub const AWS_ENV_VARS: &[&str] = &[
    tre_aws::ENV_TABLE,
    tre_aws::ENV_STATE_MACHINE_PREFIX,
    tre_auth::ENV_ROLES_CLAIM,
    tre_auth::ENV_GROUPS_CLAIM,
    tre_auth::ENV_GROUP_ROLES,
    // The registry's token realm (GET /api/registry/token) signs with this key.
    "TRE_REGISTRY_TOKEN_KEY",
    "TRE_REGISTRY_SERVICE",
];

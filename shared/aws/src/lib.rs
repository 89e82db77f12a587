//! AWS adapters for the ports: DynamoDB ([`DynamoTable`]), S3 ([`S3ObjectStore`]), SQS
//! ([`SqsQueue`]), Step Functions ([`SfnWorkflows`]) and SES ([`SesMailer`]). Each passes the
//! same contract suite as its embedded twin (`tre-testkit`), run against moto server in the
//! tests.

mod calls;
mod dynamo;
mod errors;
mod s3;
mod s3_post;
mod secrets;
mod ses;
mod sfn;
mod sqs;

pub use calls::{AwsCall, CallCount, CallCounter, CallTally};
pub use dynamo::{create_table_if_missing, DynamoTable};
pub use s3::S3ObjectStore;
pub use secrets::SecretsManagerSecrets;
pub use ses::SesMailer;
pub use sfn::SfnWorkflows;
pub use sqs::{create_queue_with_dlq, SqsQueue};

/// Name of the DynamoDB table.
pub const ENV_TABLE: &str = "TRE_TABLE";
/// ARN prefix of the state machines; a logical name is appended (`...:stateMachine:tre-`).
pub const ENV_STATE_MACHINE_PREFIX: &str = "TRE_STATE_MACHINE_PREFIX";
/// URL of the status queue.
pub const ENV_STATUS_QUEUE_URL: &str = "TRE_STATUS_QUEUE_URL";

/// Every environment variable the AWS wiring reads (the infrastructure test checks Terraform
/// sets each for the functions that use it).
pub const ENV_VARS: &[&str] = &[ENV_TABLE, ENV_STATE_MACHINE_PREFIX, ENV_STATUS_QUEUE_URL];

/// SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Every SDK operation the adapters call, with the IAM action(s) it needs: (adapter, operation as
/// the SDK's method name, IAM action). A test checks the adapters call nothing missing here; the
/// infrastructure test checks each function's role allows what its adapters call.
pub const IAM_ACTIONS: &[(&str, &str, &str)] = &[
    ("DynamoTable", "get_item", "dynamodb:GetItem"),
    ("DynamoTable", "put_item", "dynamodb:PutItem"),
    ("DynamoTable", "delete_item", "dynamodb:DeleteItem"),
    ("DynamoTable", "query", "dynamodb:Query"),
    // Table::get_many: the items of one path (and the caller's roles) in one call.
    ("DynamoTable", "batch_get_item", "dynamodb:BatchGetItem"),
    // A transaction needs the action of each kind of item it contains.
    ("DynamoTable", "transact_write_items", "dynamodb:PutItem"),
    ("DynamoTable", "transact_write_items", "dynamodb:DeleteItem"),
    (
        "DynamoTable",
        "transact_write_items",
        "dynamodb:ConditionCheckItem",
    ),
    ("DynamoTable", "create_table", "dynamodb:CreateTable"),
    ("S3ObjectStore", "put_object", "s3:PutObject"),
    ("S3ObjectStore", "get_object", "s3:GetObject"),
    ("S3ObjectStore", "head_object", "s3:GetObject"),
    ("S3ObjectStore", "delete_object", "s3:DeleteObject"),
    ("S3ObjectStore", "list_objects_v2", "s3:ListBucket"),
    ("S3ObjectStore", "copy_object", "s3:GetObject"),
    ("S3ObjectStore", "copy_object", "s3:PutObject"),
    ("S3ObjectStore", "upload_part_copy", "s3:GetObject"),
    ("S3ObjectStore", "upload_part_copy", "s3:PutObject"),
    ("S3ObjectStore", "create_multipart_upload", "s3:PutObject"),
    ("S3ObjectStore", "upload_part", "s3:PutObject"),
    ("S3ObjectStore", "complete_multipart_upload", "s3:PutObject"),
    (
        "S3ObjectStore",
        "abort_multipart_upload",
        "s3:AbortMultipartUpload",
    ),
    (
        "SecretsManagerSecrets",
        "get_secret_value",
        "secretsmanager:GetSecretValue",
    ),
    // Notification email, from the sender identity (and through its configuration set).
    ("SesMailer", "send_email", "ses:SendEmail"),
    ("SqsQueue", "send_message", "sqs:SendMessage"),
    ("SqsQueue", "receive_message", "sqs:ReceiveMessage"),
    ("SqsQueue", "delete_message", "sqs:DeleteMessage"),
    (
        "SqsQueue",
        "change_message_visibility",
        "sqs:ChangeMessageVisibility",
    ),
    ("SqsQueue", "get_queue_attributes", "sqs:GetQueueAttributes"),
    ("SqsQueue", "create_queue", "sqs:CreateQueue"),
    ("SfnWorkflows", "start_execution", "states:StartExecution"),
    (
        "SfnWorkflows",
        "describe_execution",
        "states:DescribeExecution",
    ),
    (
        "SfnWorkflows",
        "send_task_success",
        "states:SendTaskSuccess",
    ),
    (
        "SfnWorkflows",
        "send_task_failure",
        "states:SendTaskFailure",
    ),
];

/// IAM actions an adapter operation needs.
pub fn iam_actions_for(adapter: &str, operation: &str) -> Vec<&'static str> {
    IAM_ACTIONS
        .iter()
        .filter(|(a, o, _)| *a == adapter && *o == operation)
        .map(|(_, _, iam)| *iam)
        .collect()
}

/// Prefix of the airlock's stage buckets: `<prefix>-<stage>` (e.g. `tre-airlock-import-staging`).
pub const ENV_AIRLOCK_BUCKET_PREFIX: &str = "TRE_AIRLOCK_BUCKET_PREFIX";

/// The airlock's stores in AWS: one bucket per stage, named `<bucket_prefix>-<stage>`.
pub fn airlock_storage(
    conf: &aws_config::SdkConfig,
    bucket_prefix: &str,
) -> tre_core::app::AirlockStorage {
    airlock_storage_on(conf, bucket_prefix, aws_sdk_s3::Client::new(conf))
}

/// [`airlock_storage`] on a given S3 client (e.g. one that counts its calls).
pub fn airlock_storage_on(
    conf: &aws_config::SdkConfig,
    bucket_prefix: &str,
    client: aws_sdk_s3::Client,
) -> tre_core::app::AirlockStorage {
    tre_core::app::AirlockStorage::new(
        tre_core::domain::airlock::Stage::ALL
            .into_iter()
            .map(|stage| {
                let store: std::sync::Arc<dyn tre_core::ports::ObjectStore> = std::sync::Arc::new(
                    S3ObjectStore::new(
                        client.clone(),
                        format!("{bucket_prefix}-{}", stage.as_str()),
                        "",
                    )
                    // Draft requests are uploaded to through signed forms.
                    .with_form_signer(conf),
                );
                (stage, store)
            })
            .collect(),
    )
}

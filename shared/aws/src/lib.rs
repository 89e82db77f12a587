//! AWS adapters for the ports: DynamoDB ([`DynamoTable`]), S3 ([`S3ObjectStore`]), SQS
//! ([`SqsQueue`]) and Step Functions ([`SfnWorkflows`]). Each passes the same contract suite as
//! its embedded twin (`tre-testkit`), run against moto server in the tests.

mod dynamo;
mod errors;
mod s3;
mod sfn;
mod sqs;

pub use dynamo::{create_table_if_missing, DynamoTable};
pub use s3::S3ObjectStore;
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

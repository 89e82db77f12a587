//! `Workflows` on Step Functions. Logical state machine names map to ARNs by a prefix
//! (`arn:aws:states:REGION:ACCOUNT:stateMachine:PREFIX` + name).

use async_trait::async_trait;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use aws_sdk_sfn::Client;
use serde_json::Value;
use tre_core::ports::{Execution, ExecutionStatus, PortError, PortResult, Workflows};

use crate::errors::{backend, code};

#[derive(Clone)]
pub struct SfnWorkflows {
    client: Client,
    arn_prefix: String,
}

impl SfnWorkflows {
    pub fn new(client: Client, arn_prefix: impl Into<String>) -> Self {
        Self {
            client,
            arn_prefix: arn_prefix.into(),
        }
    }

    pub fn from_conf(conf: &aws_config::SdkConfig, arn_prefix: impl Into<String>) -> Self {
        Self::new(Client::new(conf), arn_prefix)
    }

    fn state_machine_arn(&self, name: &str) -> String {
        format!("{}{name}", self.arn_prefix)
    }

    /// `...:stateMachine:X` → `...:execution:X:NAME`.
    fn execution_arn(&self, state_machine: &str, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn(state_machine)
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// The logical name of a state machine ARN.
    fn logical_name(&self, arn: &str) -> String {
        let sm_prefix = self.arn_prefix.rsplit(':').next().unwrap_or_default();
        let machine = arn.rsplit(':').next().unwrap_or(arn);
        machine
            .strip_prefix(sm_prefix)
            .unwrap_or(machine)
            .to_string()
    }
}

fn status(s: Option<&SfnStatus>) -> ExecutionStatus {
    match s {
        Some(SfnStatus::Succeeded) => ExecutionStatus::Succeeded,
        Some(SfnStatus::Failed) => ExecutionStatus::Failed,
        Some(SfnStatus::TimedOut) => ExecutionStatus::TimedOut,
        Some(SfnStatus::Aborted) => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Running,
    }
}

fn json(text: Option<&str>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

#[async_trait]
impl Workflows for SfnWorkflows {
    async fn start_execution(
        &self,
        state_machine: &str,
        name: &str,
        input: &Value,
    ) -> PortResult<String> {
        let arn = self.state_machine_arn(state_machine);
        match self
            .client
            .start_execution()
            .state_machine_arn(&arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
        {
            Ok(out) => Ok(out.execution_arn().to_string()),
            Err(e) if code(&e) == Some("ExecutionAlreadyExists") => {
                // Same name: the same execution if the input is the same (a retried start).
                let id = self.execution_arn(state_machine, name);
                let existing = self.describe_execution(&id).await?;
                if &existing.input == input {
                    Ok(existing.id)
                } else {
                    Err(PortError::AlreadyExists(format!(
                        "execution `{name}` exists with another input"
                    )))
                }
            }
            Err(e) if code(&e) == Some("StateMachineDoesNotExist") => Err(PortError::NotFound(
                format!("state machine `{state_machine}`"),
            )),
            Err(e) => Err(backend("start execution", e)),
        }
    }

    async fn describe_execution(&self, id: &str) -> PortResult<Execution> {
        let out = match self
            .client
            .describe_execution()
            .execution_arn(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if matches!(code(&e), Some("ExecutionDoesNotExist" | "InvalidArn")) => {
                return Err(PortError::NotFound(format!("execution `{id}`")))
            }
            Err(e) => return Err(backend("describe execution", e)),
        };
        Ok(Execution {
            id: out.execution_arn().to_string(),
            state_machine: self.logical_name(out.state_machine_arn()),
            name: out.name().unwrap_or_default().to_string(),
            status: status(Some(out.status())),
            input: json(out.input()).unwrap_or(Value::Null),
            output: json(out.output()),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
        })
    }

    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()> {
        match self
            .client
            .send_task_success()
            .task_token(task_token)
            .output(output.to_string())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(task_error(e)),
        }
    }

    async fn send_task_failure(
        &self,
        task_token: &str,
        error: &str,
        cause: &str,
    ) -> PortResult<()> {
        match self
            .client
            .send_task_failure()
            .task_token(task_token)
            .error(error)
            .cause(cause)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(task_error(e)),
        }
    }
}

fn task_error<E>(e: aws_sdk_sfn::error::SdkError<E>) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::fmt::Debug,
{
    match code(&e) {
        Some("TaskDoesNotExist") => PortError::NotFound("no task waits for that token".into()),
        Some("InvalidToken" | "TaskTimedOut") => {
            PortError::Invalid("the task token is invalid or expired".into())
        }
        _ => backend("task token", e),
    }
}

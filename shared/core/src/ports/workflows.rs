use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PortResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    /// Execution ARN in AWS; an equivalent unique id locally.
    pub id: String,
    /// Logical state machine name (e.g. `resource-action`).
    pub state_machine: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Workflow executions (Step Functions; a local engine in the embedded stack). State machines
/// are named logically (`resource-action`, `airlock-review`); the adapter maps names to ARNs.
#[async_trait]
pub trait Workflows: Send + Sync {
    /// Start `state_machine` with a caller-chosen unique `name` (the operation id), so a retried
    /// start cannot create a second execution: starting the same name with the same input again
    /// returns the existing execution's id; with a different input it is `AlreadyExists`.
    async fn start_execution(
        &self,
        state_machine: &str,
        name: &str,
        input: &Value,
    ) -> PortResult<String>;

    async fn describe_execution(&self, id: &str) -> PortResult<Execution>;

    /// Complete a `.waitForTaskToken` task. `NotFound`/`Invalid` for an unknown or spent token.
    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()>;

    async fn send_task_failure(&self, task_token: &str, error: &str, cause: &str)
        -> PortResult<()>;
}

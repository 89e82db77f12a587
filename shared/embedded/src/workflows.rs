//! `Workflows` that only records: executions and task tokens are rows in the shared SQLite
//! file, nothing runs. Code that drives the record (tests, a local runner) moves an execution
//! on with [`RecordedWorkflows::finish_execution`] and registers tokens with
//! [`RecordedWorkflows::register_task_token`].

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use tre_core::ports::{Execution, ExecutionStatus, Workflows};
use tre_core::{PortError, PortResult};

use crate::db::{now_ms, sql_err, Db};

/// Step Functions' limit on execution names.
const MAX_NAME: usize = 80;

/// What became of a task token.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutcome {
    Pending,
    Succeeded(Value),
    Failed { error: String, cause: String },
}

#[derive(Clone)]
pub struct RecordedWorkflows {
    db: Db,
}

impl RecordedWorkflows {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The id of execution `name` of `state_machine` (deterministic, like an ARN).
    pub fn execution_id(state_machine: &str, name: &str) -> String {
        format!("local:execution:{state_machine}:{name}")
    }

    /// Record that `execution_id` waits on `token` (a `.waitForTaskToken` task).
    pub async fn register_task_token(&self, execution_id: &str, token: &str) -> PortResult<()> {
        if token.is_empty() {
            return Err(PortError::Invalid("empty task token".into()));
        }
        self.describe_execution(execution_id).await?;
        let (id, token) = (execution_id.to_string(), token.to_string());
        self.db
            .write(move |conn| {
                let n = conn
                    .execute(
                        "INSERT INTO recorded_task_tokens (token, execution_id) VALUES (?1, ?2)
                         ON CONFLICT (token) DO NOTHING",
                        params![token, id],
                    )
                    .map_err(sql_err)?;
                if n == 0 {
                    return Err(PortError::AlreadyExists(format!("task token {token}")));
                }
                Ok(())
            })
            .await
    }

    /// What the holder of `token` reported, `NotFound` for an unknown token.
    pub async fn task_outcome(&self, token: &str) -> PortResult<TaskOutcome> {
        let token = token.to_string();
        self.db
            .call(move |conn| {
                type Row = (
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                );
                let row: Option<Row> = conn
                    .query_row(
                        "SELECT outcome, output, error, cause FROM recorded_task_tokens
                         WHERE token = ?1",
                        params![token],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()
                    .map_err(sql_err)?;
                match row {
                    None => Err(PortError::NotFound(format!("task token {token}"))),
                    Some((None, ..)) => Ok(TaskOutcome::Pending),
                    Some((Some(o), output, ..)) if o == "success" => {
                        Ok(TaskOutcome::Succeeded(parse_json(output.as_deref())?))
                    }
                    Some((_, _, error, cause)) => Ok(TaskOutcome::Failed {
                        error: error.unwrap_or_default(),
                        cause: cause.unwrap_or_default(),
                    }),
                }
            })
            .await
    }

    /// Move a running execution to a final status. `Invalid` if it is not running any more.
    pub async fn finish_execution(
        &self,
        id: &str,
        status: ExecutionStatus,
        output: Option<&Value>,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> PortResult<()> {
        let status_text = status_name(status)?;
        let output = output.map(|v| v.to_string());
        let (id, error, cause) = (
            id.to_string(),
            error.map(str::to_string),
            cause.map(str::to_string),
        );
        self.db
            .write(move |tx| {
                let current: Option<String> = tx
                    .query_row(
                        "SELECT status FROM recorded_executions WHERE id = ?1",
                        params![id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                match current.as_deref() {
                    None => return Err(PortError::NotFound(format!("execution {id}"))),
                    Some("RUNNING") => {}
                    Some(other) => {
                        return Err(PortError::Invalid(format!("execution {id} is {other}")))
                    }
                }
                tx.execute(
                    "UPDATE recorded_executions SET status = ?1, output = ?2, error = ?3,
                         cause = ?4 WHERE id = ?5",
                    params![status_text, output, error, cause, id],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn complete_token(
        &self,
        token: &str,
        outcome: &'static str,
        output: Option<String>,
        error: Option<String>,
        cause: Option<String>,
    ) -> PortResult<()> {
        let token = token.to_string();
        self.db
            .write(move |tx| {
                let current: Option<Option<String>> = tx
                    .query_row(
                        "SELECT outcome FROM recorded_task_tokens WHERE token = ?1",
                        params![token],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                match current {
                    None => return Err(PortError::NotFound(format!("task token {token}"))),
                    Some(Some(_)) => {
                        return Err(PortError::Invalid(format!(
                            "task token {token} already used"
                        )))
                    }
                    Some(None) => {}
                }
                tx.execute(
                    "UPDATE recorded_task_tokens SET outcome = ?1, output = ?2, error = ?3,
                         cause = ?4 WHERE token = ?5",
                    params![outcome, output, error, cause, token],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }
}

fn status_name(status: ExecutionStatus) -> PortResult<String> {
    match serde_json::to_value(status) {
        Ok(Value::String(s)) => Ok(s),
        _ => Err(PortError::Backend("cannot name execution status".into())),
    }
}

fn parse_status(text: &str) -> PortResult<ExecutionStatus> {
    serde_json::from_value(Value::String(text.to_string()))
        .map_err(|_| PortError::Backend(format!("unknown stored execution status {text}")))
}

fn parse_json(text: Option<&str>) -> PortResult<Value> {
    match text {
        None => Ok(Value::Null),
        Some(t) => serde_json::from_str(t)
            .map_err(|e| PortError::Backend(format!("stored JSON is invalid: {e}"))),
    }
}

#[async_trait]
impl Workflows for RecordedWorkflows {
    async fn start_execution(
        &self,
        state_machine: &str,
        name: &str,
        input: &Value,
    ) -> PortResult<String> {
        if state_machine.is_empty() || name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(PortError::Invalid(format!(
                "state machine must be named and execution names are 1..={MAX_NAME} characters"
            )));
        }
        let id = Self::execution_id(state_machine, name);
        let (sm, name, input, id2) = (
            state_machine.to_string(),
            name.to_string(),
            input.clone(),
            id.clone(),
        );
        self.db
            .write(move |tx| {
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT input FROM recorded_executions WHERE id = ?1",
                        params![id2],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                if let Some(stored) = existing {
                    // Same name, same input: a retried start; anything else is a conflict.
                    if parse_json(Some(&stored))? == input {
                        return Ok(());
                    }
                    return Err(PortError::AlreadyExists(format!(
                        "execution {name} of {sm} exists with a different input"
                    )));
                }
                tx.execute(
                    "INSERT INTO recorded_executions
                         (id, state_machine, name, input, status, started_at)
                     VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5)",
                    params![id2, sm, name, input.to_string(), now_ms()],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await?;
        Ok(id)
    }

    async fn describe_execution(&self, id: &str) -> PortResult<Execution> {
        let id = id.to_string();
        self.db
            .call(move |conn| {
                type Row = (
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                );
                let row: Option<Row> = conn
                    .query_row(
                        "SELECT state_machine, name, input, status, output, error, cause
                         FROM recorded_executions WHERE id = ?1",
                        params![id],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(sql_err)?;
                let Some((state_machine, name, input, status, output, error, cause)) = row else {
                    return Err(PortError::NotFound(format!("execution {id}")));
                };
                Ok(Execution {
                    id,
                    state_machine,
                    name,
                    status: parse_status(&status)?,
                    input: parse_json(Some(&input))?,
                    output: output.as_deref().map(|o| parse_json(Some(o))).transpose()?,
                    error,
                    cause,
                })
            })
            .await
    }

    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()> {
        self.complete_token(task_token, "success", Some(output.to_string()), None, None)
            .await
    }

    async fn send_task_failure(
        &self,
        task_token: &str,
        error: &str,
        cause: &str,
    ) -> PortResult<()> {
        self.complete_token(
            task_token,
            "failure",
            None,
            Some(error.to_string()),
            Some(cause.to_string()),
        )
        .await
    }
}

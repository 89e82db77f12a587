//! `Workflows` on the local engine: executions run in this process, and their records and
//! histories persist through the `Table` port, so they outlive the process. An execution that
//! was running when the process stopped is not resumed (a bundle step may have been half
//! done, and only the operator knows whether re-running it is safe): [`LocalWorkflows::recover`]
//! fails it explicitly and tells the listener, so no operation waits forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::Instrument;
use tre_core::ports::{
    Condition, Execution, ExecutionStatus, Key, Query, Table, Workflows, WriteOp, INDEX_GSI1,
};
use tre_core::{PortError, PortResult};

use crate::engine::{HistoryEvent, Observer};
use crate::{Engine, ExecutionOutcome, Integrations, StateMachine, TokenError};

/// Step Functions' limit on execution names.
const MAX_NAME: usize = 80;
const RUNNING_PK: &str = "SFN#RUNNING";
const RECORD_SK: &str = "EXECUTION";
/// The error of an execution the engine stopped under.
pub const ENGINE_STOPPED: &str = "Local.EngineStopped";

/// Told when an execution ends, however it ends (the local stand-in for Step Functions'
/// execution status change events).
#[async_trait]
pub trait ExecutionListener: Send + Sync {
    async fn ended(&self, execution: &Execution);
}

#[derive(Clone)]
pub struct LocalWorkflows {
    inner: Arc<Inner>,
    /// Where executions run: the caller's runtime unless given one (see `on_runtime`).
    runtime: Option<tokio::runtime::Handle>,
}

struct Inner {
    table: Arc<dyn Table>,
    history: Arc<TableHistory>,
    engine: Engine,
    machines: HashMap<String, Arc<StateMachine>>,
    listener: Option<Arc<dyn ExecutionListener>>,
    running: Mutex<HashMap<String, JoinHandle<()>>>,
}

/// Writes history events as items under the execution's partition, numbered in order. Events
/// are kept until the execution is about to wait ([`Observer::flush`]), a transaction's worth
/// has gathered, or it ends, and then written in one transaction (at the end, the same one
/// that records the end): a short execution costs the store one commit, not one per event.
/// What is kept is lost if the process dies; the execution is then failed at the next start.
struct TableHistory {
    table: Arc<dyn Table>,
    pending: Mutex<HashMap<String, Pending>>,
}

#[derive(Default)]
struct Pending {
    /// Events numbered so far.
    count: u64,
    unwritten: Vec<WriteOp>,
}

/// Most events one history write takes (one less than a transaction's ops: the end's write
/// goes with the last of them).
const HISTORY_BATCH: usize = 31;

impl TableHistory {
    /// The events of `execution_id` not yet written (and, with `ended`, forget its count).
    fn take(&self, execution_id: &str, ended: bool) -> Vec<WriteOp> {
        let Ok(mut pending) = self.pending.lock() else {
            return Vec::new();
        };
        if ended {
            return pending
                .remove(execution_id)
                .map(|p| p.unwritten)
                .unwrap_or_default();
        }
        pending
            .get_mut(execution_id)
            .map(|p| std::mem::take(&mut p.unwritten))
            .unwrap_or_default()
    }

    async fn write(&self, execution_id: &str, ops: Vec<WriteOp>) {
        for chunk in ops.chunks(HISTORY_BATCH) {
            let write = self.table.transact(chunk);
            if let Err(e) = write
                .instrument(tracing::debug_span!("history_events"))
                .await
            {
                tracing::warn!(execution_id, error = %e, "could not record history events");
            }
        }
    }
}

#[async_trait]
impl Observer for TableHistory {
    async fn record(&self, execution_id: &str, event: HistoryEvent) {
        let mut body = serde_json::to_value(&event).unwrap_or(Value::Null);
        body["timestamp"] = json!(Utc::now().to_rfc3339());
        let full = match self.pending.lock() {
            Ok(mut pending) => {
                let p = pending.entry(execution_id.to_string()).or_default();
                p.count += 1;
                p.unwritten.push(WriteOp::Put {
                    key: Key::new(exec_pk(execution_id), format!("EV#{:08}", p.count)),
                    index: None,
                    body,
                    condition: Condition::Absent,
                });
                (p.unwritten.len() >= HISTORY_BATCH).then(|| std::mem::take(&mut p.unwritten))
            }
            Err(_) => return,
        };
        if let Some(ops) = full {
            self.write(execution_id, ops).await;
        }
    }

    async fn flush(&self, execution_id: &str) {
        let ops = self.take(execution_id, false);
        self.write(execution_id, ops).await;
    }
}

fn exec_pk(id: &str) -> String {
    format!("SFN#EXEC#{id}")
}

pub fn state_machine_arn(name: &str) -> String {
    format!("arn:aws:states:local:000000000000:stateMachine:{name}")
}

pub fn execution_arn(state_machine: &str, name: &str) -> String {
    format!("arn:aws:states:local:000000000000:execution:{state_machine}:{name}")
}

fn status_name(s: ExecutionStatus) -> &'static str {
    match s {
        ExecutionStatus::Running => "RUNNING",
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    }
}

fn decode(body: &Value) -> PortResult<Execution> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let status = serde_json::from_value(body.get("status").cloned().unwrap_or(Value::Null))
        .map_err(|e| PortError::Backend(format!("stored execution status is invalid: {e}")))?;
    Ok(Execution {
        id: text("id").unwrap_or_default(),
        state_machine: text("stateMachine").unwrap_or_default(),
        name: text("name").unwrap_or_default(),
        status,
        input: body.get("input").cloned().unwrap_or(Value::Null),
        output: body.get("output").cloned().filter(|v| !v.is_null()),
        error: text("error"),
        cause: text("cause"),
    })
}

impl LocalWorkflows {
    /// `machines` maps logical names (`resource-action`) to parsed definitions.
    pub fn new(
        table: Arc<dyn Table>,
        integrations: Integrations,
        machines: HashMap<String, StateMachine>,
    ) -> Self {
        Self::with_engine(table, Engine::new(integrations), machines, None)
    }

    pub fn with_engine(
        table: Arc<dyn Table>,
        engine: Engine,
        machines: HashMap<String, StateMachine>,
        listener: Option<Arc<dyn ExecutionListener>>,
    ) -> Self {
        let history = Arc::new(TableHistory {
            table: table.clone(),
            pending: Mutex::new(HashMap::new()),
        });
        Self {
            inner: Arc::new(Inner {
                table,
                history: history.clone(),
                engine: engine.with_observer(history),
                machines: machines
                    .into_iter()
                    .map(|(k, v)| (k, Arc::new(v)))
                    .collect(),
                listener,
                running: Mutex::new(HashMap::new()),
            }),
            runtime: None,
        }
    }

    /// Run executions on `runtime` instead of the runtime of whoever starts them, so the
    /// work they do (and the runner processes they start) can be kept apart from, and below,
    /// the API's.
    pub fn on_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Fail every execution recorded as running: call once at start-up, before starting any.
    /// Returns how many were failed.
    pub async fn recover(&self) -> PortResult<usize> {
        let mut failed = 0;
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .table
                .query(&Query {
                    index: Some(INDEX_GSI1.into()),
                    pk: RUNNING_PK.into(),
                    cursor,
                    ..Default::default()
                })
                .await?;
            for item in page.items {
                let exec = decode(&item.body)?;
                let outcome = ExecutionOutcome::Failed {
                    error: ENGINE_STOPPED.into(),
                    cause: "the local engine stopped while this execution was running; it is not resumed \
                            because a step may have been half done: run the action again"
                        .into(),
                };
                if self.inner.finish(&exec.id, outcome).await? {
                    failed += 1;
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(failed)
    }

    /// Stop running executions without recording an end (as if the process died): the next
    /// [`recover`](Self::recover) fails them.
    pub fn abort_all(&self) {
        if let Ok(mut running) = self.inner.running.lock() {
            for (_, task) in running.drain() {
                task.abort();
            }
        }
    }

    /// The recorded history of an execution, oldest first.
    pub async fn history(&self, id: &str) -> PortResult<Vec<Value>> {
        let mut events = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .table
                .query(&Query {
                    pk: exec_pk(id),
                    sk_prefix: Some("EV#".into()),
                    cursor,
                    ..Default::default()
                })
                .await?;
            events.extend(page.items.into_iter().map(|i| i.body));
            match page.next {
                Some(c) => cursor = Some(c),
                None => return Ok(events),
            }
        }
    }

    /// Names of the executions running in this process.
    pub fn running(&self) -> Vec<String> {
        self.inner
            .running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl Inner {
    /// Record the end of an execution; false if it had already ended.
    async fn finish(&self, id: &str, outcome: ExecutionOutcome) -> PortResult<bool> {
        let key = Key::new(exec_pk(id), RECORD_SK);
        // The history is whole once the end is recorded: its last events (fewer than
        // HISTORY_BATCH, as `record` writes a full batch at once) go in the same transaction.
        let mut history = self.history.take(id, true);
        for _ in 0..8 {
            let Some(item) = self.table.get(&key).await? else {
                return Err(PortError::NotFound(format!("execution {id}")));
            };
            let mut body = item.body.clone();
            if body.get("status").and_then(Value::as_str) != Some("RUNNING") {
                // Ended already (stopped from outside): its events are still kept.
                self.history.write(id, history).await;
                return Ok(false);
            }
            match &outcome {
                ExecutionOutcome::Succeeded(out) => {
                    body["status"] = json!("SUCCEEDED");
                    body["output"] = out.clone();
                }
                ExecutionOutcome::Failed { error, cause } => {
                    body["status"] = json!("FAILED");
                    body["error"] = json!(error);
                    body["cause"] = json!(cause);
                }
            }
            body["stoppedAt"] = json!(Utc::now().to_rfc3339());
            // Without an index entry the execution leaves the running list.
            let mut ops = history.clone();
            ops.push(WriteOp::Put {
                key: key.clone(),
                index: None,
                body: body.clone(),
                condition: Condition::Version(item.version),
            });
            match self.table.transact(&ops).await {
                Ok(_) => {
                    let exec = decode(&body)?;
                    tracing::info!(execution = %exec.name, status = status_name(exec.status), "execution ended");
                    if let Some(l) = &self.listener {
                        l.ended(&exec).await;
                    }
                    return Ok(true);
                }
                Err(PortError::ConditionFailed(_)) => {
                    // The record moved (or, should it ever happen, an event was there): the
                    // events go on their own, so the end is never held up by them.
                    let events = std::mem::take(&mut history);
                    self.history.write(id, events).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(PortError::Backend(format!("execution {id} kept changing")))
    }
}

#[async_trait]
impl Workflows for LocalWorkflows {
    async fn start_execution(
        &self,
        state_machine: &str,
        name: &str,
        input: &Value,
    ) -> PortResult<String> {
        if name.is_empty()
            || name.chars().count() > MAX_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PortError::Invalid(format!(
                "execution names are 1..={MAX_NAME} characters of A-Z, a-z, 0-9, - and _; got `{name}`"
            )));
        }
        let machine = self
            .inner
            .machines
            .get(state_machine)
            .cloned()
            .ok_or_else(|| PortError::NotFound(format!("state machine `{state_machine}`")))?;
        let id = execution_arn(state_machine, name);
        let key = Key::new(exec_pk(&id), RECORD_SK);
        let body = json!({
            "id": id, "stateMachine": state_machine, "name": name, "input": input,
            "status": "RUNNING", "startedAt": Utc::now().to_rfc3339(),
        });
        let index = Key::new(RUNNING_PK, &id);
        match self
            .inner
            .table
            .put(&key, Some(&index), &body, Condition::Absent)
            .await
        {
            Ok(_) => {}
            Err(PortError::ConditionFailed(_) | PortError::AlreadyExists(_)) => {
                let existing = self.describe_execution(&id).await?;
                // Same name and input: a retried start, answered like Step Functions does.
                if existing.input == *input {
                    return Ok(id);
                }
                return Err(PortError::AlreadyExists(format!(
                    "execution {name} of {state_machine} exists with a different input"
                )));
            }
            Err(e) => return Err(e),
        }
        let inner = self.inner.clone();
        let (exec_id, exec_name, input) = (id.clone(), name.to_string(), input.clone());
        let machine_arn = state_machine_arn(state_machine);
        // The task is registered before it can finish: it removes itself under the same lock.
        let mut running = self
            .inner
            .running
            .lock()
            .map_err(|_| PortError::Backend("the engine's task list is poisoned".into()))?;
        let span = tracing::info_span!("execution", operation_id = %exec_name);
        let execution = async move {
            let outcome = inner.engine.execute(&machine, &machine_arn, &exec_id, &exec_name, input).await;
            let finish = inner.finish(&exec_id, outcome).instrument(tracing::debug_span!("finish_execution"));
            if let Err(e) = finish.await {
                tracing::error!(execution = %exec_name, error = %e, "could not record the end of an execution");
            }
            if let Ok(mut r) = inner.running.lock() {
                r.remove(&exec_name);
            }
        }
        .instrument(span);
        let task = match &self.runtime {
            Some(runtime) => runtime.spawn(execution),
            None => tokio::spawn(execution),
        };
        running.insert(name.to_string(), task);
        Ok(id)
    }

    async fn describe_execution(&self, id: &str) -> PortResult<Execution> {
        let item = self
            .inner
            .table
            .get(&Key::new(exec_pk(id), RECORD_SK))
            .await?
            .ok_or_else(|| PortError::NotFound(format!("execution {id}")))?;
        decode(&item.body)
    }

    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()> {
        self.inner
            .engine
            .send_task_success(task_token, output.clone())
            .map_err(token_error)
    }

    async fn send_task_failure(
        &self,
        task_token: &str,
        error: &str,
        cause: &str,
    ) -> PortResult<()> {
        self.inner
            .engine
            .send_task_failure(task_token, error, cause)
            .map_err(token_error)
    }
}

fn token_error(e: TokenError) -> PortError {
    PortError::NotFound(e.to_string())
}

/// Fill the `${name}` placeholders of a definition template, as Terraform fills them in AWS.
/// Templates are valid JSON as written, so a placeholder standing for a JSON value (a list;
/// its name ends in `_json`) is written as a string, `"${name_json}"`, and replaces the whole
/// string, quotes and all. Every placeholder must have a value: an unfilled one would only
/// fail later, at run time, with a far worse message.
pub fn fill_template(text: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "an unterminated `${` placeholder".to_string())?;
        let name = &after[..end];
        let value = vars
            .get(name)
            .ok_or_else(|| format!("no value for the placeholder `${{{name}}}`"))?;
        rest = &after[end + 1..];
        if name.ends_with("_json") {
            match (out.strip_suffix('"'), rest.strip_prefix('"')) {
                (Some(before), Some(tail)) => {
                    out.truncate(before.len());
                    rest = tail;
                }
                _ => {
                    return Err(format!(
                        "the placeholder `${{{name}}}` stands for a JSON value: write it as the whole string \"${{{name}}}\""
                    ))
                }
            }
        }
        out.push_str(value);
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_strings_in_place_and_json_values_for_their_whole_string() {
        let vars: HashMap<String, String> =
            [("queue", "https://q/1"), ("subnets_json", r#"["a","b"]"#)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let filled = fill_template(
            r#"{"Q": "${queue}/x", "S": "${subnets_json}", "T": 1}"#,
            &vars,
        );
        assert_eq!(
            filled.as_deref(),
            Ok(r#"{"Q": "https://q/1/x", "S": ["a","b"], "T": 1}"#)
        );
        let inside = fill_template(r#"{"S": "x${subnets_json}"}"#, &vars);
        assert!(
            inside.as_ref().is_err_and(|e| e.contains("whole string")),
            "{inside:?}"
        );
        let unknown = fill_template(r#"{"S": "${nope}"}"#, &vars);
        assert!(
            unknown.as_ref().is_err_and(|e| e.contains("`${nope}`")),
            "{unknown:?}"
        );
    }
}

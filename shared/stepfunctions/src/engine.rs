//! The interpreter: runs a validated state machine against an input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};
use tracing::Instrument;

use crate::definition::{Catcher, Kind, Retrier, Seconds, State, StateMachine, Text, WaitFor};
use crate::payload::{render, Failure};
use crate::{choice, errors, intrinsics, path};

/// What a task (an integration) reports when it fails.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// What an integration knows about the task it runs.
#[derive(Clone, Debug)]
pub struct TaskContext {
    pub execution_id: String,
    pub execution_name: String,
    pub state_name: String,
    /// Set for `.waitForTaskToken` resources: the token that completes the task.
    pub task_token: Option<String>,
}

/// A local stand-in for an AWS service integration (`arn:aws:states:::ecs:runTask.sync`, ...).
#[async_trait]
pub trait Integration: Send + Sync {
    /// Run the task and return its result. For `.waitForTaskToken` resources the result is
    /// ignored: the engine then waits for the token to be completed.
    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, TaskError>;
}

/// Resources resolve to integrations by exact ARN, or else by the longest matching prefix.
#[derive(Default, Clone)]
pub struct Integrations {
    exact: HashMap<String, Arc<dyn Integration>>,
    prefixes: Vec<(String, Arc<dyn Integration>)>,
}

impl Integrations {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn exact(mut self, resource: impl Into<String>, i: Arc<dyn Integration>) -> Self {
        self.exact.insert(resource.into(), i);
        self
    }
    pub fn prefix(mut self, prefix: impl Into<String>, i: Arc<dyn Integration>) -> Self {
        self.prefixes.push((prefix.into(), i));
        self.prefixes
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        self
    }
    pub fn resolve(&self, resource: &str) -> Option<Arc<dyn Integration>> {
        self.exact.get(resource).cloned().or_else(|| {
            self.prefixes
                .iter()
                .find(|(p, _)| resource.starts_with(p.as_str()))
                .map(|(_, i)| i.clone())
        })
    }
}

/// Time, made injectable so tests of long waits and retries need not wait.
#[async_trait]
pub trait Sleeper: Send + Sync {
    async fn sleep(&self, d: Duration);
    fn now(&self) -> DateTime<Utc>;
}

pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExecutionOutcome {
    Succeeded(Value),
    Failed { error: String, cause: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("no task waits for this token")]
    Unknown,
}

struct Pending {
    done: oneshot::Sender<Result<Value, TaskError>>,
    heartbeat: Arc<Notify>,
}

/// One entry of an execution's history, as Step Functions records it (simplified).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "PascalCase")]
pub enum HistoryEvent {
    StateEntered {
        state: String,
        input: Value,
    },
    StateExited {
        state: String,
        output: Value,
    },
    TaskFailed {
        state: String,
        error: String,
        cause: String,
    },
    Retrying {
        state: String,
        attempt: u32,
        delay_seconds: f64,
    },
    Caught {
        state: String,
        error: String,
        next: String,
    },
}

/// Receives the history of every execution (the local stack persists it).
#[async_trait]
pub trait Observer: Send + Sync {
    async fn record(&self, execution_id: &str, event: HistoryEvent);
    /// The execution is about to wait (on a task that runs for a while, a Wait state, a retry's
    /// delay): what was recorded so far should be visible now, not at the end.
    async fn flush(&self, _execution_id: &str) {}
}

#[derive(Clone)]
pub struct Engine {
    integrations: Arc<Integrations>,
    sleeper: Arc<dyn Sleeper>,
    tokens: Arc<Mutex<HashMap<String, Pending>>>,
    observer: Option<Arc<dyn Observer>>,
}

/// Per-execution facts for the context object.
#[derive(Clone)]
struct Exec {
    base: Value,
    id: String,
    name: String,
    map_item: Option<(usize, Value)>,
}

enum Step {
    Next(String, Value),
    End(Value),
}

impl Engine {
    pub fn new(integrations: Integrations) -> Self {
        Self {
            integrations: Arc::new(integrations),
            sleeper: Arc::new(TokioSleeper),
            tokens: Arc::new(Mutex::new(HashMap::new())),
            observer: None,
        }
    }

    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    async fn record(&self, exec: &Exec, event: HistoryEvent) {
        if let Some(o) = &self.observer {
            o.record(&exec.id, event).await;
        }
    }

    async fn flush(&self, exec: &Exec) {
        if let Some(o) = &self.observer {
            o.flush(&exec.id).await;
        }
    }

    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Run an execution to its end.
    pub async fn execute(
        &self,
        machine: &StateMachine,
        machine_id: &str,
        execution_id: &str,
        name: &str,
        input: Value,
    ) -> ExecutionOutcome {
        let machine_name = machine_id.rsplit(':').next().unwrap_or(machine_id);
        let exec = Exec {
            base: json!({
                "Execution": {"Id": execution_id, "Name": name, "Input": input, "StartTime": self.sleeper.now().to_rfc3339(),
                              "RoleArn": "arn:aws:iam::000000000000:role/local-engine"},
                "StateMachine": {"Id": machine_id, "Name": machine_name},
            }),
            id: execution_id.to_string(),
            name: name.to_string(),
            map_item: None,
        };
        let run = self.run_machine(machine, input, &exec);
        let result = match machine.timeout_seconds {
            Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), run).await {
                Ok(r) => r,
                Err(_) => Err(Failure::new(
                    errors::TIMEOUT,
                    format!("the execution timed out after {secs} s"),
                )),
            },
            None => run.await,
        };
        match result {
            Ok(v) => ExecutionOutcome::Succeeded(v),
            Err(f) => ExecutionOutcome::Failed {
                error: f.error,
                cause: f.cause,
            },
        }
    }

    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.complete(token, Ok(output))
    }

    pub fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), TokenError> {
        self.complete(token, Err(TaskError::new(error, cause)))
    }

    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        let tokens = self.tokens.lock().map_err(|_| TokenError::Unknown)?;
        let p = tokens.get(token).ok_or(TokenError::Unknown)?;
        p.heartbeat.notify_one();
        Ok(())
    }

    fn complete(&self, token: &str, result: Result<Value, TaskError>) -> Result<(), TokenError> {
        let pending = self
            .tokens
            .lock()
            .map_err(|_| TokenError::Unknown)?
            .remove(token)
            .ok_or(TokenError::Unknown)?;
        pending.done.send(result).map_err(|_| TokenError::Unknown)
    }

    fn run_machine<'a>(
        &'a self,
        m: &'a StateMachine,
        input: Value,
        exec: &'a Exec,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        async move {
            let mut current = m.start_at.clone();
            let mut data = input;
            loop {
                let state = m
                    .states
                    .get(&current)
                    .ok_or_else(|| Failure::runtime(format!("no state `{current}`")))?;
                if self.observer.is_some() {
                    self.record(
                        exec,
                        HistoryEvent::StateEntered {
                            state: current.clone(),
                            input: data.clone(),
                        },
                    )
                    .await;
                }
                let span = tracing::debug_span!("state", state = %current);
                let step = self
                    .run_state(&current, state, data, exec)
                    .instrument(span)
                    .await?;
                if self.observer.is_some() {
                    let output = match &step {
                        Step::Next(_, out) | Step::End(out) => out.clone(),
                    };
                    self.record(
                        exec,
                        HistoryEvent::StateExited {
                            state: current.clone(),
                            output,
                        },
                    )
                    .await;
                }
                match step {
                    Step::Next(next, out) => {
                        current = next;
                        data = out;
                    }
                    Step::End(out) => return Ok(out),
                }
            }
        }
        .boxed()
    }

    fn context(&self, exec: &Exec, state: &str, retry_count: u32, token: Option<&str>) -> Value {
        let mut c = exec.base.clone();
        c["State"] = json!({"Name": state, "EnteredTime": self.sleeper.now().to_rfc3339(), "RetryCount": retry_count});
        if let Some(t) = token {
            c["Task"] = json!({"Token": t});
        }
        if let Some((i, v)) = &exec.map_item {
            c["Map"] = json!({"Item": {"Index": i, "Value": v}});
        }
        c
    }

    fn finish(
        &self,
        state: &State,
        raw: &Value,
        result: Value,
        context: &Value,
    ) -> Result<Value, Failure> {
        let result = match &state.result_selector {
            Some(sel) => render(sel, &result, context)?,
            None => result,
        };
        let merged = state.result_path.merge(raw, result)?;
        state.output_path.apply(&merged, context, "OutputPath")
    }

    fn next_or_end(state: &State, out: Value) -> Step {
        match &state.next {
            Some(n) => Step::Next(n.clone(), out),
            None => Step::End(out),
        }
    }

    async fn run_state(
        &self,
        name: &str,
        state: &State,
        raw: Value,
        exec: &Exec,
    ) -> Result<Step, Failure> {
        let context = self.context(exec, name, 0, None);
        match &state.kind {
            Kind::Pass { result, parameters } => {
                let eff = state.input_path.apply(&raw, &context, "InputPath")?;
                let value = match (parameters, result) {
                    (Some(p), _) => render(p, &eff, &context)?,
                    (None, Some(r)) => r.clone(),
                    (None, None) => eff,
                };
                let merged = state.result_path.merge(&raw, value)?;
                Ok(Self::next_or_end(
                    state,
                    state.output_path.apply(&merged, &context, "OutputPath")?,
                ))
            }
            Kind::Succeed => {
                let eff = state.input_path.apply(&raw, &context, "InputPath")?;
                Ok(Step::End(state.output_path.apply(
                    &eff,
                    &context,
                    "OutputPath",
                )?))
            }
            Kind::Fail { error, cause } => {
                let resolve = |t: &Option<Text>| -> Result<String, Failure> {
                    Ok(match t {
                        None => String::new(),
                        Some(Text::Fixed(s)) => s.clone(),
                        Some(Text::Path(p)) => {
                            let root = if p.context { &context } else { &raw };
                            match path::get(root, &p.segments) {
                                Some(Value::String(s)) => s,
                                Some(other) => other.to_string(),
                                None => {
                                    return Err(Failure::runtime(
                                        "a Fail state's path matched nothing",
                                    ))
                                }
                            }
                        }
                        Some(Text::Call(c)) => {
                            match intrinsics::eval(c, &raw, &context).map_err(|e| {
                                Failure::runtime(format!("the Fail state's function failed: {e}"))
                            })? {
                                Value::String(s) => s,
                                other => other.to_string(),
                            }
                        }
                    })
                };
                Err(Failure::new(&resolve(error)?, resolve(cause)?))
            }
            Kind::Choice { choices, default } => {
                let eff = state.input_path.apply(&raw, &context, "InputPath")?;
                let out = state.output_path.apply(&eff, &context, "OutputPath")?;
                for rule in choices {
                    if choice::evaluate(rule, &eff, &context)? {
                        let next = rule.get("Next").and_then(Value::as_str).unwrap_or_default();
                        return Ok(Step::Next(next.to_string(), out));
                    }
                }
                match default {
                    Some(d) => Ok(Step::Next(d.clone(), out)),
                    None => Err(Failure::new(
                        errors::NO_CHOICE_MATCHED,
                        "no choice rule matched, and there is no Default",
                    )),
                }
            }
            Kind::Wait(w) => {
                let eff = state.input_path.apply(&raw, &context, "InputPath")?;
                let wait = match w {
                    WaitFor::Seconds(s) => Duration::from_secs(self.seconds(s, &eff, &context)?),
                    WaitFor::Timestamp(t) => self.until(t)?,
                    WaitFor::TimestampPath(p) => {
                        let t = path::get(&eff, &p.segments)
                            .and_then(|v| v.as_str().map(str::to_string));
                        self.until(&t.ok_or_else(|| {
                            Failure::runtime("TimestampPath matched no timestamp")
                        })?)?
                    }
                };
                self.flush(exec).await;
                self.sleeper.sleep(wait).await;
                Ok(Self::next_or_end(
                    state,
                    state.output_path.apply(&eff, &context, "OutputPath")?,
                ))
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map { .. } => {
                self.run_with_retry(name, state, raw, exec).await
            }
        }
    }

    fn seconds(&self, s: &Seconds, input: &Value, context: &Value) -> Result<u64, Failure> {
        match s {
            Seconds::Fixed(n) => Ok(*n),
            Seconds::Path(p) => {
                let root = if p.context { context } else { input };
                path::get(root, &p.segments)
                    .and_then(|v| v.as_u64())
                    .ok_or_else(|| {
                        Failure::runtime("a seconds path did not give a non-negative integer")
                    })
            }
        }
    }

    fn until(&self, ts: &str) -> Result<Duration, Failure> {
        let t = DateTime::parse_from_rfc3339(ts)
            .map_err(|e| Failure::runtime(format!("bad timestamp `{ts}`: {e}")))?;
        Ok((t.with_timezone(&Utc) - self.sleeper.now())
            .to_std()
            .unwrap_or(Duration::ZERO))
    }

    /// Task, Parallel and Map: one attempt after another per the retriers, then the catchers.
    async fn run_with_retry(
        &self,
        name: &str,
        state: &State,
        raw: Value,
        exec: &Exec,
    ) -> Result<Step, Failure> {
        let mut attempts = vec![0u32; state.retry.len()];
        let mut retry_count = 0u32;
        loop {
            let context = self.context(exec, name, retry_count, None);
            let attempt = match &state.kind {
                Kind::Task { .. } => {
                    self.attempt_task(name, state, &raw, exec, retry_count)
                        .await
                }
                Kind::Parallel { .. } | Kind::Map { .. } => {
                    self.attempt_fanout(state, &raw, exec, &context).await
                }
                _ => Err(Failure::runtime("not a retryable state")),
            };
            let failure = match attempt {
                Ok(out) => return Ok(Self::next_or_end(state, out)),
                Err(f) => f,
            };
            self.record(
                exec,
                HistoryEvent::TaskFailed {
                    state: name.to_string(),
                    error: failure.error.clone(),
                    cause: failure.cause.clone(),
                },
            )
            .await;
            let is_task = matches!(state.kind, Kind::Task { .. });
            if let Some(i) = state
                .retry
                .iter()
                .position(|r| matches(&r.errors, &failure.error, is_task))
            {
                let r: &Retrier = &state.retry[i];
                if attempts[i] < r.max_attempts {
                    let mut delay = r.interval_seconds * r.backoff_rate.powi(attempts[i] as i32);
                    if let Some(max) = r.max_delay_seconds {
                        delay = delay.min(max);
                    }
                    if r.full_jitter {
                        delay *= (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
                    }
                    attempts[i] += 1;
                    retry_count += 1;
                    tracing::debug!(state = name, error = %failure.error, attempt = attempts[i], "retrying");
                    self.record(
                        exec,
                        HistoryEvent::Retrying {
                            state: name.to_string(),
                            attempt: attempts[i],
                            delay_seconds: delay,
                        },
                    )
                    .await;
                    self.flush(exec).await;
                    self.sleeper.sleep(Duration::from_secs_f64(delay)).await;
                    continue;
                }
            }
            if let Some(c) = state
                .catch
                .iter()
                .find(|c: &&Catcher| matches(&c.errors, &failure.error, is_task))
            {
                let error_output = json!({"Error": failure.error, "Cause": failure.cause});
                let out = c.result_path.merge(&raw, error_output)?;
                self.record(
                    exec,
                    HistoryEvent::Caught {
                        state: name.to_string(),
                        error: failure.error.clone(),
                        next: c.next.clone(),
                    },
                )
                .await;
                return Ok(Step::Next(c.next.clone(), out));
            }
            return Err(failure);
        }
    }

    async fn attempt_task(
        &self,
        name: &str,
        state: &State,
        raw: &Value,
        exec: &Exec,
        retry_count: u32,
    ) -> Result<Value, Failure> {
        let Kind::Task {
            resource,
            parameters,
            timeout,
            heartbeat,
        } = &state.kind
        else {
            return Err(Failure::runtime("not a task"));
        };
        let wait_for_token = resource.ends_with(".waitForTaskToken");
        let token = wait_for_token.then(|| uuid::Uuid::new_v4().simple().to_string());
        let context = self.context(exec, name, retry_count, token.as_deref());
        let eff = state.input_path.apply(raw, &context, "InputPath")?;
        let params = match parameters {
            Some(p) => render(p, &eff, &context)?,
            None => eff,
        };
        let integration = self.integrations.resolve(resource).ok_or_else(|| {
            Failure::runtime(format!("no local integration for resource `{resource}`"))
        })?;
        let ctx = TaskContext {
            execution_id: exec.id.clone(),
            execution_name: exec.name.clone(),
            state_name: name.to_string(),
            task_token: token.clone(),
        };
        let timeout = match timeout {
            Some(s) => Some(Duration::from_secs(self.seconds(s, raw, &context)?)),
            None => None,
        };
        let heartbeat = match heartbeat {
            Some(s) => Some(Duration::from_secs(self.seconds(s, raw, &context)?)),
            None => None,
        };
        // A task that waits for its job or for a callback can run for hours.
        if wait_for_token || resource.ends_with(".sync") {
            self.flush(exec).await;
        }
        let run = async {
            match &token {
                None => integration.invoke(resource, params, &ctx).await,
                Some(t) => {
                    let (tx, rx) = oneshot::channel();
                    let beat = Arc::new(Notify::new());
                    if let Ok(mut tokens) = self.tokens.lock() {
                        tokens.insert(
                            t.clone(),
                            Pending {
                                done: tx,
                                heartbeat: beat.clone(),
                            },
                        );
                    }
                    let waited = async {
                        integration.invoke(resource, params, &ctx).await?;
                        wait_for(rx, beat, heartbeat).await
                    };
                    let result = waited.await;
                    if let Ok(mut tokens) = self.tokens.lock() {
                        tokens.remove(t);
                    }
                    result
                }
            }
        };
        let result = match timeout {
            Some(d) => match tokio::time::timeout(d, run).await {
                Ok(r) => r,
                Err(_) => Err(TaskError::new(
                    errors::TIMEOUT,
                    format!("the task did not finish within {} s", d.as_secs()),
                )),
            },
            None => run.await,
        };
        let result = result.map_err(|e| Failure::new(&e.error, e.cause))?;
        self.finish(state, raw, result, &context)
    }

    async fn attempt_fanout(
        &self,
        state: &State,
        raw: &Value,
        exec: &Exec,
        context: &Value,
    ) -> Result<Value, Failure> {
        let eff = state.input_path.apply(raw, context, "InputPath")?;
        let results = match &state.kind {
            Kind::Parallel {
                branches,
                parameters,
            } => {
                let input = match parameters {
                    Some(p) => render(p, &eff, context)?,
                    None => eff,
                };
                // Collected first: a lazy iterator of borrowing futures trips the compiler's
                // higher-ranked lifetime inference inside this recursive future.
                let mut runs: Vec<BoxFuture<'_, Result<Value, Failure>>> =
                    Vec::with_capacity(branches.len());
                for b in branches {
                    runs.push(self.run_machine(b, input.clone(), exec));
                }
                futures::future::try_join_all(runs).await?
            }
            Kind::Map {
                items_path,
                item_selector,
                iterator,
                max_concurrency,
            } => {
                let items = match items_path.apply(&eff, context, "ItemsPath")? {
                    Value::Array(a) => a,
                    other => {
                        return Err(Failure::runtime(format!(
                            "ItemsPath must select an array, not {other}"
                        )))
                    }
                };
                let mut inputs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let item_exec = Exec {
                        map_item: Some((i, item.clone())),
                        ..exec.clone()
                    };
                    let input = match item_selector {
                        Some(sel) => render(sel, &eff, &self.context(&item_exec, "", 0, None))?,
                        None => item,
                    };
                    inputs.push((input, item_exec));
                }
                let limit = if *max_concurrency == 0 {
                    inputs.len().max(1)
                } else {
                    *max_concurrency
                };
                let mut futs: Vec<BoxFuture<'_, Result<Value, Failure>>> =
                    Vec::with_capacity(inputs.len());
                for (input, e) in &inputs {
                    futs.push(self.run_machine(iterator, input.clone(), e));
                }
                let runs = futures::stream::iter(futs)
                    .buffered(limit)
                    .collect::<Vec<_>>()
                    .await;
                runs.into_iter().collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err(Failure::runtime("not a Parallel or Map state")),
        };
        self.finish(state, raw, Value::Array(results), context)
    }
}

async fn wait_for(
    mut rx: oneshot::Receiver<Result<Value, TaskError>>,
    beat: Arc<Notify>,
    heartbeat: Option<Duration>,
) -> Result<Value, TaskError> {
    loop {
        let beat_or_timeout = async {
            match heartbeat {
                Some(d) => tokio::time::timeout(d, beat.notified()).await.is_ok(),
                None => {
                    beat.notified().await;
                    true
                }
            }
        };
        tokio::select! {
            done = &mut rx => {
                return done.unwrap_or_else(|_| Err(TaskError::new(errors::RUNTIME, "the task token was abandoned")));
            }
            alive = beat_or_timeout => {
                if !alive {
                    return Err(TaskError::new(errors::HEARTBEAT_TIMEOUT, "no heartbeat within HeartbeatSeconds"));
                }
            }
        }
    }
}

/// Does an `ErrorEquals` list match an error? `States.ALL` matches everything but
/// `States.Runtime`; on a Task, `States.TaskFailed` matches everything but `States.Timeout`.
fn matches(list: &[String], error: &str, is_task: bool) -> bool {
    if error == errors::RUNTIME {
        return list.iter().any(|e| e == errors::RUNTIME);
    }
    list.iter().any(|e| {
        e == error
            || e == errors::ALL
            || (is_task && e == errors::TASK_FAILED && error != errors::TIMEOUT)
    })
}

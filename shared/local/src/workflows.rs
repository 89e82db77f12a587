//! The local Step Functions engine wired to local integrations: `ecs:runTask*` starts the
//! bundle runner as a process, `sqs:sendMessage` writes to the embedded queue, `lambda:invoke`
//! calls an in-process handler. It runs the files of `statemachines/` unchanged; only their
//! `${...}` placeholders (filled by Terraform in AWS) get local values.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::OnceLock;
use tokio::io::{AsyncBufReadExt, BufReader};
use tre_core::app::App;
use tre_core::ports::{Execution, ExecutionStatus};
use tre_stepfunctions::{
    ExecutionListener, Integration, Integrations, SqsSendMessage, StateMachine, TaskContext,
    TaskError,
};

use crate::DevError;

/// The definitions the local stack runs: the same files Terraform deploys.
pub const STATE_MACHINES: &[(&str, &str)] = &[
    (
        tre_core::app::DATASOURCE_STATE_MACHINE,
        include_str!("../../../statemachines/datasource-import.asl.json"),
    ),
    (
        tre_core::app::RESOURCE_ACTION_STATE_MACHINE,
        include_str!("../../../statemachines/resource-action.asl.json"),
    ),
    (
        tre_core::app::AIRLOCK_STATE_MACHINE,
        include_str!("../../../statemachines/airlock-review.asl.json"),
    ),
];

/// The error of resource-action's final Fail state: the failure was already reported.
const STEP_FAILED: &str = "TRE.StepFailed";

/// How the local stack starts a bundle runner (a Fargate task in AWS).
#[derive(Clone, Debug, Default)]
pub struct RunnerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Environment of this runner on top of the stack's (e.g. the AWS account, or an emulator,
    /// that a bundle's Terraform steps deploy into).
    pub env: Vec<(String, String)>,
}

/// A runner process the engine started (like one entry of ECS ListTasks).
#[derive(Clone, Debug, PartialEq)]
pub struct RunningTask {
    pub task_id: String,
    pub operation_id: String,
    pub step_id: String,
    pub pid: u32,
}

pub(crate) fn placeholders(status_queue: &str) -> HashMap<String, String> {
    [
        (
            "cluster_arn",
            "arn:aws:ecs:local:000000000000:cluster/tre-local",
        ),
        (
            "bundle_runner_task_definition_arn",
            "arn:aws:ecs:local:000000000000:task-definition/bundle-runner:1",
        ),
        (
            "airlock_runner_task_definition_arn",
            "arn:aws:ecs:local:000000000000:task-definition/airlock-runner:1",
        ),
        ("private_subnet_ids_json", "[]"),
        ("task_security_group_ids_json", "[]"),
        ("status_queue_url", status_queue),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Parse every definition with its placeholders filled; a bad file names itself and the state.
pub fn load_state_machines(status_queue: &str) -> Result<HashMap<String, StateMachine>, DevError> {
    let vars = placeholders(status_queue);
    STATE_MACHINES
        .iter()
        .map(|(name, text)| {
            let filled = tre_stepfunctions::fill_template(text, &vars)
                .map_err(|e| DevError::Workflows(format!("statemachines/{name}.asl.json: {e}")))?;
            let machine = StateMachine::parse(&filled)
                .map_err(|e| DevError::Workflows(format!("statemachines/{name}.asl.json: {e}")))?;
            Ok((name.to_string(), machine))
        })
        .collect()
}

/// `arn:aws:states:::ecs:runTask(.sync|.waitForTaskToken)`: the container overrides'
/// environment becomes the runner process's environment.
pub(crate) struct EcsRunTask {
    /// How to start each container (by the name the container overrides give).
    pub runners: HashMap<String, RunnerCommand>,
    /// Environment every task gets locally (where the store is, where artefacts go).
    pub base_env: Vec<(String, String)>,
    pub tasks: Arc<Mutex<HashMap<String, RunningTask>>>,
    /// One permit per runner process that may run now (held until the process exits).
    pub slots: Arc<tokio::sync::Semaphore>,
}

fn override_env(params: &Value) -> Result<Vec<(String, String)>, TaskError> {
    let mut env = Vec::new();
    let overrides = params
        .pointer("/Overrides/ContainerOverrides")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for o in overrides {
        for e in o
            .get("Environment")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let (Some(name), Some(value)) = (
                e.get("Name").and_then(Value::as_str),
                e.get("Value").and_then(Value::as_str),
            ) else {
                return Err(TaskError::new(
                    "ECS.InvalidParameterException",
                    format!(
                        "a container override's environment entry needs string Name and Value: {e}"
                    ),
                ));
            };
            env.push((name.to_string(), value.to_string()));
        }
    }
    Ok(env)
}

#[async_trait]
impl Integration for EcsRunTask {
    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, TaskError> {
        let container = parameters
            .pointer("/Overrides/ContainerOverrides/0/Name")
            .and_then(Value::as_str)
            .unwrap_or("bundle-runner")
            .to_string();
        let what = container.replace('-', " ");
        let Some(runner) = self.runners.get(&container) else {
            return Err(TaskError::new(
                "ECS.AccessDeniedException",
                format!("this local stack has no {what} configured, so it cannot run its tasks"),
            ));
        };
        let env = override_env(&parameters)?;
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let task_id = uuid::Uuid::new_v4().simple().to_string();
        // Like a Fargate task waiting for capacity: the state's timeout runs meanwhile.
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| {
            TaskError::new(
                "ECS.ServerException",
                format!("the local stack is stopping: no {what} is started"),
            )
        })?;
        let mut cmd = tokio::process::Command::new(&runner.program);
        cmd.args(&runner.args)
            .envs(self.base_env.iter().cloned())
            .envs(runner.env.iter().cloned())
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // An execution that is aborted (the stack stops) must not leave its task running.
            .kill_on_drop(true);
        if let Some(token) = &ctx.task_token {
            cmd.env("TRE_TASK_TOKEN", token);
        }
        let started = std::time::Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            TaskError::new(
                "ECS.ServerException",
                format!("cannot start the {what} {}: {e}", runner.program.display()),
            )
        })?;
        let pid = child.id().unwrap_or_default();
        let task = RunningTask {
            task_id: task_id.clone(),
            // Airlock tasks run for a request: its id stands where an operation's would.
            operation_id: match get("TRE_OPERATION_ID") {
                id if id.is_empty() => get("TRE_REQUEST_ID"),
                id => id,
            },
            step_id: match get("TRE_STEP_ID") {
                id if id.is_empty() => get("TRE_AIRLOCK_ACTION"),
                id => id,
            },
            pid,
        };
        tracing::info!(operation_id = %task.operation_id, step_id = %task.step_id, pid, "{what} started");
        if let Ok(mut t) = self.tasks.lock() {
            t.insert(task_id.clone(), task.clone());
        }
        let _forget = Forget {
            tasks: self.tasks.clone(),
            id: task_id.clone(),
        };
        let last_error = Arc::new(Mutex::new(String::new()));
        let mut forwarders = Vec::new();
        if let Some(out) = child.stdout.take() {
            forwarders.push(tokio::spawn(forward(
                BufReader::new(out),
                task.clone(),
                None,
            )));
        }
        if let Some(err) = child.stderr.take() {
            forwarders.push(tokio::spawn(forward(
                BufReader::new(err),
                task.clone(),
                Some(last_error.clone()),
            )));
        }
        let description = json!({"Tasks": [{"TaskArn": format!("arn:aws:ecs:local:000000000000:task/tre-local/{task_id}"), "LastStatus": "RUNNING"}], "Failures": []});
        if !resource.ends_with(".sync") {
            // Fire and forget (or wait for the task token): the process runs on by itself.
            tokio::spawn(async move {
                let _keep = (_forget, slot);
                let _ = child.wait().await;
            });
            return Ok(description);
        }
        let status = child.wait().await.map_err(|e| {
            TaskError::new(
                "ECS.ServerException",
                format!("lost the {what} process: {e}"),
            )
        })?;
        drop(slot);
        for f in forwarders {
            let _ = f.await;
        }
        tracing::debug!(operation_id = %task.operation_id, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "{what} exited");
        let said = last_error.lock().map(|s| s.clone()).unwrap_or_default();
        let explain = |what: String| {
            if said.is_empty() {
                what
            } else {
                format!("{what}; its last words: {said}")
            }
        };
        match status.code() {
            Some(0) => Ok(
                json!({"Tasks": [{"TaskArn": description["Tasks"][0]["TaskArn"], "LastStatus": "STOPPED",
                "Containers": [{"Name": container, "ExitCode": 0}]}], "Failures": []}),
            ),
            Some(code) => Err(TaskError::new(
                tre_stepfunctions::errors::TASK_FAILED,
                explain(format!("the {what} exited with code {code}")),
            )),
            None => Err(TaskError::new(
                tre_stepfunctions::errors::TASK_FAILED,
                explain(signal_text(&what, &status)),
            )),
        }
    }
}

#[cfg(unix)]
fn signal_text(what: &str, status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => format!("the {what} was killed by signal {sig}"),
        None => format!("the {what} stopped without an exit code"),
    }
}

#[cfg(not(unix))]
fn signal_text(what: &str, _: &std::process::ExitStatus) -> String {
    format!("the {what} stopped without an exit code")
}

/// Removes a task from the running list however its invocation ends (even when aborted).
struct Forget {
    tasks: Arc<Mutex<HashMap<String, RunningTask>>>,
    id: String,
}

impl Drop for Forget {
    fn drop(&mut self) {
        if let Ok(mut t) = self.tasks.lock() {
            t.remove(&self.id);
        }
    }
}

/// Relay a runner's output into our log (CloudWatch does this for Fargate tasks).
async fn forward<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    task: RunningTask,
    last: Option<Arc<Mutex<String>>>,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "bundle_runner", operation_id = %task.operation_id, step_id = %task.step_id, "{line}");
        if let Some(last) = &last {
            if let Ok(mut l) = last.lock() {
                // The runner's own failure line, not its JSON log lines.
                for prefix in ["bundle-runner:", "airlock-runner:"] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        *l = rest.trim().to_string();
                    }
                }
            }
        }
    }
}

/// An in-process Lambda handler for `arn:aws:states:::lambda:invoke`.
pub type LambdaHandler =
    Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, String>> + Send + Sync>;

/// `arn:aws:states:::lambda:invoke`: calls the handler named by FunctionName (a name or an
/// ARN ending in it) and answers like the service integration (`Payload`, `StatusCode`).
#[derive(Default)]
pub(crate) struct LambdaInvoke {
    pub handlers: HashMap<String, LambdaHandler>,
}

#[async_trait]
impl Integration for LambdaInvoke {
    async fn invoke(
        &self,
        _resource: &str,
        parameters: Value,
        _ctx: &TaskContext,
    ) -> Result<Value, TaskError> {
        let function = parameters
            .get("FunctionName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = function.rsplit(':').next().unwrap_or_default();
        let handler = self.handlers.get(name).ok_or_else(|| {
            TaskError::new(
                "Lambda.ResourceNotFoundException",
                format!("no local function `{function}`"),
            )
        })?;
        let payload = parameters.get("Payload").cloned().unwrap_or(json!({}));
        match handler(payload).await {
            Ok(out) => Ok(json!({"Payload": out, "StatusCode": 200})),
            Err(message) => Err(TaskError::new("Lambda.Unknown", message)),
        }
    }
}

pub(crate) fn integrations(
    ecs: Arc<EcsRunTask>,
    sqs: Arc<SqsSendMessage>,
    lambda: Arc<LambdaInvoke>,
) -> Integrations {
    Integrations::new()
        .prefix("arn:aws:states:::ecs:runTask", ecs)
        .prefix("arn:aws:states:::sqs:sendMessage", sqs)
        .prefix("arn:aws:states:::lambda:invoke", lambda)
}

/// When an operation's execution ends badly, fail what is still unfinished of it (in AWS an
/// EventBridge rule on execution status changes does the same).
pub(crate) struct FailUnfinishedOperation {
    /// Set once the App exists (the App needs the workflows, which need this listener).
    pub app: OnceLock<App>,
}

#[async_trait]
impl ExecutionListener for FailUnfinishedOperation {
    async fn ended(&self, execution: &Execution) {
        if execution.status == ExecutionStatus::Succeeded
            // The state machine reported this failure itself, through the status queue.
            || execution.error.as_deref() == Some(STEP_FAILED)
        {
            return;
        }
        let Some(app) = self.app.get() else {
            tracing::error!(execution = %execution.name, "an execution ended before the stack was ready");
            return;
        };
        if let Err(e) = app.workflow_ended_badly(execution).await {
            tracing::error!(execution = %execution.name, error = %e, "could not record the end of a workflow");
        }
    }
}

//! `LocalWorkflows` (the engine behind the `Workflows` port, state in the embedded table):
//! the same contract suite as the Step Functions adapter, task tokens completed through the
//! port, history persisted, and no execution left running after a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use tre_core::ports::{Execution, ExecutionStatus, Table, Workflows};
use tre_embedded::Embedded;
use tre_stepfunctions::{
    Integration, Integrations, LocalWorkflows, StateMachine, TaskContext, TaskError, ENGINE_STOPPED,
};

/// Hands out the task tokens of `.waitForTaskToken` tasks, as a queue consumer would get them.
#[derive(Default)]
struct Tokens(Mutex<Vec<String>>);

#[async_trait]
impl Integration for Tokens {
    async fn invoke(&self, _r: &str, _p: Value, ctx: &TaskContext) -> Result<Value, TaskError> {
        let token = ctx
            .task_token
            .clone()
            .ok_or_else(|| TaskError::new("Test.NoToken", "the task was given no token"))?;
        self.0
            .lock()
            .map_err(|_| TaskError::new("Test.Poisoned", "lock"))?
            .push(token);
        Ok(Value::Null)
    }
}

const TOKEN_RESOURCE: &str = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";

fn machines() -> HashMap<String, StateMachine> {
    let pass = StateMachine::from_value(
        &json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}),
    )
    .expect("pass machine");
    let review = StateMachine::from_value(&json!({
        "StartAt": "Review",
        "States": {"Review": {"Type": "Task", "Resource": TOKEN_RESOURCE,
                               "Parameters": {"QueueUrl": "q", "MessageBody": "x"},
                               "ResultPath": "$.review", "End": true}}
    }))
    .expect("review machine");
    HashMap::from([("trivial-pass".into(), pass), ("review".into(), review)])
}

fn workflows(table: Arc<dyn Table>, tokens: Arc<Tokens>) -> LocalWorkflows {
    LocalWorkflows::new(
        table,
        Integrations::new().exact(TOKEN_RESOURCE, tokens),
        machines(),
    )
}

async fn until_ended(wf: &LocalWorkflows, id: &str) -> Execution {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ex = wf.describe_execution(id).await.expect("describe");
        if ex.status != ExecutionStatus::Running {
            return ex;
        }
        assert!(Instant::now() < deadline, "{id} still running: {ex:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_token(tokens: &Tokens) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = tokens.0.lock().expect("tokens").pop() {
            return t;
        }
        assert!(Instant::now() < deadline, "no task token was issued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn local_workflows_pass_the_workflows_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table: Arc<dyn Table> = Arc::new(Embedded::open(dir.path()).expect("store").table());
    let wf = workflows(table, Arc::default());
    tre_testkit::workflows::run(Arc::new(wf), "trivial-pass").await;
}

#[tokio::test]
async fn task_tokens_complete_through_the_port_and_history_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table: Arc<dyn Table> = Arc::new(Embedded::open(dir.path()).expect("store").table());
    let tokens = Arc::new(Tokens::default());
    let wf = workflows(table, tokens.clone());

    let approved = wf
        .start_execution("review", "approve-1", &json!({"id": 1}))
        .await
        .expect("start");
    let token = next_token(&tokens).await;
    // History is written in batches, but an execution that waits shows how far it got.
    let waiting = wf.history(&approved).await.expect("history while waiting");
    let types: Vec<&str> = waiting
        .iter()
        .filter_map(|e| e.get("type").and_then(Value::as_str))
        .collect();
    assert_eq!(
        types,
        ["StateEntered"],
        "history while waiting: {waiting:?}"
    );
    wf.send_task_success(&token, &json!({"decision": "approved"}))
        .await
        .expect("success");
    let ex = until_ended(&wf, &approved).await;
    assert_eq!(ex.status, ExecutionStatus::Succeeded, "{ex:?}");
    assert_eq!(
        ex.output,
        Some(json!({"id": 1, "review": {"decision": "approved"}}))
    );
    // A token is single-use.
    assert!(wf.send_task_success(&token, &json!({})).await.is_err());

    let rejected = wf
        .start_execution("review", "reject-1", &json!({"id": 2}))
        .await
        .expect("start");
    let token = next_token(&tokens).await;
    wf.send_task_failure(&token, "Review.Rejected", "not anonymised")
        .await
        .expect("failure");
    let ex = until_ended(&wf, &rejected).await;
    assert_eq!(ex.status, ExecutionStatus::Failed, "{ex:?}");
    assert_eq!(ex.error.as_deref(), Some("Review.Rejected"));
    assert_eq!(ex.cause.as_deref(), Some("not anonymised"));

    let history = wf.history(&approved).await.expect("history");
    let types: Vec<&str> = history
        .iter()
        .filter_map(|e| e.get("type").and_then(Value::as_str))
        .collect();
    assert_eq!(
        types,
        ["StateEntered", "StateExited"],
        "history of {approved}: {history:?}"
    );
}

#[tokio::test]
async fn executions_running_when_the_engine_stopped_are_failed_at_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table: Arc<dyn Table> = Arc::new(Embedded::open(dir.path()).expect("store").table());
    let tokens = Arc::new(Tokens::default());
    let before = workflows(table.clone(), tokens.clone());
    let waiting = before
        .start_execution("review", "stuck-1", &json!({}))
        .await
        .expect("start");
    let finished = before
        .start_execution("trivial-pass", "done-1", &json!({"a": 1}))
        .await
        .expect("start");
    until_ended(&before, &finished).await;
    next_token(&tokens).await;
    assert_eq!(
        before.describe_execution(&waiting).await.expect("d").status,
        ExecutionStatus::Running
    );
    // The process dies: nothing records an end.
    before.abort_all();

    let after = workflows(table, Arc::default());
    assert_eq!(after.recover().await.expect("recover"), 1);
    let ex = after.describe_execution(&waiting).await.expect("describe");
    assert_eq!(ex.status, ExecutionStatus::Failed);
    assert_eq!(ex.error.as_deref(), Some(ENGINE_STOPPED));
    assert!(ex
        .cause
        .unwrap_or_default()
        .contains("run the action again"));
    // What had finished is untouched, and recovering twice changes nothing.
    let done = after.describe_execution(&finished).await.expect("describe");
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"a": 1})));
    assert_eq!(after.recover().await.expect("recover again"), 0);
}

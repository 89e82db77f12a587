//! Contract suite for the `Workflows` port. `state_machine` must exist and be trivial (a Pass
//! state); executions are named randomly so runs can share it.

use std::sync::Arc;

use serde_json::json;
use tre_core::ports::{ExecutionStatus, Workflows};
use tre_core::PortError;

fn fail(case: &str, msg: impl std::fmt::Display) -> ! {
    panic!("workflows contract, case `{case}`: {msg}")
}

pub async fn run(wf: Arc<dyn Workflows>, state_machine: &str) {
    let name = format!("tk-{}", uuid::Uuid::new_v4().simple());
    let input = json!({"operationId": name, "n": 1});

    let case = "start and describe";
    let id = wf
        .start_execution(state_machine, &name, &input)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let ex = wf
        .describe_execution(&id)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if ex.id != id || ex.name != name || ex.input != input {
        fail(case, format!("described {ex:?}"));
    }
    if !matches!(
        ex.status,
        ExecutionStatus::Running | ExecutionStatus::Succeeded
    ) {
        fail(
            case,
            format!("status {:?}, want Running or Succeeded", ex.status),
        );
    }

    let case = "start again with the same name and input";
    let again = wf
        .start_execution(state_machine, &name, &input)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if again != id {
        fail(case, format!("got id {again}, want the existing {id}"));
    }

    let case = "start again with a different input";
    match wf
        .start_execution(state_machine, &name, &json!({"n": 2}))
        .await
    {
        Err(PortError::AlreadyExists(_)) => {}
        other => fail(case, format!("want AlreadyExists, got {other:?}")),
    }

    let case = "describe an unknown execution";
    let other = format!("tk-{}", uuid::Uuid::new_v4().simple());
    // Derive a well-formed id of an execution that does not exist.
    let unknown = if id.contains(&name) {
        id.replace(&name, &other)
    } else {
        format!("{id}-{other}")
    };
    match wf.describe_execution(&unknown).await {
        Err(PortError::NotFound(_)) => {}
        other => fail(case, format!("want NotFound, got {other:?}")),
    }

    let case = "unknown task token";
    let token = format!("unknown-token-{other}");
    match wf.send_task_success(&token, &json!({})).await {
        Err(PortError::NotFound(_) | PortError::Invalid(_)) => {}
        other => fail(
            case,
            format!("success: want NotFound or Invalid, got {other:?}"),
        ),
    }
    match wf.send_task_failure(&token, "Err", "cause").await {
        Err(PortError::NotFound(_) | PortError::Invalid(_)) => {}
        other => fail(
            case,
            format!("failure: want NotFound or Invalid, got {other:?}"),
        ),
    }
}

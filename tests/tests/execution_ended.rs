//! A workflow that ends badly without reporting it (timed out, aborted) fails its operation:
//! in AWS an EventBridge rule puts an `executionEnded` message on the status queue, and the
//! status consumer fails what is unfinished. Tested through the Lambda's batch handler, with
//! the workflows recorded (not run) so the test decides how each execution ends.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{json, Map};
use tre_core::app::{App, Caller, CreateResource, RegisterTemplate, ResourceScope};
use tre_core::domain::{DeploymentStatus, OperationStatus, Principal, ResourceKind, TreRole};
use tre_core::ports::ExecutionStatus;
use tre_embedded::{Db, RecordedWorkflows, SqliteTable};

fn admin() -> Caller {
    Caller::new(Principal {
        id: "admin-1".into(),
        name: "Admin".into(),
        email: None,
        roles: vec![TreRole::TREAdmin, TreRole::TREUser],
    })
}

fn event(bodies: &[(&str, String)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .map(|(id, body)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(id.to_string());
            m.body = Some(body.clone());
            m
        })
        .collect();
    event
}

fn ended(arn: &str, status: &str) -> String {
    json!({"executionEnded": {"executionArn": arn, "status": status}}).to_string()
}

#[tokio::test]
async fn a_workflow_that_times_out_fails_its_operation_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("db");
    let workflows = Arc::new(RecordedWorkflows::new(db.clone()));
    let app = App::new(Arc::new(SqliteTable::new(db)), workflows.clone());
    let caller = admin();
    let template: RegisterTemplate = serde_json::from_value(json!({
        "name": "tre-workspace-base", "version": "1.0.0",
        "parameters": {"type": "object", "properties": {}},
        "bundle": "registry.example/bundles/base@sha256:0000000000000000000000000000000000000000000000000000000000000000"
    }))
    .expect("template");
    app.register_template(&caller, ResourceKind::Workspace, template)
        .await
        .expect("register");
    let (ws, op) = app
        .create_resource(
            &caller,
            &ResourceScope::Workspaces,
            CreateResource {
                template_name: "tre-workspace-base".into(),
                template_version: None,
                properties: Map::new(),
            },
        )
        .await
        .expect("create");
    let arn = RecordedWorkflows::execution_id(tre_core::app::RESOURCE_ACTION_STATE_MACHINE, &op.id);

    // While the execution runs, or when it succeeded, the message changes nothing.
    let resp =
        tre_lambda::status::handle_batch(&app, event(&[("m0", ended(&arn, "FAILED"))])).await;
    assert!(resp.batch_item_failures.is_empty());
    let still = app
        .get_operation(&caller, &ResourceScope::Workspaces, &ws.id, &op.id)
        .await
        .expect("op");
    assert_eq!(still.status, op.status, "a running execution is not failed");

    workflows
        .finish_execution(
            &arn,
            ExecutionStatus::TimedOut,
            None,
            Some("States.Timeout"),
            Some("the execution ran longer than 14400 s"),
        )
        .await
        .expect("time out");
    let resp = tre_lambda::status::handle_batch(
        &app,
        event(&[
            ("m1", ended(&arn, "TIMED_OUT")),
            ("m2", ended(&arn, "TIMED_OUT")),
            (
                "m3",
                "{\"executionEnded\": {\"status\": \"FAILED\"}}".into(),
            ),
        ]),
    )
    .await;
    let failed: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m3"], "only the malformed message is retried");

    let op = app
        .get_operation(&caller, &ResourceScope::Workspaces, &ws.id, &op.id)
        .await
        .expect("op");
    assert_eq!(op.status, OperationStatus::DeploymentFailed);
    assert!(
        op.message.contains("timed out") && op.message.contains("14400"),
        "{}",
        op.message
    );
    let ws = app
        .get_resource(&caller, &ResourceScope::Workspaces, &ws.id)
        .await
        .expect("workspace");
    assert_eq!(ws.deployment_status, DeploymentStatus::DeploymentFailed);
}

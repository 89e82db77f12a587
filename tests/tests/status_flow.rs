//! Status messages are applied idempotently: every message delivered twice, in any order,
//! gives the same final resource and operation as one orderly delivery.

use serde_json::{json, Value};
use tre_core::app::{Applied, StatusMessage};
use tre_core::domain::StepOutcome;
use tre_core::ports::Queue;
use tre_e2e::{create, register_sample_templates, TestStack};

fn messages(ws: &str, op: &str) -> Vec<StatusMessage> {
    let msg = |status, seq, message: &str, outputs: Value| StatusMessage {
        operation_id: op.into(),
        step_id: "main".into(),
        resource_id: ws.into(),
        operation_resource_id: None,
        status,
        message: message.into(),
        outputs: outputs.as_object().cloned().unwrap_or_default(),
        sensitive_outputs: Default::default(),
        sequence: seq,
    };
    let mut done = msg(
        StepOutcome::Succeeded,
        30,
        "done",
        json!({"storage_path": "/data/ws", "size_gb": 5}),
    );
    done.sensitive_outputs = json!({"admin_password": "pw-s3cret-out"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    vec![
        msg(StepOutcome::Running, 10, "starting", json!({})),
        msg(StepOutcome::Running, 20, "creating storage", json!({})),
        done,
    ]
}

/// The parts of the final state that must not depend on delivery order.
async fn final_state(t: &TestStack, admin: &str, ws: &str) -> (Value, Value) {
    let r = t
        .get(&format!("/api/workspaces/{ws}"), admin)
        .await
        .item()
        .clone();
    let ops = t
        .get(&format!("/api/workspaces/{ws}/operations"), admin)
        .await
        .body;
    let op = &ops["operations"][0];
    (
        json!({"status": r["deploymentStatus"], "props": r["properties"], "enabled": r["isEnabled"]}),
        json!({"status": op["status"], "message": op["message"], "step": op["steps"][0]["status"],
               "seq": op["steps"][0]["sequence"]}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_reordering_change_nothing() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;

    // Reference: each message once, in order.
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ref").await;
    let op = t
        .get(&format!("/api/workspaces/{ws}/operations"), &admin)
        .await
        .body["operations"][0]["id"]
        .as_str()
        .expect("op")
        .to_string();
    for m in messages(&ws, &op) {
        assert_eq!(
            t.stack.app.apply_status(&m).await.expect("apply"),
            Applied::Applied
        );
    }
    let reference = final_state(&t, &admin, &ws).await;
    assert_eq!(reference.0["status"], "deployed");
    assert_eq!(reference.0["props"]["storage_path"], "/data/ws");
    assert_eq!(reference.1["status"], "deployed");
    // A sensitive output is kept with the resource's secrets, never in what the API returns.
    let secrets = t
        .stack
        .app
        .table
        .get(&tre_core::ports::Key::new(format!("RES#{ws}"), "SECRETS"))
        .await
        .expect("get")
        .expect("the resource's secrets");
    assert_eq!(secrets.body["admin_password"], "pw-s3cret-out");
    let shown = t.get(&format!("/api/workspaces/{ws}"), &admin).await.body;
    assert!(!shown.to_string().contains("pw-s3cret-out"), "{shown}");

    // Every order of the three messages, each delivered twice.
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ref").await;
        let op = t
            .get(&format!("/api/workspaces/{ws}/operations"), &admin)
            .await
            .body["operations"][0]["id"]
            .as_str()
            .expect("op")
            .to_string();
        let msgs = messages(&ws, &op);
        for i in order.iter().chain(order.iter()) {
            t.stack.app.apply_status(&msgs[*i]).await.expect("apply");
        }
        assert_eq!(
            final_state(&t, &admin, &ws).await,
            reference,
            "order {order:?}"
        );
    }

    // A message for an unknown operation or step is an error (it will dead-letter), not a change.
    let mut bad = messages(&ws, &op)[0].clone();
    bad.step_id = "nope".into();
    bad.sequence = 99;
    assert!(t.stack.app.apply_status(&bad).await.is_err());
    bad.operation_id = "missing".into();
    assert!(t.stack.app.apply_status(&bad).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_fails_the_operation_and_the_resource() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "f").await;
    let op = t
        .get(&format!("/api/workspaces/{ws}/operations"), &admin)
        .await
        .body["operations"][0]["id"]
        .as_str()
        .expect("op")
        .to_string();
    let fail = StatusMessage {
        operation_id: op,
        step_id: "main".into(),
        resource_id: ws.clone(),
        operation_resource_id: None,
        status: StepOutcome::Failed,
        message: "terraform apply failed: quota exceeded".into(),
        outputs: Default::default(),
        sensitive_outputs: Default::default(),
        sequence: 5,
    };
    t.stack.app.apply_status(&fail).await.expect("apply");
    let (r, o) = final_state(&t, &admin, &ws).await;
    assert_eq!(r["status"], "deployment_failed");
    assert_eq!(o["status"], "deployment_failed");
    assert_eq!(o["message"], "terraform apply failed: quota exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_consumer_applies_queued_messages_and_dead_letters_poison() {
    use std::time::Duration;
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "q").await;
    let op = t
        .get(&format!("/api/workspaces/{ws}/operations"), &admin)
        .await
        .body["operations"][0]["id"]
        .as_str()
        .expect("op")
        .to_string();
    let queue = t.stack.status_queue().expect("queue");
    for m in messages(&ws, &op) {
        queue
            .send(&serde_json::to_string(&m).expect("json"), None)
            .await
            .expect("send");
    }
    queue
        .send("poison: not a status message", None)
        .await
        .expect("send");

    let mut deployed = false;
    for _ in 0..100 {
        let r = t.get(&format!("/api/workspaces/{ws}"), &admin).await;
        if r.item()["deploymentStatus"] == "deployed" {
            deployed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(deployed, "the consumer applied the queued messages");

    // The poison message is retried MAX_RECEIVES times, then lands in the dead-letter queue.
    let dir = t.stack.data_dir.clone();
    let dlq = tre_embedded::Embedded::open(&dir)
        .expect("open")
        .queue(tre_local::STATUS_DEAD_LETTERS, None)
        .expect("dlq");
    let mut dead = Vec::new();
    for _ in 0..150 {
        dead = dlq
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1, "poison message dead-lettered");
    assert!(dead[0].body.starts_with("poison"));
}

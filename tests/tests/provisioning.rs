//! Provisioning end to end on the local stack: the sample bundles run for real (the engine
//! runs statemachines/resource-action.asl.json, each step starts the bundle runner as a
//! process, the runner reports to the status queue, the consumer applies it).

use http::Method;
use serde_json::{json, Value};
use tre_e2e::{register_bundle, sample_bundle, test_options, TestStack};

async fn admin_stack() -> (TestStack, String) {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    for b in [
        "tre-workspace-base",
        "tre-service-notebook",
        "tre-user-resource-vm",
        "tre-shared-package-mirror",
        "tre-failing",
    ] {
        register_bundle(&t, &admin, &sample_bundle(b)).await;
    }
    (t, admin)
}

/// POST a create and wait for its end; returns (path, settled resource).
async fn create(t: &TestStack, admin: &str, base: &str, body: Value) -> (String, Value) {
    let created = t.post_ok(base, admin, &body, 202).await;
    let id = created["operation"]["resourceId"].as_str().expect("id");
    let path = format!("{base}/{id}");
    let r = t.settled(&path, admin).await;
    (path, r.item().clone())
}

async fn patch(t: &TestStack, admin: &str, path: &str, body: Value) -> Value {
    let etag = t.get(path, admin).await.etag.expect("etag");
    let r = t
        .call(Method::PATCH, path, Some(admin), Some(&body), Some(&etag))
        .await;
    assert_eq!(r.status, 202, "PATCH {path}: {}", r.body);
    t.settled(path, admin).await.item().clone()
}

async fn delete(t: &TestStack, admin: &str, path: &str) -> u16 {
    t.call(Method::DELETE, path, Some(admin), None, None)
        .await
        .status
}

async fn last_operation(t: &TestStack, admin: &str, path: &str) -> Value {
    let ops = t.get(&format!("{path}/operations"), admin).await.body;
    ops["operations"][0].clone()
}

fn status(r: &Value) -> &str {
    r["deploymentStatus"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_bundles_provision_upgrade_act_disable_and_delete() {
    let (t, admin) = admin_stack().await;

    let (ws, w) = create(
        &t,
        &admin,
        "/api/workspaces",
        json!({"templateName": "tre-workspace-base",
               "properties": {"display_name": "Cancer study", "storage_key": "k-123-secret"}}),
    )
    .await;
    assert_eq!(status(&w), "deployed", "{w}");
    let storage =
        std::path::PathBuf::from(w["properties"]["storage_path"].as_str().expect("output"));
    assert!(storage.join("shared").is_dir() && storage.join("users").is_dir());
    assert!(
        storage.join("workspace.properties").is_file(),
        "the second install step ran"
    );
    // The sensitive parameter reached the bundle, and only the bundle.
    assert_eq!(
        std::fs::read_to_string(storage.join(".key")).expect("key"),
        "k-123-secret"
    );
    assert!(!w.to_string().contains("k-123-secret"));
    let op = last_operation(&t, &admin, &ws).await;
    assert_eq!(op["status"], "deployed");

    let svc_base = format!("{ws}/workspace-services");
    let (svc, s) = create(
        &t,
        &admin,
        &svc_base,
        json!({"templateName": "tre-service-notebook", "properties": {}}),
    )
    .await;
    assert_eq!(status(&s), "deployed", "{s}");
    assert!(s["properties"]["notebook_url"].is_string(), "{s}");

    let ur_base = format!("{svc}/user-resources");
    let (ur, u) = create(
        &t,
        &admin,
        &ur_base,
        json!({"templateName": "tre-user-resource-vm", "properties": {}}),
    )
    .await;
    assert_eq!(status(&u), "deployed", "{u}");
    let vm = std::path::PathBuf::from(u["properties"]["vm_path"].as_str().expect("vm_path"));
    assert_eq!(
        std::fs::read_to_string(vm.join("size"))
            .expect("size")
            .trim(),
        "small"
    );

    // Upgrade: an updateable parameter changes and the bundle sees it...
    let u = patch(&t, &admin, &ur, json!({"properties": {"size": "large"}})).await;
    assert_eq!(status(&u), "updated", "{u}");
    assert_eq!(u["properties"]["size"], "large");
    assert_eq!(
        std::fs::read_to_string(vm.join("size"))
            .expect("size")
            .trim(),
        "large"
    );
    // ...one that is not updateable is refused.
    let etag = t.get(&ws, &admin).await.etag.expect("etag");
    let r = t
        .call(
            Method::PATCH,
            &ws,
            Some(&admin),
            Some(&json!({"properties": {"storage_quota_gb": 99}})),
            Some(&etag),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // A custom action.
    let r = t
        .call(
            Method::POST,
            &format!("{ws}/invoke-action?action=snapshot"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let w = t.settled(&ws, &admin).await.item().clone();
    assert_eq!(status(&w), "action_succeeded", "{w}");
    assert!(w["properties"]["last_snapshot"].is_string(), "{w}");
    assert!(storage.join("snapshots").is_dir());

    // Deleting while enabled is refused.
    assert_eq!(delete(&t, &admin, &ws).await, 409);

    // Disabling the workspace disables everything under it, in one pipeline operation.
    let w = patch(&t, &admin, &ws, json!({"isEnabled": false})).await;
    assert_eq!(status(&w), "updated", "{w}");
    let op = last_operation(&t, &admin, &ws).await;
    assert_eq!(op["steps"].as_array().map(Vec::len), Some(3), "{op}");
    assert_eq!(op["status"], "updated", "{op}");
    for p in [&svc, &ur] {
        let r = t.get(p, &admin).await.item().clone();
        assert_eq!(r["isEnabled"], false, "{r}");
        assert_eq!(status(&r), "updated", "{r}");
    }
    // Nothing new may be created under a disabled parent.
    let r = t
        .post(
            &ur_base,
            &admin,
            &json!({"templateName": "tre-user-resource-vm", "properties": {}}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Delete: a user resource alone, then the workspace with what is left under it, in one
    // operation; each uninstall really removes what the install made.
    assert_eq!(delete(&t, &admin, &ur).await, 200);
    let history_of_ur = t.settled(&ur, &admin).await;
    assert_eq!(
        history_of_ur.status, 404,
        "a deleted resource is gone from the API"
    );
    assert!(!vm.exists(), "the VM's folder was removed");
    assert_eq!(delete(&t, &admin, &ws).await, 200);
    assert_eq!(t.settled(&ws, &admin).await.status, 404);
    assert_eq!(t.get(&svc, &admin).await.status, 404, "deleted with it");
    assert!(!storage.exists(), "the workspace's storage was removed");

    // A shared service.
    let (_, m) = create(
        &t,
        &admin,
        "/api/shared-services",
        json!({"templateName": "tre-shared-package-mirror", "properties": {}}),
    )
    .await;
    assert_eq!(status(&m), "deployed", "{m}");
    assert!(m["properties"]["mirror_path"].is_string());

    // A bundle that fails: the resource ends failed with the bundle's own message, and
    // nothing can be created under it.
    let (bad, b) = create(
        &t,
        &admin,
        "/api/workspaces",
        json!({"templateName": "tre-failing", "properties": {}}),
    )
    .await;
    assert_eq!(status(&b), "deployment_failed", "{b}");
    let op = last_operation(&t, &admin, &bad).await;
    assert_eq!(op["status"], "deployment_failed");
    assert!(
        op["message"]
            .as_str()
            .unwrap_or_default()
            .contains("quota exceeded"),
        "{op}"
    );
    let r = t
        .post(
            &format!("{bad}/workspace-services"),
            &admin,
            &json!({"templateName": "tre-service-notebook", "properties": {}}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not deployed"),
        "{}",
        r.body
    );

    // The workflow's history was recorded. The operation failed when the runner reported;
    // the execution ends, and its last events are written, once the runner process exits.
    let op_id = op["id"].as_str().expect("op id");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let history = loop {
        let history = t.stack.execution_history(op_id).await.expect("history");
        if history.iter().any(|e| e["type"] == "TaskFailed") || std::time::Instant::now() > deadline
        {
            break history;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        history.iter().any(|e| e["type"] == "TaskFailed"),
        "{history:?}"
    );
}

/// A user resource whose `restart` action takes `delay` seconds.
async fn slow_vm(t: &TestStack, admin: &str, delay: u64) -> String {
    let (ws, _) = create(
        t,
        admin,
        "/api/workspaces",
        json!({"templateName": "tre-workspace-base", "properties": {"display_name": "w"}}),
    )
    .await;
    let (svc, _) = create(
        t,
        admin,
        &format!("{ws}/workspace-services"),
        json!({"templateName": "tre-service-notebook", "properties": {}}),
    )
    .await;
    let (ur, u) = create(
        t,
        admin,
        &format!("{svc}/user-resources"),
        json!({"templateName": "tre-user-resource-vm", "properties": {"restart_delay_seconds": delay}}),
    )
    .await;
    assert_eq!(status(&u), "deployed", "{u}");
    ur
}

async fn start_restart(t: &TestStack, admin: &str, ur: &str) -> u32 {
    let r = t
        .call(
            Method::POST,
            &format!("{ur}/invoke-action?action=restart"),
            Some(admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let op_id = r.body["operation"]["id"]
        .as_str()
        .expect("operation id")
        .to_string();
    for _ in 0..500 {
        if let Some(task) = t
            .stack
            .running_tasks()
            .into_iter()
            .find(|k| k.operation_id == op_id)
        {
            return task.pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the runner of operation {op_id} never started");
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_fails_its_step_with_a_message_and_a_retry_succeeds() {
    let (t, admin) = admin_stack().await;
    let ur = slow_vm(&t, &admin, 60).await;
    let pid = start_restart(&t, &admin, &ur).await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let u = t.settled(&ur, &admin).await.item().clone();
    assert_eq!(status(&u), "action_failed", "{u}");
    let op = last_operation(&t, &admin, &ur).await;
    let message = op["message"].as_str().unwrap_or_default();
    assert!(message.contains("killed by signal 9"), "{op}");

    // Retry once the cause is gone: the action now succeeds.
    let u = patch(
        &t,
        &admin,
        &ur,
        json!({"properties": {"restart_delay_seconds": 0}}),
    )
    .await;
    assert_eq!(status(&u), "updated", "{u}");
    let r = t
        .call(
            Method::POST,
            &format!("{ur}/invoke-action?action=restart"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let u = t.settled(&ur, &admin).await.item().clone();
    assert_eq!(status(&u), "action_succeeded", "{u}");
    assert!(u["properties"]["restarted_at"].is_string(), "{u}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_stack_mid_operation_leaves_nothing_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = tre_local::DevStack::start(test_options(dir.path()))
        .await
        .expect("start");
    let t = TestStack::wrap(first);
    let admin = t.token("admin");
    for b in [
        "tre-workspace-base",
        "tre-service-notebook",
        "tre-user-resource-vm",
    ] {
        register_bundle(&t, &admin, &sample_bundle(b)).await;
    }
    let ur = slow_vm(&t, &admin, 60).await;
    let pid = start_restart(&t, &admin, &ur).await;
    t.stack_shutdown().await;
    // The runner went down with the stack (as a Fargate task would with its cluster here).
    for _ in 0..100 {
        if !alive(pid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!alive(pid), "runner {pid} outlived the stack");

    let second = tre_local::DevStack::start(test_options(dir.path()))
        .await
        .expect("restart");
    let t = TestStack::wrap(second);
    let admin = t.token("admin");
    let u = t.settled(&ur, &admin).await.item().clone();
    assert_eq!(status(&u), "action_failed", "{u}");
    let op = last_operation(&t, &admin, &ur).await;
    assert!(
        op["message"]
            .as_str()
            .unwrap_or_default()
            .contains("engine stopped"),
        "{op}"
    );
    // Nothing anywhere is left in progress.
    for p in [ur.clone()] {
        let ops = t.get(&format!("{p}/operations"), &admin).await.body;
        for o in ops["operations"].as_array().expect("operations") {
            let s = o["status"].as_str().unwrap_or_default();
            assert!(!s.starts_with("awaiting") && !s.ends_with("ing"), "{o}");
        }
    }
    // And the resource works again.
    let _ = patch(
        &t,
        &admin,
        &ur,
        json!({"properties": {"restart_delay_seconds": 0}}),
    )
    .await;
    let r = t
        .call(
            Method::POST,
            &format!("{ur}/invoke-action?action=restart"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        status(&t.settled(&ur, &admin).await.item().clone()),
        "action_succeeded"
    );
    drop(dir);
}

//! Behaviour specific to the embedded adapters (beyond the shared contracts).

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tre_core::ports::{
    bytes_stream, Condition, ExecutionStatus, Key, ObjectStore, PresignMethod, PutOptions, Queue,
    Table, Workflows,
};
use tre_core::PortError;
use tre_embedded::{presigned_router, Embedded, TaskOutcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_links_refuse_tampering_expiry_and_wrong_method() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(
        emb.object_store(&base, &b"a-secret-of-enough-length"[..])
            .unwrap(),
    );
    let server = tokio::spawn(axum::serve(listener, presigned_router(store.clone())).into_future());
    store
        .put(
            "k/obj",
            bytes_stream(&b"secret data"[..]),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let url = store
        .presign(PresignMethod::Get, "k/obj", Duration::from_secs(60))
        .await
        .unwrap()
        .url;
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);

    let last = url.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    let other_key = url.replace("k/obj", "k/other");
    let as_put = url.replace("method=GET", "method=PUT");
    for bad in [tampered, other_key] {
        let resp = client.get(&bad).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{bad}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], 403);
    }
    // A GET link does not allow a PUT, whatever the query says.
    let resp = client.put(&as_put).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client.put(&url).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 403);

    // Expiry is checked against the given clock.
    let q: std::collections::HashMap<String, String> = reqwest::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let expires: i64 = q["expires"].parse().unwrap();
    let sig = &q["sig"];
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap();
    assert!(store
        .verify_presigned(PresignMethod::Get, "k/obj", expires, sig, at(expires))
        .is_ok());
    assert!(matches!(
        store.verify_presigned(PresignMethod::Get, "k/obj", expires, sig, at(expires + 1)),
        Err(PortError::Invalid(_))
    ));
    assert!(store
        .verify_presigned(PresignMethod::Get, "k/obj", expires + 60, sig, at(expires))
        .is_err());
    server.abort();
}

#[tokio::test]
async fn stale_receipt_does_not_delete_a_re_received_message() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let q = emb.queue("status", None).unwrap();
    q.send("m", None).await.unwrap();
    let first = q
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    q.change_visibility(&first[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let second = q
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    q.delete(&first[0].receipt).await.unwrap();
    assert_eq!(
        q.approximate_len().await.unwrap(),
        1,
        "stale receipt deleted the message"
    );
    assert!(matches!(
        q.change_visibility(&first[0].receipt, Duration::ZERO).await,
        Err(PortError::Invalid(_))
    ));
    q.delete(&second[0].receipt).await.unwrap();
    assert_eq!(q.approximate_len().await.unwrap(), 0);
}

#[tokio::test]
async fn long_poll_wakes_on_send() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let q = emb.queue("poll", None).unwrap();
    let sender = q.clone();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sender.send("late", None).await.unwrap();
    });
    let got = q
        .receive(1, Duration::from_secs(30), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn task_tokens_and_finishing_executions() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let wf = emb.workflows();
    let id = wf
        .start_execution("airlock-review", "op-1", &json!({"a": 1}))
        .await
        .unwrap();
    assert!(matches!(
        wf.register_task_token("local:execution:x:nope", "t0").await,
        Err(PortError::NotFound(_))
    ));
    wf.register_task_token(&id, "t1").await.unwrap();
    assert_eq!(wf.task_outcome("t1").await.unwrap(), TaskOutcome::Pending);
    wf.send_task_success("t1", &json!({"ok": true}))
        .await
        .unwrap();
    assert_eq!(
        wf.task_outcome("t1").await.unwrap(),
        TaskOutcome::Succeeded(json!({"ok": true}))
    );
    assert!(matches!(
        wf.send_task_failure("t1", "E", "c").await,
        Err(PortError::Invalid(_))
    ));
    wf.finish_execution(
        &id,
        ExecutionStatus::Succeeded,
        Some(&json!({"done": 1})),
        None,
        None,
    )
    .await
    .unwrap();
    let ex = wf.describe_execution(&id).await.unwrap();
    assert_eq!(ex.status, ExecutionStatus::Succeeded);
    assert_eq!(ex.output, Some(json!({"done": 1})));
}

#[tokio::test]
async fn data_survives_reopening_and_leftover_temp_files_stay_invisible() {
    let dir = tempfile::tempdir().unwrap();
    {
        let emb = Embedded::open(dir.path()).unwrap();
        emb.table()
            .put(
                &Key::new("p", "s"),
                None,
                &json!({"x": 1}),
                Condition::Absent,
            )
            .await
            .unwrap();
        let store = emb
            .object_store("http://localhost", &b"0123456789abcdef"[..])
            .unwrap();
        store
            .put("a/b", bytes_stream(&b"1"[..]), PutOptions::default())
            .await
            .unwrap();
        // What a crash in the middle of a put leaves behind.
        std::fs::write(store.root().join("tmp/crashed.tmp"), b"half").unwrap();
    }
    let emb = Embedded::open(dir.path()).unwrap();
    let item = emb.table().get(&Key::new("p", "s")).await.unwrap().unwrap();
    assert_eq!(item.version, 1);
    let store = emb
        .object_store("http://localhost", &b"0123456789abcdef"[..])
        .unwrap();
    let page = store.list("", None, 100).await.unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/b"]);
}

#[tokio::test]
async fn keys_with_empty_or_dot_segments_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let store = emb
        .object_store("http://localhost", &b"0123456789abcdef"[..])
        .unwrap();
    for key in ["a//b", "a/", "./a", "a/./b"] {
        let r = store
            .put(key, bytes_stream(&b"x"[..]), PutOptions::default())
            .await;
        assert!(matches!(r, Err(PortError::Invalid(_))), "{key:?}");
    }
}

/// Objects written beside others being deleted (each delete prunes the directories it leaves
/// empty, up to a shared parent) are all written: publishing retries a pruned directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_beside_deletes_that_prune_their_parent() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let store = Arc::new(
        emb.object_store("http://localhost", &b"0123456789abcdef"[..])
            .unwrap(),
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..150 {
                    let key = format!("uploads/{}/state.json", uuid::Uuid::new_v4());
                    store
                        .put(&key, bytes_stream(&b"{}"[..]), PutOptions::default())
                        .await
                        .expect("put beside deletes");
                    store.delete(&key).await.expect("delete");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

//! The embedded store under many writers at once: one writer per process commits what is
//! queued together, each call in its own savepoint, and other handles (other processes) share
//! the file through SQLite's lock. None of that may weaken a conditional write or a
//! transaction, or let a caller see its write succeed before it is readable.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tre_core::ports::{Condition, Key, Queue, Table, WriteOp};
use tre_core::PortError;
use tre_embedded::Embedded;

/// Read-modify-write with a version condition, retried on conflict: the classic lost-update
/// test. Every increment must land exactly once.
async fn increment(t: &dyn Table, key: &Key) -> u64 {
    let mut conflicts = 0;
    loop {
        let (n, cond) = match t.get(key).await.unwrap() {
            Some(item) => (
                item.body["n"].as_u64().unwrap(),
                Condition::Version(item.version),
            ),
            None => (0, Condition::Absent),
        };
        match t.put(key, None, &json!({"n": n + 1}), cond).await {
            Ok(_) => return conflicts,
            Err(PortError::ConditionFailed(_)) => conflicts += 1,
            Err(e) => panic!("increment failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_increments_from_two_handles_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Two handles on one directory behave like the stack and a runner process: two writers,
    // arbitrated by the file lock.
    let a: Arc<dyn Table> = Arc::new(Embedded::open(dir.path()).unwrap().table());
    let b: Arc<dyn Table> = Arc::new(Embedded::open(dir.path()).unwrap().table());
    let key = Key::new("COUNTER", "c");
    let mut tasks = Vec::new();
    for i in 0..48 {
        let t = if i % 2 == 0 { a.clone() } else { b.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..10 {
                conflicts += increment(t.as_ref(), &key).await;
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let item = a.get(&key).await.unwrap().unwrap();
    assert_eq!(item.body["n"], 480, "after {conflicts} conflicts");
    assert_eq!(item.version, 480);
    // The other handle reads the same.
    assert_eq!(b.get(&key).await.unwrap().unwrap().body["n"], 480);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_failing_call_in_a_group_commit_undoes_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let t: Arc<dyn Table> = Arc::new(emb.table());
    let contested = Key::new("RACE", "only-one");
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let t = t.clone();
        let contested = contested.clone();
        tasks.push(tokio::spawn(async move {
            // Every call is queued at once, so many share one batch with the failing ones.
            let own = Key::new("RACE", format!("own-{i:02}"));
            let mine = t
                .put(&own, None, &json!({"i": i}), Condition::Absent)
                .await
                .map(|_| ());
            let won = t
                .put(&contested, None, &json!({"winner": i}), Condition::Absent)
                .await;
            // A transaction whose last op fails writes none of its ops.
            let failed_tx = t
                .transact(&[
                    WriteOp::Put {
                        key: Key::new("RACE", format!("tx-{i:02}")),
                        index: None,
                        body: json!({"i": i}),
                        condition: Condition::Absent,
                    },
                    WriteOp::Check {
                        key: Key::new("RACE", "never-there"),
                        condition: Condition::Exists,
                    },
                ])
                .await;
            // Read your own write: answered means committed and visible to readers.
            let seen = t.get(&own).await.unwrap().map(|it| it.body["i"].clone());
            (i, mine, won, failed_tx, seen)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, mine, won, failed_tx, seen) = task.await.unwrap();
        mine.unwrap();
        assert_eq!(seen, Some(json!(i)), "call {i} did not read its own write");
        match won {
            Ok(_) => winners.push(i),
            Err(PortError::ConditionFailed(_)) => {}
            Err(e) => panic!("call {i}: unexpected error {e}"),
        }
        assert!(
            matches!(failed_tx, Err(PortError::ConditionFailed(_))),
            "call {i}: {failed_tx:?}"
        );
        let leaked = t
            .get(&Key::new("RACE", format!("tx-{i:02}")))
            .await
            .unwrap();
        assert!(leaked.is_none(), "a failed transaction left {leaked:?}");
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let item = t.get(&contested).await.unwrap().unwrap();
    assert_eq!(item.body["winner"], json!(winners[0]));
    assert_eq!(item.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_through_another_handle_reaches_a_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    let consumer = Embedded::open(dir.path()).unwrap();
    let runner = Embedded::open(dir.path()).unwrap();
    let q = consumer.queue("status", None).unwrap();
    let poll = tokio::spawn(async move {
        q.receive(1, Duration::from_secs(60), Duration::from_secs(20))
            .await
    });
    // Let the poll start listening before the send (a send before it is simply received).
    tokio::task::yield_now().await;
    let sent = runner
        .queue("status", None)
        .unwrap()
        .send("from the runner", None)
        .await
        .unwrap();
    let got = poll.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, sent);
    assert_eq!(got[0].body, "from the runner");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doorbell_is_taken_over_from_a_dead_process_and_left_to_a_live_one() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let bell = dir.path().join("tre.bell");
    // A socket file nobody listens on: what a process that was killed leaves behind.
    drop(UnixDatagram::bind(&bell).unwrap());
    let probe = UnixDatagram::unbound().unwrap();
    assert!(
        probe.send_to(&[0], &bell).is_err(),
        "nobody should listen yet"
    );

    let first = Embedded::open(dir.path()).unwrap();
    let q = first.queue("q", None).unwrap();
    q.receive(1, Duration::from_secs(1), Duration::from_millis(1))
        .await
        .unwrap();
    probe
        .send_to(&[0], &bell)
        .expect("the first long poll listens on the doorbell");

    // A second handle finds a live listener and leaves it alone.
    let second = Embedded::open(dir.path()).unwrap();
    second
        .queue("q", None)
        .unwrap()
        .receive(1, Duration::from_secs(1), Duration::from_millis(1))
        .await
        .unwrap();
    drop(second);
    probe
        .send_to(&[0], &bell)
        .expect("the listener survives the second handle");

    // The listener's handle gone, the file goes with it.
    drop(q);
    drop(first);
    assert!(!bell.exists(), "the doorbell file outlived its listener");
}

//! Intake and publish on both layouts of the stages: prefixes of one store (locally; files
//! move by rename) and a store each (AWS's buckets; files are copied through the runner).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tre_core::app::AirlockStorage;
use tre_core::ports::{bytes_stream, Condition, ObjectStore, Queue};
use tre_embedded::{Embedded, FsObjectStore};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

struct Rig {
    _dir: tempfile::TempDir,
    ports: Ports,
    queue: Arc<dyn Queue>,
}

fn rig(shared: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let embedded = Embedded::open(dir.path()).unwrap();
    let storage = if shared {
        tre_embedded::airlock_stages(Arc::new(
            FsObjectStore::open(dir.path().join("objects"), "http://127.0.0.1", SECRET).unwrap(),
        ))
    } else {
        AirlockStorage::new(
            Stage::ALL
                .into_iter()
                .map(|stage| {
                    let store: Arc<dyn ObjectStore> = Arc::new(
                        FsObjectStore::open(
                            dir.path().join(stage.as_str()),
                            "http://127.0.0.1",
                            SECRET,
                        )
                        .unwrap(),
                    );
                    (stage, store)
                })
                .collect::<HashMap<_, _>>(),
        )
    };
    let queue: Arc<dyn Queue> = Arc::new(embedded.queue("status", None).unwrap());
    let ports = Ports {
        storage,
        table: Arc::new(embedded.table()),
        status_queue: queue.clone(),
        scanners: vec![Arc::new(scan::Policy::default())],
        secrets: Arc::new(tre_embedded::FileSecrets::new(dir.path().join("secrets"))),
    };
    Rig {
        _dir: dir,
        ports,
        queue,
    }
}

fn job(action: Action, files: &[&str]) -> Job {
    Job {
        action,
        request_id: "r1".into(),
        workspace_id: "w1".into(),
        kind: RequestType::Import,
        files: files.iter().map(|f| f.to_string()).collect(),
    }
}

/// Several of the local store's read chunks and a ragged end, incompressible.
fn content(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::new();
    while out.len() < 3 * 1024 * 1024 + 12_345 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Rig {
    fn store(&self, stage: Stage) -> Arc<dyn ObjectStore> {
        self.ports.storage.store(stage).unwrap()
    }

    async fn put(&self, stage: Stage, name: &str, data: &[u8]) {
        let key = job(Action::Intake, &[]).key(stage, name);
        self.store(stage)
            .put(&key, bytes_stream(data.to_vec()), Default::default())
            .await
            .unwrap();
    }

    async fn head(&self, stage: Stage, name: &str) -> Option<tre_core::ports::ObjectMeta> {
        let key = job(Action::Intake, &[]).key(stage, name);
        self.store(stage).head(&key).await.unwrap()
    }

    async fn read(&self, stage: Stage, name: &str) -> Option<Vec<u8>> {
        let key = job(Action::Intake, &[]).key(stage, name);
        let mut got = match self.store(stage).get(&key, None).await {
            Ok(g) => g,
            Err(PortError::NotFound(_)) => return None,
            Err(e) => panic!("{e}"),
        };
        let mut out = Vec::new();
        while let Some(c) = got.body.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        Some(out)
    }

    /// The reports sent so far, in order.
    async fn reports(&self) -> Vec<AirlockStatus> {
        let mut out = Vec::new();
        loop {
            let got = self
                .queue
                .receive(10, Duration::from_secs(60), Duration::ZERO)
                .await
                .unwrap();
            if got.is_empty() {
                return out;
            }
            for m in got {
                let v: Value = serde_json::from_str(&m.body).unwrap();
                out.push(serde_json::from_value(v["airlockStatus"].clone()).unwrap());
                self.queue.delete(&m.receipt).await.unwrap();
            }
        }
    }

    /// Record the files as the status consumer does after intake.
    async fn record(&self, files: &[AirlockFile]) {
        self.ports
            .table
            .put(
                &airlock_request_key("w1", "r1"),
                None,
                &json!({ "files": files }),
                Condition::Absent,
            )
            .await
            .unwrap();
    }
}

async fn intake_then_publish(shared: bool) {
    let rig = rig(shared);
    let (a, b) = (content(1), content(2));
    rig.put(Stage::ImportStaging, "a.csv", &a).await;
    rig.put(Stage::ImportStaging, "b.csv", &b).await;
    let intake = job(Action::Intake, &["a.csv", "b.csv"]);
    let staged = rig.head(Stage::ImportStaging, "a.csv").await.unwrap();
    run(&intake, &rig.ports).await.unwrap();
    // On one store the file moved (the very object, untouched); across stores it was copied.
    let reviewed = rig.head(Stage::ImportInReview, "a.csv").await.unwrap();
    assert_eq!(staged.last_modified == reviewed.last_modified, shared);
    let reports = rig.reports().await;
    let report = reports.last().unwrap();
    assert_eq!(report.event, AirlockEvent::Scanned, "{report:?}");
    assert_eq!(report.scan.as_ref().unwrap().verdict, "clean");
    assert_eq!(
        report.files,
        vec![
            AirlockFile {
                name: "a.csv".into(),
                size: Some(a.len() as u64),
                sha256: Some(sha256(&a)),
            },
            AirlockFile {
                name: "b.csv".into(),
                size: Some(b.len() as u64),
                sha256: Some(sha256(&b)),
            },
        ]
    );
    assert_eq!(rig.read(Stage::ImportStaging, "a.csv").await, None);
    assert_eq!(
        rig.read(Stage::ImportInReview, "a.csv").await,
        Some(a.clone())
    );

    // A retried intake (staging already emptied) measures the review copies again.
    run(&intake, &rig.ports).await.unwrap();
    assert_eq!(rig.reports().await.last().unwrap().files, report.files);

    rig.record(&report.files).await;
    let publish = job(Action::Publish, &["a.csv", "b.csv"]);
    run(&publish, &rig.ports).await.unwrap();
    let done = rig.reports().await;
    assert_eq!(done.last().unwrap().event, AirlockEvent::Finished);
    assert_eq!(done.last().unwrap().files, report.files);
    assert_eq!(rig.read(Stage::WorkspaceData, "a.csv").await, Some(a));
    assert_eq!(rig.read(Stage::WorkspaceData, "b.csv").await, Some(b));
    assert_eq!(rig.read(Stage::ImportInReview, "b.csv").await, None);

    // A retried publish (review already emptied) checks the published copies.
    run(&publish, &rig.ports).await.unwrap();
    assert_eq!(
        rig.reports().await.last().unwrap().event,
        AirlockEvent::Finished
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_then_publish_on_one_store() {
    intake_then_publish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_then_publish_across_stores() {
    intake_then_publish(false).await;
}

async fn a_file_changed_in_review_is_not_published(shared: bool) {
    let rig = rig(shared);
    let a = content(3);
    rig.put(Stage::ImportStaging, "a.csv", &a).await;
    run(&job(Action::Intake, &["a.csv"]), &rig.ports)
        .await
        .unwrap();
    let files = rig.reports().await.pop().unwrap().files;
    rig.record(&files).await;
    let mut tampered = a.clone();
    tampered[2_000_000] ^= 1;
    rig.put(Stage::ImportInReview, "a.csv", &tampered).await;
    let err = run(&job(Action::Publish, &["a.csv"]), &rig.ports)
        .await
        .unwrap_err();
    assert!(err.contains("changed in review"), "{err}");
    assert!(err.contains(&sha256(&tampered)), "{err}");
    assert_eq!(rig.read(Stage::WorkspaceData, "a.csv").await, None);
    let failed = rig.reports().await.pop().unwrap();
    assert_eq!(failed.event, AirlockEvent::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_in_review_is_not_published_on_one_store() {
    a_file_changed_in_review_is_not_published(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_in_review_is_not_published_across_stores() {
    a_file_changed_in_review_is_not_published(false).await;
}

async fn a_threat_leaves_nothing_in_review(shared: bool) {
    let rig = rig(shared);
    let mut bad = content(4);
    // Straddling the local store's first read chunk boundary.
    let at = 1024 * 1024 - 30;
    bad[at..at + scan::EICAR.len()].copy_from_slice(scan::EICAR);
    rig.put(Stage::ImportStaging, "bad.txt", &bad).await;
    rig.put(Stage::ImportStaging, "good.csv", &content(5)).await;
    run(&job(Action::Intake, &["good.csv", "bad.txt"]), &rig.ports)
        .await
        .unwrap();
    let report = rig.reports().await.pop().unwrap();
    let scan = report.scan.unwrap();
    assert_eq!(scan.verdict, "threat");
    assert!(scan.findings[0].contains("EICAR"), "{:?}", scan.findings);
    for stage in [Stage::ImportStaging, Stage::ImportInReview] {
        for name in ["good.csv", "bad.txt"] {
            assert_eq!(rig.read(stage, name).await, None, "{stage:?} {name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threat_leaves_nothing_in_review_on_one_store() {
    a_threat_leaves_nothing_in_review(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threat_leaves_nothing_in_review_across_stores() {
    a_threat_leaves_nothing_in_review(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_fails_the_intake() {
    let rig = rig(true);
    let err = run(&job(Action::Intake, &["nothing.csv"]), &rig.ports)
        .await
        .unwrap_err();
    assert!(err.contains("nothing.csv"), "{err}");
    assert_eq!(
        rig.reports().await.pop().unwrap().event,
        AirlockEvent::Failed
    );
}

//! Every port contract suite, run against the embedded adapters in a fresh directory.

use std::future::IntoFuture;
use std::sync::Arc;

use tre_core::ports::{ObjectStore, Queue, Table, Workflows};
use tre_embedded::{presigned_router, Embedded, RedrivePolicy};

const SECRET: &[u8] = b"contract-test-presign-secret";

#[tokio::test]
async fn table_contract() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(emb.table());
    // Twice on one table: the suite must not trip over its own earlier items.
    tre_testkit::table::run(table.clone()).await;
    tre_testkit::table::run(table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_contract() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    tre_testkit::queue::run(|| {
        let emb = emb.clone();
        async move {
            let n = uuid::Uuid::new_v4().simple().to_string();
            let dlq_name = format!("q-{n}-dlq");
            let redrive = RedrivePolicy {
                max_receives: 3,
                dead_letter_queue: dlq_name.clone(),
            };
            let q: Arc<dyn Queue> = Arc::new(emb.queue(&format!("q-{n}"), Some(redrive)).unwrap());
            let dlq: Arc<dyn Queue> = Arc::new(emb.queue(&dlq_name, None).unwrap());
            (q, dlq)
        }
    })
    .await;
}

#[tokio::test]
async fn workflows_contract() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let wf: Arc<dyn Workflows> = Arc::new(emb.workflows());
    tre_testkit::workflows::run(wf, "trivial-pass").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(emb.object_store(&base, SECRET).unwrap());
    let server = tokio::spawn(axum::serve(listener, presigned_router(store.clone())).into_future());
    let dyn_store: Arc<dyn ObjectStore> = store;
    tre_testkit::object_store::run(dyn_store.clone(), true).await;
    tre_testkit::object_store::form_policy_enforced(dyn_store).await;
    server.abort();
}

/// The airlock's stages are prefixes of one store locally: each must behave as a store of its
/// own (listing, copies and pre-signed links included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixed_object_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let emb = Embedded::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(emb.object_store(&base, SECRET).unwrap());
    let server = tokio::spawn(axum::serve(listener, presigned_router(store.clone())).into_future());
    let inner: Arc<dyn ObjectStore> = store;
    // Something beside the prefix must stay invisible through it.
    inner
        .put(
            "airlock/other-stage/x",
            tre_core::ports::bytes_stream("elsewhere"),
            Default::default(),
        )
        .await
        .unwrap();
    let prefixed: Arc<dyn ObjectStore> = Arc::new(tre_core::ports::PrefixedStore::new(
        inner,
        "airlock/import-staging",
    ));
    tre_testkit::object_store::run(prefixed.clone(), true).await;
    tre_testkit::object_store::form_policy_enforced(prefixed).await;
    server.abort();
}

/// The local secrets file: the shared contract, and a file others may read is refused.
#[tokio::test]
async fn file_secrets_contract() {
    use tre_core::ports::SecretStore;
    use tre_testkit::secrets::{KNOWN_NAME, KNOWN_VALUE};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(tre_embedded::SECRETS_FILE);
    std::fs::write(
        &path,
        serde_json::json!({ KNOWN_NAME: KNOWN_VALUE, "other": "x" }).to_string(),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let store: Arc<dyn SecretStore> = Arc::new(tre_embedded::FileSecrets::new(&path));
    tre_testkit::secrets::run(store.clone()).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        match store.secret(KNOWN_NAME).await {
            Err(tre_core::PortError::Invalid(m)) => assert!(m.contains("chmod 600"), "{m}"),
            other => panic!("a readable secrets file must be refused: {other:?}"),
        }
    }
}

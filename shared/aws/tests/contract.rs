//! The AWS adapters pass the same contract suites as the embedded ones, against moto server
//! (an AWS emulator on loopback, started and stopped by the test).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tre_aws::{
    create_queue_with_dlq, create_table_if_missing, DynamoTable, S3ObjectStore, SfnWorkflows,
    SqsQueue,
};
use tre_core::ports::{ObjectStore, Queue, Table, Workflows};
use tre_testkit::moto::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_table_contract() {
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    create_table_if_missing(&client, "tre-contract")
        .await
        .expect("table");
    create_table_if_missing(&client, "tre-contract")
        .await
        .expect("creating twice is fine");
    let table: Arc<dyn Table> = Arc::new(DynamoTable::new(client, "tre-contract"));
    tre_testkit::table::run(table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_object_store_contract() {
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = S3ObjectStore::client(&conf, true);
    moto.create_bucket("tre-contract").await.expect("bucket");
    let store: Arc<dyn ObjectStore> =
        Arc::new(S3ObjectStore::new(client, "tre-contract", "stage").with_form_signer(&conf));
    tre_testkit::object_store::run(store, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_contract() {
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&conf);
    let n = AtomicUsize::new(0);
    tre_testkit::queue::run(|| {
        let client = client.clone();
        let i = n.fetch_add(1, Ordering::Relaxed);
        async move {
            let (url, dlq) = create_queue_with_dlq(&client, &format!("contract-{i}"), 3)
                .await
                .expect("queues");
            let q: Arc<dyn Queue> = Arc::new(SqsQueue::new(client.clone(), url));
            let d: Arc<dyn Queue> = Arc::new(SqsQueue::new(client, dlq));
            (q, d)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_workflows_contract() {
    let moto = MotoServer::start().await.expect("moto");
    // Without its interpreter, moto accepts any task token; with it, it answers like AWS.
    moto.enable_state_machine_execution()
        .await
        .expect("moto config");
    let conf = moto.sdk_config().await;
    let client = aws_sdk_sfn::Client::new(&conf);
    let definition =
        serde_json::json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
    let created = client
        .create_state_machine()
        .name("tre-contract")
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/tre-states")
        .send()
        .await
        .expect("state machine");
    let prefix = created
        .state_machine_arn()
        .trim_end_matches("contract")
        .to_string();
    let wf: Arc<dyn Workflows> = Arc::new(SfnWorkflows::new(client, prefix));
    tre_testkit::workflows::run(wf, "contract").await;
}

/// Objects above CopyObject's limit are copied part by part (here with the limit lowered so a
/// 12 MiB object takes three parts): same bytes, same content type; rename goes the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_copies_large_objects_in_parts() {
    use futures::StreamExt;
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = S3ObjectStore::client(&conf, true);
    moto.create_bucket("tre-copy").await.expect("bucket");
    let mib = 1024 * 1024;
    let store = S3ObjectStore::new(client, "tre-copy", "").with_copy_limits(8 * mib, 5 * mib);
    let data: Vec<u8> = (0..12 * mib).map(|i| (i % 253) as u8).collect();
    let body: tre_core::ports::ByteStream = Box::pin(futures::stream::iter(
        data.chunks(1 << 20)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ));
    let opts = tre_core::ports::PutOptions {
        content_type: Some("application/octet-stream".into()),
        ..Default::default()
    };
    store.put("big/src", body, opts).await.expect("put");
    let meta = store
        .copy("big/src", "big/dst")
        .await
        .expect("copy in parts");
    assert_eq!(meta.size, data.len() as u64);
    let renamed = store.rename("big/dst", "big/moved").await.expect("rename");
    assert_eq!(renamed.size, data.len() as u64);
    assert!(store.head("big/dst").await.expect("head").is_none());
    let mut got = store.get("big/moved", None).await.expect("get");
    assert_eq!(
        got.meta.content_type.as_deref(),
        Some("application/octet-stream")
    );
    let mut back = Vec::new();
    while let Some(c) = got.body.next().await {
        back.extend_from_slice(&c.expect("chunk"));
    }
    assert!(back == data, "the copied bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_contract() {
    use tre_testkit::secrets::{KNOWN_NAME, KNOWN_VALUE};
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&conf);
    client
        .create_secret()
        .name(KNOWN_NAME)
        .secret_string(KNOWN_VALUE)
        .send()
        .await
        .expect("create secret");
    let store: Arc<dyn tre_core::ports::SecretStore> =
        Arc::new(tre_aws::SecretsManagerSecrets::new(client));
    tre_testkit::secrets::run(store).await;
}

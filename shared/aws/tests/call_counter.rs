//! `CallCounter` counts what the adapters send, by service and action, against moto server:
//! each call once, each attempt sent, and pre-signed requests apart (they send nothing).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tre_aws::{create_table_if_missing, AwsCall, CallCount, CallCounter, DynamoTable};
use tre_core::ports::{Condition, Key, Query, Table};
use tre_testkit::moto::MotoServer;

fn tally(entries: &[(&str, &str, u64, u64)]) -> BTreeMap<AwsCall, CallCount> {
    entries
        .iter()
        .map(|(service, operation, calls, signed_only)| {
            (
                AwsCall {
                    service: service.to_string(),
                    operation: operation.to_string(),
                },
                CallCount {
                    calls: *calls,
                    attempts: *calls,
                    signed_only: *signed_only,
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_each_call_by_service_and_action_and_signed_links_apart() {
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    create_table_if_missing(&aws_sdk_dynamodb::Client::new(&conf), "counted")
        .await
        .expect("table");
    moto.create_bucket("counted").await.expect("bucket");

    let counter = CallCounter::new();
    let table = DynamoTable::new(counter.dynamodb(&conf), "counted");
    let key = Key::new("a", "b");
    table
        .put(&key, None, &json!({"n": 1}), Condition::Absent)
        .await
        .expect("put");
    // `Exists` reads the item first to know the version it writes.
    table
        .put(&key, None, &json!({"n": 2}), Condition::Exists)
        .await
        .expect("put again");
    table.get(&key).await.expect("get");
    table
        .query(&Query {
            pk: "a".into(),
            ..Default::default()
        })
        .await
        .expect("query");
    // A clone counts into the same tally.
    let again = counter.clone().take();
    assert_eq!(
        again.0,
        tally(&[
            ("DynamoDB", "GetItem", 2, 0),
            ("DynamoDB", "PutItem", 2, 0),
            ("DynamoDB", "Query", 1, 0),
        ])
    );
    assert_eq!(again.total(), 5);
    assert_eq!(again.service("DynamoDB"), 5);
    assert_eq!(again.retries(), 0);
    assert_eq!(
        again.to_string(),
        "DynamoDB:GetItem×2, DynamoDB:PutItem×2, DynamoDB:Query"
    );
    assert!(counter.snapshot().0.is_empty(), "take leaves it empty");

    // A pre-signed link is signed here and sent by someone else: not a call.
    let s3 = counter.s3(&conf, true);
    s3.get_object()
        .bucket("counted")
        .key("x")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60))
                .expect("config"),
        )
        .await
        .expect("presign");
    // A call the service refuses was still made.
    assert!(s3
        .head_object()
        .bucket("counted")
        .key("missing")
        .send()
        .await
        .is_err());
    let s3_tally = counter.take();
    assert_eq!(
        s3_tally.0,
        tally(&[("S3", "GetObject", 0, 1), ("S3", "HeadObject", 1, 0)])
    );
    assert_eq!(s3_tally.service("S3"), 1);
    assert_eq!(s3_tally.signed_only(), 1);
    assert_eq!(s3_tally.to_string(), "S3:GetObject not sent, S3:HeadObject");

    // Clients built without the counter are not counted.
    DynamoTable::from_conf(&conf, "counted")
        .get(&key)
        .await
        .expect("get");
    assert!(counter.snapshot().0.is_empty());
}

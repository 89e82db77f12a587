//! A data source imported from an S3 bucket (moto server on loopback standing in for S3; the
//! runner reads with its own identity, as with its task role in AWS), with a valid RO-Crate; a
//! key that is not there ends the import `Failed` with its reason, and so does an endpoint
//! outside the allowed networks. Its own test binary: the runner processes inherit this
//! process's AWS environment.

use serde_json::{json, Value};
use tre_e2e::{sha256_hex, TestStack};

const ROWS: &[u8] = b"region,count\nnorth,3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_source_is_imported_with_a_valid_ro_crate() {
    let moto = tre_testkit::moto::MotoServer::start().await.expect("moto");
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "eu-west-2".into()),
        ("TRE_DATASOURCE_S3_PATH_STYLE", "1".into()),
    ] {
        std::env::set_var(k, v);
    }
    let conf = tre_aws::sdk_config().await;
    let s3 = tre_aws::S3ObjectStore::client(&conf, true);
    s3.create_bucket()
        .bucket("partner-exports")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket("partner-exports")
        .key("weekly/2026/counts.csv")
        .body(ROWS.to_vec().into())
        .send()
        .await
        .expect("object");

    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let body = |objects: &[&str]| {
        json!({
            "kind": "Import", "displayName": "Partner counts", "project": "Cohort study",
            "licence": "CC-BY-4.0",
            "publisher": {"organisation": "Partner", "contactName": "D. Owner", "contactRole": "Data owner"},
            "connection": {"type": "s3", "bucket": "partner-exports", "prefix": "weekly"},
            "objects": objects
        })
    };
    let ds = t.register_and_import(&body(&["2026/counts.csv"])).await;
    assert_eq!(ds["dataState"], "InReview", "{ds}");
    let id = ds["id"].as_str().expect("id");
    let sha = sha256_hex(ROWS);
    assert_eq!(ds["files"][0]["sha256"], sha.as_str());

    let raw = t
        .read_workspace_data(&tre_core::domain::datasource::data_key(
            id,
            tre_core::domain::rocrate::METADATA_FILE,
        ))
        .await
        .expect("crate");
    let metadata: Value = serde_json::from_slice(&raw).expect("json");
    let on_disk = vec![("2026/counts.csv".to_string(), ROWS.len() as u64, sha)];
    assert_eq!(
        tre_core::domain::rocrate::validate(&metadata, &on_disk),
        Vec::<String>::new()
    );
    let file = metadata["@graph"]
        .as_array()
        .and_then(|g| g.iter().find(|e| e["@id"] == "2026/counts.csv"))
        .cloned()
        .expect("file");
    assert_eq!(
        file["isBasedOn"]["@id"],
        "s3://partner-exports/weekly/2026/counts.csv"
    );

    let missing = t.register_and_import(&body(&["2026/absent.csv"])).await;
    assert_eq!(missing["dataState"], "Failed");
    let reason = missing["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("s3://partner-exports/weekly/2026/absent.csv"),
        "{reason}"
    );

    // The endpoint is checked like any destination: without loopback among the allowed
    // networks, the same bucket on its loopback endpoint is refused before any request.
    let closed = TestStack::start().await.expect("stack");
    let refused = closed
        .register_and_import(&body(&["2026/counts.csv"]))
        .await;
    assert_eq!(refused["dataState"], "Failed", "{refused}");
    let reason = refused["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("reading s3://partner-exports/weekly/2026/counts.csv: refused: 127.0.0.1 is loopback (127.0.0.0/8)"),
        "{reason}"
    );
}

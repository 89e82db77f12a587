//! The audit archive's handler (`tre_lambda::audit_archive`), called directly with DynamoDB
//! stream records (the `aws_lambda_events` types, as the event source mapping delivers them)
//! against a moto S3 bucket with Object Lock in compliance mode, as infra/audit.tf makes it:
//! each inserted audit event is written once under `audit/<chain>/<sk>.json` with the table's
//! exact bytes and the bucket's default retention; a redelivery succeeds without a new version;
//! other bytes under the same key fail loudly and are never written; records that are not
//! inserted audit events are ignored; and S3 refuses to delete the locked version.

use std::sync::Arc;

use anyhow::Context;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, DefaultRetention,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    VersioningConfiguration,
};
use serde_json::{json, Value};
use sha2::Digest;
use tre_lambda::audit_archive::{self, ArchiveConfig, AuditArchive};
use tre_testkit::moto::MotoServer;

const BUCKET: &str = "tre-123456789012-audit-archive";
const RETENTION_DAYS: i32 = 7;
const WORKSPACE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const STREAM: &str =
    "arn:aws:dynamodb:eu-west-2:123456789012:table/tre-tre/stream/2026-01-01T00:00:00.000";

/// An audit event's body as the table holds it (a JSON object in a string).
fn body(chain: &str, seq: u64, action: &str, prev: &str) -> String {
    let at = "2026-12-02T00:00:00Z";
    let hash = hex::encode(sha2::Sha256::digest(
        format!("{prev}|{chain}|{seq}|{at}|{action}").as_bytes(),
    ));
    json!({"chain": chain, "seq": seq, "at": at, "action": action, "hash": hash, "prev": prev})
        .to_string()
}

/// An event's sort key.
fn sk(seq: u64) -> String {
    format!("AUDIT#{}", digits(seq))
}

/// Its sequence number as the archive's object names spell it.
fn digits(seq: u64) -> String {
    format!("{seq:020}")
}

/// One stream record (NEW_IMAGE view) of an item `pk`/`sk` with `body`.
fn record(event_name: &str, sequence: &str, pk: &str, sk: &str, body: &str) -> Value {
    json!({
        "eventID": format!("event-{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-2",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_796_169_600,
            "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
            "NewImage": {"pk": {"S": pk}, "sk": {"S": sk}, "version": {"N": "1"}, "body": {"S": body}},
            "SequenceNumber": sequence,
            "SizeBytes": 200,
            "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": STREAM
    })
}

fn event(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}

fn failures(resp: &aws_lambda_events::event::streams::DynamoDbEventResponse) -> Vec<String> {
    resp.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

/// The bucket as infra/audit.tf makes it: Object Lock on at creation, versioning, a default
/// retention in compliance mode.
async fn locked_bucket(s3: &aws_sdk_s3::Client) -> anyhow::Result<()> {
    s3.create_bucket()
        .bucket(BUCKET)
        .object_lock_enabled_for_bucket(true)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .context("CreateBucket with Object Lock")?;
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    s3.put_object_lock_configuration()
        .bucket(BUCKET)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(RETENTION_DAYS)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .context("PutObjectLockConfiguration")?;
    Ok(())
}

/// Every version in the bucket: (key, version id), delete markers apart.
async fn versions(s3: &aws_sdk_s3::Client) -> anyhow::Result<(Vec<(String, String)>, usize)> {
    let out = s3.list_object_versions().bucket(BUCKET).send().await?;
    let v = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().to_string(),
                v.version_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok((v, out.delete_markers().len()))
}

async fn object(s3: &aws_sdk_s3::Client, key: &str) -> anyhow::Result<(Vec<u8>, Option<String>)> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .with_context(|| format!("GetObject {key}"))?;
    let content_type = out.content_type().map(str::to_string);
    let bytes = out.body.collect().await?.into_bytes().to_vec();
    Ok((bytes, content_type))
}

#[tokio::test]
async fn audit_events_are_archived_once_under_a_compliance_lock() -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    let sdk = moto.sdk_config().await;
    let s3 = tre_aws::S3ObjectStore::client(&sdk, true);
    locked_bucket(&s3).await?;

    // The configuration the function reads at start names the bucket.
    let config = ArchiveConfig::from_lookup(|k| {
        (k == audit_archive::ENV_AUDIT_ARCHIVE_BUCKET).then(|| BUCKET.to_string())
    })?;
    let archive = AuditArchive::new(Arc::new(tre_aws::S3ObjectStore::new(
        s3.clone(),
        config.bucket.clone(),
        "",
    )));

    let tre_1 = body("TRE", 1, "template.registered", "");
    // A workspace's chain lives beside the workspace's items.
    let ws_pk = format!("RES#{WORKSPACE}");
    let ws_1 = body(WORKSPACE, 1, "workspace.created", "");
    let ws_2 = body(WORKSPACE, 2, "workspace.updated", "abc");
    let batch = vec![
        record("INSERT", "100", "AUDIT#TRE", &sk(1), &tre_1),
        // Not audit events (the mapping's filter keeps them away; the handler ignores them too).
        record(
            "INSERT",
            "101",
            &format!("RES#{WORKSPACE}"),
            "META",
            r#"{"id":"x"}"#,
        ),
        record("INSERT", "102", &ws_pk, &sk(1), &ws_1),
        record("MODIFY", "103", &ws_pk, &sk(1), &ws_2),
        record("INSERT", "104", &ws_pk, &sk(2), &ws_2),
    ];
    let resp = audit_archive::handle_batch(&archive, event(batch.clone())).await;
    assert_eq!(failures(&resp), Vec::<String>::new(), "first delivery");

    // Written under audit/<chain>/<sk>.json with the table's exact bytes, as JSON.
    let expected = [
        (audit_archive::object_key("TRE", &digits(1)), &tre_1),
        (audit_archive::object_key(WORKSPACE, &digits(1)), &ws_1),
        (audit_archive::object_key(WORKSPACE, &digits(2)), &ws_2),
    ];
    assert_eq!(expected[0].0, "audit/TRE/00000000000000000001.json");
    for (key, want) in &expected {
        let (bytes, content_type) = object(&s3, key).await?;
        assert_eq!(&String::from_utf8(bytes)?, *want, "{key}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{key}");
        // The bucket's default retention: compliance mode, until RETENTION_DAYS from now.
        let head = s3.head_object().bucket(BUCKET).key(key).send().await?;
        assert_eq!(
            head.object_lock_mode(),
            Some(&aws_sdk_s3::types::ObjectLockMode::Compliance),
            "{key}"
        );
        let until = head
            .object_lock_retain_until_date()
            .with_context(|| format!("{key} has no retain-until date"))?
            .secs();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let days = (until - now) as f64 / 86_400.0;
        assert!(
            (f64::from(RETENTION_DAYS) - 1.0..=f64::from(RETENTION_DAYS) + 0.1).contains(&days),
            "{key} is retained {days:.2} days, {RETENTION_DAYS} expected"
        );
    }
    let (first, markers) = versions(&s3).await?;
    let mut keys: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let mut want: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    want.sort_unstable();
    // One version per event, nothing for the ignored records.
    assert_eq!(keys, want);
    assert_eq!(markers, 0);

    // A redelivery of the whole batch: success, and no new version.
    let resp = audit_archive::handle_batch(&archive, event(batch)).await;
    assert_eq!(failures(&resp), Vec::<String>::new(), "redelivery");
    assert_eq!(versions(&s3).await?.0, first, "a redelivery made versions");

    // Other bytes for an archived event: that record fails (named by its sequence number), the
    // batch stops there (the next record is retried after it), and nothing is overwritten.
    let forged = body("TRE", 1, "template.deleted", "");
    let later = body("TRE", 2, "template.registered", "x");
    let resp = audit_archive::handle_batch(
        &archive,
        event(vec![
            record("INSERT", "200", "AUDIT#TRE", &sk(1), &forged),
            record("INSERT", "201", "AUDIT#TRE", &sk(2), &later),
        ]),
    )
    .await;
    assert_eq!(failures(&resp), vec!["200".to_string()], "a conflict");
    assert_eq!(
        String::from_utf8(object(&s3, &expected[0].0).await?.0)?,
        tre_1,
        "the archived event was overwritten"
    );
    assert_eq!(versions(&s3).await?.0, first, "a conflict made versions");
    let err = archive
        .archive(&event(vec![record("INSERT", "200", "AUDIT#TRE", &sk(1), &forged)]).records[0])
        .await
        .expect_err("a conflict");
    assert!(
        matches!(err, audit_archive::RecordError::Conflict { .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("TAMPERING"), "{err}");

    // An audit item whose body names another chain or sequence number than its key fails too.
    let resp = audit_archive::handle_batch(
        &archive,
        event(vec![record(
            "INSERT",
            "300",
            "AUDIT#TRE",
            &sk(3),
            &body(WORKSPACE, 3, "x", ""),
        )]),
    )
    .await;
    assert_eq!(failures(&resp), vec!["300".to_string()], "a key mismatch");
    assert_eq!(versions(&s3).await?.0, first);

    // S3 refuses to delete the locked version (moto enforces compliance retention on
    // DeleteObject with a version id: FakeKey.is_locked, AccessDenied).
    let (key, version) = first
        .iter()
        .find(|(k, _)| *k == expected[0].0)
        .context("the TRE event's version")?;
    let denied = s3
        .delete_object()
        .bucket(BUCKET)
        .key(key)
        .version_id(version)
        .send()
        .await;
    let err = denied.expect_err("deleting a version under compliance retention succeeded");
    let code = err.as_service_error().and_then(|e| {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        e.code().map(str::to_string)
    });
    assert_eq!(code.as_deref(), Some("AccessDenied"), "{err:?}");
    // Even with the governance bypass (compliance mode has none).
    let bypass = s3
        .delete_object()
        .bucket(BUCKET)
        .key(key)
        .version_id(version)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert!(
        bypass.is_err(),
        "the governance bypass deleted a compliance-locked version"
    );
    assert_eq!(versions(&s3).await?.0, first, "a locked version went");
    Ok(())
}

//! The audit archive: the table's stream (NEW_IMAGE) carries every audit event written to the
//! table (`sk = AUDIT#<sequence number, 20 digits>` under its chain: `pk = RES#<workspace id>`,
//! or `AUDIT#TRE`); each is copied, as the exact `body` bytes the table holds, to
//! `audit/<chain>/<sequence number>.json` in the archive bucket, whose
//! Object Lock (compliance mode, infra/audit.tf) keeps every version for the retention period.
//!
//! Every write is a conditional put (`If-None-Match: *`): a record delivered again finds its
//! object and succeeds when the stored bytes are the same, so no second version is made; stored
//! bytes that differ are a tampering (or a broken writer) and fail loudly, never overwrite. The
//! event source mapping's filter passes only INSERTs of items whose `sk` starts `AUDIT#`; anything else that
//! arrives is ignored. Failures are reported per record (`batchItemFailures` naming the record's
//! sequence number): the stream's records are processed in order, so the batch stops at the
//! first failure and Lambda retries from it.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::StreamExt;
use serde_dynamo::AttributeValue;
use tre_core::ports::{bytes_stream, ObjectStore, PortError, PutOptions};

/// The archive bucket's name (Terraform sets it on the audit-archive function only).
pub const ENV_AUDIT_ARCHIVE_BUCKET: &str = "TRE_AUDIT_ARCHIVE_BUCKET";
/// The sort key prefix of audit events (what the stream filter matches).
pub const AUDIT_SK_PREFIX: &str = "AUDIT#";
/// The partition of the `TRE` chain; a workspace's chain is in the workspace's (`RES#<id>`).
pub const TRE_CHAIN_PK: &str = "AUDIT#TRE";
const WORKSPACE_PK_PREFIX: &str = "RES#";
/// Where in the bucket the events go (`audit/<chain>/<sk>.json`).
pub const KEY_PREFIX: &str = "audit/";
/// The content type of every archived event.
pub const CONTENT_TYPE: &str = "application/json";
/// The digits of an event's sort key (its sequence number, zero-padded).
pub const SK_DIGITS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{ENV_AUDIT_ARCHIVE_BUCKET} is not set: it names the audit archive bucket")]
    MissingBucket,
}

/// The function's configuration, read once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveConfig {
    pub bucket: String,
}

impl ArchiveConfig {
    /// The process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Any lookup of variable names (a deployed function's environment, as read back).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bucket = lookup(ENV_AUDIT_ARCHIVE_BUCKET)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::MissingBucket)?;
        Ok(Self { bucket })
    }
}

/// Why one record could not be archived.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the record has no {0}")]
    Missing(&'static str),
    #[error("the event's body is not a JSON object with `chain` and `seq`: {0}")]
    BadBody(String),
    #[error("`{0}` is not a chain name the archive can hold (letters, digits, '-', '_')")]
    BadChain(String),
    #[error("sort key `{0}` is not `AUDIT#` and a sequence number of {SK_DIGITS} digits")]
    BadSortKey(String),
    #[error(
        "the event's body names chain `{body_chain}` seq {body_seq}, its item `{pk}` / `{sk}`"
    )]
    KeyMismatch {
        pk: String,
        sk: String,
        body_chain: String,
        body_seq: u64,
    },
    /// The archive already holds other bytes under the event's key: tampering, or a writer
    /// that reused a sequence number. Never overwritten; retried, then dead-lettered.
    #[error("TAMPERING: {key} already holds {stored} bytes that differ from the event's {wanted}")]
    Conflict {
        key: String,
        stored: usize,
        wanted: usize,
    },
    #[error("archive storage: {0}")]
    Store(#[from] PortError),
}

/// What archiving one record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archived {
    /// The object was written.
    Written,
    /// The object was there already, with the same bytes (a redelivery).
    AlreadyThere,
    /// Not an insert of an audit event: nothing to archive.
    Ignored,
}

/// The archive key of an event.
pub fn object_key(chain: &str, sk: &str) -> String {
    format!("{KEY_PREFIX}{chain}/{sk}.json")
}

/// Writes audit events to an object store (the archive bucket in AWS).
#[derive(Clone)]
pub struct AuditArchive {
    store: Arc<dyn ObjectStore>,
}

impl AuditArchive {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// The archive bucket the configuration names, on the SDK configuration given.
    pub fn on_s3(conf: &aws_config::SdkConfig, config: &ArchiveConfig) -> Self {
        let client = tre_aws::S3ObjectStore::client(conf, false);
        Self::new(Arc::new(tre_aws::S3ObjectStore::new(
            client,
            config.bucket.clone(),
            "",
        )))
    }

    /// Archive one stream record.
    pub async fn archive(&self, record: &EventRecord) -> Result<Archived, RecordError> {
        let keys = &record.change.keys;
        let image = &record.change.new_image;
        let string = |name: &'static str| match keys.get(name).or_else(|| image.get(name)) {
            Some(AttributeValue::S(s)) => Ok(s.as_str()),
            _ => Err(RecordError::Missing(name)),
        };
        let pk = string("pk")?;
        let full_sk = string("sk")?;
        let Some(sk) = full_sk.strip_prefix(AUDIT_SK_PREFIX) else {
            return Ok(Archived::Ignored);
        };
        let chain = if pk == TRE_CHAIN_PK {
            "TRE"
        } else {
            match pk.strip_prefix(WORKSPACE_PK_PREFIX) {
                Some(ws) => ws,
                None => return Ok(Archived::Ignored),
            }
        };
        if record.event_name != "INSERT" {
            // Audit items are never changed or removed by the TRE; say so where it happens.
            tracing::warn!(pk, event = %record.event_name, "an audit item was changed or removed in the table; the archive keeps what was inserted");
            return Ok(Archived::Ignored);
        }
        let body = match image.get("body") {
            Some(AttributeValue::S(s)) => s.as_str(),
            _ => {
                return Err(RecordError::Missing(
                    "new image with a `body` (NEW_IMAGE stream)",
                ))
            }
        };
        check_chain(chain)?;
        if sk.len() != SK_DIGITS || !sk.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RecordError::BadSortKey(full_sk.to_string()));
        }
        let parsed: serde_json::Value =
            serde_json::from_str(body).map_err(|e| RecordError::BadBody(e.to_string()))?;
        let body_chain = parsed.get("chain").and_then(|c| c.as_str());
        let body_seq = parsed.get("seq").and_then(|s| s.as_u64());
        let (Some(body_chain), Some(body_seq)) = (body_chain, body_seq) else {
            return Err(RecordError::BadBody(
                "`chain` (a string) or `seq` (a whole number) is missing".into(),
            ));
        };
        if body_chain != chain || format!("{body_seq:0width$}", width = SK_DIGITS) != sk {
            return Err(RecordError::KeyMismatch {
                pk: pk.to_string(),
                sk: full_sk.to_string(),
                body_chain: body_chain.to_string(),
                body_seq,
            });
        }
        let key = object_key(chain, sk);
        self.put_once(&key, body.as_bytes()).await
    }

    /// Write `bytes` under `key` unless something is there; what is there must be the same.
    async fn put_once(&self, key: &str, bytes: &[u8]) -> Result<Archived, RecordError> {
        let options = PutOptions {
            content_type: Some(CONTENT_TYPE.into()),
            content_length: Some(bytes.len() as u64),
            if_none_match: true,
        };
        match self
            .store
            .put(key, bytes_stream(bytes.to_vec()), options)
            .await
        {
            Ok(_) => Ok(Archived::Written),
            Err(PortError::AlreadyExists(_)) => {
                let stored = self.read(key).await?;
                if stored == bytes {
                    Ok(Archived::AlreadyThere)
                } else {
                    Err(RecordError::Conflict {
                        key: key.to_string(),
                        stored: stored.len(),
                        wanted: bytes.len(),
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn read(&self, key: &str) -> Result<Vec<u8>, RecordError> {
        let mut got = self.store.get(key, None).await?;
        let mut out = Vec::new();
        while let Some(chunk) = got.body.next().await {
            let chunk = chunk.map_err(|e| PortError::Backend(format!("reading {key}: {e}")))?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

fn check_chain(chain: &str) -> Result<(), RecordError> {
    let ok = !chain.is_empty()
        && chain.len() <= 128
        && chain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RecordError::BadChain(chain.to_string()))
    }
}

/// Archive a batch in order; the response names the first record that failed (Lambda retries
/// the batch from it, so the records after it are not tried now).
pub async fn handle_batch(archive: &AuditArchive, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone();
        let span = tracing::info_span!(
            "audit_record",
            event_id = %record.event_id,
            sequence = sequence.as_deref().unwrap_or_default()
        );
        let _guard = span.enter();
        match archive.archive(record).await {
            Ok(Archived::Written) => tracing::info!("archived"),
            Ok(Archived::AlreadyThere) => {
                tracing::info!("already archived with the same bytes (a redelivery)")
            }
            Ok(Archived::Ignored) => tracing::debug!("not an inserted audit event; ignored"),
            Err(e) => {
                match &e {
                    RecordError::Conflict { .. } => {
                        tracing::error!(error = %e, "the archive holds different bytes for this audit event")
                    }
                    _ => tracing::error!(error = %e, "could not archive; retried from here"),
                }
                let mut failure = DynamoDbBatchItemFailure::default();
                // No sequence number: an empty identifier makes Lambda retry the whole batch.
                failure.item_identifier = Some(sequence.unwrap_or_default());
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_comes_from_the_environment_or_the_error_names_it() {
        let err = ArchiveConfig::from_lookup(|_| Some("  ".into())).unwrap_err();
        assert!(err.to_string().contains(ENV_AUDIT_ARCHIVE_BUCKET), "{err}");
        let c = ArchiveConfig::from_lookup(|k| {
            (k == ENV_AUDIT_ARCHIVE_BUCKET).then(|| " tre-1-audit-archive ".into())
        })
        .unwrap();
        assert_eq!(c.bucket, "tre-1-audit-archive");
    }

    #[test]
    fn keys_and_chain_names() {
        assert_eq!(
            object_key("TRE", "00000000000000000001"),
            "audit/TRE/00000000000000000001.json"
        );
        assert!(check_chain("3fa85f64-5717-4562-b3fc-2c963f66afa6").is_ok());
        for bad in ["", "a/b", "..", "a b"] {
            assert!(check_chain(bad).is_err(), "{bad:?}");
        }
    }
}

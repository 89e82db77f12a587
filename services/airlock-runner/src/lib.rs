//! The airlock runner: one step of an airlock request's workflow. `intake` copies the files
//! from staging to review, measuring size and sha256 and scanning them as they stream (memory
//! stays bounded whatever the file size), then empties staging; `publish` copies them from
//! review to the destination, checking each checksum against the recorded one; `discard`
//! deletes them from staging and review. Each reports to the status queue.
//!
//! Where two stages are views of one store (locally, prefixes of one filesystem store) a file
//! moves by one rename and is read once, to measure it; between stores (S3's buckets) its
//! bytes stream through the runner. Either way the hash and the scan run on threads of their
//! own beside the I/O (see `inspect`).

pub mod clamd;
pub mod datasource;
pub mod egress;
mod inspect;
mod parquet_export;
pub mod process;
pub mod scan;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use tre_core::app::{airlock_request_key, AirlockEvent, AirlockStatus, AirlockStorage};
use tre_core::domain::airlock::{object_key, AirlockFile, RequestType, ScanResult, Stage};
use tre_core::ports::{ByteStream, ObjectStore, PutOptions, Queue, Table};
use tre_core::PortError;

use inspect::Inspector;
use scan::{ContentScan, Scanner};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Intake,
    Publish,
    Discard,
}

#[derive(Clone, Debug)]
pub struct Job {
    pub action: Action,
    pub request_id: String,
    pub workspace_id: String,
    pub kind: RequestType,
    pub files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// The job's environment, set per step by the state machine's container overrides (the
/// infrastructure test checks `statemachines/airlock-review.asl.json` sets each).
pub const JOB_ENV_VARS: &[&str] = &[
    "TRE_AIRLOCK_ACTION",
    "TRE_REQUEST_ID",
    "TRE_WORKSPACE_ID",
    "TRE_REQUEST_TYPE",
    "TRE_FILES",
];

impl Job {
    pub fn from_env() -> Result<Self, JobError> {
        let var = |k: &'static str| std::env::var(k).map_err(|_| JobError::Missing(k));
        let action = match var("TRE_AIRLOCK_ACTION")?.as_str() {
            "intake" => Action::Intake,
            "publish" => Action::Publish,
            "discard" => Action::Discard,
            other => {
                return Err(JobError::Invalid(format!(
                    "TRE_AIRLOCK_ACTION `{other}` is not intake, publish or discard"
                )))
            }
        };
        let kind = match var("TRE_REQUEST_TYPE")?.as_str() {
            "import" => RequestType::Import,
            "export" => RequestType::Export,
            other => {
                return Err(JobError::Invalid(format!(
                    "TRE_REQUEST_TYPE `{other}` is not import or export"
                )))
            }
        };
        let files: Vec<String> = serde_json::from_str(&var("TRE_FILES")?).map_err(|e| {
            JobError::Invalid(format!("TRE_FILES is not a JSON array of names: {e}"))
        })?;
        for f in &files {
            tre_core::domain::airlock::validate_file_name(f).map_err(JobError::Invalid)?;
        }
        Ok(Self {
            action,
            request_id: var("TRE_REQUEST_ID")?,
            workspace_id: var("TRE_WORKSPACE_ID")?,
            kind,
            files,
        })
    }

    fn key(&self, stage: Stage, file: &str) -> String {
        object_key(stage, &self.workspace_id, &self.request_id, file)
    }
}

/// The ports the runner uses.
pub struct Ports {
    pub storage: AirlockStorage,
    pub table: Arc<dyn Table>,
    pub status_queue: Arc<dyn Queue>,
    /// The policy scanner, then ClamAV when configured.
    pub scanners: Vec<Arc<dyn Scanner>>,
    /// Credentials of data sources' systems (read when an import needs them).
    pub secrets: Arc<dyn tre_core::ports::SecretStore>,
}

/// What streaming one file told us.
pub(crate) struct Measured {
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) findings: Vec<String>,
}

/// Copy one object between stores, hashing (and scanning) the bytes on their way through.
async fn stream_copy(
    from: &dyn ObjectStore,
    from_key: &str,
    to: &dyn ObjectStore,
    to_key: &str,
    scan: Option<ContentScan>,
) -> Result<Measured, String> {
    let got = from
        .get(from_key, None)
        .await
        .map_err(|e| format!("reading `{from_key}`: {e}"))?;
    let size = got.meta.size;
    let measured = put_inspected(got.body, Some(size), to, to_key, scan).await?;
    if measured.size != size {
        return Err(format!(
            "`{from_key}` changed while it was copied ({size} bytes announced, {} read)",
            measured.size
        ));
    }
    Ok(measured)
}

/// Store a body, hashing (and scanning) the bytes as they pass: they are read once, and the
/// hash and the scan run beside the store's I/O, not in turn with it.
pub(crate) async fn put_inspected(
    body: ByteStream,
    size: Option<u64>,
    to: &dyn ObjectStore,
    to_key: &str,
    scan: Option<ContentScan>,
) -> Result<Measured, String> {
    let inspector = Inspector::new(scan);
    let feed = inspector.feed();
    let body: ByteStream = Box::pin(body.then(move |chunk| {
        let feed = feed.clone();
        async move {
            let bytes = chunk?;
            feed.send(&bytes).await.map_err(std::io::Error::other)?;
            Ok(bytes)
        }
    }));
    to.put(
        to_key,
        body,
        PutOptions {
            content_length: size,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("writing `{to_key}`: {e}"))?;
    // The body (and its feed) went with the put: the inspection has seen every byte.
    inspector.finish().await
}

/// The store both keys live in and their keys there, when the two stores are views of one
/// store (the airlock's stages are prefixes of one local store): a move is then one rename.
fn shared_backend(
    a: &dyn ObjectStore,
    a_key: &str,
    b: &dyn ObjectStore,
    b_key: &str,
) -> Option<(Arc<dyn ObjectStore>, String, String)> {
    let (store_a, key_a) = a.backend_key(a_key)?;
    let (store_b, key_b) = b.backend_key(b_key)?;
    std::ptr::addr_eq(Arc::as_ptr(&store_a), Arc::as_ptr(&store_b))
        .then_some((store_a, key_a, key_b))
}

async fn report(ports: &Ports, job: &Job, status: AirlockStatus) -> Result<(), String> {
    let body = json!({ "airlockStatus": status }).to_string();
    ports
        .status_queue
        .send(&body, None)
        .await
        .map(|_| ())
        .map_err(|e| format!("reporting to the status queue: {e}"))
        .inspect(
            |_| tracing::info!(request_id = %job.request_id, event = ?status.event, "reported"),
        )
}

fn sequence() -> u64 {
    // Later steps of a request run later: a microsecond clock orders their reports.
    chrono::Utc::now().timestamp_micros().max(1) as u64
}

fn status(
    job: &Job,
    event: AirlockEvent,
    files: Vec<AirlockFile>,
    message: String,
) -> AirlockStatus {
    AirlockStatus {
        request_id: job.request_id.clone(),
        workspace_id: job.workspace_id.clone(),
        event,
        files,
        scan: None,
        message,
        sequence: sequence(),
    }
}

async fn delete_all(store: &dyn ObjectStore, job: &Job, stage: Stage) -> Result<(), String> {
    for f in &job.files {
        let key = job.key(stage, f);
        store
            .delete(&key)
            .await
            .map_err(|e| format!("deleting `{key}`: {e}"))?;
    }
    Ok(())
}

async fn intake(job: &Job, ports: &Ports) -> Result<(), String> {
    let staging = ports
        .storage
        .store(Stage::staging(job.kind))
        .map_err(|e| e.to_string())?;
    let review = ports
        .storage
        .store(Stage::in_review(job.kind))
        .map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for name in &job.files {
        let measured = take_in(job, staging.as_ref(), review.as_ref(), name, ports).await?;
        findings.extend(measured.findings);
        files.push(AirlockFile {
            name: name.clone(),
            size: Some(measured.size),
            sha256: Some(measured.sha256),
        });
    }
    let threat = !findings.is_empty();
    if threat {
        // A file with a threat never goes further: nothing stays in review.
        delete_all(review.as_ref(), job, Stage::in_review(job.kind)).await?;
    }
    delete_all(staging.as_ref(), job, Stage::staging(job.kind)).await?;
    let mut s = status(
        job,
        AirlockEvent::Scanned,
        files,
        if threat {
            format!("blocked by the scan: {}", findings.join("; "))
        } else {
            "copied to review and scanned clean".into()
        },
    );
    s.scan = Some(ScanResult {
        verdict: if threat { "threat" } else { "clean" }.into(),
        findings,
        scanners: ports
            .scanners
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
    });
    report(ports, job, s).await
}

/// Bring one file from staging into review, measured and scanned.
async fn take_in(
    job: &Job,
    staging: &dyn ObjectStore,
    review: &dyn ObjectStore,
    name: &str,
    ports: &Ports,
) -> Result<Measured, String> {
    let from = job.key(Stage::staging(job.kind), name);
    let to = job.key(Stage::in_review(job.kind), name);
    let scan = || Some(ContentScan::new(name, &ports.scanners));
    if let Some((store, from_full, to_full)) = shared_backend(staging, &from, review, &to) {
        // One store holds both stages: move the file (no byte is copied), then measure and
        // scan the moved copy, which nobody but the runner can change any more.
        match store.rename(&from_full, &to_full).await {
            Ok(_) => {}
            // A retried intake finds staging already emptied: the review copy is the file.
            Err(PortError::NotFound(e)) if review.head(&to).await.ok().flatten().is_some() => {
                tracing::info!(error = %e, "staging copy gone; measuring the review copy");
            }
            Err(e) => return Err(format!("moving `{from}` to review: {e}")),
        }
        return measure(review, &to, scan()).await;
    }
    match stream_copy(staging, &from, review, &to, scan()).await {
        Ok(m) => Ok(m),
        // A retried intake finds staging already emptied: the review copy is the file.
        Err(e) if review.head(&to).await.ok().flatten().is_some() => {
            tracing::info!(error = %e, "staging copy gone; measuring the review copy");
            measure(review, &to, scan()).await
        }
        Err(e) => Err(e),
    }
}

/// Hash (and scan) an object without copying it.
async fn measure(
    store: &dyn ObjectStore,
    key: &str,
    scan: Option<ContentScan>,
) -> Result<Measured, String> {
    let mut got = store
        .get(key, None)
        .await
        .map_err(|e| format!("reading `{key}`: {e}"))?;
    let inspector = Inspector::new(scan);
    let feed = inspector.feed();
    while let Some(chunk) = got.body.next().await {
        let chunk = chunk.map_err(|e| format!("reading `{key}`: {e}"))?;
        feed.send(&chunk).await?;
    }
    drop(feed);
    let measured = inspector.finish().await?;
    if measured.size != got.meta.size {
        return Err(format!(
            "`{key}` changed while it was read ({} bytes announced, {} read)",
            got.meta.size, measured.size
        ));
    }
    Ok(measured)
}

/// The refusal of a file whose bytes are not those measured at intake.
fn changed(name: &str, sha256: &str, expected: &str) -> String {
    format!(
        "`{name}` changed in review: sha256 {sha256} where {expected} was recorded; it was not published"
    )
}

/// Bring one file from review to its destination, checked against the checksum recorded at
/// intake: what does not match is not published.
async fn put_out(
    job: &Job,
    review: &dyn ObjectStore,
    dest: &dyn ObjectStore,
    name: &str,
    expected: &str,
) -> Result<Measured, String> {
    let dest_stage = Stage::destination(job.kind);
    let to = job.key(dest_stage, name);
    let from = job.key(Stage::in_review(job.kind), name);
    let reviewed = review
        .head(&from)
        .await
        .map_err(|e| format!("reading `{from}`: {e}"))?;
    let measured = match (shared_backend(review, &from, dest, &to), reviewed) {
        // One store holds both stages: check the file where it is, so a changed file never
        // reaches the destination; then move it (no byte is copied), and make sure the object
        // moved is the one checked.
        (Some((store, from_full, to_full)), Some(before)) => {
            let measured = measure(review, &from, None).await?;
            if measured.sha256 != expected {
                return Err(changed(name, &measured.sha256, expected));
            }
            store
                .rename(&from_full, &to_full)
                .await
                .map_err(|e| format!("moving `{from}` to {}: {e}", dest_stage.as_str()))?;
            let after = dest
                .head(&to)
                .await
                .map_err(|e| format!("reading `{to}`: {e}"))?;
            let same = after.is_some_and(|a| {
                (a.size, &a.etag, a.last_modified)
                    == (before.size, &before.etag, before.last_modified)
            });
            if !same {
                dest.delete(&to)
                    .await
                    .map_err(|e| format!("deleting `{to}`: {e}"))?;
                return Err(format!(
                    "`{name}` changed in review while it was published; it was not published"
                ));
            }
            measured
        }
        (None, Some(_)) => stream_copy(review, &from, dest, &to, None).await?,
        // A retried publish finds review already emptied: check what reached the destination.
        (_, None) if dest.head(&to).await.ok().flatten().is_some() => {
            tracing::info!("review copy gone; checking the published copy");
            measure(dest, &to, None).await?
        }
        (_, None) => return Err(format!("`{from}` is not in review")),
    };
    if measured.sha256 != expected {
        dest.delete(&to)
            .await
            .map_err(|e| format!("deleting `{to}`: {e}"))?;
        return Err(changed(name, &measured.sha256, expected));
    }
    Ok(measured)
}

async fn publish(job: &Job, ports: &Ports) -> Result<(), String> {
    let review = ports
        .storage
        .store(Stage::in_review(job.kind))
        .map_err(|e| e.to_string())?;
    let dest_stage = Stage::destination(job.kind);
    let dest = ports.storage.store(dest_stage).map_err(|e| e.to_string())?;
    let recorded: Vec<AirlockFile> = ports
        .table
        .get(&airlock_request_key(&job.workspace_id, &job.request_id))
        .await
        .map_err(|e| format!("reading the request: {e}"))?
        .and_then(|i| i.body.get("files").cloned())
        .and_then(|f| serde_json::from_value(f).ok())
        .ok_or_else(|| format!("request `{}` has no recorded files", job.request_id))?;
    let mut files = Vec::new();
    for name in &job.files {
        let expected = recorded
            .iter()
            .find(|f| &f.name == name)
            .and_then(|f| f.sha256.clone())
            .ok_or_else(|| format!("`{name}` has no checksum recorded at intake"))?;
        let measured = put_out(job, review.as_ref(), dest.as_ref(), name, &expected).await?;
        files.push(AirlockFile {
            name: name.clone(),
            size: Some(measured.size),
            sha256: Some(measured.sha256),
        });
    }
    delete_all(review.as_ref(), job, Stage::in_review(job.kind)).await?;
    let s = status(
        job,
        AirlockEvent::Finished,
        files,
        format!("published to {}", dest_stage.as_str()),
    );
    report(ports, job, s).await
}

async fn discard(job: &Job, ports: &Ports) -> Result<(), String> {
    for stage in [Stage::staging(job.kind), Stage::in_review(job.kind)] {
        let store = ports.storage.store(stage).map_err(|e| e.to_string())?;
        delete_all(store.as_ref(), job, stage).await?;
    }
    let s = status(
        job,
        AirlockEvent::Finished,
        Vec::new(),
        "the files were deleted".into(),
    );
    report(ports, job, s).await
}

/// Run the job; on failure, report it (so the request fails with the reason) and return it.
pub async fn run(job: &Job, ports: &Ports) -> Result<(), String> {
    let outcome = match job.action {
        Action::Intake => intake(job, ports).await,
        Action::Publish => publish(job, ports).await,
        Action::Discard => discard(job, ports).await,
    };
    if let Err(message) = &outcome {
        let s = status(job, AirlockEvent::Failed, Vec::new(), message.clone());
        if let Err(e) = report(ports, job, s).await {
            tracing::error!(error = %e, "could not report the failure");
        }
    }
    outcome
}

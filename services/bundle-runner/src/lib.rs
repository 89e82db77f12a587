//! The bundle runner: fetch a bundle by digest, verify it, run one action's steps, and report
//! progress and outputs to the status queue. The same program runs as a Fargate task and, in
//! the local stack, as a process started by the local workflow engine.

mod process;
mod steps;
mod terraform;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tre_bundle::{BundleRef, Reference};
use tre_core::app::StatusMessage;
use tre_core::domain::StepOutcome;
use tre_core::ports::{Key, Queue, Table};

pub use process::{run_from_env, EXIT_BAD_ENVIRONMENT, EXIT_FAILED, EXIT_OK};
pub use steps::{StepFailure, StepOutputs};
pub use terraform::{hcl_value, state_key, TerraformSettings, ACTION_VARS_PROPERTY};

/// What the runner is asked to do (from the task's environment).
#[derive(Clone, Debug)]
pub struct Job {
    pub operation_id: String,
    pub step_id: String,
    pub resource_id: String,
    /// Set when the step acts on a resource other than the operation's (a pipeline step).
    pub operation_resource_id: Option<String>,
    pub action: String,
    /// Must be pinned by digest: a tag could change between the API's check and the run.
    pub bundle: String,
    /// Public parameters (sensitive ones are read from the store).
    pub parameters: Map<String, Value>,
    /// Credential for a registry that asks for one.
    pub registry_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// The job's environment, set per step by the state machine's container overrides (the
/// infrastructure test checks `statemachines/resource-action.asl.json` sets each).
pub const JOB_ENV_VARS: &[&str] = &[
    "TRE_OPERATION_ID",
    "TRE_STEP_ID",
    "TRE_RESOURCE_ID",
    "TRE_OPERATION_RESOURCE_ID",
    "TRE_ACTION",
    "TRE_BUNDLE",
    "TRE_PARAMETERS",
];

/// What the runner calls through the AWS adapters in a Fargate task: (adapter, SDK operation).
/// The infrastructure test checks the task role allows exactly these.
pub const SDK_CALLS: &[(&str, &str)] = &[("DynamoTable", "get_item"), ("SqsQueue", "send_message")];

/// Environment of the runner's AWS backend (set in the task definition): its store and queue,
/// where Terraform steps keep their state, and where the airlock's stores are (passed to
/// bundles as `tre_airlock`).
pub const AWS_ENV_VARS: &[&str] = &[
    tre_aws::ENV_TABLE,
    tre_aws::ENV_STATUS_QUEUE_URL,
    "TRE_BUNDLE_STATE_BUCKET",
    tre_aws::ENV_AIRLOCK_BUCKET_PREFIX,
];

impl Job {
    pub fn from_env() -> Result<Self, JobError> {
        let var = |k: &'static str| std::env::var(k).map_err(|_| JobError::Missing(k));
        let parameters = match std::env::var("TRE_PARAMETERS") {
            Ok(text) if !text.is_empty() => serde_json::from_str::<Map<String, Value>>(&text)
                .map_err(|e| {
                    JobError::Invalid(format!("TRE_PARAMETERS is not a JSON object: {e}"))
                })?,
            _ => Map::new(),
        };
        Ok(Self {
            operation_id: var("TRE_OPERATION_ID")?,
            step_id: var("TRE_STEP_ID")?,
            resource_id: var("TRE_RESOURCE_ID")?,
            operation_resource_id: std::env::var("TRE_OPERATION_RESOURCE_ID")
                .ok()
                .filter(|v| !v.is_empty()),
            action: var("TRE_ACTION")?,
            bundle: var("TRE_BUNDLE")?,
            parameters,
            registry_token: std::env::var("TRE_REGISTRY_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        })
    }
}

/// The ports the runner uses.
pub struct Ports {
    pub table: Arc<dyn Table>,
    pub status_queue: Arc<dyn Queue>,
    /// The airlock's stores, where the runner itself may read them (`tre dev`): a review
    /// environment's steps then get a read-only copy of its request's files.
    pub airlock: Option<Arc<tre_core::app::AirlockStorage>>,
}

/// How the runner runs steps (from its environment, read once).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub terraform: TerraformSettings,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            terraform: TerraformSettings::from_env(),
        }
    }
}

/// Strictly increasing sequence numbers across attempts: microseconds since the epoch, bumped
/// so two messages of one run never share a number.
struct Sequence(u64);

impl Sequence {
    fn start() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        Self(now)
    }
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

struct Reporter<'a> {
    job: &'a Job,
    queue: &'a dyn Queue,
    seq: Sequence,
}

impl Reporter<'_> {
    async fn send(&mut self, status: StepOutcome, message: String, outputs: StepOutputs) {
        let msg = StatusMessage {
            operation_id: self.job.operation_id.clone(),
            step_id: self.job.step_id.clone(),
            resource_id: self.job.resource_id.clone(),
            operation_resource_id: self.job.operation_resource_id.clone(),
            status,
            message,
            outputs: outputs.public,
            sensitive_outputs: outputs.sensitive,
            sequence: self.seq.next(),
        };
        let body = serde_json::to_string(&msg).unwrap_or_default();
        // A lost progress message is tolerable; a lost final one is caught by the workflow
        // (the task's exit status), so report and carry on.
        for attempt in 1..=5u64 {
            match self.queue.send(&body, None).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "could not send a status message");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
            }
        }
    }
}

/// Run the job; returns Err with the failure message after reporting it.
pub async fn run(job: &Job, ports: &Ports, settings: &Settings) -> Result<StepOutputs, String> {
    let mut reporter = Reporter {
        job,
        queue: ports.status_queue.as_ref(),
        seq: Sequence::start(),
    };
    reporter
        .send(
            StepOutcome::Running,
            format!("{}: fetching the bundle", job.action),
            StepOutputs::default(),
        )
        .await;
    match run_inner(job, ports, settings, &mut reporter).await {
        Ok(outputs) => {
            reporter
                .send(
                    StepOutcome::Succeeded,
                    format!("{} succeeded", job.action),
                    outputs.clone(),
                )
                .await;
            Ok(outputs)
        }
        Err(message) => {
            tracing::error!(%message, "the action failed");
            reporter
                .send(StepOutcome::Failed, message.clone(), StepOutputs::default())
                .await;
            Err(message)
        }
    }
}

/// A read-only copy of a review's request's in-review files in `dir` (files 0444, the folder
/// 0555): exactly the request's files, nothing else of the airlock or the workspace.
async fn review_copy(
    airlock: &tre_core::app::AirlockStorage,
    review: &tre_core::domain::AirlockReviewOf,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let stage = tre_core::domain::airlock::Stage::in_review(review.request_type);
    let store = airlock
        .store(stage)
        .map_err(|e| format!("the airlock's {} store: {e}", stage.as_str()))?;
    let prefix = format!("{}/{}/", review.workspace_id, review.request_id);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(&prefix, after.as_deref(), 1000)
            .await
            .map_err(|e| format!("listing the request's in-review files: {e}"))?;
        for meta in &page.objects {
            let name = &meta.key[prefix.len()..];
            // File names are one segment (the airlock refuses others); never leave `dir`.
            if tre_core::domain::airlock::validate_file_name(name).is_err() {
                continue;
            }
            let mut got = store
                .get(&meta.key, None)
                .await
                .map_err(|e| format!("reading in-review file `{name}`: {e}"))?;
            let path = dir.join(name);
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            while let Some(chunk) = got.body.next().await {
                let chunk = chunk.map_err(|e| format!("reading in-review file `{name}`: {e}"))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            file.flush()
                .await
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            read_only(&path, 0o444)?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    read_only(dir, 0o555)?;
    Ok(dir.to_path_buf())
}

fn read_only(path: &std::path::Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("making {} read-only: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// A resource's stored properties (`None` when there is no such resource).
async fn properties_of(table: &dyn Table, id: &str) -> Result<Option<Map<String, Value>>, String> {
    Ok(table
        .get(&Key::new(format!("RES#{id}"), "META"))
        .await
        .map_err(|e| format!("reading resource {id}: {e}"))?
        .and_then(|i| i.body.get("properties").and_then(Value::as_object).cloned()))
}

async fn run_inner(
    job: &Job,
    ports: &Ports,
    settings: &Settings,
    reporter: &mut Reporter<'_>,
) -> Result<StepOutputs, String> {
    let bundle_ref = BundleRef::parse(&job.bundle).map_err(|e| e.to_string())?;
    let reference = match &bundle_ref {
        BundleRef::Layout { reference, .. } | BundleRef::Registry { reference, .. } => reference,
    };
    if !matches!(reference, Reference::Digest(_)) {
        return Err(format!(
            "bundle `{}` is not pinned by digest; refusing to run it",
            job.bundle
        ));
    }
    let artifact = match &bundle_ref {
        BundleRef::Layout { dir, reference } => tre_bundle::read_layout(dir, reference)
            .map_err(|e| format!("fetching the bundle: {e}"))?,
        BundleRef::Registry {
            base,
            repository,
            reference,
        } => {
            let mirrors = std::env::var("TRE_REGISTRY_MIRRORS").unwrap_or_default();
            let base = &registry_base(base, &mirrors);
            let client = match &job.registry_token {
                Some(t) => tre_bundle::RegistryClient::with_registry_token(base, t.clone()),
                None => tre_bundle::RegistryClient::new(base, None),
            }
            .map_err(|e| e.to_string())?;
            client
                .pull(repository, reference)
                .await
                .map_err(|e| format!("fetching the bundle: {e}"))?
        }
    };
    let action = artifact
        .manifest
        .actions
        .get(&job.action)
        .ok_or_else(|| {
            format!(
                "bundle `{}` has no action `{}`",
                artifact.manifest.name, job.action
            )
        })?
        .clone();

    // The resource tells where it sits; its sensitive parameters are kept apart in the store.
    let resource = ports
        .table
        .get(&Key::new(format!("RES#{}", job.resource_id), "META"))
        .await
        .map_err(|e| format!("reading the resource: {e}"))?
        .map(|i| i.body)
        .unwrap_or(Value::Null);
    let mut parameters = job.parameters.clone();
    let mut secret_values = Vec::new();
    if let Some(secrets) = ports
        .table
        .get(&Key::new(format!("RES#{}", job.resource_id), "SECRETS"))
        .await
        .map_err(|e| format!("reading the resource's secrets: {e}"))?
        .and_then(|i| i.body.as_object().cloned())
    {
        // Short values would redact innocent text; they are no secret worth the name anyway.
        secret_values.extend(
            secrets
                .values()
                .filter_map(Value::as_str)
                .filter(|s| s.len() >= 4)
                .map(str::to_string),
        );
        parameters.extend(secrets);
    }
    let resource_properties = resource["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    // A workspace is its own workspace; what lives in one gets its workspace's properties.
    let workspace_id = match resource["kind"].as_str() {
        Some("workspace") => Some(job.resource_id.as_str()),
        _ => resource["workspaceId"].as_str(),
    };
    let parent_service_id = resource["parentServiceId"].as_str();
    let workspace_properties = match workspace_id {
        Some(id) if id != job.resource_id => properties_of(ports.table.as_ref(), id).await?,
        _ => None,
    };
    let service_properties = match parent_service_id {
        Some(id) => properties_of(ports.table.as_ref(), id).await?,
        None => None,
    };

    let work = tempfile::tempdir().map_err(|e| format!("creating a work folder: {e}"))?;
    let airlock_review = match resource.get("airlockReview") {
        Some(v) if !v.is_null() => Some(
            serde_json::from_value::<tre_core::domain::AirlockReviewOf>(v.clone())
                .map_err(|e| format!("the resource's airlockReview is unreadable: {e}"))?,
        ),
        _ => None,
    };
    let review_files = match (&airlock_review, &ports.airlock) {
        // Only what is installed needs the files; an uninstall must work after they are gone.
        (Some(review), Some(airlock)) if job.action != "uninstall" => {
            Some(review_copy(airlock, review, &work.path().join("review-files")).await?)
        }
        _ => None,
    };
    let bundle_dir = work.path().join("bundle");
    tre_bundle::extract(&artifact.layer.bytes, &bundle_dir)
        .map_err(|e| format!("unpacking the bundle: {e}"))?;
    let context = steps::Context {
        job,
        bundle_dir: &bundle_dir,
        work_dir: work.path(),
        parameters: &parameters,
        workspace_id,
        parent_service_id,
        template_name: &artifact.manifest.name,
        resource_properties: &resource_properties,
        workspace_properties: workspace_properties.as_ref(),
        service_properties: service_properties.as_ref(),
        secret_values,
        terraform: &settings.terraform,
        airlock_review: airlock_review.as_ref(),
        review_files: review_files.as_deref(),
    };
    let total = action.steps.len();
    let mut outputs = StepOutputs::default();
    for (i, step) in action.steps.iter().enumerate() {
        reporter
            .send(
                StepOutcome::Running,
                format!("{}: step {}/{total}: {}", job.action, i + 1, step.name),
                StepOutputs::default(),
            )
            .await;
        // Long steps (Terraform) report their progress while they run.
        let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
        let running = steps::run_step(&context, step, i, &progress);
        tokio::pin!(running);
        let produced = loop {
            tokio::select! {
                done = &mut running => break done,
                Some(update) = updates.recv() => {
                    reporter
                        .send(
                            StepOutcome::Running,
                            format!("{}: step {}/{total}: {update}", job.action, i + 1),
                            StepOutputs::default(),
                        )
                        .await;
                }
            }
        }
        .map_err(|f| f.to_string())?;
        outputs.extend(produced);
    }
    let declared: Vec<&str> = artifact
        .manifest
        .outputs
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    outputs.retain_declared(&declared, ACTION_VARS_PROPERTY);
    Ok(outputs)
}

/// Where to reach a registry from here: `TRE_REGISTRY_MIRRORS` maps a registry's public host to
/// an address inside the network (`registry.example.org=http://registry.tre.internal:5000`,
/// comma-separated), for tasks that cannot reach its public address; others go as named.
pub fn registry_base(base: &str, mirrors: &str) -> String {
    let host = base
        .split_once("://")
        .map_or(base, |(_, h)| h)
        .trim_end_matches('/');
    mirrors
        .split(',')
        .filter_map(|m| m.trim().split_once('='))
        .find(|(public, _)| public.trim() == host)
        .map(|(_, inside)| inside.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod mirror_tests {
    use super::registry_base;

    #[test]
    fn a_mirrored_host_is_reached_inside_and_others_as_named() {
        let mirrors = "registry.example.org=http://registry.tre.internal:5000/, other=x";
        assert_eq!(
            registry_base("https://registry.example.org", mirrors),
            "http://registry.tre.internal:5000"
        );
        assert_eq!(
            registry_base("https://elsewhere.example.org", mirrors),
            "https://elsewhere.example.org"
        );
        assert_eq!(
            registry_base("http://127.0.0.1:5000", ""),
            "http://127.0.0.1:5000"
        );
    }
}

//! Running one `exec` step: parameters as `TRE_PARAM_*` environment variables and as a JSON
//! file, outputs read from the file the step writes, a timeout, and the tail of its output kept
//! for the failure message.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tre_bundle::StepSpec;

use crate::terraform::{redact, TerraformSettings};
use crate::Job;

/// Lines of a failing step's output quoted in its failure message.
const TAIL_LINES: usize = 12;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

pub(crate) struct Context<'a> {
    pub job: &'a Job,
    pub bundle_dir: &'a Path,
    pub work_dir: &'a Path,
    pub parameters: &'a Map<String, Value>,
    /// The workspace the resource belongs to (the resource itself for a workspace).
    pub workspace_id: Option<&'a str>,
    pub parent_service_id: Option<&'a str>,
    pub template_name: &'a str,
    /// The resource's stored properties (parameters and earlier outputs).
    pub resource_properties: &'a Map<String, Value>,
    /// The properties of the resource's workspace and parent service (their outputs reach
    /// what is deployed inside them).
    pub workspace_properties: Option<&'a Map<String, Value>>,
    pub service_properties: Option<&'a Map<String, Value>>,
    /// Values of sensitive parameters: never in a message or a log.
    pub secret_values: Vec<String>,
    pub terraform: &'a TerraformSettings,
    /// On a review environment: the airlock request whose files it may read.
    pub airlock_review: Option<&'a tre_core::domain::AirlockReviewOf>,
    /// Locally: a read-only copy of that request's in-review files.
    pub review_files: Option<&'a Path>,
}

#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error("step `{step}` could not start: {reason}")]
    Start { step: String, reason: String },
    #[error("step `{step}` exited with {status}{tail}")]
    Exit {
        step: String,
        status: String,
        tail: String,
    },
    #[error("step `{step}` timed out after {secs} s")]
    Timeout { step: String, secs: u64 },
    #[error("step `{step}` wrote outputs that are not a JSON object: {reason}")]
    Outputs { step: String, reason: String },
    #[error("step `{step}`: terraform {phase} failed{}: {message}", at.as_deref().map(|a| format!(" at {a}")).unwrap_or_default())]
    Terraform {
        step: String,
        phase: String,
        /// The resource whose change failed, when Terraform names one.
        at: Option<String>,
        message: String,
    },
}

/// What a step produced: outputs for the resource's properties, and sensitive ones kept apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepOutputs {
    pub public: Map<String, Value>,
    pub sensitive: Map<String, Value>,
}

impl StepOutputs {
    pub(crate) fn extend(&mut self, other: StepOutputs) {
        self.public.extend(other.public);
        self.sensitive.extend(other.sensitive);
    }

    /// Keep only the outputs the bundle declares (all of them when it declares none); the
    /// variables custom actions set stay, for the resource to remember.
    pub(crate) fn retain_declared(&mut self, declared: &[&str], keep_always: &str) {
        if declared.is_empty() {
            return;
        }
        let keep = |k: &String| {
            let keep = declared.contains(&k.as_str()) || k == keep_always;
            if !keep {
                tracing::warn!(output = %k, "dropping an output the bundle does not declare");
            }
            keep
        };
        self.public.retain(|k, _| keep(k));
        self.sensitive.retain(|k, _| keep(k));
    }
}

/// `display_name` → `TRE_PARAM_DISPLAY_NAME`.
pub(crate) fn env_name(param: &str) -> String {
    let mut s = String::from("TRE_PARAM_");
    s.extend(param.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    s
}

fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) async fn run_step(
    ctx: &Context<'_>,
    step: &StepSpec,
    index: usize,
    progress: &tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<StepOutputs, StepFailure> {
    if let Some(tf) = &step.terraform {
        return crate::terraform::run_terraform_step(ctx, ctx.terraform, &step.name, tf, progress)
            .await;
    }
    let fail_start = |reason: String| StepFailure::Start {
        step: step.name.clone(),
        reason,
    };
    let cmd = step.exec.as_deref().unwrap_or_default();
    let (program, args) = cmd
        .split_first()
        .ok_or_else(|| fail_start("empty command".into()))?;
    let params_file = ctx.work_dir.join(format!("parameters-{index}.json"));
    let outputs_file = ctx.work_dir.join(format!("outputs-{index}.json"));
    std::fs::write(
        &params_file,
        serde_json::to_vec_pretty(ctx.parameters).unwrap_or_default(),
    )
    .map_err(|e| fail_start(e.to_string()))?;
    #[cfg(unix)]
    {
        // Parameters may include secrets: only the step's own user may read them.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&params_file, std::fs::Permissions::from_mode(0o600));
    }

    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(ctx.bundle_dir)
        .env("TRE_PARAMETERS_FILE", &params_file)
        .env("TRE_OUTPUTS_FILE", &outputs_file)
        .env("TRE_RESOURCE_ID", &ctx.job.resource_id)
        .env("TRE_OPERATION_ID", &ctx.job.operation_id)
        .env("TRE_ACTION", &ctx.job.action)
        .env("TRE_WORKSPACE_ID", ctx.workspace_id.unwrap_or(""))
        .env("TRE_PARENT_SERVICE_ID", ctx.parent_service_id.unwrap_or(""))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in ctx.parameters {
        command.env(env_name(k), env_value(v));
    }
    if let Some(review) = ctx.airlock_review {
        command
            .env("TRE_AIRLOCK_REVIEW_REQUEST_ID", &review.request_id)
            .env("TRE_AIRLOCK_REVIEW_TYPE", review.request_type.as_str())
            .env("TRE_AIRLOCK_REVIEW_WORKSPACE_ID", &review.workspace_id);
    }
    if let Some(files) = ctx.review_files {
        command.env("TRE_AIRLOCK_REVIEW_FILES", files);
    }
    let mut child = command
        .spawn()
        .map_err(|e| fail_start(format!("{program}: {e}")))?;

    // Forward the step's output to our log (never the parameters) and keep its tail.
    let tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(collect(
            BufReader::new(out),
            tail.clone(),
            step.name.clone(),
            ctx.secret_values.clone(),
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(collect(
            BufReader::new(err),
            tail.clone(),
            step.name.clone(),
            ctx.secret_values.clone(),
        )));
    }
    let limit = step
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(fail_start(e.to_string())),
        Err(_) => {
            let _ = child.kill().await;
            return Err(StepFailure::Timeout {
                step: step.name.clone(),
                secs: limit.as_secs(),
            });
        }
    };
    for r in readers {
        let _ = r.await;
    }
    if !status.success() {
        let lines: Vec<String> = tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        let tail = if lines.is_empty() {
            String::new()
        } else {
            format!(": {}", lines.join(" | "))
        };
        let status = match status.code() {
            Some(code) => format!("exit code {code}"),
            None => "a signal".to_string(),
        };
        return Err(StepFailure::Exit {
            step: step.name.clone(),
            status,
            tail,
        });
    }
    let public = match std::fs::read(&outputs_file) {
        Err(_) => Map::new(),
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Ok(bytes) => serde_json::from_slice::<Map<String, Value>>(&bytes).map_err(|e| {
            StepFailure::Outputs {
                step: step.name.clone(),
                reason: e.to_string(),
            }
        })?,
    };
    Ok(StepOutputs {
        public,
        sensitive: Map::new(),
    })
}

async fn collect<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    step: String,
    secrets: Vec<String>,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = redact(&line, &secrets);
        tracing::info!(step = %step, "{line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameter_names_become_env_names() {
        assert_eq!(super::env_name("display_name"), "TRE_PARAM_DISPLAY_NAME");
        assert_eq!(
            super::env_name("storage-quota.gb"),
            "TRE_PARAM_STORAGE_QUOTA_GB"
        );
    }
}

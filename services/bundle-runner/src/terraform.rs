//! Running one `terraform` step: the module is initialised with its state in the bundle state
//! bucket (one key per resource and step, S3 lock file), then applied (install, upgrade, custom
//! actions) or destroyed (uninstall). Every value reaches Terraform as a `TF_VAR_` environment
//! variable, never on a command line; progress comes from Terraform's machine-readable output;
//! a failure names the resource and Terraform's reason, with secrets redacted.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::UnboundedSender;
use tre_bundle::{TerraformCommand, TerraformStep};

use crate::steps::{Context, StepFailure, StepOutputs};

/// The property where a resource keeps the variables its custom actions set, per step.
pub const ACTION_VARS_PROPERTY: &str = "tre_action_vars";

/// Longest stretch between two progress messages while resources are being changed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// How this runner runs Terraform (its environment, read once per process).
#[derive(Clone, Debug, Default)]
pub struct TerraformSettings {
    /// `TRE_TERRAFORM_BIN`, default `terraform` on `PATH`.
    pub program: PathBuf,
    /// `TRE_BUNDLE_STATE_BUCKET`: where every module's state lives.
    pub state_bucket: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`): the state bucket's region.
    pub region: Option<String>,
    /// `TRE_TERRAFORM_PLUGIN_DIR`: a filesystem mirror of the providers (the runner image's
    /// pinned ones); when set, providers are installed from there only.
    pub plugin_dir: Option<PathBuf>,
    /// `TRE_TERRAFORM_PLUGIN_CACHE_DIR`: a provider cache shared between steps, so each init
    /// links the provider instead of copying it.
    pub plugin_cache_dir: Option<PathBuf>,
    /// `TRE_TERRAFORM_BACKEND_CONFIG`: a file of extra S3 backend settings (an S3-compatible
    /// endpoint, path-style addressing...).
    pub backend_config: Option<PathBuf>,
    /// `TRE_TERRAFORM_OVERRIDES`: a folder of `*_override.tf` files that every module gets (a
    /// deployment's provider settings: an assumed role, endpoints, retries).
    pub overrides_dir: Option<PathBuf>,
    /// `TRE_AIRLOCK_BUCKET_PREFIX`: the airlock's buckets are `<prefix>-<stage>`.
    pub airlock_bucket_prefix: Option<String>,
}

impl TerraformSettings {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            program: var("TRE_TERRAFORM_BIN")
                .unwrap_or_else(|| "terraform".into())
                .into(),
            state_bucket: var("TRE_BUNDLE_STATE_BUCKET"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            plugin_dir: var("TRE_TERRAFORM_PLUGIN_DIR").map(PathBuf::from),
            plugin_cache_dir: var("TRE_TERRAFORM_PLUGIN_CACHE_DIR").map(PathBuf::from),
            backend_config: var("TRE_TERRAFORM_BACKEND_CONFIG").map(PathBuf::from),
            overrides_dir: var("TRE_TERRAFORM_OVERRIDES").map(PathBuf::from),
            airlock_bucket_prefix: var("TRE_AIRLOCK_BUCKET_PREFIX"),
        }
    }
}

/// The state key of a resource's module: `<resource id>/<step name>.tfstate`.
pub fn state_key(resource_id: &str, step: &str) -> String {
    format!("{resource_id}/{step}.tfstate")
}

/// A value as a Terraform expression (what `TF_VAR_` takes for non-string variables): JSON
/// with HCL's string escapes, where `${` and `%{` would otherwise start a template.
pub fn hcl_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => hcl_string(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(hcl_value).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", hcl_string(k), hcl_value(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A variable's environment value: strings as they are (Terraform takes a string variable's
/// value literally), everything else as an expression.
fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => hcl_value(other),
    }
}

/// Replaces every secret in `text` (sensitive parameters) with `***`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

/// The TRE's own values for a module, beside the bundle's parameters.
fn tre_variables(ctx: &Context<'_>, settings: &TerraformSettings) -> Map<String, Value> {
    let job = ctx.job;
    let workspace_id = ctx.workspace_id.unwrap_or("");
    let mut tags = Map::new();
    tags.insert("tre:resource-id".into(), job.resource_id.clone().into());
    tags.insert("tre:template".into(), ctx.template_name.into());
    if !workspace_id.is_empty() {
        tags.insert("tre:workspace-id".into(), workspace_id.into());
    }
    let mut vars = Map::new();
    vars.insert("tre_resource_id".into(), job.resource_id.clone().into());
    vars.insert("tre_workspace_id".into(), workspace_id.into());
    vars.insert(
        "tre_parent_service_id".into(),
        ctx.parent_service_id.unwrap_or("").into(),
    );
    vars.insert("tre_template_name".into(), ctx.template_name.into());
    vars.insert("tre_tags".into(), Value::Object(tags));
    if let (Some(prefix), false) = (&settings.airlock_bucket_prefix, workspace_id.is_empty()) {
        let location = |stage: &str| serde_json::json!({"bucket": format!("{prefix}-{stage}"), "prefix": format!("{workspace_id}/")});
        vars.insert(
            "tre_airlock".into(),
            serde_json::json!({
                "workspace_data": location("workspace-data"),
                "export_staging": location("export-staging"),
            }),
        );
    }
    // A review environment learns where its request's files are; its own role reads only them.
    if let (Some(prefix), Some(review)) = (&settings.airlock_bucket_prefix, ctx.airlock_review) {
        let stage = tre_core::domain::airlock::Stage::in_review(review.request_type);
        vars.insert(
            "tre_airlock_review".into(),
            serde_json::json!({
                "request_id": review.request_id,
                "request_type": review.request_type.as_str(),
                "workspace_id": review.workspace_id,
                "in_review": {
                    "bucket": format!("{prefix}-{}", stage.as_str()),
                    "prefix": format!("{}/{}/", review.workspace_id, review.request_id),
                },
            }),
        );
    }
    if let Some(ws) = ctx.workspace_properties {
        vars.insert("tre_workspace".into(), Value::Object(ws.clone()));
    }
    if let Some(svc) = ctx.service_properties {
        vars.insert("tre_workspace_service".into(), Value::Object(svc.clone()));
    }
    vars
}

/// The variables an action applies with: what earlier actions set (remembered on the
/// resource), then this action's own.
pub(crate) fn action_vars(
    remembered: Option<&Value>,
    step: &str,
    tf: &TerraformStep,
) -> Map<String, Value> {
    let mut vars = remembered
        .and_then(|r| r.get(step))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    vars.extend(tf.vars.clone());
    vars
}

struct Run<'a> {
    ctx: &'a Context<'a>,
    settings: &'a TerraformSettings,
    step: &'a str,
    module: PathBuf,
    env: Vec<(String, String)>,
    progress: &'a UnboundedSender<String>,
}

/// What Terraform said while it ran a command.
#[derive(Default)]
struct Outcome {
    success: bool,
    errors: Vec<String>,
    failed_resource: Option<String>,
    lock_id: Option<String>,
    tail: Vec<String>,
}

impl Outcome {
    fn reason(&self) -> String {
        if !self.errors.is_empty() {
            return self.errors.join("; ");
        }
        self.tail.join(" | ")
    }
}

pub(crate) async fn run_terraform_step(
    ctx: &Context<'_>,
    settings: &TerraformSettings,
    step_name: &str,
    tf: &TerraformStep,
    progress: &UnboundedSender<String>,
) -> Result<StepOutputs, StepFailure> {
    let fail = |reason: String| StepFailure::Start {
        step: step_name.to_string(),
        reason,
    };
    let bucket = settings.state_bucket.as_deref().ok_or_else(|| {
        fail("terraform steps keep their state in the bundle state bucket: set TRE_BUNDLE_STATE_BUCKET".into())
    })?;
    let region = settings.region.as_deref().ok_or_else(|| {
        fail("terraform steps need the state bucket's region: set AWS_REGION".into())
    })?;
    let module = ctx.bundle_dir.join(&tf.dir);
    if !module.is_dir() {
        return Err(fail(format!("the bundle has no folder `{}`", tf.dir)));
    }
    prepare_module(&module, settings).map_err(fail)?;

    let mut env = Vec::new();
    env.push(("TF_IN_AUTOMATION".to_string(), "1".to_string()));
    env.push(("TF_INPUT".to_string(), "0".to_string()));
    if settings.plugin_dir.is_some() {
        let rc = ctx.work_dir.join(format!("terraformrc-{step_name}"));
        std::fs::write(&rc, cli_config(settings))
            .map_err(|e| fail(format!("writing the Terraform CLI configuration: {e}")))?;
        env.push(("TF_CLI_CONFIG_FILE".into(), rc.display().to_string()));
    }
    let remembered = ctx.resource_properties.get(ACTION_VARS_PROPERTY);
    let step_vars = action_vars(remembered, step_name, tf);
    let mut vars = ctx.parameters.clone();
    vars.extend(step_vars.clone());
    vars.extend(tre_variables(ctx, settings));
    for (name, value) in &vars {
        env.push((format!("TF_VAR_{name}"), env_value(value)));
    }

    let run = Run {
        ctx,
        settings,
        step: step_name,
        module,
        env,
        progress,
    };
    let mut init: Vec<String> = vec![
        "init".into(),
        "-input=false".into(),
        "-no-color".into(),
        "-reconfigure".into(),
        format!("-backend-config=bucket={bucket}"),
        format!(
            "-backend-config=key={}",
            state_key(&ctx.job.resource_id, step_name)
        ),
        format!("-backend-config=region={region}"),
        "-backend-config=use_lockfile=true".into(),
        "-backend-config=encrypt=true".into(),
    ];
    if let Some(extra) = &settings.backend_config {
        init.push(format!("-backend-config={}", extra.display()));
    }
    let outcome = run.terraform(&init, false).await?;
    if !outcome.success {
        return Err(run.failure("init", &outcome));
    }

    let command = TerraformCommand::for_action(&ctx.job.action);
    let verb = match command {
        TerraformCommand::Apply => "apply",
        TerraformCommand::Destroy => "destroy",
    };
    let args: Vec<String> = vec![
        verb.into(),
        "-input=false".into(),
        "-auto-approve".into(),
        "-json".into(),
        "-lock-timeout=30s".into(),
    ];
    let mut outcome = run.terraform(&args, true).await?;
    if let (false, Some(lock)) = (outcome.success, outcome.lock_id.clone()) {
        // One action per resource runs at a time (the API refuses a second), so a lock on this
        // resource's state is a leftover of an attempt that was killed: lift it and go on.
        tracing::warn!(step = %step_name, lock = %lock, "lifting the state lock an interrupted attempt left");
        let unlock = run
            .terraform(
                &["force-unlock".into(), "-force".into(), lock.clone()],
                false,
            )
            .await?;
        if !unlock.success {
            return Err(run.failure("force-unlock", &unlock));
        }
        outcome = run.terraform(&args, true).await?;
    }
    if !outcome.success {
        return Err(run.failure(verb, &outcome));
    }

    let mut outputs = StepOutputs::default();
    if command == TerraformCommand::Apply {
        outputs = run.outputs().await?;
        if !tf.vars.is_empty() {
            let mut all_steps = remembered
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            all_steps.insert(step_name.to_string(), Value::Object(step_vars));
            outputs
                .public
                .insert(ACTION_VARS_PROPERTY.into(), Value::Object(all_steps));
        }
    }
    Ok(outputs)
}

/// Copies the deployment's override files into the module. A module's own override files are
/// never packaged (see `tre_bundle::build`), and a backend is always the S3 one.
fn prepare_module(module: &Path, settings: &TerraformSettings) -> Result<(), String> {
    std::fs::write(
        module.join("tre_backend_override.tf"),
        "# Written by the bundle runner: state lives in the bundle state bucket.\nterraform {\n  backend \"s3\" {}\n}\n",
    )
    .map_err(|e| format!("writing the backend settings: {e}"))?;
    let Some(dir) = &settings.overrides_dir else {
        return Ok(());
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("TRE_TERRAFORM_OVERRIDES `{}`: {e}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_file() {
            continue;
        }
        let is_override = name.ends_with("_override.tf") || name.ends_with("_override.tf.json");
        if !is_override {
            return Err(format!(
                "TRE_TERRAFORM_OVERRIDES holds `{name}`, which is not an override file (name it *_override.tf)"
            ));
        }
        std::fs::copy(entry.path(), module.join(format!("zz_tre_{name}")))
            .map_err(|e| format!("copying the override {name}: {e}"))?;
    }
    Ok(())
}

fn cli_config(settings: &TerraformSettings) -> String {
    let quoted = |p: &Path| hcl_string(&p.display().to_string());
    let mut rc = String::new();
    if let Some(dir) = &settings.plugin_dir {
        rc.push_str(&format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = {}\n  }}\n}}\n",
            quoted(dir)
        ));
    }
    if let Some(cache) = &settings.plugin_cache_dir {
        rc.push_str(&format!("plugin_cache_dir = {}\n", quoted(cache)));
    }
    rc
}

impl Run<'_> {
    fn failure(&self, phase: &str, outcome: &Outcome) -> StepFailure {
        StepFailure::Terraform {
            step: self.step.to_string(),
            phase: phase.to_string(),
            message: redact(&outcome.reason(), &self.ctx.secret_values),
            at: outcome.failed_resource.clone(),
        }
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.settings.program);
        command
            .args(args)
            .current_dir(&self.module)
            .env_remove("TRE_PARAMETERS")
            .env_remove("TRE_REGISTRY_TOKEN")
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        die_with_parent(&mut command);
        command
    }

    /// Runs one Terraform command; `json` reads its `-json` event stream for progress, the
    /// failing resource and diagnostics.
    async fn terraform(&self, args: &[String], json: bool) -> Result<Outcome, StepFailure> {
        let mut child = self.command(args).spawn().map_err(|e| StepFailure::Start {
            step: self.step.to_string(),
            reason: format!("{}: {e}", self.settings.program.display()),
        })?;
        let secrets = &self.ctx.secret_values;
        let stderr = child.stderr.take().map(|err| {
            let secrets = secrets.clone();
            let step = self.step.to_string();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                let mut kept = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let line = redact(&line, &secrets);
                    tracing::info!(step = %step, "{line}");
                    if !line.trim().is_empty() {
                        kept.push(line);
                    }
                }
                kept
            })
        });
        let mut outcome = Outcome::default();
        let mut total: Option<u64> = None;
        let mut done = 0u64;
        let mut last_report = Instant::now() - PROGRESS_EVERY;
        if let Some(out) = child.stdout.take() {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = redact(&line, secrets);
                if !json {
                    tracing::info!(step = %self.step, "{line}");
                    if !line.trim().is_empty() {
                        outcome.tail.push(line);
                    }
                    continue;
                }
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    tracing::info!(step = %self.step, "{line}");
                    continue;
                };
                let message = event["@message"].as_str().unwrap_or_default();
                tracing::info!(step = %self.step, "{message}");
                match event["type"].as_str().unwrap_or_default() {
                    "change_summary" if total.is_none() => {
                        let c = &event["changes"];
                        let n = ["add", "change", "remove"]
                            .iter()
                            .filter_map(|k| c[*k].as_u64())
                            .sum::<u64>();
                        total = Some(n);
                        let _ = self
                            .progress
                            .send(format!("{}: {n} resources to change", self.step));
                    }
                    "apply_complete" => {
                        done += 1;
                        if last_report.elapsed() >= PROGRESS_EVERY || Some(done) == total {
                            last_report = Instant::now();
                            let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                            let _ = self
                                .progress
                                .send(format!("{}: {done}{of} resources changed", self.step));
                        }
                    }
                    "apply_errored" => {
                        if let Some(addr) =
                            event.pointer("/hook/resource/addr").and_then(Value::as_str)
                        {
                            outcome
                                .failed_resource
                                .get_or_insert_with(|| addr.to_string());
                        }
                    }
                    "diagnostic" if event["diagnostic"]["severity"] == "error" => {
                        let d = &event["diagnostic"];
                        let summary = d["summary"].as_str().unwrap_or_default();
                        let detail = d["detail"].as_str().unwrap_or_default();
                        if let Some(id) = lock_id(detail) {
                            outcome.lock_id = Some(id);
                        }
                        if let Some(addr) = d["address"].as_str() {
                            outcome
                                .failed_resource
                                .get_or_insert_with(|| addr.to_string());
                        }
                        outcome.errors.push(one_line(summary, detail));
                    }
                    _ => {}
                }
            }
        }
        let status = child.wait().await.map_err(|e| StepFailure::Start {
            step: self.step.to_string(),
            reason: e.to_string(),
        })?;
        if let Some(task) = stderr {
            let kept = task.await.unwrap_or_default();
            if outcome.lock_id.is_none() {
                outcome.lock_id = lock_id(&kept.join("\n"));
            }
            // Without -json, errors come on stderr: they are the reason.
            if outcome.errors.is_empty() && !kept.is_empty() {
                outcome.errors = kept.iter().rev().take(12).rev().cloned().collect();
            }
        }
        let keep = outcome.tail.len().saturating_sub(12);
        outcome.tail.drain(..keep);
        outcome.success = status.success();
        Ok(outcome)
    }

    /// `terraform output -json`: the resource's outputs, sensitive ones apart.
    async fn outputs(&self) -> Result<StepOutputs, StepFailure> {
        let out = self
            .command(&["output".into(), "-json".into(), "-no-color".into()])
            .output()
            .await
            .map_err(|e| StepFailure::Start {
                step: self.step.to_string(),
                reason: e.to_string(),
            })?;
        if !out.status.success() {
            let outcome = Outcome {
                errors: vec![String::from_utf8_lossy(&out.stderr).trim().to_string()],
                ..Outcome::default()
            };
            return Err(self.failure("output", &outcome));
        }
        let all: Map<String, Value> =
            serde_json::from_slice(&out.stdout).map_err(|e| StepFailure::Outputs {
                step: self.step.to_string(),
                reason: e.to_string(),
            })?;
        let mut outputs = StepOutputs::default();
        for (name, o) in all {
            let value = o["value"].clone();
            if o["sensitive"] == Value::Bool(true) {
                outputs.sensitive.insert(name, value);
            } else {
                outputs.public.insert(name, value);
            }
        }
        Ok(outputs)
    }
}

/// Terraform's error and its detail on one line, the detail shortened.
fn one_line(summary: &str, detail: &str) -> String {
    let detail: String = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    let detail = match detail.char_indices().nth(600) {
        Some((i, _)) => format!("{}...", &detail[..i]),
        None => detail,
    };
    if detail.is_empty() {
        summary.to_string()
    } else {
        format!("{summary}: {detail}")
    }
}

/// The ID in Terraform's "Lock Info" of a state lock someone else holds.
fn lock_id(text: &str) -> Option<String> {
    if !text.contains("Lock Info") {
        return None;
    }
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("ID:"))
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// Terraform ends with its runner: a killed runner must not leave an apply going on (and
/// holding the state lock) behind it.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_become_terraform_expressions() {
        assert_eq!(
            hcl_value(&json!({"a": [1, true, null], "b c": "x"})),
            r#"{"a" = [1, true, null], "b c" = "x"}"#
        );
        // Template sequences are escaped, so a value is never evaluated.
        assert_eq!(hcl_value(&json!("${x} %{y} $z")), r#""$${x} %%{y} $z""#);
        assert_eq!(hcl_value(&json!("a\"b\\c\nd")), r#""a\"b\\c\nd""#);
        assert_eq!(env_value(&json!("plain ${x}")), "plain ${x}");
        assert_eq!(env_value(&json!(5)), "5");
    }

    #[test]
    fn remembered_action_vars_are_overridden_by_the_action() {
        let tf = |vars: Value| TerraformStep {
            dir: "terraform".into(),
            vars: vars.as_object().cloned().unwrap_or_default(),
        };
        let remembered = json!({"vm": {"instance_state": "stopped", "x": 1}, "other": {"y": 2}});
        let upgrade = action_vars(Some(&remembered), "vm", &tf(json!({})));
        assert_eq!(
            upgrade,
            json!({"instance_state": "stopped", "x": 1})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
        let start = action_vars(
            Some(&remembered),
            "vm",
            &tf(json!({"instance_state": "running"})),
        );
        assert_eq!(start["instance_state"], "running");
        assert_eq!(start["x"], 1);
        assert!(action_vars(None, "vm", &tf(json!({}))).is_empty());
    }

    #[test]
    fn a_lock_id_is_read_from_terraforms_lock_info() {
        let detail = "Error message: operation error S3: PutObject, StatusCode: 412\nLock Info:\n  ID:        3f1c2a9e-1b2c-4d5e-8f90-123456789abc\n  Path:      b/k.tfstate\n";
        assert_eq!(
            lock_id(detail).as_deref(),
            Some("3f1c2a9e-1b2c-4d5e-8f90-123456789abc")
        );
        assert_eq!(lock_id("ID: not a lock"), None);
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("password hunter22 refused", &["hunter22".into()]),
            "password *** refused"
        );
    }
}

//! What the TRE adds to a Terraform deployment: `aws-workspace` deployed through `tre dev`
//! (API, engine, bundle runner process, status queue, consumer; the runner's Terraform step
//! against moto server) from `POST /api/workspaces` to `deployed`, side by side with a plain
//! `terraform init` + `apply` of the same module with the same variables against the same moto
//! in the same run. Each round destroys what it made. Usage:
//!   terraform-deploy <path to tre> [rounds]
//! Needs TRE_TERRAFORM_PLUGIN_DIR (a provider mirror) and moto server (TRE_MOTO_SERVER or .venv).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tre_benches::{dev_token, start, Stats};
use tre_testkit::moto::MotoServer;
use tre_testkit::terraform::{runner_env, Workdir};

const STATE_BUCKET: &str = "tre-bench-bundle-state";
const AIRLOCK_PREFIX: &str = "tre-bench";

fn bundle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bundles/aws-workspace")
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let r = req.bearer_auth(&self.token).send().await?;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Poll until the resource's operation ends; its final status (`gone` once deleted).
    async fn settle(&self, path: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (code, body) = self.get(path).await?;
            if code == 404 {
                return Ok("gone".into());
            }
            let item = [
                "workspace",
                "workspaceService",
                "userResource",
                "sharedService",
            ]
            .iter()
            .find_map(|k| body.get(*k))
            .unwrap_or(&body);
            let status = item["deploymentStatus"].as_str().unwrap_or_default();
            let busy = status.starts_with("awaiting_")
                || matches!(status, "deploying" | "updating" | "deleting");
            if !busy {
                return Ok(status.to_string());
            }
            if Instant::now() > deadline {
                bail!("{path} still {status} after 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The variables the runner gives the module, for the plain apply.
fn plain_vars(work: &mut Workdir, id: &str) {
    let tags =
        json!({"tre:workspace-id": id, "tre:resource-id": id, "tre:template": "aws-workspace"});
    let airlock = json!({
        "workspace_data": {"bucket": format!("{AIRLOCK_PREFIX}-workspace-data"), "prefix": format!("{id}/")},
        "export_staging": {"bucket": format!("{AIRLOCK_PREFIX}-export-staging"), "prefix": format!("{id}/")},
    });
    for (k, v) in [
        ("tre_resource_id", Value::from(id)),
        ("tre_workspace_id", Value::from(id)),
        ("tre_parent_service_id", Value::from("")),
        ("tre_template_name", Value::from("aws-workspace")),
        ("tre_tags", tags),
        ("tre_airlock", airlock),
        ("display_name", Value::from("Bench")),
    ] {
        let text = match &v {
            Value::String(s) => s.clone(),
            other => bundle_runner::hcl_value(other),
        };
        work.env(&format!("TF_VAR_{k}"), &text);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tre = args
        .get(1)
        .context("usage: terraform-deploy <tre> [rounds]")?;
    let rounds: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let moto = MotoServer::start().await?;
    moto.create_bucket(STATE_BUCKET).await?;
    let data = tempfile::tempdir()?;
    let mut dev = Command::new(tre);
    dev.args([
        "dev",
        "--quiet",
        "--registry-addr",
        "127.0.0.1:0",
        "--addr",
        &tre_benches::free_addr()?,
        "--data-dir",
    ])
    .arg(data.path())
    .env("RUST_LOG", "warn")
    .env("TRE_AIRLOCK_BUCKET_PREFIX", AIRLOCK_PREFIX)
    .envs(runner_env(&moto, data.path(), STATE_BUCKET)?);
    let (_tre, base) = start(&mut dev)?;
    let token = dev_token(tre, "admin", &base, data.path())?;
    let registered = Command::new(tre)
        .args(["bundle", "register"])
        .arg(bundle_dir())
        .arg("--layout")
        .arg(data.path().join("bundles"))
        .args(["--api", &base, "--token", &token])
        .output()?;
    if !registered.status.success() {
        bail!(
            "registering aws-workspace: {}",
            String::from_utf8_lossy(&registered.stderr)
        );
    }
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        base,
        token,
    };

    let mut through_tre = Vec::new();
    let mut plain = Vec::new();
    for round in 0..rounds {
        // Through the TRE: POST to deployed, then delete (not timed).
        let t0 = Instant::now();
        let body = json!({"templateName": "aws-workspace", "properties": {"display_name": format!("Bench {round}")}});
        let (code, created) = api
            .send(
                api.client
                    .post(format!("{}/api/workspaces", api.base))
                    .json(&body),
            )
            .await?;
        if code != 202 {
            bail!("POST /api/workspaces: {code} {created}");
        }
        let id = created["operation"]["resourceId"]
            .as_str()
            .context("workspace id")?
            .to_string();
        let path = format!("/api/workspaces/{id}");
        let status = api.settle(&path).await?;
        if status != "deployed" {
            let (_, ops) = api.get(&format!("{path}/operations")).await?;
            bail!(
                "the workspace ended {status}: {}",
                ops["operations"][0]["message"]
            );
        }
        through_tre.push(t0.elapsed());
        teardown(&api, &path).await?;

        // Plain Terraform: the same module and variables, init + apply, then destroy.
        let mut work = Workdir::new(&bundle_dir().join("terraform"), &moto, &[])?;
        let plain_id = uuid_like(round);
        plain_vars(&mut work, &plain_id);
        // The same S3 backend in moto as the runner's steps use.
        let backend = data.path().join("plain-backend.hcl");
        std::fs::write(&backend, tre_testkit::terraform::MOTO_BACKEND_CONFIG)?;
        let t0 = Instant::now();
        work.run(&[
            "init",
            "-input=false",
            "-no-color",
            &format!("-backend-config=bucket={STATE_BUCKET}"),
            &format!("-backend-config=key=plain/{plain_id}.tfstate"),
            "-backend-config=region=eu-west-2",
            "-backend-config=use_lockfile=true",
            "-backend-config=encrypt=true",
            &format!("-backend-config={}", backend.display()),
        ])?;
        work.run(&["apply", "-input=false", "-auto-approve", "-no-color"])?;
        plain.push(t0.elapsed());
        work.run(&["destroy", "-input=false", "-auto-approve", "-no-color"])?;
        println!(
            "round {}: through the TRE {:.1} s, plain terraform {:.1} s",
            round + 1,
            secs(*through_tre.last().unwrap_or(&Duration::ZERO)),
            secs(*plain.last().unwrap_or(&Duration::ZERO))
        );
    }
    let tre_stats = Stats::from(through_tre, 0, Duration::from_secs(1));
    let plain_stats = Stats::from(plain, 0, Duration::from_secs(1));
    println!(
        "machine: {} cores; {rounds} rounds; aws-workspace against moto server",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "through the TRE (POST -> deployed)  p50 {:>6.1} s",
        secs(tre_stats.p50)
    );
    println!(
        "plain terraform init + apply        p50 {:>6.1} s",
        secs(plain_stats.p50)
    );
    println!(
        "TRE overhead                        p50 {:>6.1} s  ({:.2}x plain terraform)",
        secs(tre_stats.p50.saturating_sub(plain_stats.p50)),
        tre_stats.p50.as_secs_f64() / plain_stats.p50.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// Disable, then delete, and wait until it is gone.
async fn teardown(api: &Api, path: &str) -> anyhow::Result<()> {
    let (_, current) = api.get(path).await?;
    let etag = current["workspace"]["_etag"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (code, body) = api
        .send(
            api.client
                .patch(format!("{}{path}", api.base))
                .header("etag", etag)
                .json(&json!({"isEnabled": false})),
        )
        .await?;
    if code != 202 {
        bail!("disabling {path}: {code} {body}");
    }
    api.settle(path).await?;
    let (code, body) = api
        .send(api.client.delete(format!("{}{path}", api.base)))
        .await?;
    if code != 200 {
        bail!("deleting {path}: {code} {body}");
    }
    match api.settle(path).await?.as_str() {
        "gone" => Ok(()),
        other => bail!("deleting {path} ended {other}"),
    }
}

/// A UUID-shaped id for the plain runs (the module names everything after it).
fn uuid_like(round: usize) -> String {
    format!("00000000-0000-4000-8000-{round:012}")
}

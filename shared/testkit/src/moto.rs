//! Starts a private moto server (an AWS-compatible emulator) on a free loopback port for the
//! duration of a test, so AWS adapters are exercised over real HTTP without touching AWS.
//!
//! The binary is found in `$TRE_MOTO_SERVER`, then `.venv/bin/moto_server` at the workspace
//! root (what `scripts/test` installs), then `moto_server` on `PATH`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Start moto and wait until it answers. Fails (it does not skip) when moto is missing:
    /// a contract suite that silently did not run would prove nothing.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Start moto with extra settings of its own (e.g. `MOTO_IAM_LOAD_MANAGED_POLICIES`).
    pub async fn start_with(settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn(Command::new(find_moto()?), settings).await
    }

    /// Start moto with the calls the AWS bundles use that moto 5.2.5 lacks or answers wrongly
    /// filled in (`python/moto_gaps.py`, which lists each), run by the Python beside moto.
    pub async fn start_with_gaps_filled() -> anyhow::Result<Self> {
        let moto = find_moto()?;
        let python = moto
            .parent()
            .map(|d| d.join("python3"))
            .filter(|p| p.exists())
            .with_context(|| format!("no python3 beside {}", moto.display()))?;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/moto_gaps.py");
        let mut command = Command::new(python);
        command.arg(script);
        Self::spawn(command, &[]).await
    }

    async fn spawn(mut command: Command, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let bin = command.get_program().to_owned();
        let port = free_port()?;
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(settings.iter().copied())
            // moto's own URL generation (pre-signed URLs, queue URLs) must use the same port.
            .env("MOTO_PORT", port.to_string())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "eu-west-2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.to_string_lossy()))?;
        let server = Self { child, port };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Turn on moto's Step Functions interpreter (off by default: executions would only be
    /// recorded, not run).
    pub async fn enable_state_machine_execution(&self) -> anyhow::Result<()> {
        let resp = reqwest::Client::new()
            .post(format!("{}/moto-api/config", self.endpoint()))
            .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("moto config returned {}", resp.status());
        }
        Ok(())
    }

    /// Set how one of moto's models moves through its states (moto's state manager), e.g.
    /// `("cloudfront::distribution", json!({"progression": "immediate"}))`.
    pub async fn set_transition(
        &self,
        model_name: &str,
        transition: serde_json::Value,
    ) -> anyhow::Result<()> {
        let resp = reqwest::Client::new()
            .post(format!(
                "{}/moto-api/state-manager/set-transition",
                self.endpoint()
            ))
            .json(&serde_json::json!({"model_name": model_name, "transition": transition}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "moto set-transition for {model_name} returned {}",
                resp.status()
            );
        }
        Ok(())
    }

    /// Forget all state (tables, buckets, queues...).
    pub async fn reset(&self) -> anyhow::Result<()> {
        reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.endpoint()))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    async fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        let url = format!("{}/moto-api/data.json", self.endpoint());
        while started.elapsed() < limit {
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "moto server did not answer on port {} within {:?}",
            self.port,
            limit
        )
    }

    /// An AWS SDK configuration for this server: its endpoint, test credentials, eu-west-2.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.sdk_config_in("eu-west-2").await
    }

    /// The same, in another region.
    pub async fn sdk_config_in(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// Create an S3 bucket in eu-west-2 (path-style, as moto needs).
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                    .build(),
            )
            .send()
            .await
            .with_context(|| format!("creating bucket {bucket} in moto"))?;
        Ok(())
    }

    /// Environment an AWS SDK client needs to talk to this server.
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "eu-west-2".into()),
        ]
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_moto() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("TRE_MOTO_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".venv/bin/moto_server");
    if venv.exists() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("moto_server"))
                .find(|p| p.exists())
        })
        .unwrap_or(None);
    on_path.context(
        "moto_server not found: run `scripts/test` (installs moto into .venv) or set TRE_MOTO_SERVER",
    )
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

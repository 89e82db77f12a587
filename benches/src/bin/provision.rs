//! Provisioning benchmark on the local stack (`tre dev`, release build): the control plane's
//! overhead per operation, from `POST /api/workspaces` to `deployed` with the no-op bundle,
//! minus the bundle's own run time; and operations/s when many workspaces are created at
//! once. The peer, measured in the same run, is the bundle runner alone running the same
//! bundle action as a process (what every step costs without the control plane). Usage:
//!   provision <path to tre> [sequential operations] [burst size]

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tre_benches::{dev_token, start_dev, Stats};

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("POST {path}: {} {}", r.status(), r.text().await?);
        }
        Ok(r.json().await?)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?)
    }

    async fn create(&self) -> anyhow::Result<String> {
        let body = json!({"templateName": "tre-noop", "properties": {}});
        let r = self.post("/api/workspaces", &body).await?;
        Ok(r["operation"]["resourceId"]
            .as_str()
            .context("workspace id")?
            .to_string())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tre = args
        .get(1)
        .context("usage: provision <tre> [sequential] [burst]")?;
    let sequential: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(50);
    let burst: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let data = tempfile::tempdir()?;
    let (_tre, base) = start_dev(tre, data.path())?;
    let token = dev_token(tre, "admin", &base, data.path())?;
    let layout = data.path().join("bundles");
    let registered = Command::new(tre)
        .args(["bundle", "register", "bundles/tre-noop", "--layout"])
        .arg(&layout)
        .args(["--api", &base, "--token", &token])
        .output()?;
    if !registered.status.success() {
        bail!(
            "registering tre-noop: {}",
            String::from_utf8_lossy(&registered.stderr)
        );
    }
    let template: Value = serde_json::from_slice(&registered.stdout)?;
    let bundle = template["bundle"]
        .as_str()
        .context("the template's bundle")?
        .to_string();
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        base,
        token,
    };

    // Warm up (first process start, first bundle extraction).
    let warm = api.create().await?;
    wait_deployed(&api, std::slice::from_ref(&warm)).await?;

    // Sequential: one operation at a time, POST to deployed.
    let mut end_to_end = Vec::new();
    for _ in 0..sequential {
        let t0 = Instant::now();
        let id = api.create().await?;
        let done = wait_deployed(&api, std::slice::from_ref(&id)).await?;
        end_to_end.push(done[&id] - t0);
    }

    // Peer: the runner alone, same bundle and action, reporting to a queue nobody reads.
    let mut runner_alone = Vec::new();
    for i in 0..sequential {
        let t0 = Instant::now();
        let status = Command::new(tre)
            .arg("run-bundle-action")
            .env("TRE_DATA_DIR", data.path())
            .env("TRE_STATUS_QUEUE", "bench-peer")
            .env("TRE_STORAGE_ROOT", data.path().join("storage"))
            .env("TRE_OPERATION_ID", format!("peer-{i}"))
            .env("TRE_STEP_ID", "main")
            .env("TRE_RESOURCE_ID", &warm)
            .env("TRE_ACTION", "install")
            .env("TRE_BUNDLE", &bundle)
            .env("TRE_PARAMETERS", "{}")
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("the runner alone failed: {status}");
        }
        runner_alone.push(t0.elapsed());
    }

    // Burst: `burst` workspaces created at once.
    let t0 = Instant::now();
    let creates = (0..burst).map(|_| api.create());
    let mut ids = Vec::new();
    for r in futures::future::join_all(creates).await {
        ids.push(r?);
    }
    let done = wait_deployed(&api, &ids).await?;
    let wall = t0.elapsed();
    let burst_latency: Vec<Duration> = ids.iter().map(|id| done[id] - t0).collect();

    let e2e = Stats::from(end_to_end, 0, Duration::from_secs(1));
    let peer = Stats::from(runner_alone, 0, Duration::from_secs(1));
    let b = Stats::from(burst_latency, 0, wall);
    println!(
        "machine: {} cores; {sequential} sequential operations, then {burst} at once",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "POST -> deployed (tre-noop)        p50 {:>8.1} ms  p99 {:>8.1} ms",
        ms(e2e.p50),
        ms(e2e.p99)
    );
    println!(
        "peer: runner alone, same action   p50 {:>8.1} ms  p99 {:>8.1} ms",
        ms(peer.p50),
        ms(peer.p99)
    );
    println!(
        "control-plane overhead            p50 {:>8.1} ms  p99 {:>8.1} ms  ({:.2}x the runner alone at p50)",
        ms(e2e.p50.saturating_sub(peer.p50)),
        ms(e2e.p99.saturating_sub(peer.p99)),
        e2e.p50.as_secs_f64() / peer.p50.as_secs_f64().max(1e-9)
    );
    println!(
        "{burst} at once: all deployed in {:.2} s = {:.1} operations/s; POST -> deployed p50 {:.0} ms  p99 {:.0} ms",
        wall.as_secs_f64(),
        burst as f64 / wall.as_secs_f64(),
        ms(b.p50),
        ms(b.p99)
    );
    println!(
        "peer capacity: the runner alone, one at a time: {:.1} operations/s",
        1.0 / peer.p50.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// Poll until every id is `deployed`; returns when each was first seen so. Fails on a failed
/// operation or after two minutes.
async fn wait_deployed(api: &Api, ids: &[String]) -> anyhow::Result<HashMap<String, Instant>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = HashMap::new();
    while seen.len() < ids.len() {
        if Instant::now() > deadline {
            bail!(
                "{} of {} workspaces not deployed after 2 minutes",
                ids.len() - seen.len(),
                ids.len()
            );
        }
        let statuses: Vec<(String, String)> = if ids.len() == 1 {
            let r = api.get(&format!("/api/workspaces/{}", ids[0])).await?;
            vec![(
                ids[0].clone(),
                r["workspace"]["deploymentStatus"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )]
        } else {
            let r = api.get("/api/workspaces").await?;
            r["workspaces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|w| {
                    (
                        w["id"].as_str().unwrap_or("").to_string(),
                        w["deploymentStatus"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        };
        let now = Instant::now();
        for (id, status) in statuses {
            if !ids.contains(&id) || seen.contains_key(&id) {
                continue;
            }
            match status.as_str() {
                "deployed" => {
                    seen.insert(id, now);
                }
                "deployment_failed" => bail!("workspace {id} failed to deploy"),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(if ids.len() == 1 { 2 } else { 10 })).await;
    }
    Ok(seen)
}

//! Shared helpers of the benchmark binaries: latency statistics and a bounded load generator.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Latency percentiles and throughput of one measured run.
#[derive(Debug, Clone)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub per_second: f64,
}

impl Stats {
    pub fn from(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort();
        let pct = |p: f64| {
            if latencies.is_empty() {
                Duration::ZERO
            } else {
                let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
                latencies[i.min(latencies.len() - 1)]
            }
        };
        Self {
            requests: latencies.len(),
            errors,
            p50: pct(0.50),
            p99: pct(0.99),
            per_second: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>7} req  {:>4} err  p50 {:>8.2} ms  p99 {:>8.2} ms  {:>9.0} req/s",
            self.requests,
            self.errors,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.per_second
        )
    }
}

/// Run `total` requests with `concurrency` workers; `make` builds request number `i`.
/// Bounded in count (and by the client's timeout), so it always stops by itself.
pub async fn load<F>(client: &reqwest::Client, total: usize, concurrency: usize, make: F) -> Stats
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Sync,
{
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| async {
        let mut lat = Vec::new();
        let mut errors = 0;
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= total {
                break;
            }
            let t0 = Instant::now();
            match make(client, i).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    lat.push(t0.elapsed());
                }
                _ => errors += 1,
            }
        }
        (lat, errors)
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let mut all = Vec::new();
    let mut errors = 0;
    for (l, e) in results {
        all.extend(l);
        errors += e;
    }
    Stats::from(all, errors, elapsed)
}

/// A child process killed when dropped (benchmarks never leave servers behind).
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start a server that prints its URL as its first line.
pub fn start(cmd: &mut Command) -> anyhow::Result<(Proc, String)> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let out = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    if line.trim().is_empty() {
        bail!("the server printed no URL");
    }
    Ok((Proc(child), line.trim().to_string()))
}

pub fn free_addr() -> anyhow::Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

/// `tre dev` on a free port with its data in `data` (registry on a free port too); returns the
/// process and the API's base URL.
pub fn start_dev(tre: &str, data: &std::path::Path) -> anyhow::Result<(Proc, String)> {
    let addr = free_addr()?;
    start(
        Command::new(tre)
            .args([
                "dev",
                "--quiet",
                "--registry-addr",
                "127.0.0.1:0",
                "--addr",
                &addr,
                "--data-dir",
            ])
            .arg(data)
            .env("RUST_LOG", "warn"),
    )
}

/// A token for a sample user of the `tre dev` serving `base` from `data`.
pub fn dev_token(
    tre: &str,
    user: &str,
    base: &str,
    data: &std::path::Path,
) -> anyhow::Result<String> {
    let out = Command::new(tre)
        .args(["token", user, "--api", base, "--data-dir"])
        .arg(data)
        .output()?;
    if !out.status.success() {
        bail!("tre token {user}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// The body that creates a workspace of the bench template [`register_bench_template`] adds.
pub fn bench_workspace() -> serde_json::Value {
    serde_json::json!({"templateName": "bench-ws", "properties": {"display_name": "bench"}})
}

/// Register `bench-ws` (a workspace template without a bundle: its operations only run the
/// control plane) on the API at `api`, then create one workspace of it; returns its id.
pub async fn register_bench_template(
    client: &reqwest::Client,
    api: &str,
    token: &str,
) -> anyhow::Result<String> {
    let tmpl = serde_json::json!({"name": "bench-ws", "version": "1.0.0", "parameters": {
        "type": "object", "properties": {"display_name": {"type": "string", "updateable": true}}}});
    let r = client
        .post(format!("{api}/api/workspace-templates"))
        .bearer_auth(token)
        .json(&tmpl)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("registering the template failed: {}", r.text().await?);
    }
    let r: serde_json::Value = client
        .post(format!("{api}/api/workspaces"))
        .bearer_auth(token)
        .json(&bench_workspace())
        .send()
        .await?
        .json()
        .await?;
    Ok(r["operation"]["resourceId"]
        .as_str()
        .context("workspace id")?
        .to_string())
}

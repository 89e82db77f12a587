//! Provisioning benchmark on the local stack (`tre dev`, release build): the control plane's
//! overhead per operation, from `POST /api/workspaces` to `deployed` with the no-op bundle,
//! minus the bundle's own run time; and operations/s when many workspaces are created at
//! once. The peers, measured in the same run, are the bundle runner alone running the same
//! bundle action as a process: one at a time (what every step costs without the control
//! plane), and as many at once as the machine runs fastest (the machine's ceiling for this
//! bundle: the best of one per core and two per core). Every workspace of a burst must end
//! `deployed`, or the benchmark fails. Usage:
//!   provision <path to tre> [sequential operations] [burst sizes, comma-separated]

use std::collections::{HashMap, HashSet};
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
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("GET {path}: {} {}", r.status(), r.text().await?);
        }
        Ok(r.json().await?)
    }

    async fn create(&self) -> anyhow::Result<String> {
        let body = json!({"templateName": "tre-noop", "properties": {}});
        let r = self.post("/api/workspaces", &body).await?;
        Ok(r["operation"]["resourceId"]
            .as_str()
            .context("workspace id")?
            .to_string())
    }

    /// Every workspace's deployment status and last change, walking the list's pages.
    async fn statuses(&self) -> anyhow::Result<Vec<(String, String, f64)>> {
        let mut out = Vec::new();
        let mut path = "/api/workspaces?page_size=1000".to_string();
        loop {
            let r = self.get(&path).await?;
            for w in r["workspaces"].as_array().cloned().unwrap_or_default() {
                out.push(status_of(&w));
            }
            match r["nextLink"].as_str() {
                Some(next) if !next.is_empty() => path = next.to_string(),
                _ => return Ok(out),
            }
        }
    }
}

/// Id, deployment status and `updatedWhen` (POSIX seconds: when the status last changed, by
/// the stack's clock, which is this machine's).
fn status_of(w: &Value) -> (String, String, f64) {
    (
        w["id"].as_str().unwrap_or("").to_string(),
        w["deploymentStatus"].as_str().unwrap_or("").to_string(),
        w["updatedWhen"].as_f64().unwrap_or(0.0),
    )
}

/// Now, as POSIX seconds.
fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// From `t0` to `at` (POSIX seconds).
fn since(t0: f64, at: f64) -> Duration {
    Duration::from_secs_f64((at - t0).max(0.0))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The runner alone: `tre run-bundle-action` of the bundle, reporting to a queue nobody reads.
fn run_alone(
    tre: &str,
    data: &std::path::Path,
    resource: &str,
    bundle: &str,
    n: usize,
) -> anyhow::Result<()> {
    let status = Command::new(tre)
        .arg("run-bundle-action")
        .env("TRE_DATA_DIR", data)
        .env("TRE_STATUS_QUEUE", "bench-peer")
        .env("TRE_STORAGE_ROOT", data.join("storage"))
        .env("TRE_OPERATION_ID", format!("peer-{n}"))
        .env("TRE_STEP_ID", "main")
        .env("TRE_RESOURCE_ID", resource)
        .env("TRE_ACTION", "install")
        .env("TRE_BUNDLE", bundle)
        .env("TRE_PARAMETERS", "{}")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("the runner alone failed: {status}");
    }
    Ok(())
}

/// Operations/s of `runs` runner processes, `parallel` at a time.
fn runner_throughput(
    tre: &str,
    data: &std::path::Path,
    resource: &str,
    bundle: &str,
    runs: usize,
    parallel: usize,
) -> anyhow::Result<f64> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= runs {
                            return Ok(());
                        }
                        run_alone(tre, data, resource, bundle, 1_000_000 + i)?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a runner thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(runs as f64 / t0.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tre = args
        .get(1)
        .context("usage: provision <tre> [sequential] [burst sizes, e.g. 100,1000]")?;
    let sequential: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(50);
    let bursts: Vec<usize> = args
        .get(3)
        .map(String::as_str)
        .unwrap_or("100,1000")
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .context("burst sizes")?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
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
            .timeout(Duration::from_secs(120))
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
        let t0 = wall_now();
        let id = api.create().await?;
        let done = wait_deployed(&api, std::slice::from_ref(&id)).await?;
        end_to_end.push(since(t0, done[&id]));
    }

    // Peer: the runner alone, same bundle and action, one at a time.
    let mut runner_alone = Vec::new();
    for i in 0..sequential {
        let t0 = Instant::now();
        run_alone(tre, data.path(), &warm, &bundle, i)?;
        runner_alone.push(t0.elapsed());
    }
    // Peer: the machine's ceiling for this bundle, the runner alone with one and with two
    // processes per core at once; the better is the ceiling.
    let ceiling_runs = (sequential * 4).max(100);
    let mut ceiling = (0usize, 0f64);
    for parallel in [cores, 2 * cores] {
        let rate = runner_throughput(tre, data.path(), &warm, &bundle, ceiling_runs, parallel)?;
        println!(
            "peer: the runner alone, {parallel} at once: {rate:.1} operations/s ({ceiling_runs} runs)"
        );
        if rate > ceiling.1 {
            ceiling = (parallel, rate);
        }
    }

    // Bursts: `n` workspaces created at once; every one must end deployed.
    let mut burst_lines = Vec::new();
    for &n in &bursts {
        let t0 = wall_now();
        let started = Instant::now();
        let creates = (0..n).map(|_| api.create());
        let mut ids = Vec::new();
        for r in futures::future::join_all(creates).await {
            ids.push(r?);
        }
        let posted = started.elapsed();
        let done = wait_deployed(&api, &ids).await?;
        let last = done.values().copied().fold(t0, f64::max);
        let wall = since(t0, last);
        let latency: Vec<Duration> = ids.iter().map(|id| since(t0, done[id])).collect();
        let b = Stats::from(latency, 0, wall);
        let rate = n as f64 / wall.as_secs_f64();
        burst_lines.push(format!(
            "{n} at once: all {} deployed in {:.2} s (POSTs answered in {:.2} s) = {rate:.1} operations/s = {:.2}x the ceiling; POST -> deployed p50 {:.0} ms  p99 {:.0} ms",
            done.len(),
            wall.as_secs_f64(),
            posted.as_secs_f64(),
            rate / ceiling.1.max(1e-9),
            ms(b.p50),
            ms(b.p99)
        ));
    }

    let e2e = Stats::from(end_to_end, 0, Duration::from_secs(1));
    let peer = Stats::from(runner_alone, 0, Duration::from_secs(1));
    println!(
        "machine: {cores} cores; {sequential} sequential operations, then bursts of {bursts:?}"
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
        "control-plane overhead            p50 {:>8.1} ms  p99 {:>8.1} ms  ({:.2}x the runner alone at p50; below zero: within the noise)",
        ms(e2e.p50) - ms(peer.p50),
        ms(e2e.p99) - ms(peer.p99),
        e2e.p50.as_secs_f64() / peer.p50.as_secs_f64().max(1e-9)
    );
    println!(
        "peer capacity: the runner alone, one at a time: {:.1} operations/s; ceiling ({} at once): {:.1} operations/s",
        1.0 / peer.p50.as_secs_f64().max(1e-9),
        ceiling.0,
        ceiling.1
    );
    for l in burst_lines {
        println!("{l}");
    }
    Ok(())
}

/// Poll until every id is `deployed`; returns when each became so (its `updatedWhen`, so the
/// polling interval neither blurs the figure nor, for bursts, takes much CPU from what is
/// measured). Fails on a failed operation, or when not all are deployed in time (two
/// minutes, plus 100 ms per workspace).
async fn wait_deployed(api: &Api, ids: &[String]) -> anyhow::Result<HashMap<String, f64>> {
    let deadline =
        Instant::now() + Duration::from_secs(120) + Duration::from_millis(100 * ids.len() as u64);
    let wanted: HashSet<&String> = ids.iter().collect();
    let mut seen = HashMap::new();
    while seen.len() < ids.len() {
        if Instant::now() > deadline {
            bail!(
                "{} of {} workspaces not deployed in time",
                ids.len() - seen.len(),
                ids.len()
            );
        }
        let statuses = if ids.len() == 1 {
            let r = api.get(&format!("/api/workspaces/{}", ids[0])).await?;
            vec![status_of(&r["workspace"])]
        } else {
            api.statuses().await?
        };
        for (id, status, at) in statuses {
            if !wanted.contains(&id) || seen.contains_key(&id) {
                continue;
            }
            match status.as_str() {
                "deployed" => {
                    seen.insert(id, at);
                }
                "deployment_failed" => bail!("workspace {id} failed to deploy"),
                _ => {}
            }
        }
        // A burst's poll lists every workspace, which for a thousand is itself real work for
        // the stack: poll the less often the more there are (the figures come from
        // `updatedWhen`, not from when the poll saw them).
        let pause = match ids.len() {
            1 => 5,
            n => (2 * n as u64).clamp(500, 5000),
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    Ok(seen)
}

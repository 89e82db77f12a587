//! Lambda cold start: from process start to the first response, for one API function binary fed
//! a sample event through a local implementation of the Lambda Runtime API, side by side with
//! a minimal lambda_runtime binary (the runtime's own floor) measured the same way.
//! Usage: cold-start <function binary> <peer binary> <event file> [runs]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, Mutex};

struct Emulator {
    event: String,
    served: Mutex<bool>,
    done: mpsc::Sender<Result<String, String>>,
}

async fn next(State(s): State<Arc<Emulator>>) -> (HeaderMap, String) {
    let mut served = s.served.lock().await;
    if *served {
        // The function asks for a second event after answering: keep it waiting until killed.
        drop(served);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return (HeaderMap::new(), String::new());
    }
    *served = true;
    let mut h = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or(0);
    h.insert(
        "lambda-runtime-aws-request-id",
        "bench-1".parse().expect("header"),
    );
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().expect("header"),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-2:123456789012:function:bench"
            .parse()
            .expect("header"),
    );
    h.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000"
            .parse()
            .expect("header"),
    );
    (h, s.event.clone())
}

async fn response(
    State(s): State<Arc<Emulator>>,
    Path(_id): Path<String>,
    body: String,
) -> &'static str {
    let _ = s.done.send(Ok(body)).await;
    "{}"
}

async fn error(State(s): State<Arc<Emulator>>, body: String) -> &'static str {
    let _ = s.done.send(Err(body)).await;
    "{}"
}

/// One cold start: returns (time to first response, response body).
async fn one_run(
    binary: &str,
    event: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<(Duration, String)> {
    let (tx, mut rx) = mpsc::channel(1);
    let emu = Arc::new(Emulator {
        event: event.to_string(),
        served: Mutex::new(false),
        done: tx,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(emu);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("TRE_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    let outcome = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    match outcome {
        Ok(Some(Ok(body))) => Ok((elapsed, body)),
        Ok(Some(Err(e))) => bail!("{binary} reported an error: {e}"),
        _ => bail!("{binary} gave no response within 30 s"),
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        bail!("usage: cold-start <function binary> <peer binary> <event file> [runs]");
    }
    let runs: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let event = std::fs::read_to_string(&args[3])?;
    let data = tempfile::tempdir()?;
    // Runs alternate between the two binaries, so both see the same machine (a build or a
    // burst of load elsewhere slows both, not one of them).
    let binaries = [&args[1], &args[2]];
    let mut times = [Vec::new(), Vec::new()];
    let mut last = [String::new(), String::new()];
    for _ in 0..runs {
        for (i, binary) in binaries.iter().enumerate() {
            let (t, body) = one_run(binary, &event, data.path()).await?;
            times[i].push(t);
            last[i] = body;
        }
    }
    let mut results = Vec::new();
    for (i, binary) in binaries.iter().enumerate() {
        times[i].sort();
        results.push((
            binary.to_string(),
            pct(&times[i], 0.5),
            pct(&times[i], 0.99),
            std::mem::take(&mut last[i]),
        ));
    }
    println!(
        "machine: {} cores; {runs} cold starts each (process start -> first response)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    for (bin, p50, p99, body) in &results {
        let status = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("statusCode").cloned())
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<40} p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  (response status {status})",
            bin.rsplit('/').next().unwrap_or(bin)
        );
    }
    if let [(_, f50, _, _), (_, p50, _, _)] = results.as_slice() {
        println!(
            "cold start vs minimal lambda_runtime binary: {:.2}x at p50",
            f50 / p50.max(1e-9)
        );
    }
    Ok(())
}

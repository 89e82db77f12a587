//! API benchmark: p50/p99 latency and requests/s of GET and POST on the local stack (`tre dev`,
//! a separate process) under a concurrent load generator, side by side with a bare axum server
//! (the HTTP floor) measured in the same run. Usage:
//!   api-load <path to tre> <path to peer-http> [requests] [concurrency]

use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use tre_benches::{dev_token, load, start, start_dev};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: api-load <tre> <peer-http> [requests] [concurrency]");
    }
    let total: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let conc: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let data = tempfile::tempdir()?;
    let (_tre, api) = start_dev(&args[1], data.path())?;
    let token = dev_token(&args[1], "admin", &api, data.path())?;
    let (_peer, peer) = start(Command::new(&args[2]).arg("127.0.0.1:0"))?;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(conc)
        .build()?;
    let create = tre_benches::bench_workspace();
    let id = tre_benches::register_bench_template(&client, &api, &token).await?;

    // Warm up both servers (connections, caches) before measuring.
    load(&client, 200, conc, |c, _| {
        c.get(format!("{api}/api/workspaces/{id}"))
            .bearer_auth(&token)
    })
    .await;
    load(&client, 200, conc, |c, _| c.get(format!("{peer}/get"))).await;

    let get = load(&client, total, conc, |c, _| {
        c.get(format!("{api}/api/workspaces/{id}"))
            .bearer_auth(&token)
    })
    .await;
    let post = load(&client, total / 4, conc, |c, _| {
        c.post(format!("{api}/api/workspaces"))
            .bearer_auth(&token)
            .json(&create)
    })
    .await;
    let peer_get = load(&client, total, conc, |c, _| c.get(format!("{peer}/get"))).await;
    let peer_post = load(&client, total / 4, conc, |c, _| {
        c.post(format!("{peer}/post")).json(&create)
    })
    .await;

    println!(
        "machine: {} cores; {total} GETs and {} POSTs per server, {conc} concurrent",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        total / 4
    );
    println!("{}", get.line("tre dev   GET  /api/workspaces/{id}"));
    println!("{}", post.line("tre dev   POST /api/workspaces"));
    println!("{}", peer_get.line("bare axum GET  (peer)"));
    println!("{}", peer_post.line("bare axum POST (peer)"));
    let ratio =
        |a: &tre_benches::Stats, b: &tre_benches::Stats| a.per_second / b.per_second.max(1e-9);
    println!(
        "throughput vs peer: GET {:.2}x, POST {:.2}x",
        ratio(&get, &peer_get),
        ratio(&post, &peer_post)
    );
    println!(
        "p50 vs peer: GET {:.1}x, POST {:.1}x",
        get.p50.as_secs_f64() / peer_get.p50.as_secs_f64().max(1e-9),
        post.p50.as_secs_f64() / peer_post.p50.as_secs_f64().max(1e-9)
    );
    if get.errors + post.errors > 0 {
        bail!("{} requests failed", get.errors + post.errors);
    }
    Ok(())
}

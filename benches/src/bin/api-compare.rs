//! Two builds of `tre` side by side: POST /api/workspaces (and GET of one) on each, in
//! alternating rounds (A, B, A, B, ...) so both meet the machine in the same states, each on a
//! fresh data directory. Reports each build's median p50/p99 over its rounds and the ratio of
//! A to B: what a change (auditing, say) costs, measured against the build without it.
//! Usage: api-compare <tre A> <tre B> [POSTs per round] [concurrency] [rounds]

use std::time::Duration;

use anyhow::bail;
use tre_benches::{dev_token, load, start_dev, Stats};

struct Round {
    post: Stats,
    post_one: Stats,
    get: Stats,
}

async fn round(tre: &str, posts: usize, conc: usize) -> anyhow::Result<Round> {
    let data = tempfile::tempdir()?;
    let (_proc, api) = start_dev(tre, data.path())?;
    let token = dev_token(tre, "admin", &api, data.path())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(conc)
        .build()?;
    let create = tre_benches::bench_workspace();
    let id = tre_benches::register_bench_template(&client, &api, &token).await?;
    let post_to = |c: &reqwest::Client, _| {
        c.post(format!("{api}/api/workspaces"))
            .bearer_auth(&token)
            .json(&create)
    };
    // Warm up (connections, caches), then one caller alone (the cost of a request), then many.
    load(&client, 50, conc, post_to).await;
    let post_one = load(&client, posts / 4, 1, post_to).await;
    let post = load(&client, posts, conc, post_to).await;
    let get = load(&client, posts, conc, |c, _| {
        c.get(format!("{api}/api/workspaces/{id}"))
            .bearer_auth(&token)
    })
    .await;
    let errors = post.errors + post_one.errors + get.errors;
    if errors > 0 {
        bail!("{tre}: {errors} requests failed");
    }
    Ok(Round {
        post,
        post_one,
        get,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: api-compare <tre A> <tre B> [POSTs per round] [concurrency] [rounds]");
    }
    let posts: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let conc: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let rounds: usize = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let (a, b) = (&args[1], &args[2]);
    let mut results: [Vec<Round>; 2] = [Vec::new(), Vec::new()];
    for n in 0..rounds {
        for (i, tre) in [a, b].into_iter().enumerate() {
            let r = round(tre, posts, conc).await?;
            println!(
                "round {} {}: POST x1 p50 {:.2} ms | POST x{conc} p50 {:.2} ms p99 {:.2} ms {:.0} req/s | GET x{conc} p50 {:.2} ms",
                n + 1,
                ["A", "B"][i],
                ms(r.post_one.p50),
                ms(r.post.p50),
                ms(r.post.p99),
                r.post.per_second,
                ms(r.get.p50),
            );
            results[i].push(r);
        }
    }
    println!(
        "machine: {} cores; {rounds} alternating rounds of {} POSTs alone, {posts} POSTs and {posts} GETs at {conc} concurrent",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        posts / 4
    );
    println!("A: {a}\nB: {b}");
    let summary = |f: &dyn Fn(&Round) -> f64| -> (f64, f64) {
        (
            median(results[0].iter().map(f).collect()),
            median(results[1].iter().map(f).collect()),
        )
    };
    for (name, f) in [
        (
            "POST alone p50 (ms)",
            &(|r: &Round| ms(r.post_one.p50)) as &dyn Fn(&Round) -> f64,
        ),
        ("POST concurrent p50 (ms)", &|r: &Round| ms(r.post.p50)),
        ("POST concurrent p99 (ms)", &|r: &Round| ms(r.post.p99)),
        ("POST concurrent req/s", &|r: &Round| r.post.per_second),
        ("GET concurrent p50 (ms)", &|r: &Round| ms(r.get.p50)),
    ] {
        let (x, y) = summary(f);
        println!(
            "{name:<26} A {x:>9.2}  B {y:>9.2}  A/B {:.3}",
            x / y.max(1e-9)
        );
    }
    Ok(())
}

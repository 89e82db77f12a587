//! Our registry (`tre-registry`, filesystem storage, token auth on) beside CNCF Distribution
//! (Debian's `docker-registry`, filesystem storage, its default in-memory blob descriptor cache),
//! both on the same local disk, driven by the same client in the same run: push and pull of one
//! large blob and of many small ones, then each server's peak resident memory. Beside each large
//! push, the two things every registry must do with each byte are measured alone: hash it
//! (sha256 in memory, the goal's ceiling) and make it durable on this disk (a plain write of the
//! same size, writeback started every 8 MiB, then `fdatasync`), since both registries sync a
//! blob before acknowledging it.
//!
//! Usage: registry-bench <tre-registry> <docker-registry> [big MiB = 1024] [small blobs = 1000]
//!        [rounds = 3]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use futures::{stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tre_benches::{free_addr, Proc};

const SMALL_BYTES: usize = 16 * 1024;
const CONCURRENCY: usize = 8;
const REPO: &str = "bench/blobs";

struct Target {
    name: &'static str,
    base: String,
    token: Option<String>,
    proc: Proc,
}

impl Target {
    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// POST then PUT with the digest (the spec's monolithic upload), body from `body`.
    async fn push(
        &self,
        http: &reqwest::Client,
        digest: &str,
        len: u64,
        body: reqwest::Body,
    ) -> anyhow::Result<()> {
        let r = self
            .auth(http.post(format!("{}/v2/{REPO}/blobs/uploads/", self.base)))
            .send()
            .await?;
        if r.status() != 202 {
            bail!("{}: POST upload answered {}", self.name, r.status());
        }
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("no Location")?;
        let mut url = self.absolute(location);
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let r = self
            .auth(http.put(url))
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .body(body)
            .send()
            .await?;
        if r.status() != 201 {
            bail!("{}: PUT blob answered {}", self.name, r.status());
        }
        Ok(())
    }

    /// GET a blob, reading it to the end; returns its length.
    async fn pull(&self, http: &reqwest::Client, digest: &str) -> anyhow::Result<u64> {
        let r = self
            .auth(http.get(format!("{}/v2/{REPO}/blobs/{digest}", self.base)))
            .send()
            .await?;
        if r.status() != 200 {
            bail!("{}: GET blob answered {}", self.name, r.status());
        }
        let mut n = 0u64;
        let mut body = r.bytes_stream();
        while let Some(chunk) = body.try_next().await? {
            n += chunk.len() as u64;
        }
        Ok(n)
    }

    async fn delete(&self, http: &reqwest::Client, digest: &str) -> anyhow::Result<()> {
        let r = self
            .auth(http.delete(format!("{}/v2/{REPO}/blobs/{digest}", self.base)))
            .send()
            .await?;
        if r.status() != 202 {
            bail!("{}: DELETE blob answered {}", self.name, r.status());
        }
        Ok(())
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proc.0.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

/// Deterministic bytes that do not compress (xorshift), `seed` apart.
fn fill(buf: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Writes the large blob to `path`; returns its digest.
fn write_big(path: &Path, mib: usize) -> anyhow::Result<String> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mib {
        fill(&mut buf, i as u64 + 1);
        hasher.update(&buf);
        f.write_all(&buf)?;
    }
    f.flush()?;
    // On disk before anything is timed: its writeback would otherwise slow the first round.
    f.get_ref().sync_all()?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

async fn wait_until_up(base: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if http.get(format!("{base}/v2/")).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{base} did not come up");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_ours(program: &str, dir: &Path) -> anyhow::Result<Target> {
    let key: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let addr = free_addr()?;
    let child = Command::new(program)
        .env("TRE_REGISTRY_DIR", dir)
        .env("TRE_REGISTRY_ADDR", &addr)
        .env(
            "TRE_REGISTRY_TOKEN_KEY",
            base64::engine::general_purpose::STANDARD.encode(&key),
        )
        .env(
            "TRE_REGISTRY_REALM",
            "http://127.0.0.1:9/api/registry/token",
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let proc = Proc(child);
    let base = format!("http://{addr}");
    wait_until_up(&base).await?;
    let tokens = tre_auth::registry_token::RegistryTokenKey::new(
        key,
        tre_auth::registry_token::DEFAULT_SERVICE,
    )
    .map_err(anyhow::Error::msg)?;
    let access = tre_auth::registry_token::Access {
        kind: "repository".into(),
        name: REPO.into(),
        actions: vec!["pull".into(), "push".into(), "delete".into()],
    };
    let token = tokens
        .issue("bench", vec![access], Duration::from_secs(3600))
        .map_err(anyhow::Error::msg)?;
    Ok(Target {
        name: "tre-registry",
        base,
        token: Some(token),
        proc,
    })
}

async fn start_distribution(program: &str, dir: &Path) -> anyhow::Result<Target> {
    let addr = free_addr()?;
    let config = dir.join("config.yml");
    std::fs::create_dir_all(dir.join("data"))?;
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )?;
    let child = Command::new(program)
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let proc = Proc(child);
    let base = format!("http://{addr}");
    wait_until_up(&base).await?;
    Ok(Target {
        name: "docker-registry",
        base,
        token: None,
        proc,
    })
}

#[derive(Default, Clone)]
struct Figures {
    big_push: Vec<f64>,
    big_pull: Vec<f64>,
    small_push: Vec<f64>,
    small_pull: Vec<f64>,
}

/// Start writing a range back to disk without waiting for it.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the whole call; sync_file_range reads no memory of ours.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

/// What a push cannot beat, measured right before each large push (the disk's speed varies
/// from minute to minute on shared machines).
#[derive(Default)]
struct Ceilings {
    sha256: Vec<f64>,
    durable_write: Vec<f64>,
}

impl Ceilings {
    fn measure(&mut self, dir: &Path, len: u64) -> anyhow::Result<()> {
        let mut buf = vec![0u8; 256 << 20];
        fill(&mut buf, 7);
        let start = Instant::now();
        std::hint::black_box(Sha256::digest(&buf));
        self.sha256.push(256.0 / start.elapsed().as_secs_f64());
        buf.truncate(1 << 20);
        let path = dir.join("ceiling.bin");
        let start = Instant::now();
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&path)?;
            for i in 0..len >> 20 {
                f.write_all(&buf)?;
                if i % 8 == 7 {
                    start_writeback(&f, (i - 7) << 20, 8 << 20);
                }
            }
            f.sync_data()?;
        }
        let secs = start.elapsed().as_secs_f64();
        std::fs::remove_file(&path)?;
        self.durable_write
            .push(len as f64 / (1024.0 * 1024.0) / secs);
        Ok(())
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What every round pushes and pulls, and where it may write.
struct Load<'a> {
    big: &'a Path,
    big_digest: &'a str,
    big_len: u64,
    small: &'a [(String, Vec<u8>)],
    work: &'a Path,
}

async fn round(
    t: &Target,
    http: &reqwest::Client,
    load: &Load<'_>,
    out: &mut Figures,
    ceilings: &mut Ceilings,
) -> anyhow::Result<()> {
    let Load {
        big,
        big_digest,
        big_len,
        small,
        work,
    } = *load;
    let mib = big_len as f64 / (1024.0 * 1024.0);
    let file = tokio::fs::File::open(big).await?;
    let body =
        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    ceilings.measure(work, big_len)?;
    let start = Instant::now();
    t.push(http, big_digest, big_len, body).await?;
    out.big_push.push(mib / start.elapsed().as_secs_f64());
    let start = Instant::now();
    let n = t.pull(http, big_digest).await?;
    out.big_pull.push(mib / start.elapsed().as_secs_f64());
    if n != big_len {
        bail!("{}: pulled {n} bytes of {big_len}", t.name);
    }

    let start = Instant::now();
    stream::iter(small)
        .map(|(d, data)| {
            t.push(
                http,
                d,
                data.len() as u64,
                reqwest::Body::from(data.clone()),
            )
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    out.small_push
        .push(small.len() as f64 / start.elapsed().as_secs_f64());
    let start = Instant::now();
    let lens: Vec<u64> = stream::iter(small)
        .map(|(d, _)| t.pull(http, d))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    out.small_pull
        .push(small.len() as f64 / start.elapsed().as_secs_f64());
    if lens.iter().any(|&n| n != SMALL_BYTES as u64) {
        bail!("{}: a small blob came back with the wrong length", t.name);
    }

    // The next round stores everything again.
    t.delete(http, big_digest).await?;
    for (d, _) in small {
        t.delete(http, d).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: registry-bench <tre-registry> <docker-registry> [big MiB] [small blobs] [rounds]");
    }
    let big_mib: usize = args.get(3).map_or(Ok(1024), |s| s.parse())?;
    let small_count: usize = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let rounds: usize = args.get(5).map_or(Ok(3), |s| s.parse())?;

    let work =
        tempfile::tempdir_in(std::env::var_os("TMPDIR").map_or(PathBuf::from("."), PathBuf::from))?;
    let big = work.path().join("big.bin");
    let big_digest = write_big(&big, big_mib)?;
    let big_len = (big_mib as u64) << 20;
    let small: Vec<(String, Vec<u8>)> = (0..small_count)
        .map(|i| {
            let mut b = vec![0u8; SMALL_BYTES];
            fill(&mut b, 1_000_000 + i as u64);
            (digest_of(&b), b)
        })
        .collect();

    let mut ceilings = Ceilings::default();
    let load = Load {
        big: &big,
        big_digest: &big_digest,
        big_len,
        small: &small,
        work: work.path(),
    };
    let ours = start_ours(&args[1], &work.path().join("ours")).await?;
    let theirs = start_distribution(&args[2], &work.path().join("distribution")).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let mut f_ours = Figures::default();
    let mut f_theirs = Figures::default();
    for _ in 0..rounds {
        // Alternate who goes first, so neither always meets a warmer page cache.
        round(&ours, &http, &load, &mut f_ours, &mut ceilings).await?;
        round(&theirs, &http, &load, &mut f_theirs, &mut ceilings).await?;
        round(&theirs, &http, &load, &mut f_theirs, &mut ceilings).await?;
        round(&ours, &http, &load, &mut f_ours, &mut ceilings).await?;
    }

    println!(
        "registry benchmark: {big_mib} MiB blob, {small_count} blobs of {} KiB ({CONCURRENCY} at a time), median of {} runs each, same disk",
        SMALL_BYTES / 1024,
        2 * rounds
    );
    let (sha, disk) = (median(&ceilings.sha256), median(&ceilings.durable_write));
    println!(
        "sha256 on this machine (the ceiling for a push): {sha:.0} MiB/s; a plain durable write of {big_mib} MiB on this disk (write, writeback started every 8 MiB, fdatasync): {disk:.0} MiB/s (medians of {} measurements, each just before a large push)",
        ceilings.sha256.len()
    );
    println!(
        "large push as a share of sha256: tre-registry {:.0}%, docker-registry {:.0}%; of the plain durable write: {:.0}% and {:.0}%",
        100.0 * median(&f_ours.big_push) / sha,
        100.0 * median(&f_theirs.big_push) / sha,
        100.0 * median(&f_ours.big_push) / disk,
        100.0 * median(&f_theirs.big_push) / disk
    );
    println!("| what | tre-registry | docker-registry 2.8 | ratio |");
    println!("| --- | --- | --- | --- |");
    let row = |what: &str, unit: &str, a: &[f64], b: &[f64]| {
        let (a, b) = (median(a), median(b));
        println!("| {what} | {a:.0} {unit} | {b:.0} {unit} | {:.2}x |", a / b);
    };
    row(
        "push large blob",
        "MiB/s",
        &f_ours.big_push,
        &f_theirs.big_push,
    );
    row(
        "pull large blob",
        "MiB/s",
        &f_ours.big_pull,
        &f_theirs.big_pull,
    );
    row(
        "push small blobs",
        "blobs/s",
        &f_ours.small_push,
        &f_theirs.small_push,
    );
    row(
        "pull small blobs",
        "blobs/s",
        &f_ours.small_pull,
        &f_theirs.small_pull,
    );
    let (ra, rb) = (ours.peak_rss_mib(), theirs.peak_rss_mib());
    println!("| peak RSS | {ra:.1} MiB | {rb:.1} MiB | {:.2}x |", ra / rb);
    Ok(())
}

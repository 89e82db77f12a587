//! The ClamAV adapter against a real clamd (Debian's clamav-daemon), started by the test with
//! a signature database the test writes (CI cannot download ClamAV's own): a sample only that
//! database knows is found, across chunk boundaries; clean data passes; an unreachable clamd
//! or a file over clamd's stream limit fails closed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_runner::clamd::Clamd;
use airlock_runner::scan::{ContentScan, Policy, Scanner};

/// Known to the test database only (the policy scanner does not know it).
const SAMPLE: &[u8] =
    b"TRE airlock ClamAV adapter test sample: not a virus, just a known signature.";

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn clamd_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TRE_CLAMD_BINARY") {
        return p.into();
    }
    for p in ["/usr/sbin/clamd", "/usr/bin/clamd"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "clamd not found: install Debian's clamav-daemon (.ci/run does) or set TRE_CLAMD_BINARY"
    );
}

fn md5_hex(data: &[u8]) -> String {
    let out = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("md5")
        .to_string()
}

fn start(dir: &Path, stream_max: &str) -> (Daemon, Clamd) {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).expect("db dir");
    std::fs::write(
        db.join("tre-test.hdb"),
        format!("{}:{}:Tre.Test.Sample\n", md5_hex(SAMPLE), SAMPLE.len()),
    )
    .expect("database");
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "DatabaseDirectory {}\nLocalSocket {}\nForeground yes\nStreamMaxLength {stream_max}\nLogFile {}\n",
            db.display(),
            socket.display(),
            dir.join("clamd.log").display()
        ),
    )
    .expect("config");
    let child = Command::new(clamd_binary())
        .arg(format!("--config-file={}", conf.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start clamd");
    let daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "clamd did not open its socket: {}",
            std::fs::read_to_string(dir.join("clamd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        daemon,
        Clamd {
            address: format!("unix:{}", socket.display()),
        },
    )
}

fn scan(clamd: &Clamd, name: &str, chunks: &[&[u8]]) -> Vec<String> {
    let scanners: Vec<std::sync::Arc<dyn Scanner>> = vec![
        std::sync::Arc::new(Policy::default()),
        std::sync::Arc::new(clamd.clone()),
    ];
    let mut s = ContentScan::new(name, &scanners);
    for c in chunks {
        s.feed(c);
    }
    s.findings()
}

#[test]
fn a_real_clamd_finds_what_its_database_knows_and_fails_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_daemon, clamd) = start(dir.path(), "1M");

    let clean = vec![7u8; 300_000];
    assert!(scan(&clamd, "clean.bin", &[&clean[..100_000], &clean[100_000..]]).is_empty());

    let (a, b) = SAMPLE.split_at(20);
    let found = scan(&clamd, "sample.txt", &[a, b]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("clamav: Tre.Test.Sample"), "{found:?}");
    assert!(found[0].contains("`sample.txt`"), "{found:?}");

    // Over clamd's StreamMaxLength: not scanned, so not let through.
    let big = vec![1u8; 3 << 20];
    let over = scan(
        &clamd,
        "big.bin",
        &[&big[..1 << 20], &big[1 << 20..2 << 20], &big[2 << 20..]],
    );
    assert_eq!(over.len(), 1, "{over:?}");
    assert!(over[0].contains("could not scan `big.bin`"), "{over:?}");

    let nowhere = Clamd {
        address: format!("unix:{}", dir.path().join("nothing.sock").display()),
    };
    let unreachable = scan(&nowhere, "x.csv", &[b"a,b"]);
    assert!(unreachable[0].contains("unreachable"), "{unreachable:?}");
}

//! The runner as a process, against a real embedded store and sample bundles packaged into an
//! OCI layout: progress and outputs reach the status queue; failures say why; an unpinned
//! bundle is refused; sensitive parameters reach the step but no message.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tre_core::ports::{Condition, Key, Table};

fn bundles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bundles")
}

struct Setup {
    dir: tempfile::TempDir,
    embedded: tre_embedded::Embedded,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let embedded = tre_embedded::Embedded::open(dir.path().join("data")).expect("open");
        Self { dir, embedded }
    }

    fn package(&self, bundle: &str) -> String {
        let layout = self.dir.path().join("layout");
        let a = tre_bundle::build(&bundles().join(bundle)).expect("build");
        tre_bundle::write_layout(&layout, &a, bundle).expect("layout");
        format!("oci:{}@{}", layout.display(), a.digest)
    }

    fn run(&self, bundle: &str, action: &str, resource: &str, params: Value) -> (i32, String) {
        let data = self.dir.path().join("data").display().to_string();
        let storage = self.dir.path().join("storage").display().to_string();
        let job = common::Job {
            bundle,
            action,
            resource,
            params: &params,
        };
        common::run(
            job,
            [
                ("TRE_DATA_DIR", data.as_str()),
                ("TRE_STORAGE_ROOT", storage.as_str()),
            ],
        )
    }

    async fn messages(&self) -> Vec<Value> {
        common::drain_status(&self.embedded).await
    }
}

fn storage(s: &Setup) -> PathBuf {
    s.dir.path().join("storage")
}

#[tokio::test]
async fn install_reports_progress_and_outputs_and_uses_secrets() {
    let s = Setup::new();
    let table = s.embedded.table();
    let res = Key::new("RES#ws-1", "SECRETS");
    table
        .put(
            &res,
            None,
            &json!({"storage_key": "s3cr3t-value"}),
            Condition::Absent,
        )
        .await
        .expect("secrets");
    let bundle = s.package("tre-workspace-base");
    let (code, stderr) = s.run(
        &bundle,
        "install",
        "ws-1",
        json!({"display_name": "Cohort", "storage_quota_gb": 5}),
    );
    assert_eq!(code, 0, "{stderr}");
    let msgs = s.messages().await;
    let last = msgs.last().expect("messages");
    assert_eq!(last["status"], "succeeded");
    let dir = storage(&s).join("workspaces/ws-1");
    assert_eq!(last["outputs"]["storage_path"], dir.display().to_string());
    assert!(dir.join("shared").is_dir() && dir.join("users").is_dir());
    assert_eq!(
        std::fs::read_to_string(dir.join(".key")).expect("key"),
        "s3cr3t-value"
    );
    assert!(std::fs::read_to_string(dir.join("workspace.properties"))
        .expect("props")
        .contains("name=Cohort"));
    // Progress names every step; sequences strictly increase; no message carries the secret.
    let texts: Vec<&str> = msgs.iter().filter_map(|m| m["message"].as_str()).collect();
    assert!(
        texts.iter().any(|t| t.contains("step 1/2: create-storage")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("step 2/2: write-metadata")),
        "{texts:?}"
    );
    let seqs: Vec<u64> = msgs.iter().filter_map(|m| m["sequence"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(!msgs.iter().any(|m| m.to_string().contains("s3cr3t")));
    assert!(!stderr.contains("s3cr3t"));

    // Uninstall removes what install made.
    let (code, stderr) = s.run(
        &bundle,
        "uninstall",
        "ws-1",
        json!({"display_name": "Cohort"}),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_failing_step_reports_why() {
    let s = Setup::new();
    let bundle = s.package("tre-failing");
    let (code, _) = s.run(&bundle, "install", "ws-2", json!({}));
    assert_eq!(code, 1);
    let msgs = s.messages().await;
    let last = msgs.last().expect("messages");
    assert_eq!(last["status"], "failed");
    let m = last["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("step `break` exited with exit code 7") && m.contains("quota exceeded"),
        "{m}"
    );
}

#[tokio::test]
async fn refuses_unpinned_or_tampered_bundles_and_unknown_actions() {
    let s = Setup::new();
    let pinned = s.package("tre-noop");
    let by_tag = format!("oci:{}:tre-noop", s.dir.path().join("layout").display());
    let (code, _) = s.run(&by_tag, "install", "ws-3", json!({}));
    assert_eq!(code, 1);
    let (code, _) = s.run(&pinned, "explode", "ws-3", json!({}));
    assert_eq!(code, 1);
    // Flip one byte of the layer blob on disk.
    let a = tre_bundle::build(&bundles().join("tre-noop")).expect("build");
    let blob = Path::new(&s.dir.path().join("layout/blobs/sha256"))
        .join(a.layer.digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).expect("blob");
    let n = bytes.len() - 1;
    bytes[n] ^= 1;
    std::fs::write(&blob, bytes).expect("write");
    let (code, _) = s.run(&pinned, "install", "ws-3", json!({}));
    assert_eq!(code, 1);
    let msgs = s.messages().await;
    let failures: Vec<&str> = msgs
        .iter()
        .filter(|m| m["status"] == "failed")
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures[0].contains("not pinned by digest"), "{failures:?}");
    assert!(failures[1].contains("no action `explode`"), "{failures:?}");
    assert!(failures[2].contains("digest mismatch"), "{failures:?}");
}

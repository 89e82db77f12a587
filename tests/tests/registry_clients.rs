//! Real clients the project did not write against the local registry: skopeo (Debian) copies a
//! bundle in as a TRE admin and out as a researcher, with TRE tokens as Basic passwords;
//! digests survive the round trip; a researcher's push is refused.

use std::process::Command;

use tre_e2e::{sample_bundle, TestStack};

fn skopeo(args: &[String]) -> (bool, String) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo: install Debian's skopeo (.ci/run does)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_bundle_in_and_out_with_tre_tokens() {
    let t = TestStack::start().await.expect("stack");
    let dir = tempfile::tempdir().expect("tempdir");
    let artifact = tre_bundle::build(&sample_bundle("tre-workspace-base")).expect("build");
    let layout = dir.path().join("layout");
    tre_bundle::write_layout(&layout, &artifact, "1.0.0").expect("layout");
    let host = t
        .stack
        .registry_url
        .trim_start_matches("http://")
        .to_string();
    let target = format!("docker://{host}/tre/bundles/base:1.0.0");
    let (admin, researcher) = (t.token("admin"), t.token("researcher"));

    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let push = args(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("admin:{admin}"),
        &format!("oci:{}:1.0.0", layout.display()),
        &target,
    ]);
    let (ok, out) = tokio::task::spawn_blocking(move || skopeo(&push))
        .await
        .expect("join");
    assert!(ok, "skopeo push: {out}");

    let back = dir.path().join("back");
    let pull = args(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("researcher:{researcher}"),
        &target,
        &format!("oci:{}:1.0.0", back.display()),
    ]);
    let (ok, out) = tokio::task::spawn_blocking(move || skopeo(&pull))
        .await
        .expect("join");
    assert!(ok, "skopeo pull: {out}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(
        index["manifests"][0]["digest"],
        artifact.digest.as_str(),
        "the digest survives the round trip"
    );

    let evil = args(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("researcher:{researcher}"),
        &format!("oci:{}:1.0.0", layout.display()),
        &format!("docker://{host}/tre/bundles/base:evil"),
    ]);
    let (ok, out) = tokio::task::spawn_blocking(move || skopeo(&evil))
        .await
        .expect("join");
    assert!(!ok, "a researcher's push must be refused: {out}");
}

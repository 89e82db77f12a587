//! Real clients the project did not write against the local registry: skopeo (Debian) copies a
//! bundle in as a TRE admin and out as a researcher, with TRE tokens as Basic passwords, and
//! an image, and oras-py pushes and pulls an image and an artifact;
//! digests survive the round trip; a researcher's push is refused. How each client reacts to
//! a token without the needed scope answered 401 (Distribution) and 403 (this registry).

use std::process::Command;

use tre_e2e::{sample_bundle, TestStack};

/// Whether a client succeeded, and all it printed.
fn outcome(out: &std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn skopeo(args: &[String]) -> (bool, String) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo: install Debian's skopeo (.ci/run does)");
    outcome(&out)
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

/// oras-py (PyPI `oras`, pinned in scripts/test): an image (pushed in chunks) and an artifact
/// pushed as a TRE admin and pulled as a researcher with digests intact; blobs with a wrong
/// digest refused, whole or chunked; the researcher's push refused. The client keeps one token
/// and asks the realm again only when the registry answers 403 with the scope it needs
/// (RFC 6750's insufficient_scope), which is what the registry does (see
/// `oras_asks_for_a_new_token_on_403_and_not_on_401`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_pushes_and_pulls_an_image_and_an_artifact_with_tre_tokens() {
    let t = TestStack::start().await.expect("stack");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("TRE_ORAS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: scripts/test installs oras into .venv (or set TRE_ORAS_PYTHON)",
        python.display()
    );
    let script = root.join("tests/clients/oras_roundtrip.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let host = t
        .stack
        .registry_url
        .trim_start_matches("http://")
        .to_string();
    let (admin, researcher) = (t.token("admin"), t.token("researcher"));
    let work = dir.path().join("work");
    let home = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&host)
            .arg(&work)
            .args(["admin", &admin, "researcher", &researcher])
            .args(["tre/bundles/oras-demo", "tre/bundles/not-yours"])
            // oras reads and writes ~/.docker/config.json: keep it to this test.
            .env("HOME", &home)
            .output()
            .expect("run python")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "oras round trip failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON report");
    assert_eq!(
        report["image_config"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(report["image_pulled"], serde_json::json!(["layer.tar.gz"]));
    assert_eq!(report["wrong_digest"], serde_json::json!([400, 400]));
    let denied = report["denied_push"].as_str().unwrap_or_default();
    assert!(
        denied.starts_with("refused") && denied.contains("DENIED"),
        "{denied}"
    );
}

/// A one-layer OCI image (gzip tar layer, image config) in an OCI image layout; returns the
/// manifest's and the layer's digests.
fn write_image_layout(dir: &std::path::Path, tag: &str) -> (String, String) {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs");
    let put = |bytes: &[u8]| {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut tar = tar::Builder::new(Vec::new());
    let data = b"hello from a TRE workspace tool\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", &data[..])
        .expect("tar");
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    let (layer, layer_size) = put(&gz.finish().expect("gzip"));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["cat", "/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex::encode(Sha256::digest(&raw)))]},
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).expect("json"));
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index");
    (manifest_digest, layer)
}

/// skopeo with a container image (not only a bundle artifact): in as an admin, out as a
/// researcher, manifest digest and layer intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_image_in_and_out_with_tre_tokens() {
    let t = TestStack::start().await.expect("stack");
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("image");
    let (manifest, layer) = write_image_layout(&layout, "1.0");
    let host = t
        .stack
        .registry_url
        .trim_start_matches("http://")
        .to_string();
    let target = format!("docker://{host}/tre/bundles/tool-image:1.0");
    let back = dir.path().join("back");
    let (admin, researcher) = (t.token("admin"), t.token("researcher"));
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let push = args(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("admin:{admin}"),
        &format!("oci:{}:1.0", layout.display()),
        &target,
    ]);
    let pull = args(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("researcher:{researcher}"),
        &target,
        &format!("oci:{}:1.0", back.display()),
    ]);
    let (pushed, pulled) = tokio::task::spawn_blocking(move || (skopeo(&push), skopeo(&pull)))
        .await
        .expect("join");
    assert!(pushed.0, "skopeo push: {}", pushed.1);
    assert!(pulled.0, "skopeo pull: {}", pulled.1);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["manifests"][0]["digest"], manifest.as_str());
    let layer_hex = layer.trim_start_matches("sha256:");
    assert_eq!(
        std::fs::read(back.join("blobs/sha256").join(layer_hex)).expect("layer"),
        std::fs::read(layout.join("blobs/sha256").join(layer_hex)).expect("layer"),
    );
}

/// A proxy in front of the registry that answers as Distribution does: a token without the
/// scope its repository needs is 401 `insufficient_scope` there, where this registry answers
/// 403. With it, the same real client meets the other answer; returns the proxy's host:port.
async fn distribution_style_proxy(upstream: String) -> (String, tokio::task::JoinHandle<()>) {
    use axum::response::IntoResponse;
    async fn forward(
        axum::extract::State((client, upstream)): axum::extract::State<(reqwest::Client, String)>,
        req: axum::extract::Request,
    ) -> axum::response::Response {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = client.request(parts.method.clone(), format!("{upstream}{path}"));
        for (k, v) in &parts.headers {
            if k != "host" {
                out = out.header(k, v);
            }
        }
        let out = out.body(reqwest::Body::wrap_stream(body.into_data_stream()));
        let Ok(resp) = out.send().await else {
            return axum::http::StatusCode::BAD_GATEWAY.into_response();
        };
        let insufficient = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("insufficient_scope"));
        let status = if resp.status() == 403 && insufficient {
            axum::http::StatusCode::UNAUTHORIZED
        } else {
            resp.status()
        };
        let mut back = axum::response::Response::builder().status(status);
        for (k, v) in resp.headers() {
            if k != "transfer-encoding" && k != "connection" {
                back = back.header(k, v);
            }
        }
        back.body(axum::body::Body::from_stream(resp.bytes_stream()))
            .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response())
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let app = axum::Router::new()
        .fallback(forward)
        .with_state((client, upstream));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

fn oras_python() -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("TRE_ORAS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: scripts/test installs oras into .venv (or set TRE_ORAS_PYTHON)",
        python.display()
    );
    python
}

/// oras-py pushes a file: its first request (does the blob exist?) gets a pull token from the
/// challenge, and the upload then needs push on the same repository. Returns (pushed, output).
async fn oras_push(host: &str, user: &str, token: &str, repo: &str) -> (bool, String) {
    const SCRIPT: &str = r#"
import os, sys
import oras.client
host, user, token, repo, work = sys.argv[1:6]
os.chdir(work)
with open("note.txt", "w") as f:
    f.write("pushed by " + user + "\n")
config = os.path.join(work, "docker-config.json")
c = oras.client.OrasClient(hostname=host, insecure=True)
c.login(username=user, password=token, hostname=host, tls_verify=False, config_path=config)
try:
    c.push(files=["note.txt:text/plain"], target=f"{host}/{repo}:note", disable_path_validation=True, config_path=config)
    print("pushed")
except Exception as e:
    print("refused: " + str(e)[:300])
    sys.exit(3)
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        host.to_string(),
        user.to_string(),
        token.to_string(),
        repo.to_string(),
        dir.path().display().to_string(),
    ];
    let python = oras_python();
    let home = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .args(&args)
            .env("HOME", &home)
            .output()
            .expect("run python")
    })
    .await
    .expect("join");
    outcome(&out)
}

/// oras-py keeps one token: on 403 it asks the realm again for the challenge's scope, on 401 it
/// sends the same token again and gives up. So a push, whose pull token from the first check
/// lacks push, succeeds against this registry (403) and fails against a registry that answers
/// 401 (the proxy, as Distribution answers); a push the realm refuses fails against both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_asks_for_a_new_token_on_403_and_not_on_401() {
    let t = TestStack::start().await.expect("stack");
    let (proxy, _task) = distribution_style_proxy(t.stack.registry_url.clone()).await;
    let direct = t
        .stack
        .registry_url
        .trim_start_matches("http://")
        .to_string();
    let (admin, researcher) = (t.token("admin"), t.token("researcher"));
    let (ok, out) = oras_push(&direct, "admin", &admin, "tre/bundles/oras-403").await;
    assert!(ok, "on 403 oras asks again and pushes: {out}");
    let (ok, out) = oras_push(&proxy, "admin", &admin, "tre/bundles/oras-401").await;
    assert!(!ok, "on 401 oras resends its pull token and fails: {out}");
    assert!(out.contains("refused"), "{out}");
    for host in [&direct, &proxy] {
        let (ok, out) = oras_push(host, "researcher", &researcher, "tre/bundles/oras-no").await;
        assert!(!ok, "{host}: a researcher's push is refused: {out}");
    }
}

/// skopeo asks the realm for the scopes a copy needs (pull and push of the destination) before
/// its first request, so it meets neither answer when allowed: a push and a pull succeed
/// against this registry (403) and against a registry that answers 401 (the proxy) alike, and
/// a push the realm refuses fails against both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_asks_for_its_scopes_first_and_works_on_401_and_403_registries() {
    let t = TestStack::start().await.expect("stack");
    let (proxy, _task) = distribution_style_proxy(t.stack.registry_url.clone()).await;
    let direct = t
        .stack
        .registry_url
        .trim_start_matches("http://")
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("image");
    write_image_layout(&layout, "1.0");
    let (admin, researcher) = (t.token("admin"), t.token("researcher"));
    for (i, host) in [direct, proxy].into_iter().enumerate() {
        let target = format!("docker://{host}/tre/bundles/skopeo-{i}:1.0");
        let back = dir.path().join(format!("back-{i}"));
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let push = args(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("admin:{admin}"),
            &format!("oci:{}:1.0", layout.display()),
            &target,
        ]);
        let pull = args(&[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &format!("researcher:{researcher}"),
            &target,
            &format!("oci:{}:1.0", back.display()),
        ]);
        let denied = args(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("researcher:{researcher}"),
            &format!("oci:{}:1.0", layout.display()),
            &format!("docker://{host}/tre/bundles/skopeo-{i}:evil"),
        ]);
        let (pushed, pulled, refused) =
            tokio::task::spawn_blocking(move || (skopeo(&push), skopeo(&pull), skopeo(&denied)))
                .await
                .expect("join");
        assert!(pushed.0, "{host}: skopeo push: {}", pushed.1);
        assert!(pulled.0, "{host}: skopeo pull: {}", pulled.1);
        assert!(
            !refused.0,
            "{host}: a researcher's push is refused: {}",
            refused.1
        );
    }
}

//! The `tre` client commands against a live local stack: register, create with --wait-free
//! output, list, update (etag fetched for the caller), operations, and readable errors.

use std::process::Command;

use tre_local::{DevOptions, DevStack};

mod common;

fn tre(api: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tre"))
        .args(args)
        .env("TRE_API", api)
        .env("TRE_TOKEN", token)
        .output()
        .expect("run tre");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = DevStack::start(options(dir.path())).await.expect("start");
    let api = stack.api_url.clone();
    let admin = stack.token_for("admin").expect("token");
    let file = dir.path().join("template.json");
    std::fs::write(
        &file,
        r#"{"name": "tre-workspace-base", "version": "1.0.0", "parameters": {"type": "object",
            "required": ["display_name"],
            "properties": {"display_name": {"type": "string", "updateable": true}}}}"#,
    )
    .expect("write");

    let run = |args: Vec<String>| {
        let api = api.clone();
        let admin = admin.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            tre(&api, &admin, &refs)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (ok, out, err) = run(vec![
        "templates".into(),
        "workspace".into(),
        "register".into(),
        file.display().to_string(),
    ])
    .await
    .expect("join");
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(s(&[
        "workspaces",
        "create",
        "--template",
        "tre-workspace-base",
        "-p",
        "display_name=Cohort",
    ]))
    .await
    .expect("join");
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json output");
    let id = v["operation"]["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(v["operation"]["status"], "awaiting_deployment");

    let (ok, out, _) = run(s(&["workspaces", "list"])).await.expect("join");
    assert!(ok && out.contains(&id));
    // An update waits for the install to end (the API refuses one while an operation runs).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (ok, out, err) = run(s(&["workspaces", "get", &id])).await.expect("join");
        assert!(ok, "{out}{err}");
        if common::install_ended(&out) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the install never ended: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (ok, out, err) = run(s(&[
        "workspaces",
        "update",
        &id,
        "-p",
        "display_name=Renamed",
    ]))
    .await
    .expect("join");
    assert!(ok, "{out}{err}");
    assert!(out.contains("Renamed"));
    let (ok, out, _) = run(s(&["operations", "list", &format!("/api/workspaces/{id}")]))
        .await
        .expect("join");
    assert!(ok && out.contains("upgrade") && out.contains("install"));

    // Errors are the API's problem detail, not a stack trace.
    let (ok, _, err) = run(s(&["workspaces", "create", "--template", "nope"]))
        .await
        .expect("join");
    assert!(!ok);
    assert!(
        err.contains("400") && err.contains("unknown workspace template `nope`"),
        "{err}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_build_and_register() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = DevStack::start(options(dir.path())).await.expect("start");
    let (api, admin) = (
        stack.api_url.clone(),
        stack.token_for("admin").expect("token"),
    );
    let bundles = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bundles");
    let layout = dir.path().join("layout").display().to_string();
    let base = bundles.join("tre-workspace-base").display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        let built = tre(
            &api,
            &admin,
            &["bundle", "build", &base, "--layout", &layout],
        );
        let registered = tre(
            &api,
            &admin,
            &["bundle", "register", &base, "--layout", &layout],
        );
        let again = tre(
            &api,
            &admin,
            &["bundle", "register", &base, "--layout", &layout],
        );
        (built, registered, again)
    })
    .await
    .expect("join");
    let (built, registered, again) = out;
    assert!(built.0, "{}", built.2);
    assert!(
        built.1.trim().starts_with("oci:") && built.1.contains("@sha256:"),
        "{}",
        built.1
    );
    assert!(registered.0, "{}", registered.2);
    let t: serde_json::Value = serde_json::from_str(&registered.1).expect("template json");
    assert_eq!(t["name"], "tre-workspace-base");
    assert_eq!(t["resourceType"], "workspace");
    assert_eq!(t["type"], "object");
    assert_eq!(t["bundle"].as_str().map(str::trim), Some(built.1.trim()));
    assert_eq!(t["customActions"][0]["name"], "snapshot");
    assert!(
        !again.0 && again.2.contains("409"),
        "registering the same version twice: {}",
        again.2
    );
    stack.shutdown().await;
}

/// A test stack whose bundle steps run as `tre run-bundle-action`, like `tre dev`'s.
fn options(dir: &std::path::Path) -> DevOptions {
    let mut o = DevOptions::for_tests(dir);
    o.runner = Some(tre_local::RunnerCommand {
        program: env!("CARGO_BIN_EXE_tre").into(),
        args: vec!["run-bundle-action".into()],
        env: Vec::new(),
    });
    o
}

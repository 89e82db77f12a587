//! The `tre` client commands against a live local stack: register, create with --wait-free
//! output, list, update (etag fetched for the caller), operations, and readable errors.

use std::process::Command;

use tre_local::{DevOptions, DevStack};

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
    let stack = DevStack::start(DevOptions::for_tests(dir.path()))
        .await
        .expect("start");
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
    let id = v["resource"]["id"].as_str().expect("id").to_string();
    assert_eq!(v["operation"]["status"], "awaiting_deployment");

    let (ok, out, _) = run(s(&["workspaces", "list"])).await.expect("join");
    assert!(ok && out.contains(&id));
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

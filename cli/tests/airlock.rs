//! `tre airlock` against a live local stack: a researcher opens an export, uploads a small file
//! and a large one (in parts) with the CLI, submits it; an airlock manager finds it in the
//! queue and approves it; the researcher downloads both, checked against the recorded checksums.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tre_local::{DevOptions, DevStack, RunnerCommand};

fn tre(api: &str, token: &str, args: &[String]) -> (bool, String, String) {
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

async fn run(api: &str, token: &str, args: &[&str]) -> Value {
    let (api, token) = (api.to_string(), token.to_string());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let shown = args.join(" ");
    let (ok, out, err) = tokio::task::spawn_blocking(move || tre(&api, &token, &args))
        .await
        .expect("join");
    assert!(ok, "tre {shown}: {out}{err}");
    serde_json::from_str(&out).unwrap_or(Value::String(format!("{out}{err}")))
}

async fn api(
    stack: &DevStack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.api_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("call");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_through_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = DevOptions::for_tests(dir.path());
    let tre_bin = env!("CARGO_BIN_EXE_tre");
    o.runner = Some(RunnerCommand {
        program: tre_bin.into(),
        args: vec!["run-bundle-action".into()],
        env: Vec::new(),
    });
    o.airlock_runner = Some(RunnerCommand {
        program: tre_bin.into(),
        args: vec!["run-airlock-action".into()],
        env: Vec::new(),
    });
    let stack = DevStack::start(o).await.expect("start");
    let admin = stack.token_for("admin").expect("token");
    let researcher = stack.token_for("researcher").expect("token");
    let manager = stack.token_for("airlock-manager").expect("token");
    let post = reqwest::Method::POST;
    api(
        &stack,
        post.clone(),
        "/api/workspace-templates",
        &admin,
        json!({
        "name": "plain", "version": "1.0.0", "parameters": {"type": "object", "properties": {}}}),
    )
    .await;
    let created = api(
        &stack,
        post.clone(),
        "/api/workspaces",
        &admin,
        json!({"templateName": "plain"}),
    )
    .await;
    let ws = created["operation"]["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    for (who, role) in [
        ("dev-researcher", "WorkspaceResearcher"),
        ("dev-airlock-manager", "AirlockManager"),
    ] {
        api(
            &stack,
            post.clone(),
            &format!("/api/workspaces/{ws}/role-assignments"),
            &admin,
            json!({"principalId": who, "role": role}),
        )
        .await;
    }
    let url = stack.api_url.clone();
    let data = b"site,mean\nA,39.5\nB,41.0\n".repeat(10_000);
    let file = dir.path().join("results.csv");
    std::fs::write(&file, &data).expect("write");
    // Over the part size: uploaded in parts, each to its own link, then assembled.
    let large = dir.path().join("large.bin");
    let big: Vec<u8> = (0..(tre_core::app::MULTIPART_PART_BYTES + 4096))
        .map(|i| (i % 249) as u8)
        .collect();
    std::fs::write(&large, &big).expect("write");

    let req = run(
        &url,
        &researcher,
        &[
            "airlock",
            "--workspace",
            &ws,
            "create",
            "--type",
            "export",
            "--title",
            "Aggregates",
            "--justification",
            "for the paper",
        ],
    )
    .await;
    assert_eq!(
        req["allowedUserActions"],
        json!(["cancel", "submit"]),
        "{req}"
    );
    let rid = req["airlockRequest"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let uploaded = run(
        &url,
        &researcher,
        &[
            "airlock",
            "--workspace",
            &ws,
            "upload",
            &rid,
            file.to_str().expect("path"),
            large.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(
        uploaded["airlockRequest"]["files"][0]["name"],
        "results.csv"
    );
    assert_eq!(uploaded["airlockRequest"]["files"][1]["name"], "large.bin");
    run(
        &url,
        &researcher,
        &["airlock", "--workspace", &ws, "submit", &rid],
    )
    .await;
    let until = |status: &'static str| {
        let (url, researcher, ws, rid) = (url.clone(), researcher.clone(), ws.clone(), rid.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let r = run(
                    &url,
                    &researcher,
                    &["airlock", "--workspace", &ws, "show", &rid],
                )
                .await;
                if r["airlockRequest"]["status"] == status {
                    return r;
                }
                assert!(Instant::now() < deadline, "never {status}: {r}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    until("in_review").await;
    let queue = run(&url, &manager, &["airlock", "queue"]).await;
    assert_eq!(
        queue["airlockRequests"][0]["airlockRequest"]["id"],
        rid.as_str()
    );
    // The researcher's own requests, across workspaces (a bare array, as Azure TRE answers).
    let mine = run(&url, &researcher, &["airlock", "mine"]).await;
    assert_eq!(mine[0]["id"], rid.as_str(), "{mine}");
    let managed = run(&url, &manager, &["airlock", "mine", "--airlock-manager"]).await;
    assert_eq!(managed[0]["id"], rid.as_str(), "{managed}");
    // A review without a comment is refused with the API's explanation.
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (url, manager, ws, rid) = (url.clone(), manager.clone(), ws.clone(), rid.clone());
        move || {
            tre(
                &url,
                &manager,
                &[
                    "airlock".into(),
                    "--workspace".into(),
                    ws,
                    "review".into(),
                    rid,
                    "--decision".into(),
                    "approve".into(),
                    "--comment".into(),
                    " ".into(),
                ],
            )
        }
    })
    .await
    .expect("join");
    assert!(!ok && err.contains("decisionExplanation"), "{err}");
    // This workspace has no review environments: the reviewer is told to use the links.
    let review_env = |extra: &'static [&'static str]| {
        let (url, manager, ws, rid) = (url.clone(), manager.clone(), ws.clone(), rid.clone());
        tokio::task::spawn_blocking(move || {
            let mut args: Vec<String> = ["airlock", "--workspace", &ws, "review-env", &rid]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(extra.iter().map(|s| s.to_string()));
            tre(&url, &manager, &args)
        })
    };
    let (ok, _, err) = review_env(&[]).await.expect("join");
    assert!(!ok && err.contains("through their links"), "{err}");
    let (ok, _, err) = review_env(&["--show"]).await.expect("join");
    assert!(!ok && err.contains("no review environment"), "{err}");
    run(
        &url,
        &manager,
        &[
            "airlock",
            "--workspace",
            &ws,
            "review",
            &rid,
            "--decision",
            "approve",
            "--comment",
            "aggregates only",
        ],
    )
    .await;
    let approved = until("approved").await;
    assert_eq!(
        approved["airlockRequest"]["reviews"][0]["decisionExplanation"],
        "aggregates only"
    );
    // The link of an approved export: one read link per file, for its requester.
    let link = run(
        &url,
        &researcher,
        &["airlock", "--workspace", &ws, "link", &rid],
    )
    .await;
    assert_eq!(link["files"].as_array().map(Vec::len), Some(2), "{link}");
    assert_eq!(link["containerUrl"], link["files"][0]["url"]);
    let out = dir.path().join("downloaded.csv");
    run(
        &url,
        &researcher,
        &[
            "airlock",
            "--workspace",
            &ws,
            "download",
            &rid,
            "results.csv",
            "--to",
            out.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(std::fs::read(&out).expect("downloaded"), data);
    let out_large = dir.path().join("large-downloaded.bin");
    run(
        &url,
        &researcher,
        &[
            "airlock",
            "--workspace",
            &ws,
            "download",
            &rid,
            "large.bin",
            "--to",
            out_large.to_str().expect("path"),
        ],
    )
    .await;
    assert!(std::fs::read(&out_large).expect("downloaded") == big);
    stack.shutdown().await;
}

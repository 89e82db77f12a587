//! `tre`'s output against a live local stack: `--output json|table`, the piped default, and
//! `--query` (JMESPath) on lists and on single items.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use tre_local::{DevOptions, DevStack};

mod common;

fn tre(api: &str, token: &str, args: &[String]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tre"))
        .args(args)
        .env("TRE_API", api)
        .env("TRE_TOKEN", token)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run tre");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_formats_and_queries() {
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
    let run = |args: &[&str]| {
        let (api, admin) = (api.clone(), admin.clone());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || tre(&api, &admin, &args))
    };

    let register = ["templates", "workspace", "register"];
    let path = file.display().to_string();
    let (ok, out, err) = run(&[&register[..], &[path.as_str()]].concat())
        .await
        .expect("join");
    assert!(ok, "{out}{err}");
    let mut ids = BTreeSet::new();
    let mut first: Option<String> = None;
    for name in ["Cohort A", "Cohort B", "Cohort C"] {
        let display = format!("display_name={name}");
        let (ok, out, err) = run(&[
            "-o",
            "json",
            "workspaces",
            "create",
            "--template",
            "tre-workspace-base",
            "-p",
            &display,
        ])
        .await
        .expect("join");
        assert!(ok, "{out}{err}");
        let v: Value = serde_json::from_str(&out).expect("json");
        let id = v["operation"]["resourceId"]
            .as_str()
            .expect("id")
            .to_string();
        first.get_or_insert_with(|| id.clone());
        ids.insert(id);
    }
    // The installs run in the background: the lists below are compared with each other, so
    // they are taken once every workspace has stopped changing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for id in &ids {
        loop {
            let (ok, out, err) = run(&["-o", "json", "workspaces", "get", id])
                .await
                .expect("join");
            assert!(ok, "{out}{err}");
            if common::install_ended(&out) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the install of {id} never ended: {out}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    // JSON: the API's answer, every workspace in it.
    let (ok, json_out, err) = run(&["workspaces", "list", "-o", "json"])
        .await
        .expect("join");
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&json_out).expect("list is JSON");
    let all: BTreeSet<String> = listed["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .map(|w| w["id"].as_str().expect("id").to_string())
        .collect();
    assert!(ids.is_subset(&all), "{ids:?} not all in {all:?}");

    // Piped (as here) with no --output: JSON, the same as asked for.
    let (ok, piped, _) = run(&["workspaces", "list"]).await.expect("join");
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&piped).expect("piped default is JSON"),
        listed
    );

    // Table: a header, then one row per workspace, each naming its id and display name.
    let (ok, table, err) = run(&["workspaces", "list", "-o", "table"])
        .await
        .expect("join");
    assert!(ok, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&header[..3], ["ID", "DISPLAY", "NAME"], "{table}");
    assert!(
        header.contains(&"STATUS") && header.contains(&"TEMPLATE"),
        "{table}"
    );
    assert_eq!(lines.len(), 1 + all.len(), "{table}");
    for id in &all {
        let row = lines
            .iter()
            .find(|l| l.starts_with(id.as_str()))
            .unwrap_or_else(|| panic!("no row for {id}:\n{table}"));
        assert!(row.contains("tre-workspace-base"), "{row}");
    }
    assert!(
        lines.iter().any(|l| l.contains("Cohort B")),
        "display names shown: {table}"
    );
    assert!(!table.contains('\u{1b}'), "no escape codes into a pipe");

    // One item a page is several pages here (so the answers below followed them).
    let page: Value = reqwest::Client::new()
        .get(format!("{api}/api/workspaces?page_size=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("page")
        .json()
        .await
        .expect("json page");
    assert_eq!(page["workspaces"].as_array().map(Vec::len), Some(1));
    assert!(page["nextLink"].is_string(), "{page}");

    // --query on a list runs on the list itself, after every page (here one item a page).
    let (ok, out, err) = run(&["workspaces", "list", "--page-size", "1", "--query", "[].id"])
        .await
        .expect("join");
    assert!(ok, "{err}");
    let queried: Vec<String> = serde_json::from_str(&out).expect("query result is JSON");
    assert_eq!(queried.len(), all.len(), "{out}");
    assert_eq!(queried.into_iter().collect::<BTreeSet<_>>(), all);
    let (ok, out, _) = run(&[
        "workspaces",
        "list",
        "--page-size",
        "2",
        "--query",
        "length(@)",
    ])
    .await
    .expect("join");
    assert!(ok);
    assert_eq!(out.trim(), all.len().to_string());

    // Templates have their own columns.
    let (ok, out, err) = run(&["templates", "workspace", "list", "-o", "table"])
        .await
        .expect("join");
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("VERSION"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("tre-workspace-base") && lines[1].contains("1.0.0"),
        "{out}"
    );
    let (ok, out, _) = run(&[
        "workspaces",
        "list",
        "-o",
        "table",
        "--query",
        "[?properties.display_name=='Cohort C'].{id: id, name: properties.display_name}",
    ])
    .await
    .expect("join");
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["id", "name"]
    );
    assert!(lines[1].ends_with("Cohort C"), "{out}");

    // --query on a single item runs on the item, not its `{"workspace": ...}` envelope.
    let one = first.expect("the id of Cohort A");
    let (ok, out, err) = run(&[
        "workspaces",
        "get",
        &one,
        "--query",
        "properties.display_name",
    ])
    .await
    .expect("join");
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json"),
        "Cohort A"
    );
    let (ok, out, _) = run(&[
        "workspaces",
        "get",
        &one,
        "-o",
        "table",
        "--query",
        "properties.display_name",
    ])
    .await
    .expect("join");
    assert!(ok);
    assert_eq!(out, "Cohort A\n", "a scalar is a plain line in a table");
    let (ok, out, _) = run(&["workspaces", "get", &one, "-o", "table"])
        .await
        .expect("join");
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "one item, one row: {out}");
    assert!(
        out.lines().nth(1).is_some_and(|l| l.starts_with(&one)),
        "{out}"
    );

    // Operations have their own columns.
    let ws_path = format!("/api/workspaces/{one}");
    let (ok, out, err) = run(&["operations", "list", &ws_path, "-o", "table"])
        .await
        .expect("join");
    assert!(ok, "{err}");
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("ID") && header.contains("ACTION") && header.contains("MESSAGE"),
        "{out}"
    );
    assert!(out.contains("install"), "{out}");

    // A bad expression: refused before any call, with the reason.
    let (ok, out, err) = run(&["workspaces", "list", "--query", "[?id=="])
        .await
        .expect("join");
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("--query `[?id==` is not a valid JMESPath expression"),
        "{err}"
    );
    let (ok, _, err) = run(&["workspaces", "list", "-o", "yaml"])
        .await
        .expect("join");
    assert!(!ok && err.contains("possible values: table, json"), "{err}");

    // `tre me`: the route the console starts with.
    let (ok, out, err) = run(&["me", "--query", "treRoles"]).await.expect("join");
    assert!(ok, "{err}");
    let roles: Value = serde_json::from_str(&out).expect("json");
    assert!(roles.as_array().is_some_and(|r| !r.is_empty()), "{out}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sources_through_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = DevStack::start(DevOptions::for_tests(dir.path()))
        .await
        .expect("start");
    let (api, admin) = (
        stack.api_url.clone(),
        stack.token_for("admin").expect("token"),
    );
    let spec = dir.path().join("source.json");
    std::fs::write(
        &spec,
        r#"{"kind": "Uploaded", "displayName": "Census extract", "project": "P1",
            "licence": "CC-BY-4.0", "publisher": {"organisation": "Org",
            "contactName": "A Person", "contactRole": "Steward"}}"#,
    )
    .expect("write");
    let data = dir.path().join("counts.csv");
    std::fs::write(&data, "area,count\nA,1\n").expect("write");
    let run = |args: Vec<String>| {
        let (api, admin) = (api.clone(), admin.clone());
        tokio::task::spawn_blocking(move || tre(&api, &admin, &args))
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (ok, out, err) = run(s(&[
        "datasources",
        "register",
        &spec.display().to_string(),
        "--query",
        "id",
    ]))
    .await
    .expect("join");
    assert!(ok, "{err}");
    let id: String = serde_json::from_str(&out).expect("the id as JSON");
    let (ok, _, err) = run(s(&[
        "datasources",
        "upload",
        &id,
        &data.display().to_string(),
    ]))
    .await
    .expect("join");
    assert!(ok, "{err}");
    let (ok, out, err) = run(s(&["datasources", "get", &id, "--query", "uploads"]))
        .await
        .expect("join");
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json"),
        serde_json::json!(["counts.csv"])
    );
    let (ok, table, err) = run(s(&["datasources", "list", "-o", "table"]))
        .await
        .expect("join");
    assert!(ok, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&header[..4], ["ID", "DISPLAY", "NAME", "KIND"], "{table}");
    assert!(
        lines[1].starts_with(&id) && lines[1].contains("Census extract"),
        "{table}"
    );
    stack.shutdown().await;
}

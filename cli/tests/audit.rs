//! `tre audit` against a live local stack, as its users run it: an admin lists a workspace's
//! events, exports every chain and verifies the file; an edited or a removed line is named by
//! chain and seq; the server's chains verify until one stored event is changed behind the
//! API's back; a workspace's owner reads its trail, a researcher is refused.

use std::process::Command;

use serde_json::Value;
use tre_core::ports::{Condition, Key};
use tre_local::{DevOptions, DevStack};

/// What a run of `tre` did: its exit code, stdout and stderr.
struct Ran {
    code: Option<i32>,
    out: String,
    err: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", self.out, self.err))
    }
}

async fn tre(api: &str, token: &str, args: &[&str]) -> Ran {
    let (api, token) = (api.to_string(), token.to_string());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_tre"))
            .args(&args)
            .env("TRE_API", api)
            .env("TRE_TOKEN", token)
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("run tre");
        Ran {
            code: out.status.code(),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

/// `tre` that must succeed.
async fn ok(api: &str, token: &str, args: &[&str]) -> Ran {
    let r = tre(api, token, args).await;
    assert_eq!(
        r.code,
        Some(0),
        "tre {}: {}{}",
        args.join(" "),
        r.out,
        r.err
    );
    r
}

fn lines(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .expect("read export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn write_lines(file: &std::path::Path, events: &[Value]) {
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(file, text).expect("write");
}

/// The report line of `chain` in `verify`'s JSON.
fn report<'a>(v: &'a Value, chain: &str) -> &'a Value {
    v["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .find(|c| c["chain"] == chain)
        .unwrap_or_else(|| panic!("no report for {chain}: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_list_export_and_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = DevStack::start(DevOptions::for_tests(dir.path()))
        .await
        .expect("start");
    let api = stack.api_url.clone();
    let admin = stack.token_for("admin").expect("token");
    let owner = stack.token_for("owner").expect("token");
    let researcher = stack.token_for("researcher").expect("token");

    // A workspace, its owner and a researcher in it.
    let template = dir.path().join("template.json");
    std::fs::write(
        &template,
        r#"{"name": "tre-workspace-base", "version": "1.0.0", "parameters": {"type": "object",
            "required": ["display_name"],
            "properties": {"display_name": {"type": "string", "updateable": true}}}}"#,
    )
    .expect("write");
    let path = template.display().to_string();
    ok(&api, &admin, &["templates", "workspace", "register", &path]).await;
    let created = ok(
        &api,
        &admin,
        &[
            "-o",
            "json",
            "workspaces",
            "create",
            "--template",
            "tre-workspace-base",
            "-p",
            "display_name=Audited",
        ],
    )
    .await
    .json();
    let ws = created["operation"]["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    for (who, role) in [
        ("dev-owner", "WorkspaceOwner"),
        ("dev-researcher", "WorkspaceResearcher"),
    ] {
        ok(
            &api,
            &admin,
            &["roles", "--workspace", &ws, "assign", who, role],
        )
        .await;
    }

    // List: the workspace's creation, by the admin, in its chain, as JSON and as a table.
    let listed = ok(&api, &admin, &["audit", "list", "--workspace", &ws])
        .await
        .json();
    let events = listed["auditEvents"].as_array().expect("auditEvents");
    let first = &events[0];
    assert_eq!(first["action"], "workspace.create", "{listed}");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["chain"], ws.as_str());
    assert_eq!(first["resourceId"], ws.as_str());
    assert_eq!(first["actor"]["id"], "dev-admin");
    assert_eq!(first["outcome"], "succeeded");
    assert!(
        events.len() >= 3,
        "create and two role assignments: {listed}"
    );
    let table = ok(
        &api,
        &admin,
        &["-o", "table", "audit", "list", "--chain", &ws],
    )
    .await
    .out;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["SEQ", "AT", "ACTOR", "ACTION", "OUTCOME", "RESOURCE"],
        "{table}"
    );
    // SEQ, the date and time, then the rest.
    assert_eq!(rows[1][0], "1", "{table}");
    assert_eq!(
        &rows[1][3..],
        ["dev-admin", "workspace.create", "succeeded", ws.as_str()],
        "{table}"
    );
    // Filters go to the API: a prefix of actions, and an actor who did nothing here.
    let roles = ok(
        &api,
        &admin,
        &["audit", "list", "--chain", &ws, "--action", "role."],
    )
    .await
    .json();
    let actions: Vec<&Value> = roles["auditEvents"]
        .as_array()
        .expect("auditEvents")
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert_eq!(actions, ["role.assign", "role.assign"], "{roles}");
    let nobody = ok(
        &api,
        &admin,
        &["audit", "list", "--workspace", &ws, "--actor", "dev-nobody"],
    )
    .await
    .json();
    assert_eq!(nobody["auditEvents"], serde_json::json!([]));
    let bad = tre(&api, &admin, &["audit", "list", "--from", "yesterday"]).await;
    assert_eq!(bad.code, Some(1), "{}", bad.err);
    assert!(
        bad.err.contains("400") && bad.err.contains("RFC 3339"),
        "{}",
        bad.err
    );

    // The owner reads the workspace's trail; a researcher of it is refused, with the reason.
    let mine = ok(&api, &owner, &["audit", "list", "--workspace", &ws])
        .await
        .json();
    assert_eq!(mine["auditEvents"][0]["action"], "workspace.create");
    let refused = tre(&api, &researcher, &["audit", "list", "--workspace", &ws]).await;
    assert_eq!(refused.code, Some(1), "{}{}", refused.out, refused.err);
    assert!(
        refused.err.contains("403")
            && refused
                .err
                .contains("only a TREAdmin or the workspace's owner reads its audit trail"),
        "{}",
        refused.err
    );

    // Export every chain, a page of two at a time, and verify the file.
    let file = dir.path().join("audit.jsonl");
    let out = file.display().to_string();
    let exported = ok(
        &api,
        &admin,
        &[
            "--page-size",
            "2",
            "audit",
            "export",
            "--all",
            "--out",
            &out,
        ],
    )
    .await;
    let exported_lines = lines(&file);
    assert!(exported.err.contains("exported"), "{}", exported.err);
    let ws_lines = exported_lines
        .iter()
        .filter(|e| e["chain"] == ws.as_str())
        .count();
    assert!(ws_lines >= 3, "{}", exported.err);
    assert!(exported_lines.iter().any(|e| e["chain"] == "TRE"));
    let verified = ok(&api, &admin, &["audit", "verify", "--file", &out])
        .await
        .json();
    let r = report(&verified, &ws);
    assert_eq!(r["events"], ws_lines, "{verified}");
    let last = exported_lines
        .iter()
        .rfind(|e| e["chain"] == ws.as_str())
        .expect("last");
    assert_eq!(r["lastHash"], last["hash"], "{verified}");
    assert_eq!(report(&verified, "TRE")["brokenAt"], Value::Null);
    // The owner's export of their workspace to stdout is the same lines.
    let owners = ok(&api, &owner, &["audit", "export", "--workspace", &ws]).await;
    let owners: Vec<Value> = owners
        .out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let same: Vec<&Value> = exported_lines
        .iter()
        .filter(|e| e["chain"] == ws.as_str())
        .collect();
    assert_eq!(owners.iter().collect::<Vec<_>>(), same);

    // An edited line (its action changed) is named by chain and seq.
    let at = exported_lines
        .iter()
        .position(|e| e["chain"] == ws.as_str() && e["seq"] == 2)
        .expect("event 2");
    let mut edited = exported_lines.clone();
    edited[at]["action"] = "role.remove".into();
    let tampered = dir.path().join("edited.jsonl");
    write_lines(&tampered, &edited);
    let tampered = tampered.display().to_string();
    let broken = tre(&api, &admin, &["audit", "verify", "--file", &tampered]).await;
    assert_eq!(broken.code, Some(1), "{}{}", broken.out, broken.err);
    assert!(
        broken
            .err
            .contains(&format!("audit chain `{ws}` is broken at seq 2"))
            && broken.err.contains("changed after it was written"),
        "{}",
        broken.err
    );
    let v = broken.json();
    assert_eq!(report(&v, &ws)["brokenAt"], 2, "{v}");
    assert_eq!(report(&v, &ws)["events"], 1, "{v}");
    assert!(report(&v, "TRE")["lastHash"].is_string(), "{v}");
    // As a table: the chain, BROKEN and the seq.
    let shown = tre(
        &api,
        &admin,
        &["-o", "table", "audit", "verify", "--file", &tampered],
    )
    .await;
    assert_eq!(shown.code, Some(1));
    assert!(
        shown
            .out
            .lines()
            .any(|l| l.starts_with(&format!("{ws}: BROKEN at seq 2"))),
        "{}",
        shown.out
    );
    assert!(
        shown.out.lines().any(|l| l.starts_with("TRE: ")),
        "{}",
        shown.out
    );

    // A removed line: the missing seq is named.
    let mut removed = exported_lines.clone();
    removed.remove(at);
    let cut = dir.path().join("removed.jsonl");
    write_lines(&cut, &removed);
    let cut = cut.display().to_string();
    let broken = tre(&api, &admin, &["audit", "verify", "--file", &cut]).await;
    assert_eq!(broken.code, Some(1), "{}{}", broken.out, broken.err);
    assert!(
        broken
            .err
            .contains(&format!("audit chain `{ws}` is broken at seq 2"))
            && broken.err.contains("event 2 is missing"),
        "{}",
        broken.err
    );

    // A field added to a line is content no hash covers.
    let mut added = exported_lines.clone();
    added[at]["approvedBy"] = "dev-owner".into();
    let extra = dir.path().join("added.jsonl");
    write_lines(&extra, &added);
    let extra = extra.display().to_string();
    let broken = tre(&api, &admin, &["audit", "verify", "--file", &extra]).await;
    assert_eq!(broken.code, Some(1), "{}", broken.err);
    assert!(broken.err.contains("`approvedBy`"), "{}", broken.err);

    // The server's chains verify: all of them (the default), one, and the owner's workspace.
    let all = ok(&api, &admin, &["audit", "verify"]).await.json();
    assert!(report(&all, &ws)["lastHash"].is_string(), "{all}");
    assert!(report(&all, "TRE")["lastHash"].is_string(), "{all}");
    let one = ok(
        &api,
        &admin,
        &["--page-size", "1", "audit", "verify", "--chain", &ws],
    )
    .await
    .json();
    assert!(report(&one, &ws)["events"].as_u64() >= Some(3), "{one}");
    ok(&api, &owner, &["audit", "verify", "--workspace", &ws]).await;
    assert_eq!(
        report(&all, &ws)["unaccounted"],
        serde_json::json!([]),
        "{all}"
    );

    // The workspace's record changed behind the API's back: its new version has no event.
    let res_key = Key::new(format!("RES#{ws}"), "META");
    let res = stack
        .app
        .table
        .get(&res_key)
        .await
        .expect("get")
        .expect("the workspace is stored");
    let mut renamed = res.body.clone();
    renamed["properties"]["display_name"] = "Renamed in the store".into();
    stack
        .app
        .table
        .put(
            &res_key,
            res.index.as_ref(),
            &renamed,
            Condition::Version(res.version),
        )
        .await
        .expect("a direct write");
    let found = tre(&api, &owner, &["audit", "verify", "--workspace", &ws]).await;
    assert_eq!(found.code, Some(1), "{}{}", found.out, found.err);
    let line = format!(
        "audit chain `{ws}`: workspace {ws}: version {} has no audit event: written around the API",
        res.version + 1
    );
    assert!(found.err.contains(&line), "{}", found.err);
    let found = found.json();
    let unaccounted = &report(&found, &ws)["unaccounted"];
    assert_eq!(
        unaccounted[0]["storedVersion"],
        res.version + 1,
        "{unaccounted}"
    );
    let table = tre(
        &api,
        &owner,
        &["-o", "table", "audit", "verify", "--workspace", &ws],
    )
    .await;
    assert!(
        table.out.contains(&format!("  workspace {ws}: version")),
        "{}",
        table.out
    );

    // One stored event changed behind the API's back: the server's chain no longer verifies.
    let key = Key::new(format!("RES#{ws}"), format!("AUDIT#{:020}", 2));
    let item = stack
        .app
        .table
        .get(&key)
        .await
        .expect("get")
        .expect("event 2 is stored");
    let mut body = item.body.clone();
    body["action"] = "role.remove".into();
    stack
        .app
        .table
        .put(
            &key,
            item.index.as_ref(),
            &body,
            Condition::Version(item.version),
        )
        .await
        .expect("tamper");
    let broken = tre(&api, &admin, &["audit", "verify", "--chain", &ws]).await;
    assert_eq!(broken.code, Some(1), "{}{}", broken.out, broken.err);
    assert!(
        broken
            .err
            .contains(&format!("audit chain `{ws}` is broken at seq 2"))
            && broken.err.contains("changed after it was written"),
        "{}",
        broken.err
    );
    let all = tre(&api, &admin, &["audit", "verify", "--all"]).await;
    assert_eq!(all.code, Some(1), "{}", all.err);
    assert!(report(&all.json(), "TRE")["lastHash"].is_string());

    // Could not check at all (nothing listens there): exit 2, not "broken".
    let closed = tre("http://127.0.0.1:9", &admin, &["audit", "verify"]).await;
    assert_eq!(closed.code, Some(2), "{}", closed.err);
    assert!(
        closed.err.contains("could not reach the TRE API"),
        "{}",
        closed.err
    );
    // A chain with no events is a mistyped name, not a verified chain.
    let typo = tre(&api, &admin, &["audit", "verify", "--chain", "nope"]).await;
    assert_eq!(typo.code, Some(2), "{}", typo.err);
    assert!(
        typo.err.contains("the audit chain `nope` has no events"),
        "{}",
        typo.err
    );
    // And one source at a time.
    let usage = tre(&api, &admin, &["audit", "verify", "--all", "--file", &out]).await;
    assert_eq!(usage.code, Some(2), "{}", usage.err);
    stack.shutdown().await;
}

//! List pages at scale (release build): a store seeded with N workspaces, each with a
//! workspace service and a user resource, then `tre dev` serving it; measured over HTTP
//! against the real router: the first page of `GET /api/workspaces` for an admin and for a
//! researcher holding one role, and a full walk of every page. The peer of each figure is the
//! same list on a store of 100 workspaces, measured in the same run: a list that pages must not
//! grow with the store. Seeding goes through the application services on the embedded store
//! (with executions recorded, not run), which writes exactly what the API would, far faster
//! than HTTP. Usage:
//!   list-pages <path to tre> [workspaces, comma-separated (default 100,10000)] [requests]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tre_benches::{dev_token, load, start_dev, Stats};
use tre_core::app::{App, Caller, ResourceScope, StatusMessage, FINAL_SEQUENCE};
use tre_core::domain::operation::StepOutcome;
use tre_core::domain::{Operation, Principal, ResourceKind, TreRole};

const RESEARCHER: &str = "dev-researcher";

fn admin() -> Caller {
    Caller::new(Principal {
        id: "dev-admin".into(),
        name: "Bench Admin".into(),
        email: None,
        roles: vec![TreRole::TREAdmin],
    })
}

async fn deployed(app: &App, op: &Operation) -> anyhow::Result<()> {
    let msg = StatusMessage {
        operation_id: op.id.clone(),
        step_id: "main".into(),
        resource_id: op.resource_id.clone(),
        operation_resource_id: None,
        status: StepOutcome::Succeeded,
        message: String::new(),
        outputs: Default::default(),
        sensitive_outputs: Default::default(),
        sequence: FINAL_SEQUENCE,
    };
    app.apply_status(&msg).await?;
    Ok(())
}

fn create_body(template: &str, name: &str) -> anyhow::Result<tre_core::app::CreateResource> {
    Ok(serde_json::from_value(json!({
        "templateName": template, "properties": {"display_name": name}
    }))?)
}

/// N workspaces, each deployed with one deployed service holding one deployed user resource;
/// the researcher holds one role, in the middle workspace.
async fn seed(dir: &std::path::Path, n: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let db = tre_embedded::Db::open(dir)?;
    let app = App::new(
        Arc::new(tre_embedded::SqliteTable::new(db.clone())),
        Arc::new(tre_embedded::RecordedWorkflows::new(db)),
    );
    let caller = admin();
    let schema = json!({
        "type": "object", "required": ["display_name"],
        "properties": {"display_name": {"type": "string"}}, "additionalProperties": false
    });
    for (kind, name, parent) in [
        (ResourceKind::Workspace, "bench-ws", None),
        (ResourceKind::WorkspaceService, "bench-svc", None),
        (ResourceKind::UserResource, "bench-ur", Some("bench-svc")),
    ] {
        let body = serde_json::from_value(json!({
            "name": name, "version": "1.0.0", "description": name, "parameters": schema,
            "parentServiceTemplate": parent,
        }))?;
        app.register_template(&caller, kind, body).await?;
    }
    for i in 0..n {
        let (ws, op) = app
            .create_resource(
                &caller,
                &ResourceScope::Workspaces,
                create_body("bench-ws", &format!("ws {i}"))?,
            )
            .await?;
        deployed(&app, &op).await?;
        let services = ResourceScope::WorkspaceServices {
            workspace_id: ws.id.clone(),
        };
        let (svc, op) = app
            .create_resource(&caller, &services, create_body("bench-svc", "svc")?)
            .await?;
        deployed(&app, &op).await?;
        let users = ResourceScope::UserResources {
            workspace_id: ws.id.clone(),
            service_id: svc.id.clone(),
        };
        let (_, op) = app
            .create_resource(&caller, &users, create_body("bench-ur", "ur")?)
            .await?;
        deployed(&app, &op).await?;
        if i == n / 2 {
            let role = serde_json::from_value(json!({
                "principalId": RESEARCHER, "role": "WorkspaceResearcher"
            }))?;
            app.assign_role(&caller, &ws.id, role).await?;
        }
    }
    Ok(started.elapsed())
}

struct Measured {
    n: usize,
    seeding: Duration,
    admin: Stats,
    researcher: Stats,
    first_page_bytes: usize,
    walk: Duration,
    walk_pages: usize,
    walk_items: usize,
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let r = client.get(url).bearer_auth(token).send().await?;
    if !r.status().is_success() {
        bail!("GET {url}: {} {}", r.status(), r.text().await?);
    }
    Ok(r.json().await?)
}

async fn measure(tre: &str, n: usize, requests: usize) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let seeding = seed(dir.path(), n).await?;
    let (_proc, base) = start_dev(tre, dir.path())?;
    let admin = dev_token(tre, "admin", &base, dir.path())?;
    let researcher = dev_token(tre, "researcher", &base, dir.path())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let list = format!("{base}/api/workspaces");

    // What is measured must be what was seeded.
    let first = get(&client, &list, &admin).await?;
    let first_page_bytes = serde_json::to_vec(&first)?.len();
    let mine = get(&client, &list, &researcher).await?;
    let mine = mine["workspaces"].as_array().map_or(0, Vec::len);
    if mine != 1 {
        bail!("the researcher sees {mine} workspaces, not 1");
    }

    // Warm up, then one client at a time: latency, not throughput, is the question.
    let _ = load(&client, 20, 1, |c, _| c.get(&list).bearer_auth(&admin)).await;
    let admin_stats = load(&client, requests, 1, |c, _| {
        c.get(&list).bearer_auth(&admin)
    })
    .await;
    let _ = load(&client, 20, 1, |c, _| c.get(&list).bearer_auth(&researcher)).await;
    let researcher_stats = load(&client, requests, 1, |c, _| {
        c.get(&list).bearer_auth(&researcher)
    })
    .await;
    if admin_stats.errors > 0 || researcher_stats.errors > 0 {
        bail!("errors while measuring");
    }

    // A full walk: every page, following nextLink; every workspace once.
    let started = Instant::now();
    let mut next = Some("/api/workspaces".to_string());
    let (mut pages, mut ids) = (0, std::collections::HashSet::new());
    while let Some(link) = next.take() {
        let page = get(&client, &format!("{base}{link}"), &admin).await?;
        for w in page["workspaces"]
            .as_array()
            .context("a page without workspaces")?
        {
            if !ids.insert(w["id"].as_str().unwrap_or_default().to_string()) {
                bail!("workspace {} came twice", w["id"]);
            }
        }
        pages += 1;
        next = page["nextLink"].as_str().map(str::to_string);
    }
    let walk = started.elapsed();
    if ids.len() != n {
        bail!("the walk found {} workspaces of {n}", ids.len());
    }
    Ok(Measured {
        n,
        seeding,
        admin: admin_stats,
        researcher: researcher_stats,
        first_page_bytes,
        walk,
        walk_pages: pages,
        walk_items: ids.len(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tre = args
        .get(1)
        .context("usage: list-pages <path to tre> [sizes] [requests]")?;
    let sizes: Vec<usize> = args
        .get(2)
        .map_or("100,10000", String::as_str)
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let requests: usize = args.get(3).map_or(Ok(300), |s| s.parse())?;
    let mut all = Vec::new();
    for n in sizes {
        let m = measure(tre, n, requests).await?;
        println!(
            "{n:>6} workspaces (seeded with services and user resources in {:.1} s)",
            m.seeding.as_secs_f64()
        );
        println!(
            "  {}",
            m.admin.line(&format!(
                "admin first page ({} KB)",
                m.first_page_bytes / 1024
            ))
        );
        println!(
            "  {}",
            m.researcher.line("researcher (one role) first page")
        );
        println!(
            "  full walk (admin, default page size): {} pages, {} workspaces in {:.0} ms ({:.2} ms/page)",
            m.walk_pages,
            m.walk_items,
            ms(m.walk),
            ms(m.walk) / m.walk_pages.max(1) as f64
        );
        all.push(m);
    }
    if let (Some(small), Some(big)) = (all.first(), all.last()) {
        if big.n != small.n {
            let ratio = |a: Duration, b: Duration| ms(a) / ms(b).max(1e-6);
            println!(
                "researcher p99 at {} vs {} workspaces: {:.2}x (goal < 1.5x); admin p99: {:.2}x",
                big.n,
                small.n,
                ratio(big.researcher.p99, small.researcher.p99),
                ratio(big.admin.p99, small.admin.p99)
            );
        }
    }
    Ok(())
}

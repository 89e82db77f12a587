//! The audit trail, walked as its users meet it: each main flow leaves exactly the events it
//! should, with the right actor and outcome; chains verify; a write that bypasses the API is
//! found; nothing can change or remove an event.

use reqwest::Method;
use serde_json::json;
use tre_core::domain::audit::{verify_links, AuditEvent, GENESIS};
use tre_core::ports::{Condition, Key};
use tre_e2e::{create, register_bundle, sample_bundle, serve_exports, TestStack, EXPORTS};

/// Every event of one chain, through the admin's route, in sequence order.
async fn chain(t: &TestStack, chain: &str) -> Vec<AuditEvent> {
    let admin = t.token("admin");
    let mut out = Vec::new();
    let mut path = format!("/api/audit?chain={chain}&page_size=7");
    loop {
        let r = t.get(&path, &admin).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for e in r.body["auditEvents"].as_array().expect("events") {
            out.push(serde_json::from_value(e.clone()).expect("an audit event"));
        }
        match r.body["nextLink"].as_str() {
            Some(next) => path = next.to_string(),
            None => return out,
        }
    }
}

/// The one event of `action` on `resource` in `events`.
fn one<'a>(events: &'a [AuditEvent], action: &str, resource: &str) -> &'a AuditEvent {
    let found: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == action && e.resource_id.as_deref() == Some(resource))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one `{action}` on `{resource}`, found {}: {:#?}",
        found.len(),
        events.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
    found[0]
}

/// What a chain's reconciliation finds unaccounted for.
async fn reconciled(t: &TestStack, chain: &str) -> Vec<serde_json::Value> {
    let r = t
        .get(
            &format!("/api/audit/chains/{chain}/reconciliation"),
            &t.token("admin"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["unaccounted"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn verified(events: &[AuditEvent]) {
    let name = events.first().map(|e| e.chain.clone()).unwrap_or_default();
    if let Err(b) = verify_links(&name, 1, GENESIS.into(), events) {
        panic!("chain `{name}` is broken at {}: {}", b.seq, b.reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_flow_leaves_its_audit_event_and_the_chains_verify() {
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let admin = t.token("admin");
    let researcher = t.token("researcher");
    let manager = t.token("airlock-manager");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;

    // Create, update, disable and delete a workspace.
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Audited",
    )
    .await;
    let doomed = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Doomed",
    )
    .await;
    let path = format!("/api/workspaces/{doomed}");
    let etag = t.get(&path, &admin).await.etag.expect("etag");
    let r = t
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({"isEnabled": false})),
            Some(&etag),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    t.settled(&path, &admin).await;
    let r = t
        .call(Method::DELETE, &path, Some(&admin), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.settled(&path, &admin).await;

    // Roles.
    t.assign_roles(
        &admin,
        &ws,
        &[
            ("dev-researcher", "WorkspaceResearcher"),
            ("dev-airlock-manager", "AirlockManager"),
        ],
    )
    .await;

    // An export request, from draft to approval and download.
    let request = t
        .export_with_file(&ws, &researcher, "results", "means.csv", b"mean,39.5\n")
        .await;
    let rid = request.rsplit('/').next().expect("id").to_string();
    t.post_ok(&format!("{request}/submit"), &researcher, &json!({}), 200)
        .await;
    t.request_reaching(&request, &researcher, "in_review").await;
    t.post_ok(
        &format!("{request}/review"),
        &manager,
        &json!({"approval": true, "decisionExplanation": "aggregate only"}),
        200,
    )
    .await;
    t.request_reaching(&request, &researcher, "approved").await;
    let dl = t
        .get(&format!("{request}/files/means.csv/link"), &researcher)
        .await;
    assert_eq!(dl.status, 200, "{}", dl.body);

    // A data source, imported, approved, bound, and read by the workspace.
    let base = serve_exports(EXPORTS).await;
    let ds = t
        .post_ok(
            "/api/datasources",
            &admin,
            &tre_e2e::admissions_source(&base),
            201,
        )
        .await;
    let ds = ds["id"].as_str().expect("id").to_string();
    t.post_ok(
        &format!("/api/datasources/{ds}/import"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    t.data_source_leaving(&ds, "Importing").await;
    t.post_ok(
        &format!("/api/datasources/{ds}/review"),
        &admin,
        &json!({"decision": "approve", "comment": "checked"}),
        200,
    )
    .await;
    t.post_ok(
        &format!("/api/workspaces/{ws}/datasources"),
        &admin,
        &json!({"dataSourceId": ds}),
        201,
    )
    .await;
    let read = t
        .get(
            &format!("/api/workspaces/{ws}/datasources/{ds}/link?file=admissions.csv"),
            &researcher,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.body);

    // A registry token, and refused calls: a researcher at the admins' trail, nobody at all.
    let token = t
        .get(
            "/api/registry/token?scope=repository:tre/bundles/tre-workspace-base:pull",
            &researcher,
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.body);
    let refused = t.get("/api/audit", &researcher).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let anonymous = t
        .call(Method::GET, "/api/workspaces", None, None, None)
        .await;
    assert_eq!(anonymous.status, 401);

    // The workspace's chain holds its story, each event by whom it should be.
    let events = chain(&t, &ws).await;
    verified(&events);
    let created = one(&events, "workspace.create", &ws);
    assert_eq!(created.seq, 1);
    assert_eq!(created.actor.id, "dev-admin");
    assert!(created.actor.roles.contains(&"TREAdmin".to_string()));
    assert_eq!(created.resource_version, Some(1));
    let request_ctx = created.request.as_ref().expect("the request is recorded");
    assert_eq!(request_ctx.method, "POST");
    assert_eq!(request_ctx.route, "/api/workspaces");
    assert_eq!(request_ctx.source.as_deref(), Some("127.0.0.1"));
    assert!(request_ctx.request_id.is_some());
    let roles: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == "role.assign")
        .collect();
    assert_eq!(roles.len(), 2);
    assert!(roles
        .iter()
        .any(|e| e.details["principalId"] == "dev-researcher"
            && e.details["role"] == "WorkspaceResearcher"));
    for (action, actor) in [
        ("airlock.create", "dev-researcher"),
        ("airlock.upload-link", "dev-researcher"),
        ("airlock.submit", "dev-researcher"),
        ("airlock.review", "dev-airlock-manager"),
        ("airlock.download-link", "dev-researcher"),
    ] {
        let e = one(&events, action, &rid);
        assert_eq!(e.actor.id, actor, "{action}");
        assert_eq!(e.outcome, tre_core::domain::audit::AuditOutcome::Succeeded);
    }
    assert_eq!(
        one(&events, "airlock.review", &rid).details["decision"],
        "approve"
    );
    assert_eq!(
        one(&events, "airlock.download-link", &rid).details["file"],
        "means.csv"
    );
    assert_eq!(one(&events, "datasource.bind", &ds).actor.id, "dev-admin");
    let read_event = one(&events, "datasource.download-link", &ds);
    assert_eq!(read_event.actor.id, "dev-researcher");
    assert_eq!(read_event.details["file"], "admissions.csv");

    // The deleted workspace's chain: created, disabled, deleted, each followed by the statuses
    // its operation reported, written by the control plane.
    let gone = chain(&t, &doomed).await;
    verified(&gone);
    let actions: Vec<&str> = gone.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "workspace.create",
            "workspace.status",
            "workspace.status",
            "workspace.update",
            "workspace.status",
            "workspace.status",
            "workspace.delete",
            "workspace.status",
            "workspace.status"
        ]
    );
    for e in gone.iter().filter(|e| e.action == "workspace.status") {
        assert_eq!(e.actor.id, "system");
        assert!(e.request.is_none());
    }
    let last = gone.last().expect("events");
    assert_eq!(last.details["status"], "deleted");
    assert_eq!(gone[3].details["isEnabled"], false);

    // The TRE chain: templates, the data source's decisions, the token, the refusals.
    let tre = chain(&t, "TRE").await;
    verified(&tre);
    assert!(tre.iter().any(|e| e.action == "template.register"));
    assert_eq!(one(&tre, "datasource.register", &ds).actor.id, "dev-admin");
    assert_eq!(one(&tre, "datasource.import", &ds).actor.id, "dev-admin");
    assert_eq!(
        one(&tre, "datasource.review", &ds).details["decision"],
        "approve"
    );
    let token_event = tre
        .iter()
        .find(|e| e.action == "registry.token")
        .expect("the token is recorded");
    assert_eq!(token_event.actor.id, "dev-researcher");
    assert_eq!(
        token_event.details["scopes"][0],
        "repository:tre/bundles/tre-workspace-base:pull"
    );
    let refusals: Vec<&AuditEvent> = tre
        .iter()
        .filter(|e| e.action == "request.refused")
        .collect();
    assert!(refusals.iter().any(|e| e.actor.id == "dev-researcher"
        && e.details["status"] == 403
        && e.request.as_ref().is_some_and(|r| r.route == "/api/audit")));
    assert!(refusals.iter().any(|e| e.actor.id == "anonymous"
        && e.details["status"] == 401
        && e.outcome == tre_core::domain::audit::AuditOutcome::Refused));
    // No sensitive value in any event: no token, no link.
    let all = serde_json::to_string(&(events.clone(), tre.clone())).expect("json");
    assert!(
        !all.contains(&researcher) && !all.contains("X-Amz-Signature") && !all.contains("sig=")
    );

    // Filters: the admins' trail across chains, by actor and action prefix.
    let r = t
        .get(
            "/api/audit?actor=dev-airlock-manager&action=airlock.",
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let by_manager = r.body["auditEvents"].as_array().expect("events");
    assert!(!by_manager.is_empty());
    assert!(by_manager
        .iter()
        .all(|e| e["actor"]["id"] == "dev-airlock-manager"));
    let bad = t.get("/api/audit?acter=dev-admin", &admin).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("acter"));
    let chains = t.get("/api/audit/chains", &admin).await;
    let names: Vec<&str> = chains.body["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .filter_map(|c| c["chain"].as_str())
        .collect();
    for c in [ws.as_str(), doomed.as_str(), "TRE"] {
        assert!(names.contains(&c), "{c} not in {names:?}");
    }
    assert_eq!(names[0], "TRE", "{names:?}");
    // A page at a time, `TRE` first, each chain once.
    let mut paged: Vec<String> = Vec::new();
    let mut next = Some("/api/audit/chains?page_size=1".to_string());
    while let Some(link) = next.take() {
        let page = t.get(&link, &admin).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["chains"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 1, "{}", page.body);
        paged.extend(
            items
                .iter()
                .filter_map(|c| c["chain"].as_str().map(str::to_string)),
        );
        next = page.body["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(paged, names, "the same chains a page at a time");
    // Every version of every record, the control plane's status writes included, has its
    // event.
    for c in names {
        let r = t
            .get(&format!("/api/audit/chains/{c}/reconciliation"), &admin)
            .await;
        assert_eq!(r.status, 200, "{c}: {}", r.body);
        assert_eq!(r.body["unaccounted"], json!([]), "{c}: {}", r.body);
        assert!(
            r.body["records"].as_u64().unwrap_or(0) > 0,
            "{c}: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_read_their_workspace_trail_and_nobody_else_does() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = create(&t, "/api/workspaces", &admin, "tre-workspace-base", "Mine").await;
    t.assign_roles(
        &admin,
        &ws,
        &[
            ("dev-owner", "WorkspaceOwner"),
            ("dev-researcher", "WorkspaceResearcher"),
        ],
    )
    .await;
    let own = t
        .get(&format!("/api/workspaces/{ws}/audit"), &t.token("owner"))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["auditEvents"][0]["action"], "workspace.create");
    let researcher = t
        .get(
            &format!("/api/workspaces/{ws}/audit"),
            &t.token("researcher"),
        )
        .await;
    assert_eq!(researcher.status, 403, "{}", researcher.body);
    let stranger = t
        .get("/api/workspaces/no-such-workspace/audit", &t.token("owner"))
        .await;
    assert_eq!(stranger.status, 404, "{}", stranger.body);
    assert_eq!(t.get("/api/audit", &t.token("owner")).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_bypass_the_api_break_the_chain_and_events_cannot_be_changed() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Tampered",
    )
    .await;
    t.assign_roles(&admin, &ws, &[("dev-owner", "WorkspaceOwner")])
        .await;
    t.assign_roles(&admin, &ws, &[("dev-researcher", "WorkspaceResearcher")])
        .await;
    let events = chain(&t, &ws).await;
    // Created, deploying, deployed (the control plane's), two role assignments.
    assert_eq!(events.len(), 5);
    verified(&events);
    assert_eq!(reconciled(&t, &ws).await, Vec::<serde_json::Value>::new());

    // A record changed behind the API's back is found: its new version has no event.
    let table = t.stack.app.table.clone();
    let res_key = Key::new(format!("RES#{ws}"), "META");
    let stored = table.get(&res_key).await.expect("get").expect("workspace");
    let mut edited = stored.body.clone();
    edited["properties"]["display_name"] = json!("Quietly renamed");
    table
        .put(
            &res_key,
            stored.index.as_ref(),
            &edited,
            Condition::Version(stored.version),
        )
        .await
        .expect("a direct write");
    let found = reconciled(&t, &ws).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["record"], json!(ws));
    assert_eq!(found[0]["kind"], json!("workspace"));
    assert_eq!(found[0]["storedVersion"], json!(stored.version + 1));
    assert_eq!(found[0]["auditedVersion"], json!(stored.version));
    assert!(
        found[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!(
                "version {} has no audit event",
                stored.version + 1
            )),
        "{found:?}"
    );
    // ... and so is a workspace made around the API altogether: it has no chain.
    let mut forged_ws = stored.body.clone();
    forged_ws["id"] = json!("made-in-the-store");
    let forged_index = stored
        .index
        .as_ref()
        .map(|k| Key::new(k.pk.clone(), k.sk.replace(ws.as_str(), "made-in-the-store")));
    table
        .put(
            &Key::new("RES#made-in-the-store", "META"),
            forged_index.as_ref(),
            &forged_ws,
            Condition::Absent,
        )
        .await
        .expect("a direct write");
    let found = reconciled(&t, "TRE").await;
    assert!(
        found.iter().any(|u| u["record"] == "made-in-the-store"
            && u["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("no audit chain")),
        "{found:?}"
    );
    // Owners reconcile their workspace's chain; researchers may not, nor anyone the TRE's.
    let r = t
        .get(
            &format!("/api/audit/chains/{ws}/reconciliation"),
            &t.token("owner"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t
        .get(
            &format!("/api/audit/chains/{ws}/reconciliation"),
            &t.token("researcher"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = t
        .get("/api/audit/chains/TRE/reconciliation", &t.token("owner"))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // No route changes or removes an event.
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let r = t
            .call(
                method.clone(),
                "/api/audit",
                Some(&admin),
                Some(&json!({})),
                None,
            )
            .await;
        assert_eq!(r.status, 405, "{method} /api/audit: {}", r.body);
        let r = t
            .call(
                method.clone(),
                &format!("/api/workspaces/{ws}/audit"),
                Some(&admin),
                Some(&json!({})),
                None,
            )
            .await;
        assert_eq!(r.status, 405, "{method} on a workspace's trail: {}", r.body);
    }
    // The store refuses to write an event where one is: events are written only on condition
    // that their place is empty.
    let key = Key::new(format!("RES#{ws}"), format!("AUDIT#{:020}", 2));
    let stored = table.get(&key).await.expect("get").expect("event 2");
    let mut forged = stored.body.clone();
    forged["actor"]["id"] = json!("someone-else");
    let again = table
        .put(&key, stored.index.as_ref(), &forged, Condition::Absent)
        .await;
    assert!(
        matches!(again, Err(tre_core::ports::PortError::ConditionFailed(_))),
        "{again:?}"
    );

    // Someone with the store's credentials edits event 2 behind the API's back.
    table
        .put(
            &key,
            stored.index.as_ref(),
            &forged,
            Condition::Version(stored.version),
        )
        .await
        .expect("a direct write");
    let events = chain(&t, &ws).await;
    let broken = verify_links(&ws, 1, GENESIS.into(), &events).expect_err("tampering is found");
    assert_eq!(broken.seq, 2, "{}", broken.reason);
    assert!(broken.reason.contains("changed after"), "{}", broken.reason);

    // ... or removes it.
    table
        .put(&key, stored.index.as_ref(), &stored.body, Condition::Exists)
        .await
        .expect("restore");
    verified(&chain(&t, &ws).await);
    table
        .delete(&key, Condition::Exists)
        .await
        .expect("a direct delete");
    let broken =
        verify_links(&ws, 1, GENESIS.into(), &chain(&t, &ws).await).expect_err("the gap is found");
    assert_eq!(broken.seq, 2);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_in_one_workspace_all_land_in_one_unbroken_chain() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = create(&t, "/api/workspaces", &admin, "tre-workspace-base", "Busy").await;
    let mut calls = Vec::new();
    for i in 0..24 {
        let t = &t;
        let admin = admin.clone();
        let ws = ws.clone();
        calls.push(async move {
            t.post_ok(
                &format!("/api/workspaces/{ws}/role-assignments"),
                &admin,
                &json!({"principalId": format!("person-{i}"), "role": "WorkspaceResearcher"}),
                201,
            )
            .await
        });
    }
    futures::future::join_all(calls).await;
    let events = chain(&t, &ws).await;
    verified(&events);
    // Its creation, the two statuses its deployment reported, and the 24 assignments.
    assert_eq!(events.len(), 27);
    assert_eq!(
        events.iter().filter(|e| e.action == "role.assign").count(),
        24
    );
}

//! Lists answer in pages: `page_size` and `page_token`, the next page named by `nextLink`
//! beside the list key (absent on the last page). Walks visit every item exactly once while
//! items come and go; tokens are refused for another caller, another list, or when altered.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use tre_e2e::{create, register_sample_templates, Reply, TestStack};

/// The ids under `key` of one page, and its `nextLink`.
fn page_of(r: &Reply, key: &str, id: &str) -> (Vec<String>, Option<String>) {
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ids = r.body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` list in {}", r.body))
        .iter()
        .map(|v| v[id].as_str().unwrap_or_default().to_string())
        .collect();
    let next = r.body["nextLink"].as_str().map(str::to_string);
    assert_eq!(
        next.is_none(),
        r.body.get("nextLink").is_none(),
        "`nextLink` is a link when present: {}",
        r.body
    );
    (ids, next)
}

/// Every id of a list, page by page, with how many times each was seen and the page count.
async fn walk(t: &TestStack, first: &str, token: &str, key: &str, id: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_string());
    let mut pages = 0;
    while let Some(link) = next {
        let (ids, n) = page_of(&t.get(&link, token).await, key, id);
        seen.extend(ids);
        next = n;
        pages += 1;
        assert!(pages < 1000, "the walk never ends");
    }
    seen
}

fn counts(ids: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in ids {
        *m.entry(i.clone()).or_default() += 1;
    }
    m
}

async fn assign(t: &TestStack, admin: &str, ws: &str, principals: &[String], role: &str) {
    for chunk in principals.chunks(25) {
        let r = t
            .post(
                &format!("/api/workspaces/{ws}/users/assign"),
                admin,
                &json!({"role_id": role, "user_ids": chunk}),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
}

async fn unassign(t: &TestStack, admin: &str, ws: &str, principal: &str, role: &str) {
    let r = t
        .call(
            reqwest::Method::DELETE,
            &format!("/api/workspaces/{ws}/role-assignments/{principal}/{role}"),
            Some(admin),
            None,
            None,
        )
        .await;
    assert!(r.status == 204 || r.status == 200, "{:?}", r.body);
}

/// Role assignments come and go at once (no workflow), so a walk can be interleaved with
/// changes on both sides of where it stands.
#[tokio::test]
async fn a_walk_visits_each_assignment_once_while_others_come_and_go() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "w").await;
    let base: Vec<String> = (0..40).map(|i| format!("p{i:03}")).collect();
    assign(&t, &admin, &ws, &base, "WorkspaceResearcher").await;

    let list = format!("/api/workspaces/{ws}/role-assignments");
    let mut seen = Vec::new();
    let mut removed = BTreeSet::new();
    let mut removed_ahead = BTreeSet::new();
    let mut added = BTreeSet::new();
    let mut next = Some(format!("{list}?page_size=7"));
    let mut page = 0;
    while let Some(link) = next {
        let (ids, n) = page_of(
            &t.get(&link, &admin).await,
            "roleAssignments",
            "principalId",
        );
        assert!(ids.len() <= 7);
        seen.extend(ids);
        next = n;
        page += 1;
        // Between pages: remove one already seen and one not yet seen, add one before the
        // walk's position and one after it.
        let ahead = base
            .iter()
            .find(|p| !seen.contains(p) && !removed.contains(*p))
            .cloned();
        let behind = seen
            .iter()
            .find(|p| base.contains(p) && !removed.contains(*p))
            .cloned();
        if let Some(p) = &ahead {
            removed_ahead.insert(p.clone());
        }
        for p in [ahead, behind].into_iter().flatten() {
            unassign(&t, &admin, &ws, &p, "WorkspaceResearcher").await;
            removed.insert(p);
        }
        let new = vec![format!("a{page:03}"), format!("z{page:03}")];
        assign(&t, &admin, &ws, &new, "WorkspaceResearcher").await;
        added.extend(new);
    }
    let c = counts(&seen);
    assert!(c.values().all(|n| *n == 1), "an item came twice: {c:?}");
    for p in &base {
        // Removed before the walk reached it: never seen; otherwise seen (once).
        if removed_ahead.contains(p) {
            assert!(
                !c.contains_key(p),
                "{p} was removed ahead of the walk but listed"
            );
        } else {
            assert!(c.contains_key(p), "{p} was skipped");
        }
    }
    assert!(!removed_ahead.is_empty() && removed.len() > removed_ahead.len());
    // Added behind the walk's position: never seen; added ahead of it: seen (once).
    assert!(added
        .iter()
        .filter(|p| p.starts_with('a'))
        .all(|p| !c.contains_key(p)));
    let late: Vec<_> = added.iter().filter(|p| p.starts_with('z')).collect();
    assert!(
        late.iter().take(late.len() - 1).all(|p| c.contains_key(*p)),
        "assignments added ahead of the walk were missed: {c:?}"
    );
    // The same walk with no changes sees exactly what a one-page read sees.
    let all = walk(
        &t,
        &format!("{list}?page_size=3"),
        &admin,
        "roleAssignments",
        "principalId",
    )
    .await;
    let (one, last) = page_of(
        &t.get(&list, &admin).await,
        "roleAssignments",
        "principalId",
    );
    assert_eq!(last, None);
    assert_eq!(all, one);
}

/// Workspaces added while an admin walks them: those created before the walk come once each;
/// one deleted ahead of the walk never comes.
#[tokio::test]
async fn an_admin_walks_workspaces_while_they_are_added_and_deleted() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let mut before = Vec::new();
    for i in 0..9 {
        before.push(create(&t, "/api/workspaces", &admin, "ws-base", &format!("w{i}")).await);
    }
    let mut seen = Vec::new();
    let mut next = Some("/api/workspaces?page_size=4".to_string());
    let mut page = 0;
    let mut deleted = None;
    let mut added = Vec::new();
    while let Some(link) = next {
        let (ids, n) = page_of(&t.get(&link, &admin).await, "workspaces", "id");
        seen.extend(ids);
        next = n;
        page += 1;
        if page == 1 {
            // The last of the first nine (not yet seen) goes; a new one comes after all.
            let last = before.last().cloned().unwrap_or_default();
            let path = format!("/api/workspaces/{last}");
            let r = t
                .call(
                    reqwest::Method::PATCH,
                    &path,
                    Some(&admin),
                    Some(&json!({"isEnabled": false})),
                    Some("*"),
                )
                .await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            t.settled(&path, &admin).await;
            let r = t
                .call(reqwest::Method::DELETE, &path, Some(&admin), None, None)
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            t.settled(&path, &admin).await;
            deleted = Some(last);
            added.push(create(&t, "/api/workspaces", &admin, "ws-base", "late").await);
        }
    }
    let c = counts(&seen);
    assert!(c.values().all(|n| *n == 1), "{c:?}");
    let deleted = deleted.unwrap_or_default();
    assert!(
        !c.contains_key(&deleted),
        "a workspace deleted ahead was listed"
    );
    for id in before.iter().filter(|id| **id != deleted) {
        assert!(c.contains_key(id), "{id} was skipped");
    }
    for id in &added {
        assert!(
            c.contains_key(id),
            "a workspace created ahead of the walk was missed"
        );
    }
}

/// A researcher's pages hold only the workspaces where they hold a role (several roles in one
/// workspace still list it once), whatever the page size.
#[tokio::test]
async fn a_researcher_pages_through_only_their_workspaces() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let researcher = t.token("researcher");
    register_sample_templates(&t, &admin).await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(create(&t, "/api/workspaces", &admin, "ws-base", &format!("w{i}")).await);
    }
    let mine: BTreeSet<String> = all.iter().step_by(2).cloned().collect();
    for ws in &mine {
        assign(
            &t,
            &admin,
            ws,
            &["dev-researcher".to_string()],
            "WorkspaceResearcher",
        )
        .await;
        assign(
            &t,
            &admin,
            ws,
            &["dev-researcher".to_string()],
            "AirlockManager",
        )
        .await;
    }
    for size in [1, 2, 3, 200] {
        let seen = walk(
            &t,
            &format!("/api/workspaces?page_size={size}"),
            &researcher,
            "workspaces",
            "id",
        )
        .await;
        let c = counts(&seen);
        assert!(c.values().all(|n| *n == 1), "size {size}: {c:?}");
        let got: BTreeSet<String> = c.into_keys().collect();
        assert_eq!(got, mine, "page size {size}");
    }
    // Someone holding no role sees an empty first and last page.
    let owner = t.token("owner");
    let (ids, next) = page_of(&t.get("/api/workspaces", &owner).await, "workspaces", "id");
    assert!(ids.is_empty() && next.is_none());
}

fn assert_refused(r: &Reply, needle: &str) {
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.content_type.starts_with("application/problem+json"));
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "{detail}");
}

#[tokio::test]
async fn page_sizes_out_of_bounds_are_refused() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    for bad in ["0", "1001", "ten", "-3", "2.5"] {
        for list in ["/api/workspaces", "/api/shared-services", "/api/operations"] {
            let r = t.get(&format!("{list}?page_size={bad}"), &admin).await;
            assert_refused(&r, "page_size");
        }
    }
    let r = t.get("/api/workspaces?page_size=1000", &admin).await;
    assert_eq!(r.status, 200);
}

/// A token works only for the caller it was given to and the list that gave it, and only as
/// given; a refusal says nothing about what the token held.
#[tokio::test]
async fn tokens_of_another_caller_or_list_or_altered_are_refused() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let owner = t.token("owner");
    register_sample_templates(&t, &admin).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(create(&t, "/api/workspaces", &admin, "ws-base", &format!("w{i}")).await);
    }
    for ws in &ids {
        assign(&t, &admin, ws, &["dev-owner".to_string()], "WorkspaceOwner").await;
    }
    let (_, next) = page_of(
        &t.get("/api/workspaces?page_size=1", &admin).await,
        "workspaces",
        "id",
    );
    let next = next.expect("a second page");
    assert!(next.starts_with("/api/workspaces?"), "{next}");
    let token = url_param(&next, "page_token");
    // The admin may follow it.
    assert_eq!(t.get(&next, &admin).await.status, 200);
    // The owner (who sees the same workspaces) may not.
    assert_refused(&t.get(&next, &owner).await, "page_token");
    // Nor on another list.
    let other = format!("/api/shared-services?page_token={token}");
    assert_refused(&t.get(&other, &admin).await, "page_token");
    let other = format!(
        "/api/workspaces/{}/role-assignments?page_token={token}",
        ids[0]
    );
    assert_refused(&t.get(&other, &admin).await, "page_token");
    // Nor altered by one character anywhere.
    let bytes = token.as_bytes();
    for i in (0..bytes.len()).step_by(3) {
        let mut b = bytes.to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(b).unwrap_or_default();
        if altered == token {
            continue;
        }
        let r = t
            .get(&format!("/api/workspaces?page_token={altered}"), &admin)
            .await;
        assert_refused(&r, "page_token");
        assert!(
            !r.body.to_string().contains(&ids[1]),
            "a refusal must not reveal what the token pointed at"
        );
    }
    assert_refused(
        &t.get("/api/workspaces?page_token=garbage", &admin).await,
        "page_token",
    );
}

fn url_param(link: &str, name: &str) -> String {
    link.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_default()
        .to_string()
}

/// Azure TRE's clients read only the first page's list key: with the default page size a
/// small deployment's lists are whole, and the keys are Azure's.
#[tokio::test]
async fn first_pages_keep_azure_list_keys() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "w").await;
    let svc = create(
        &t,
        &format!("/api/workspaces/{ws}/workspace-services"),
        &admin,
        "svc-notebook",
        "s",
    )
    .await;
    let ws_path = format!("/api/workspaces/{ws}");
    let svc_path = format!("{ws_path}/workspace-services/{svc}");
    for (list, key) in [
        ("/api/workspaces".to_string(), "workspaces"),
        (format!("{ws_path}/workspace-services"), "workspaceServices"),
        (format!("{svc_path}/user-resources"), "userResources"),
        ("/api/shared-services".to_string(), "sharedServices"),
        (format!("{ws_path}/operations"), "operations"),
        (format!("{ws_path}/history"), "resource_history"),
        ("/api/operations".to_string(), "operations"),
        (format!("{ws_path}/role-assignments"), "roleAssignments"),
        (format!("{ws_path}/users"), "users"),
        ("/api/datasources".to_string(), "dataSources"),
    ] {
        let r = t.get(&list, &admin).await;
        assert_eq!(r.status, 200, "{list}: {:?}", r.body);
        assert!(r.body[key].is_array(), "{list}: {}", r.body);
        // One page: exactly Azure TRE's body, the list key alone.
        assert_eq!(
            r.body.as_object().map(|o| o.len()),
            Some(1),
            "{list}: {}",
            r.body
        );
    }
    let r = t.get("/api/workspaces", &admin).await;
    assert_eq!(r.body["workspaces"][0]["id"], json!(ws));
}

/// History and operations page newest first, and the pages join into the whole list.
#[tokio::test]
async fn history_and_operations_pages_join_into_the_whole_list() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "w").await;
    let path = format!("/api/workspaces/{ws}");
    for i in 0..4 {
        let r = t
            .call(
                reqwest::Method::PATCH,
                &path,
                Some(&admin),
                Some(&json!({"properties": {"display_name": format!("v{i}")}})),
                Some("*"),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        t.settled(&path, &admin).await;
    }
    for (list, key, id) in [
        (format!("{path}/operations"), "operations", "id"),
        (format!("{path}/history"), "resource_history", "id"),
    ] {
        let whole = t.get(&list, &admin).await;
        let expected: Vec<String> = whole.body[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| match &v[id] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert!(expected.len() >= 4, "{list}: {}", whole.body);
        let mut seen = Vec::new();
        let mut next = Some(format!("{list}?page_size=1"));
        while let Some(link) = next {
            let r = t.get(&link, &admin).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            for v in r.body[key].as_array().cloned().unwrap_or_default() {
                seen.push(match &v[id] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            next = r.body["nextLink"].as_str().map(str::to_string);
        }
        assert_eq!(seen, expected, "{list}");
    }
}

/// Airlock requests page within a workspace (`nextLink`) and across workspaces
/// (`/api/requests`, a bare array: the next page is in `Link`), each request once; a filter
/// drops requests without making pages skip any.
#[tokio::test]
async fn airlock_requests_page_within_and_across_workspaces() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let researcher = t.token("researcher");
    register_sample_templates(&t, &admin).await;
    let mut opened = BTreeMap::new();
    for w in 0..2 {
        let ws = create(&t, "/api/workspaces", &admin, "ws-base", &format!("w{w}")).await;
        assign(
            &t,
            &admin,
            &ws,
            &["dev-researcher".to_string()],
            "WorkspaceResearcher",
        )
        .await;
        for i in 0..5 {
            let kind = if i % 2 == 0 { "import" } else { "export" };
            let body = json!({"type": kind, "businessJustification": format!("r{i}")});
            let r = t
                .post_ok(
                    &format!("/api/workspaces/{ws}/requests"),
                    &researcher,
                    &body,
                    201,
                )
                .await;
            let id = r["airlockRequest"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            opened.insert(id, (ws.clone(), kind));
        }
    }
    let (ws0, _) = opened.values().next().cloned().unwrap_or_default();
    let in_ws0: BTreeSet<String> = opened
        .iter()
        .filter(|(_, (ws, _))| *ws == ws0)
        .map(|(id, _)| id.clone())
        .collect();
    let mut seen = Vec::new();
    let mut next = Some(format!("/api/workspaces/{ws0}/requests?page_size=2"));
    while let Some(link) = next {
        let r = t.get(&link, &researcher).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for v in r.body["airlockRequests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            seen.push(
                v["airlockRequest"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        next = r.body["nextLink"].as_str().map(str::to_string);
    }
    let c = counts(&seen);
    assert!(c.values().all(|n| *n == 1), "{c:?}");
    assert_eq!(c.into_keys().collect::<BTreeSet<_>>(), in_ws0);

    // Across workspaces, following `Link`, with a filter that keeps the imports only.
    let mut seen = Vec::new();
    let mut next = Some("/api/requests?type=import&page_size=2".to_string());
    let mut pages = 0;
    while let Some(link) = next {
        let resp = t
            .http
            .get(format!("{}{link}", t.stack.api_url))
            .bearer_auth(&researcher)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 200);
        next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split_once('>'))
            .map(|(target, _)| target.trim_start_matches('<').to_string());
        let body: Value = resp.json().await.expect("json");
        let items = body.as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|v| v["id"].as_str().unwrap_or_default().to_string()),
        );
        pages += 1;
    }
    let imports: BTreeSet<String> = opened
        .iter()
        .filter(|(_, (_, kind))| *kind == "import")
        .map(|(id, _)| id.clone())
        .collect();
    let c = counts(&seen);
    assert!(c.values().all(|n| *n == 1), "{c:?}");
    assert_eq!(c.into_keys().collect::<BTreeSet<_>>(), imports);
    assert!(pages >= 3, "six imports in pages of two");
}

/// `GET /api/operations` pages through the caller's unfinished operations, oldest first, even
/// when a page needs more than one batch read (more than 100 of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_unfinished_operations_page_past_one_batch() {
    let t = TestStack::start_with(|o| o.max_running_tasks = 1)
        .await
        .expect("stack");
    let admin = t.token("admin");
    let dir = tempfile::tempdir().expect("tmp");
    // Installs that take a minute: everything started below is still running when listed.
    std::fs::write(
        dir.path().join("bundle.yaml"),
        "name: slow-ws\nversion: 1.0.0\ntype: workspace\nparameters:\n  type: object\n  properties:\n    display_name: {type: string}\nactions:\n  install: {steps: [{name: wait, exec: [sleep, \"60\"]}]}\n  upgrade: {steps: [{name: noop, exec: [\"true\"]}]}\n  uninstall: {steps: [{name: noop, exec: [\"true\"]}]}\n",
    )
    .expect("manifest");
    tre_e2e::register_bundle(&t, &admin, dir.path()).await;
    let mut started = Vec::new();
    for i in 0..130 {
        let r = t
            .post_ok(
                "/api/workspaces",
                &admin,
                &json!({"templateName": "slow-ws", "properties": {"display_name": format!("slow {i}")}}),
                202,
            )
            .await;
        started.push(r["operation"]["id"].as_str().expect("id").to_string());
    }
    let one = t.get("/api/operations?page_size=1000", &admin).await;
    let (ids, next) = page_of(&one, "operations", "id");
    assert_eq!(
        ids, started,
        "every unfinished operation, oldest first, in one page"
    );
    assert!(next.is_none());
    let walked = walk(
        &t,
        "/api/operations?page_size=40",
        &admin,
        "operations",
        "id",
    )
    .await;
    assert_eq!(walked, started, "pages of 40 visit each once, in order");
    // Another caller has none of them.
    let owner = t.token("owner");
    let theirs = t.get("/api/operations", &owner).await;
    assert_eq!(page_of(&theirs, "operations", "id").0, Vec::<String>::new());
    t.stack_shutdown().await;
}

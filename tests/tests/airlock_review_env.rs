//! Airlock review environments on the local stack: an airlock manager asks for one per request
//! (`POST .../review-user-resource`); it is a user resource where the workspace's
//! `airlock_review_config` says (imports in a dedicated review workspace, exports in a service of
//! the workspace), holding a read-only copy of exactly the request's in-review files; the
//! request's decision removes it, and one whose removal failed is removed after a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tre_e2e::{create, register_bundle, sample_bundle, test_options, TestStack};
use tre_local::DevStack;

const REVIEW: &str = "tre-user-resource-airlock-review";
/// The same bundle, whose uninstall fails while a marker file exists (a failed deletion).
const FLAKY: &str = "tre-user-resource-airlock-review-flaky";
const LIMIT: Duration = Duration::from_secs(90);

/// The sample review bundle, renamed, with a first uninstall step that fails while
/// `<storage>/fail-uninstall` exists.
fn flaky_bundle(dir: &Path) -> PathBuf {
    let src = sample_bundle(REVIEW);
    let out = dir.join(FLAKY);
    std::fs::create_dir_all(out.join("scripts")).expect("mkdir");
    std::fs::copy(src.join("scripts/review.sh"), out.join("scripts/review.sh"))
        .expect("copy script");
    let manifest = std::fs::read_to_string(src.join("bundle.yaml"))
        .expect("manifest")
        .replace(&format!("name: {REVIEW}"), &format!("name: {FLAKY}"))
        .replace(
            "uninstall: {steps: [{name: remove,",
            "uninstall: {steps: [{name: may-fail, exec: [sh, -c, 'test ! -e \"$TRE_STORAGE_ROOT/fail-uninstall\"']}, {name: remove,",
        );
    assert!(manifest.contains("may-fail"), "{manifest}");
    std::fs::write(out.join("bundle.yaml"), manifest).expect("write manifest");
    out
}

struct Review {
    t: TestStack,
    ws: String,
    review_ws: String,
    review_svc: String,
    svc: String,
    admin: String,
    researcher: String,
    manager: String,
    owner: String,
}

async fn setup(t: TestStack, bundles: &Path) -> Review {
    let admin = t.token("admin");
    for b in ["tre-workspace-base", "tre-service-notebook", REVIEW] {
        register_bundle(&t, &admin, &sample_bundle(b)).await;
    }
    register_bundle(&t, &admin, &flaky_bundle(bundles)).await;
    let ws = create(&t, "/api/workspaces", &admin, "tre-workspace-base", "Study").await;
    let review_ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Airlock import review",
    )
    .await;
    let svc = create(
        &t,
        &format!("/api/workspaces/{ws}/workspace-services"),
        &admin,
        "tre-service-notebook",
        "Notebooks",
    )
    .await;
    let review_svc = create(
        &t,
        &format!("/api/workspaces/{review_ws}/workspace-services"),
        &admin,
        "tre-service-notebook",
        "Review notebooks",
    )
    .await;
    t.assign_roles(
        &admin,
        &ws,
        &[
            ("dev-owner", "WorkspaceOwner"),
            ("dev-researcher", "WorkspaceResearcher"),
            ("dev-airlock-manager", "AirlockManager"),
        ],
    )
    .await;
    Review {
        researcher: t.token("researcher"),
        manager: t.token("airlock-manager"),
        owner: t.token("owner"),
        t,
        ws,
        review_ws,
        review_svc,
        svc,
        admin,
    }
}

impl Review {
    fn request_path(&self, rid: &str) -> String {
        format!("/api/workspaces/{}/requests/{rid}", self.ws)
    }

    fn env_path(&self, rid: &str) -> String {
        format!("{}/review-user-resource", self.request_path(rid))
    }

    /// PATCH the workspace's review configuration and wait for the update to end.
    async fn configure(&self, config: Value) {
        let path = format!("/api/workspaces/{}", self.ws);
        let got = self.t.get(&path, &self.admin).await;
        let etag = got.item()["_etag"].as_str().expect("etag").to_string();
        let r = self
            .t
            .call(
                http::Method::PATCH,
                &path,
                Some(&self.admin),
                Some(&json!({"properties": {"airlock_review_config": config}})),
                Some(&etag),
            )
            .await;
        assert_eq!(r.status, 202, "PATCH: {}", r.body);
        let settled = self.t.settled(&path, &self.admin).await;
        assert_eq!(
            settled.item()["deploymentStatus"],
            "updated",
            "{}",
            settled.body
        );
    }

    /// A request with `files`, submitted, in review.
    async fn in_review(&self, kind: &str, files: &[(&str, &[u8])]) -> String {
        let body = json!({"type": kind, "title": format!("{kind} for review"), "businessJustification": "the study needs it"});
        let r = self
            .t
            .post_ok(
                &format!("/api/workspaces/{}/requests", self.ws),
                &self.researcher,
                &body,
                201,
            )
            .await;
        let rid = r["airlockRequest"]["id"].as_str().expect("id").to_string();
        for (name, content) in files {
            let link = self
                .t
                .post_ok(
                    &format!("{}/files", self.request_path(&rid)),
                    &self.researcher,
                    &json!({"name": name}),
                    200,
                )
                .await;
            let resp = self
                .t
                .http
                .put(link["url"].as_str().expect("url"))
                .body(content.to_vec())
                .send()
                .await
                .expect("upload");
            assert!(resp.status().is_success(), "upload: {}", resp.status());
        }
        self.t
            .post_ok(
                &format!("{}/submit", self.request_path(&rid)),
                &self.researcher,
                &json!({}),
                200,
            )
            .await;
        self.until(&rid, "in_review").await;
        rid
    }

    async fn until(&self, rid: &str, want: &str) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            let r = self.t.get(&self.request_path(rid), &self.researcher).await;
            let req = r.body["airlockRequest"].clone();
            if req["status"] == want {
                return req;
            }
            assert!(
                Instant::now() < deadline,
                "request never became {want}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GET the caller's environment until `done` says it is where it should be.
    async fn env_until(&self, rid: &str, what: &str, done: impl Fn(u16, &Value) -> bool) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            let r = self.t.get(&self.env_path(rid), &self.manager).await;
            if done(r.status, &r.body) {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "the review environment never got {what}: {} {}",
                r.status,
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn deployed(&self, rid: &str) -> Value {
        let body = self
            .env_until(rid, "deployed", |status, b| {
                let s = b["userResource"]["deploymentStatus"]
                    .as_str()
                    .unwrap_or_default();
                assert!(!s.ends_with("failed"), "the review environment failed: {b}");
                status == 200 && s == "deployed"
            })
            .await;
        body["userResource"].clone()
    }

    async fn review(&self, rid: &str, decision: &str) {
        self.t
            .post_ok(
                &format!("{}/review", self.request_path(rid)),
                &self.manager,
                &json!({"approval": decision == "approve", "decisionExplanation": "looked at it in the review environment"}),
                200,
            )
            .await;
    }

    /// The stored user resource (as a TRE admin sees it), wherever it is.
    async fn user_resource(&self, ws: &str, svc: &str, id: &str) -> Value {
        let path = format!("/api/workspaces/{ws}/workspace-services/{svc}/user-resources/{id}");
        self.t.get(&path, &self.admin).await.item().clone()
    }
}

/// The files of a folder with their content and whether anyone may write them.
fn folder(dir: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("entry");
        let mode = entry.metadata().expect("meta").permissions().mode();
        out.insert(
            entry.file_name().to_string_lossy().to_string(),
            (
                std::fs::read(entry.path()).expect("read"),
                mode & 0o222 != 0,
            ),
        );
    }
    out
}

fn writable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o222 != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_environments_read_exactly_their_request_and_end_with_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let storage = dir.path().join("stack/storage");
    let stack = DevStack::start(test_options(&dir.path().join("stack")))
        .await
        .expect("stack");
    let r = setup(TestStack::wrap(stack), dir.path()).await;

    // Without a configuration, reviewers are told to use the links (and nothing is made).
    let earlier = r
        .in_review("import", &[("earlier.csv", b"id,value\n0,old\n")])
        .await;
    let refused =
        r.t.post(&r.env_path(&earlier), &r.manager, &json!({}))
            .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("links"),
        "{}",
        refused.body
    );
    // That import reaches the workspace's data: no review environment may see it later.
    r.review(&earlier, "approve").await;
    r.until(&earlier, "approved").await;

    r.configure(json!({
        "import": {"import_vm_workspace_id": r.review_ws, "import_vm_workspace_service_id": r.review_svc,
                   "import_vm_user_resource_template_name": REVIEW},
        "export": {"export_vm_workspace_service_id": r.svc, "export_vm_user_resource_template_name": FLAKY},
    }))
    .await;
    let import = r
        .in_review(
            "import",
            &[
                ("cohort.csv", b"id,age\n1,41\n2,37\n"),
                ("notes.txt", b"collected 2026"),
            ],
        )
        .await;
    let export = r
        .in_review("export", &[("results.csv", b"group,mean\na,39\n")])
        .await;

    // Only the request's workspace's airlock managers, not its requester, may have one.
    for (who, token, want) in [
        ("the requester", &r.researcher, 403),
        ("an owner who is no airlock manager", &r.owner, 403),
        ("a TRE admin without a role in the workspace", &r.admin, 404),
    ] {
        let got = r.t.post(&r.env_path(&import), token, &json!({})).await;
        assert_eq!(got.status, want, "{who}: {}", got.body);
        let got = r.t.get(&r.env_path(&import), token).await;
        assert_eq!(got.status, want, "{who} (GET): {}", got.body);
    }
    let none = r.t.get(&r.env_path(&import), &r.manager).await;
    assert_eq!(none.status, 404, "{}", none.body);

    // Made where the configuration says; asked again, the same one comes back.
    let made = r.t.post(&r.env_path(&import), &r.manager, &json!({})).await;
    assert_eq!(made.status, 202, "{}", made.body);
    let location = made.location.clone().unwrap_or_default();
    let import_env = made.body["userResource"].clone();
    let import_env_id = import_env["id"].as_str().expect("id").to_string();
    assert!(
        location.ends_with(made.body["operation"]["id"].as_str().unwrap_or("?")),
        "Location {location}"
    );
    assert_eq!(
        import_env["workspaceId"],
        r.review_ws.as_str(),
        "imports are reviewed in the review workspace"
    );
    assert_eq!(
        import_env["parentWorkspaceServiceId"],
        r.review_svc.as_str()
    );
    assert_eq!(import_env["templateName"], REVIEW);
    assert_eq!(import_env["ownerId"], "dev-airlock-manager");
    assert_eq!(
        import_env["airlockReview"],
        json!({"workspaceId": r.ws, "requestId": import, "requestType": "import"})
    );
    let names = &made.body["airlockRequest"]["airlockRequest"]["reviewUserResources"]
        ["dev-airlock-manager"];
    assert_eq!(
        *names,
        json!({"workspaceId": r.review_ws, "workspaceServiceId": r.review_svc, "userResourceId": import_env_id})
    );
    let again = r.t.post(&r.env_path(&import), &r.manager, &json!({})).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.body["userResource"]["id"],
        import_env_id.as_str(),
        "one per reviewer per request"
    );

    let made = r.t.post(&r.env_path(&export), &r.manager, &json!({})).await;
    assert_eq!(made.status, 202, "{}", made.body);
    let export_env = made.body["userResource"].clone();
    let export_env_id = export_env["id"].as_str().expect("id").to_string();
    assert_eq!(
        export_env["workspaceId"],
        r.ws.as_str(),
        "exports are reviewed in the workspace"
    );
    assert_eq!(export_env["parentWorkspaceServiceId"], r.svc.as_str());

    // Each reads exactly its request's files, read-only, and nothing of the workspace's data.
    let import_env = r.deployed(&import).await;
    let export_env = r.deployed(&export).await;
    for (env, want) in [
        (
            &import_env,
            vec![
                ("cohort.csv", &b"id,age\n1,41\n2,37\n"[..]),
                ("notes.txt", b"collected 2026"),
            ],
        ),
        (
            &export_env,
            vec![("results.csv", &b"group,mean\na,39\n"[..])],
        ),
    ] {
        let path = PathBuf::from(
            env["properties"]["review_path"]
                .as_str()
                .expect("review_path"),
        );
        let got = folder(&path);
        let want: BTreeMap<String, (Vec<u8>, bool)> = want
            .iter()
            .map(|(n, c)| (n.to_string(), (c.to_vec(), false)))
            .collect();
        assert_eq!(
            got,
            want,
            "the files of {} (content, writable)",
            path.display()
        );
        assert!(!writable(&path), "{} must not be writable", path.display());
        assert!(
            !got.contains_key("earlier.csv"),
            "the workspace's data is not in a review environment"
        );
        let page = env["properties"]["connection_uri"]
            .as_str()
            .expect("connection_uri");
        let index =
            std::fs::read_to_string(page.trim_start_matches("file://")).expect("index page");
        for name in want.keys() {
            assert!(index.contains(name.as_str()), "the page lists {name}");
        }
    }
    // Nothing else of the airlock was copied anywhere into the environments.
    let review_root = storage.join(format!("workspaces/{}", r.review_ws));
    let copied: Vec<String> = walk(&review_root)
        .into_iter()
        .filter(|p| p.ends_with("earlier.csv") || p.ends_with("results.csv"))
        .collect();
    assert!(
        copied.is_empty(),
        "the import review workspace holds only the import's files: {copied:?}"
    );

    // Approval removes the import's environment, by an operation in its history.
    r.review(&import, "approve").await;
    r.until(&import, "approved").await;
    r.env_until(&import, "removed", |status, _| status == 404)
        .await;
    let gone =
        r.t.get(
            &format!(
                "/api/workspaces/{}/workspace-services/{}/user-resources/{import_env_id}",
                r.review_ws, r.review_svc
            ),
            &r.admin,
        )
        .await;
    assert_eq!(
        gone.status, 404,
        "a deleted environment is gone: {}",
        gone.body
    );
    // Its history keeps the uninstall, done by the TRE itself.
    let ops =
        r.t.stack
            .app
            .table
            .query(&tre_core::ports::Query {
                index: Some(tre_core::ports::INDEX_GSI1.into()),
                pk: format!("OPS#{import_env_id}"),
                ..Default::default()
            })
            .await
            .expect("operations");
    let ops: Vec<&Value> = ops.items.iter().map(|i| &i.body).collect();
    let uninstall = ops
        .iter()
        .find(|o| o["action"] == "uninstall")
        .unwrap_or_else(|| panic!("no uninstall operation: {ops:?}"));
    assert_eq!(uninstall["status"], "deleted", "{uninstall}");
    assert_eq!(uninstall["createdBy"], "tre-airlock", "{uninstall}");
    assert!(!Path::new(
        import_env["properties"]["review_path"]
            .as_str()
            .unwrap_or_default()
    )
    .exists());

    // The export's environment fails to delete at the rejection; the stack stops before it is
    // retried; after the restart it is removed all the same.
    std::fs::write(storage.join("fail-uninstall"), b"").expect("marker");
    r.review(&export, "reject").await;
    r.until(&export, "rejected").await;
    let deadline = Instant::now() + LIMIT;
    loop {
        let env = r.user_resource(&r.ws, &r.svc, &export_env_id).await;
        if env["deploymentStatus"] == "deleting_failed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failing uninstall never failed: {env}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Review {
        t,
        ws,
        svc,
        review_ws,
        ..
    } = r;
    t.stack_shutdown().await;
    std::fs::remove_file(storage.join("fail-uninstall")).expect("marker");

    let stack = DevStack::start(test_options(&dir.path().join("stack")))
        .await
        .expect("restart");
    let t = TestStack::wrap(stack);
    let admin = t.token("admin");
    let path =
        format!("/api/workspaces/{ws}/workspace-services/{svc}/user-resources/{export_env_id}");
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = t.get(&path, &admin).await;
        if got.status == 404 || got.item()["deploymentStatus"] == "deleted" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the export's review environment outlived its request: {}",
            got.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!Path::new(
        export_env["properties"]["review_path"]
            .as_str()
            .unwrap_or_default()
    )
    .exists());
    // Every version of the requests (the review environments they named included, written in
    // the review workspace's transaction) and of the environments has its audit event.
    for chain in [ws.as_str(), review_ws.as_str(), "TRE"] {
        let got = t
            .get(&format!("/api/audit/chains/{chain}/reconciliation"), &admin)
            .await;
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.body["unaccounted"], json!([]), "{chain}: {}", got.body);
    }
    let companions = t
        .get(
            &format!("/api/audit?chain={ws}&action=airlock.review-environment"),
            &admin,
        )
        .await;
    assert_eq!(
        companions.body["auditEvents"].as_array().map(Vec::len),
        Some(1),
        "the import's (the export's is reviewed in its own workspace, one event): {}",
        companions.body
    );
    t.stack_shutdown().await;
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

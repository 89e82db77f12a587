//! The airlock end to end on the local stack: requests move through their statuses by the
//! real workflow (statemachines/airlock-review.asl.json on the local engine), the airlock
//! runner moves the files between stages with checksums and scans them, and only approved
//! data reaches its destination.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tre_core::domain::airlock::{object_key, Stage};
use tre_e2e::{create, register_bundle, sample_bundle, TestStack};

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

struct Airlock {
    t: TestStack,
    ws: String,
    researcher: String,
    manager: String,
    owner: String,
}

async fn setup() -> Airlock {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "Airlock study",
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
    Airlock {
        researcher: t.token("researcher"),
        manager: t.token("airlock-manager"),
        owner: t.token("owner"),
        t,
        ws,
    }
}

impl Airlock {
    fn path(&self, rid: &str) -> String {
        format!("/api/workspaces/{}/requests/{rid}", self.ws)
    }

    async fn open(&self, kind: &str) -> String {
        let body = json!({"type": kind, "title": format!("{kind} of cohort data"), "businessJustification": "needed for the study"});
        let r = self
            .t
            .post_ok(
                &format!("/api/workspaces/{}/requests", self.ws),
                &self.researcher,
                &body,
                201,
            )
            .await;
        assert_eq!(r["airlockRequest"]["status"], "draft");
        r["airlockRequest"]["id"].as_str().expect("id").to_string()
    }

    async fn upload(&self, rid: &str, name: &str, content: &[u8]) {
        let link = self
            .t
            .post_ok(
                &format!("{}/files", self.path(rid)),
                &self.researcher,
                &json!({"name": name}),
                200,
            )
            .await;
        assert_eq!(link["method"], "PUT");
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

    /// POST a transition (`submit`, `cancel`, `revoke`) that must succeed; returns the request.
    async fn act(&self, rid: &str, verb: &str, token: &str) -> Value {
        self.t
            .post_ok(
                &format!("{}/{verb}", self.path(rid)),
                token,
                &json!({}),
                200,
            )
            .await["airlockRequest"]
            .clone()
    }

    /// POST a transition, whatever its answer.
    async fn try_act(&self, rid: &str, verb: &str, token: &str) -> tre_e2e::Reply {
        self.t
            .post(&format!("{}/{verb}", self.path(rid)), token, &json!({}))
            .await
    }

    async fn submit(&self, rid: &str) {
        let r = self.act(rid, "submit", &self.researcher).await;
        assert_eq!(r["status"], "submitted");
    }

    /// GET the request until its status is no longer one of `passing`.
    async fn until_not(&self, rid: &str, passing: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.t.get(&self.path(rid), &self.researcher).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let request = &r.body["airlockRequest"];
            let status = request["status"].as_str().unwrap_or_default().to_string();
            if !passing.contains(&status.as_str()) {
                return request.clone();
            }
            assert!(
                Instant::now() < deadline,
                "request stayed {status}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A review by `token` (`approval` true approves), whatever its answer.
    async fn try_review(
        &self,
        rid: &str,
        token: &str,
        approval: bool,
        explanation: &str,
    ) -> tre_e2e::Reply {
        self.t
            .post(
                &format!("{}/review", self.path(rid)),
                token,
                &json!({"approval": approval, "decisionExplanation": explanation}),
            )
            .await
    }

    /// A review by the airlock manager that must succeed; returns the request.
    async fn review(&self, rid: &str, approval: bool, explanation: &str) -> Value {
        self.t
            .post_ok(
                &format!("{}/review", self.path(rid)),
                &self.manager,
                &json!({"approval": approval, "decisionExplanation": explanation}),
                200,
            )
            .await["airlockRequest"]
            .clone()
    }

    async fn link(&self, rid: &str, file: &str, token: &str) -> (u16, Value) {
        let r = self
            .t
            .get(&format!("{}/files/{file}/link", self.path(rid)), token)
            .await;
        (r.status, r.body)
    }

    async fn fetch(&self, url: &str) -> (u16, Vec<u8>) {
        let resp = self.t.http.get(url).send().await.expect("download");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("body").to_vec())
    }

    /// Whether a stage holds the file.
    async fn holds(&self, stage: Stage, rid: &str, file: &str) -> bool {
        let storage = self.t.stack.app.airlock.as_ref().expect("airlock storage");
        storage
            .store(stage)
            .expect("store")
            .head(&object_key(stage, &self.ws, rid, file))
            .await
            .expect("head")
            .is_some()
    }

    async fn read(&self, stage: Stage, rid: &str, file: &str) -> Vec<u8> {
        use futures::StreamExt;
        let storage = self.t.stack.app.airlock.as_ref().expect("airlock storage");
        let mut got = storage
            .store(stage)
            .expect("store")
            .get(&object_key(stage, &self.ws, rid, file), None)
            .await
            .expect("get");
        let mut out = Vec::new();
        while let Some(chunk) = got.body.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        out
    }
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_import_arrives_in_the_workspace_with_its_checksum() {
    let a = setup().await;
    let rid = a.open("import").await;
    let data = b"id,age\n1,42\n2,37\n".repeat(1000);
    a.upload(&rid, "cohort.csv", &data).await;
    a.upload(&rid, "codebook.txt", b"age: years").await;
    a.submit(&rid).await;
    let r = a.until_not(&rid, &["submitted"]).await;
    assert_eq!(r["status"], "in_review", "{r}");
    assert_eq!(r["scan"]["verdict"], "clean");
    let cohort = r["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["name"] == "cohort.csv")
        .expect("file")
        .clone();
    assert_eq!(cohort["sha256"], sha256(&data));
    assert_eq!(cohort["size"], data.len());
    assert!(
        !a.holds(Stage::ImportStaging, &rid, "cohort.csv").await,
        "staging is emptied"
    );

    // The manager finds it in the queue and reads the files (read-only links); the requester may not.
    let queue = a.t.get("/api/airlock/review-queue", &a.manager).await;
    assert!(queue.body["airlockRequests"]
        .as_array()
        .expect("queue")
        .iter()
        .any(|q| q["airlockRequest"]["id"] == rid.as_str()
            && q["allowedUserActions"] == json!(["review"])));
    let researcher_queue = a.t.get("/api/airlock/review-queue", &a.researcher).await;
    assert_eq!(researcher_queue.body["airlockRequests"], json!([]));
    let (status, link) = a.link(&rid, "cohort.csv", &a.manager).await;
    assert_eq!(status, 200, "{link}");
    let (got, bytes) = a.fetch(link["url"].as_str().expect("url")).await;
    assert_eq!((got, sha256(&bytes)), (200, sha256(&data)));
    assert_eq!(a.link(&rid, "cohort.csv", &a.researcher).await.0, 403);
    // A tampered link is refused.
    let tampered = link["url"].as_str().expect("url").replace("sig=", "sig=00");
    assert_eq!(a.fetch(&tampered).await.0, 403);

    let reviewed = a.review(&rid, true, "anonymised, fine to import").await;
    assert_eq!(reviewed["status"], "approval_in_progress");
    let r = a.until_not(&rid, &["approval_in_progress"]).await;
    assert_eq!(r["status"], "approved", "{r}");
    assert_eq!(
        r["reviews"][0]["decisionExplanation"],
        "anonymised, fine to import"
    );
    assert_eq!(r["reviews"][0]["reviewDecision"], "approved");
    assert_eq!(r["reviews"][0]["reviewer"]["id"], "dev-airlock-manager");
    let arrived = a.read(Stage::WorkspaceData, &rid, "cohort.csv").await;
    assert_eq!(sha256(&arrived), sha256(&data));
    assert!(
        !a.holds(Stage::ImportInReview, &rid, "cohort.csv").await,
        "review is emptied"
    );
    let statuses: Vec<&str> = r["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["properties"]["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["submitted", "in_review", "approval_in_progress", "approved"]
    );
    // Nothing moves an approved import back, and an approved import gives no download link.
    assert_eq!(a.try_act(&rid, "submit", &a.researcher).await.status, 409);
    assert_eq!(a.link(&rid, "cohort.csv", &a.researcher).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_import_leaves_nothing_behind() {
    let a = setup().await;
    let rid = a.open("import").await;
    a.upload(&rid, "names.csv", b"name\nAda Lovelace\n").await;
    a.submit(&rid).await;
    assert_eq!(
        a.until_not(&rid, &["submitted"]).await["status"],
        "in_review"
    );
    // Reviewing needs a comment, and the requester may never review their own request.
    let no_comment = a.try_review(&rid, &a.manager, false, " ").await;
    assert_eq!(no_comment.status, 400);
    let own = a.try_review(&rid, &a.researcher, true, "mine").await;
    assert_eq!(own.status, 403, "{}", own.body);
    let reviewed = a.review(&rid, false, "contains names").await;
    assert_eq!(reviewed["status"], "rejection_in_progress");
    let r = a.until_not(&rid, &["rejection_in_progress"]).await;
    assert_eq!(r["status"], "rejected", "{r}");
    for stage in [
        Stage::ImportStaging,
        Stage::ImportInReview,
        Stage::WorkspaceData,
    ] {
        assert!(
            !a.holds(stage, &rid, "names.csv").await,
            "{stage:?} still holds the file"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_a_threat_is_blocked_by_the_scan() {
    let a = setup().await;
    let rid = a.open("import").await;
    a.upload(&rid, "clean.txt", b"nothing to see").await;
    a.upload(&rid, "eicar.txt", EICAR.as_bytes()).await;
    a.submit(&rid).await;
    let r = a
        .until_not(&rid, &["submitted", "blocking_in_progress"])
        .await;
    assert_eq!(r["status"], "blocked_by_scan", "{r}");
    assert_eq!(r["scan"]["verdict"], "threat");
    assert!(
        r["scan"]["findings"][0]
            .as_str()
            .unwrap_or("")
            .contains("EICAR"),
        "{r}"
    );
    for file in ["clean.txt", "eicar.txt"] {
        for stage in [
            Stage::ImportStaging,
            Stage::ImportInReview,
            Stage::WorkspaceData,
        ] {
            assert!(!a.holds(stage, &rid, file).await, "{stage:?} holds {file}");
        }
    }
    // It never reaches review.
    let review = a.try_review(&rid, &a.manager, true, "ok").await;
    assert_eq!(review.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_export_is_downloadable_by_its_requester_only() {
    let a = setup().await;
    let rid = a.open("export").await;
    let result = b"mean age: 39.5\n";
    a.upload(&rid, "results.txt", result).await;
    // Nothing can be read before approval.
    assert_eq!(a.link(&rid, "results.txt", &a.researcher).await.0, 403);
    a.submit(&rid).await;
    assert_eq!(
        a.until_not(&rid, &["submitted"]).await["status"],
        "in_review"
    );
    a.review(&rid, true, "aggregate only").await;
    let r = a.until_not(&rid, &["approval_in_progress"]).await;
    assert_eq!(r["status"], "approved", "{r}");
    let (status, link) = a.link(&rid, "results.txt", &a.researcher).await;
    assert_eq!(status, 200, "{link}");
    let (got, bytes) = a.fetch(link["url"].as_str().expect("url")).await;
    assert_eq!((got, bytes.as_slice()), (200, &result[..]));
    assert_eq!(a.link(&rid, "results.txt", &a.manager).await.0, 403);
    assert_eq!(a.link(&rid, "results.txt", &a.owner).await.0, 403);
    // A revoked export can no longer be downloaded.
    let revoked = a.act(&rid, "revoke", &a.manager).await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(a.link(&rid, "results.txt", &a.researcher).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_cancelled_as_drafts_and_in_review() {
    let a = setup().await;
    let draft = a.open("import").await;
    let r = a.act(&draft, "cancel", &a.researcher).await;
    assert_eq!(r["status"], "cancelled");
    // A cancelled request takes no files and cannot be submitted.
    let add =
        a.t.post(
            &format!("{}/files", a.path(&draft)),
            &a.researcher,
            &json!({"name": "x.csv"}),
        )
        .await;
    assert_eq!(add.status, 409);

    let rid = a.open("import").await;
    a.upload(&rid, "data.csv", b"a,b\n1,2\n").await;
    a.submit(&rid).await;
    assert_eq!(
        a.until_not(&rid, &["submitted"]).await["status"],
        "in_review"
    );
    // Only the requester or a workspace owner may cancel.
    let by_manager = a.try_act(&rid, "cancel", &a.manager).await;
    assert_eq!(by_manager.status, 403);
    let r = a.act(&rid, "cancel", &a.owner).await;
    assert_eq!(r["status"], "cancelled");
    // The workflow discards the files.
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.holds(Stage::ImportInReview, &rid, "data.csv").await {
        assert!(
            Instant::now() < deadline,
            "the cancelled request's files stayed in review"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Someone with no role in the workspace sees nothing of it.
    let admin = a.t.token("admin");
    assert_eq!(a.t.get(&a.path(&rid), &admin).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_may_require_two_distinct_approvals() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let body = json!({"templateName": "tre-workspace-base",
        "properties": {"display_name": "Two keys", "airlock_required_approvals": 2}});
    let created = t.post_ok("/api/workspaces", &admin, &body, 202).await;
    let ws = created["operation"]["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    t.settled(&format!("/api/workspaces/{ws}"), &admin).await;
    t.assign_roles(
        &admin,
        &ws,
        &[
            ("dev-researcher", "WorkspaceResearcher"),
            ("dev-airlock-manager", "AirlockManager"),
            ("dev-owner", "AirlockManager"),
        ],
    )
    .await;
    let a = Airlock {
        researcher: t.token("researcher"),
        manager: t.token("airlock-manager"),
        owner: t.token("owner"),
        t,
        ws,
    };
    let rid = a.open("import").await;
    a.upload(&rid, "table.csv", b"x\n1\n").await;
    a.submit(&rid).await;
    let r = a.until_not(&rid, &["submitted"]).await;
    assert_eq!(
        (r["status"].as_str(), r["requiredApprovals"].as_u64()),
        (Some("in_review"), Some(2))
    );
    let first = a.review(&rid, true, "first key").await;
    assert_eq!(first["status"], "in_review", "one approval is not enough");
    // The same manager cannot approve twice.
    let again = a.try_review(&rid, &a.manager, true, "again").await;
    assert_eq!(again.status, 409, "{}", again.body);
    // The second, distinct manager completes it.
    let second =
        a.t.post_ok(
            &format!("{}/review", a.path(&rid)),
            &a.owner,
            &json!({"approval": true, "decisionExplanation": "second key"}),
            200,
        )
        .await;
    assert_eq!(second["airlockRequest"]["status"], "approval_in_progress");
    // The same review sent again at once (a client retrying after a lost answer) is answered
    // as the first was, whether or not the workflow has taken the decision yet.
    let review_path = format!("{}/review", a.path(&rid));
    let same_review = json!({"approval": true, "decisionExplanation": "second key"});
    let review_again = || a.t.post_ok(&review_path, &a.owner, &same_review, 200);
    let retried = review_again().await;
    assert_ne!(retried["airlockRequest"]["status"], "in_review");
    let r = a.until_not(&rid, &["approval_in_progress"]).await;
    assert_eq!(r["status"], "approved", "{r}");
    assert_eq!(r["reviews"].as_array().map(Vec::len), Some(2));
    // And once it is done, too; nothing more is recorded.
    let after = review_again().await;
    assert_eq!(after["airlockRequest"]["status"], "approved");
    assert_eq!(
        after["airlockRequest"]["reviews"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_links_are_bound_to_their_part_and_a_wrong_etag_assembles_nothing() {
    let a = setup().await;
    let rid = a.open("import").await;
    let size = tre_core::app::MULTIPART_PART_BYTES + 10;
    let link =
        a.t.post_ok(
            &format!("{}/files", a.path(&rid)),
            &a.researcher,
            &json!({"name": "big.bin", "size": size}),
            200,
        )
        .await;
    assert_eq!(link["method"], "MULTIPART", "{link}");
    let parts = link["multipart"]["parts"]
        .as_array()
        .expect("parts")
        .clone();
    assert_eq!(parts.len(), 2);
    let tail = parts[1]["url"].as_str().expect("url").to_string();
    // A part link does not upload another part.
    let forged = tail.replace("part=2", "part=1");
    let r =
        a.t.http
            .put(&forged)
            .header("content-length", 10)
            .body(vec![0u8; 10])
            .send()
            .await
            .expect("put");
    assert_eq!(r.status().as_u16(), 403);
    let r =
        a.t.http
            .put(&tail)
            .header("content-length", 10)
            .body(vec![0u8; 10])
            .send()
            .await
            .expect("put");
    assert!(r.status().is_success(), "{}", r.status());
    let complete = link["url"].as_str().expect("completion route");
    let wrong = a
        .t
        .post(complete, &a.researcher, &json!({"uploadId": link["multipart"]["uploadId"],
            "parts": [{"partNumber": 1, "etag": "\"0000\""}, {"partNumber": 2, "etag": "\"0000\""}]}))
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(!a.holds(Stage::ImportStaging, &rid, "big.bin").await);
    // Only the requester completes an upload.
    let other =
        a.t.post(
            complete,
            &a.manager,
            &json!({"uploadId": "x", "parts": [{"partNumber": 1, "etag": "y"}]}),
        )
        .await;
    assert_eq!(other.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_is_taken_off_the_draft_which_then_submits() {
    let a = setup().await;
    let rid = a.open("import").await;
    a.upload(&rid, "keep.csv", b"k\n1\n").await;
    a.upload(&rid, "dropped.csv", b"d\n2\n").await;
    // A large file whose upload in parts is left half done.
    let size = tre_core::app::MULTIPART_PART_BYTES + 10;
    let link =
        a.t.post_ok(
            &format!("{}/files", a.path(&rid)),
            &a.researcher,
            &json!({"name": "big.bin", "size": size}),
            200,
        )
        .await;
    let upload_id = link["multipart"]["uploadId"]
        .as_str()
        .expect("upload id")
        .to_string();
    let tail = link["multipart"]["parts"][1]["url"].as_str().expect("url");
    let put =
        a.t.http
            .put(tail)
            .header("content-length", 10)
            .body(vec![0u8; 10])
            .send()
            .await
            .expect("put");
    assert!(put.status().is_success(), "{}", put.status());
    // Only the requester removes files; outsiders do not see the request at all.
    let by_manager = remove_file(&a, &rid, "dropped.csv", "", &a.manager).await;
    assert_eq!(by_manager.status, 403, "{}", by_manager.body);
    let by_admin = remove_file(&a, &rid, "dropped.csv", "", &a.t.token("admin")).await;
    assert_eq!(by_admin.status, 404, "{}", by_admin.body);
    assert!(a.holds(Stage::ImportStaging, &rid, "dropped.csv").await);

    // Removing deletes what was staged and the name; removing again answers the same.
    for _ in 0..2 {
        let r = remove_file(&a, &rid, "dropped.csv", "", &a.researcher).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert!(!a.holds(Stage::ImportStaging, &rid, "dropped.csv").await);
    let r = remove_file(
        &a,
        &rid,
        "big.bin",
        &format!("?upload_id={upload_id}"),
        &a.researcher,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // The upload in parts is aborted: its parts take nothing more.
    let storage = a.t.stack.app.airlock.as_ref().expect("airlock storage");
    let key = object_key(Stage::ImportStaging, &a.ws, &rid, "big.bin");
    let late = storage
        .store(Stage::ImportStaging)
        .expect("store")
        .upload_part(
            &key,
            &upload_id,
            1,
            tre_core::ports::bytes_stream(vec![0u8; 10]),
            10,
        )
        .await;
    assert!(late.is_err(), "the aborted upload still takes parts");

    let got = a.t.get(&a.path(&rid), &a.researcher).await;
    let names: Vec<&str> = got.body["airlockRequest"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["keep.csv"], "{}", got.body);
    // What is left was uploaded, so the draft submits and flows on.
    a.submit(&rid).await;
    assert_eq!(
        a.until_not(&rid, &["submitted"]).await["status"],
        "in_review"
    );
    // Past the draft, files stay.
    let r = remove_file(&a, &rid, "keep.csv", "", &a.researcher).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("only from a draft")),
        "{}",
        r.body
    );
}

/// DELETE a file of a request (with `query`, e.g. `?upload_id=...`), whatever the answer.
async fn remove_file(
    a: &Airlock,
    rid: &str,
    file: &str,
    query: &str,
    token: &str,
) -> tre_e2e::Reply {
    let path = format!("{}/files/{file}{query}", a.path(rid));
    a.t.call(reqwest::Method::DELETE, &path, Some(token), None, None)
        .await
}

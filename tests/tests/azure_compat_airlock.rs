//! Wire compatibility with Azure TRE's airlock API, one test per item of the issue: what its
//! clients (its e2e tests, its `tre` CLI, its UI) send and read, written from Azure TRE's API
//! models and route docs. Where this TRE differs on purpose, the test checks our behaviour and
//! README's "differences from Azure TRE" table says why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tre_e2e::{create, register_bundle, sample_bundle, TestStack};

struct Env {
    t: TestStack,
    ws: String,
    researcher: String,
    owner: String,
    manager: String,
}

/// A workspace with an owner, a researcher and an airlock manager.
async fn env() -> Env {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let ws = workspace(&t, &admin, "Compat study").await;
    for (user, role) in [
        ("dev-owner", "WorkspaceOwner"),
        ("dev-researcher", "WorkspaceResearcher"),
        ("dev-airlock-manager", "AirlockManager"),
    ] {
        assign(&t, &admin, &ws, user, role).await;
    }
    Env {
        researcher: t.token("researcher"),
        owner: t.token("owner"),
        manager: t.token("airlock-manager"),
        t,
        ws,
    }
}

async fn workspace(t: &TestStack, admin: &str, name: &str) -> String {
    create(t, "/api/workspaces", admin, "tre-workspace-base", name).await
}

async fn assign(t: &TestStack, admin: &str, ws: &str, user: &str, role: &str) {
    t.post_ok(
        &format!("/api/workspaces/{ws}/role-assignments"),
        admin,
        &json!({"principalId": user, "role": role}),
        201,
    )
    .await;
}

impl Env {
    fn requests(&self) -> String {
        format!("/api/workspaces/{}/requests", self.ws)
    }

    fn path(&self, rid: &str) -> String {
        format!("{}/{rid}", self.requests())
    }

    /// A draft opened by the researcher; returns its id.
    async fn draft(&self, kind: &str) -> String {
        let body = json!({"type": kind, "title": "Counts", "businessJustification": "aggregates for the paper"});
        let r = self
            .t
            .post_ok(&self.requests(), &self.researcher, &body, 201)
            .await;
        r["airlockRequest"]["id"].as_str().expect("id").to_string()
    }

    /// Upload through the request's link (the signed form), as a client of `link` does.
    async fn upload(&self, rid: &str, name: &str, content: &[u8]) -> u16 {
        let link = self
            .t
            .get(&format!("{}/link", self.path(rid)), &self.researcher)
            .await;
        assert_eq!(link.status, 200, "{}", link.body);
        let form = &link.body["upload"];
        let fields: BTreeMap<String, String> =
            serde_json::from_value(form["fields"].clone()).expect("fields");
        let key = format!("{}{name}", form["keyPrefix"].as_str().expect("keyPrefix"));
        let (content_type, body) = tre_testkit::object_store::form_upload(&fields, &key, content);
        self.t
            .http
            .post(link.body["containerUrl"].as_str().expect("containerUrl"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("form upload")
            .status()
            .as_u16()
    }

    /// POST a transition that must answer 200; returns the whole answer.
    async fn act(&self, rid: &str, verb: &str, token: &str, body: &Value) -> Value {
        self.t
            .post_ok(&format!("{}/{verb}", self.path(rid)), token, body, 200)
            .await
    }

    /// GET the request until its status is none of `passing`; returns the whole answer.
    async fn until_not(&self, rid: &str, token: &str, passing: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.t.get(&self.path(rid), token).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let status = r.body["airlockRequest"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !passing.contains(&status.as_str()) {
                return r.body;
            }
            assert!(Instant::now() < deadline, "stayed {status}: {}", r.body);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A request with one file, submitted and in review; returns its id.
    async fn in_review(&self, kind: &str) -> String {
        let rid = self.draft(kind).await;
        assert_eq!(
            self.upload(&rid, "counts.csv", b"region,n\nnorth,12\n")
                .await,
            204
        );
        self.act(&rid, "submit", &self.researcher, &json!({})).await;
        let r = self.until_not(&rid, &self.researcher, &["submitted"]).await;
        assert_eq!(r["airlockRequest"]["status"], "in_review", "{r}");
        rid
    }

    /// An approved request; returns its id.
    async fn approved(&self, kind: &str) -> String {
        let rid = self.in_review(kind).await;
        let body = json!({"approval": true, "decisionExplanation": "aggregates only"});
        self.act(&rid, "review", &self.manager, &body).await;
        let r = self
            .until_not(&rid, &self.researcher, &["approval_in_progress"])
            .await;
        assert_eq!(r["airlockRequest"]["status"], "approved", "{r}");
        rid
    }
}

fn actions(answer: &Value) -> Vec<&str> {
    answer["allowedUserActions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Azure TRE api_app/models/schemas/airlock_request.py (`AirlockRequestInCreate`): `type`,
/// `title` and `businessJustification`, answered 201 with `{airlockRequest, allowedUserActions}`.
/// Azure defaults both texts; here the title defaults the same way, the justification is
/// required and may not be blank (README: differences from Azure TRE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_takes_azure_tre_fields_and_answers_the_wrapper() {
    let e = env().await;
    let r =
        e.t.post(
            &e.requests(),
            &e.researcher,
            &json!({"type": "import", "businessJustification": "baseline ages", "properties": {}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let req = &r.body["airlockRequest"];
    assert_eq!(req["type"], "import");
    assert_eq!(req["title"], "Airlock Request");
    assert_eq!(req["businessJustification"], "baseline ages");
    assert_eq!(req["status"], "draft");
    assert_eq!(actions(&r.body), ["cancel", "submit"]);

    // Our own earlier field names are not Azure TRE's: they no longer fit.
    let old = json!({"type": "import", "title": "t", "justification": "j"});
    assert_eq!(
        e.t.post(&e.requests(), &e.researcher, &old).await.status,
        422
    );
    let unknown_type = json!({"type": "smuggle", "businessJustification": "j"});
    assert_eq!(
        e.t.post(&e.requests(), &e.researcher, &unknown_type)
            .await
            .status,
        422
    );
    let blank = json!({"type": "export", "businessJustification": "  "});
    let r = e.t.post(&e.requests(), &e.researcher, &blank).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.content_type.starts_with("application/problem+json"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("businessJustification"),
        "{}",
        r.body
    );
    // Only workspace owners and researchers open requests.
    let by_manager = json!({"type": "import", "businessJustification": "j"});
    assert_eq!(
        e.t.post(&e.requests(), &e.manager, &by_manager)
            .await
            .status,
        403
    );
}

/// Azure TRE api_app/models/domain/airlock_request.py (`AirlockRequest`) and
/// api_app/models/domain/resource.py (the user object): every field its clients read, with
/// epoch-second times and an unquoted `_etag`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_object_has_azure_tre_fields() {
    let e = env().await;
    let rid = e.draft("export").await;
    let r = e.t.get(&e.path(&rid), &e.owner).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let req = &r.body["airlockRequest"];
    for key in [
        "id",
        "resourceVersion",
        "createdBy",
        "createdWhen",
        "updatedBy",
        "updatedWhen",
        "history",
        "workspaceId",
        "type",
        "files",
        "title",
        "businessJustification",
        "status",
        "statusMessage",
        "reviews",
        "_etag",
        "reviewUserResources",
    ] {
        assert!(req.get(key).is_some(), "`{key}` missing from {req}");
    }
    assert_eq!(req["id"], rid.as_str());
    assert_eq!(req["workspaceId"], e.ws.as_str());
    assert_eq!(req["resourceVersion"], 0);
    assert_eq!(req["createdBy"]["id"], "dev-researcher");
    assert!(req["createdBy"]["name"].is_string());
    assert!(req["createdBy"]["email"].is_string() && req["createdBy"]["roles"].is_array());
    assert_eq!(req["updatedBy"]["id"], "dev-researcher");
    let created = req["createdWhen"]
        .as_f64()
        .expect("createdWhen is a number");
    assert!(
        created > 1.6e9 && created < 1e11,
        "seconds, not ms: {created}"
    );
    assert!(req["updatedWhen"].as_f64().expect("updatedWhen") >= created);
    assert_eq!(req["history"], json!([]));
    assert_eq!(req["files"], json!([]));
    assert_eq!(req["reviews"], json!([]));
    assert_eq!(req["statusMessage"], Value::Null);
    assert_eq!(req["reviewUserResources"], json!({}));
    let etag = req["_etag"].as_str().expect("_etag is a string");
    assert!(!etag.is_empty() && !etag.contains('"'), "{etag}");
    // Not Azure TRE's: our earlier names are gone.
    for gone in ["justification", "createdAt", "updatedAt", "kind"] {
        assert!(req.get(gone).is_none(), "`{gone}` is still there: {req}");
    }

    // After a transition: history items carry the previous status and who made it.
    let cancelled = e.act(&rid, "cancel", &e.researcher, &json!({})).await;
    let req = &cancelled["airlockRequest"];
    assert_eq!(req["history"][0]["properties"]["previousStatus"], "draft");
    assert_eq!(req["history"][0]["updatedBy"]["id"], "dev-researcher");
    assert!(req["history"][0]["updatedWhen"].is_f64());
    assert!(req["resourceVersion"].as_u64() > Some(0));
    assert_ne!(req["_etag"].as_str(), Some(etag));
}

/// Azure TRE api_app/models/schemas/airlock_request.py (`AirlockReviewInCreate`) and
/// api_app/models/domain/airlock_request.py (`AirlockReview`): `{approval, decisionExplanation}`
/// in, a review with `reviewer`, `dateCreated`, `reviewDecision` and `decisionExplanation` out.
/// Azure TRE's e2e tests send `"approval": "True"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_takes_approval_and_decision_explanation() {
    let e = env().await;
    let rid = e.in_review("import").await;
    let review = format!("{}/review", e.path(&rid));
    for (body, status) in [
        (json!({"decision": "approve", "comment": "old names"}), 422),
        (
            json!({"approval": "perhaps", "decisionExplanation": "x"}),
            422,
        ),
        (json!({"approval": "True", "decisionExplanation": " "}), 400),
    ] {
        let r = e.t.post(&review, &e.manager, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
    let answer = e
        .act(
            &rid,
            "review",
            &e.manager,
            &json!({"approval": "True", "decisionExplanation": "counts only, fine"}),
        )
        .await;
    let req = &answer["airlockRequest"];
    assert_eq!(req["status"], "approval_in_progress");
    assert!(actions(&answer).is_empty(), "{answer}");
    let r = &req["reviews"][0];
    assert!(r["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(r["reviewer"]["id"], "dev-airlock-manager");
    assert!(r["dateCreated"].as_f64().is_some_and(|t| t > 1.6e9));
    assert_eq!(r["reviewDecision"], "approved");
    assert_eq!(r["decisionExplanation"], "counts only, fine");

    // `false` (as a boolean or a string, any case) rejects.
    let other = e.in_review("import").await;
    let answer = e
        .act(
            &other,
            "review",
            &e.manager,
            &json!({"approval": "FALSE", "decisionExplanation": "names inside"}),
        )
        .await;
    assert_eq!(answer["airlockRequest"]["status"], "rejection_in_progress");
    assert_eq!(
        answer["airlockRequest"]["reviews"][0]["reviewDecision"],
        "rejected"
    );
}

/// Azure TRE api_app/models/schemas/airlock_request.py (`AirlockRevokeInCreate`: `reason`) and
/// api_app/services/airlock.py (a revocation is shown as a `revoked` review whose explanation is
/// the reason). An empty body still revokes, as it did here before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_takes_a_reason_and_shows_a_revoked_review() {
    let e = env().await;
    let rid = e.approved("export").await;
    let answer = e
        .act(
            &rid,
            "revoke",
            &e.manager,
            &json!({"reason": "the paper was withdrawn"}),
        )
        .await;
    let req = &answer["airlockRequest"];
    assert_eq!(req["status"], "revoked");
    let revoked: Vec<&Value> = req["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .filter(|r| r["reviewDecision"] == "revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{req}");
    assert_eq!(revoked[0]["decisionExplanation"], "the paper was withdrawn");
    assert_eq!(revoked[0]["reviewer"]["id"], "dev-airlock-manager");

    // No body at all.
    let other = e.approved("export").await;
    let r =
        e.t.call(
            reqwest::Method::POST,
            &format!("{}/revoke", e.path(&other)),
            Some(&e.manager),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["airlockRequest"]["status"], "revoked");
    // A body that is not the revoke body does not fit.
    let third = e.draft("export").await;
    let r =
        e.t.post(
            &format!("{}/revoke", e.path(&third)),
            &e.manager,
            &json!({"reason": 7}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

/// Azure TRE api_app/models/schemas/airlock_request.py
/// (`AirlockRequestWithAllowedUserActionsInList`) and api_app/api/routes/airlock.py (the list's
/// `creator_user_id`, `type`, `status`, `order_by`, `order_ascending`): every item wrapped with
/// its actions. The review queue (ours) answers the same items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_wrap_each_request_with_its_allowed_actions() {
    let e = env().await;
    let first = e.draft("import").await;
    let second = e.draft("export").await;
    let in_review = e.in_review("import").await;

    let r = e.t.get(&e.requests(), &e.researcher).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["airlockRequests"]
        .as_array()
        .expect("airlockRequests");
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i["airlockRequest"]["id"].as_str())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str(), in_review.as_str()]);
    assert_eq!(actions(&items[0]), ["cancel", "submit"]);
    assert_eq!(actions(&items[2]), ["cancel"]);

    let get = |q: &str| {
        let path = format!("{}?{q}", e.requests());
        let q = q.to_string();
        let token = e.manager.clone();
        let t = &e.t;
        async move {
            let r = t.get(&path, &token).await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.body["airlockRequests"]
                .as_array()
                .expect("list")
                .iter()
                .map(|i| i["airlockRequest"]["id"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(get("type=export").await, std::slice::from_ref(&second));
    assert_eq!(
        get("status=in_review").await,
        std::slice::from_ref(&in_review)
    );
    assert_eq!(
        get("creator_user_id=dev-researcher&order_ascending=false").await,
        [in_review.clone(), second.clone(), first.clone()]
    );
    assert_eq!(
        get("order_by=updatedWhen&order_ascending=true")
            .await
            .last(),
        Some(&in_review)
    );
    assert!(get("creator_user_id=dev-owner").await.is_empty());
    for bad in [
        "status=nonsense",
        "type=both",
        "order_by=secret",
        "order_ascending=maybe",
    ] {
        let r =
            e.t.get(&format!("{}?{bad}", e.requests()), &e.manager)
                .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }

    let queue = e.t.get("/api/airlock/review-queue", &e.manager).await;
    let items = queue.body["airlockRequests"].as_array().expect("queue");
    assert_eq!(items.len(), 1, "{}", queue.body);
    assert_eq!(items[0]["airlockRequest"]["id"], in_review.as_str());
    assert_eq!(actions(&items[0]), ["review"]);
}

/// Azure TRE api_app/api/routes/requests.py: `GET /api/requests` answers a bare array of
/// requests: the caller's own, or with `airlock_manager=true` those of the workspaces where the
/// caller is an airlock manager; `type` and `status` filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_requests_answer_a_bare_array_across_workspaces() {
    let e = env().await;
    let admin = e.t.token("admin");
    let other_ws = workspace(&e.t, &admin, "Second study").await;
    assign(
        &e.t,
        &admin,
        &other_ws,
        "dev-researcher",
        "WorkspaceResearcher",
    )
    .await;
    assign(&e.t, &admin, &other_ws, "dev-owner", "WorkspaceOwner").await;
    let here = e.draft("import").await;
    let elsewhere =
        e.t.post_ok(
            &format!("/api/workspaces/{other_ws}/requests"),
            &e.researcher,
            &json!({"type": "export", "businessJustification": "a table"}),
            201,
        )
        .await["airlockRequest"]["id"]
            .as_str()
            .expect("id")
            .to_string();
    // The owner's request is theirs, not the researcher's.
    let owners =
        e.t.post_ok(
            &e.requests(),
            &e.owner,
            &json!({"type": "import", "businessJustification": "mine"}),
            201,
        )
        .await["airlockRequest"]["id"]
            .as_str()
            .expect("id")
            .to_string();

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("a bare array: {v}"))
            .iter()
            .map(|r| {
                assert!(r.get("airlockRequest").is_none(), "not wrapped: {r}");
                r["id"].as_str().unwrap_or("").to_string()
            })
            .collect()
    };
    let mine = e.t.get("/api/requests", &e.researcher).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(ids(&mine.body), [here.clone(), elsewhere.clone()]);
    assert_eq!(
        mine.body[1]["workspaceId"],
        other_ws.as_str(),
        "{}",
        mine.body
    );
    let exports = e.t.get("/api/requests?type=export", &e.researcher).await;
    assert_eq!(ids(&exports.body), std::slice::from_ref(&elsewhere));
    let drafts =
        e.t.get(
            "/api/requests?status=draft&order_ascending=false",
            &e.researcher,
        )
        .await;
    assert_eq!(ids(&drafts.body), [elsewhere.clone(), here.clone()]);

    // The manager created nothing, but manages the first workspace only.
    let none = e.t.get("/api/requests", &e.manager).await;
    assert_eq!(ids(&none.body), Vec::<String>::new());
    let managed =
        e.t.get("/api/requests?airlock_manager=true", &e.manager)
            .await;
    assert_eq!(ids(&managed.body), [here.clone(), owners.clone()]);
    let r =
        e.t.get("/api/requests?airlock_manager=yes", &e.manager)
            .await;
    assert_eq!(r.status, 422);
}

/// Azure TRE api_app/api/routes/airlock.py (`GET .../link`) and api_app/services/airlock.py
/// (`get_airlock_container_link`): `{"containerUrl": ...}`. S3 has no container-wide signed
/// link, so here a draft's requester gets a signed form upload limited to the request's prefix
/// (`containerUrl` is its target) and, later, whoever may read gets one link per file
/// (`containerUrl` is the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_gives_a_form_upload_in_draft_and_file_links_after() {
    let e = env().await;
    let rid = e.draft("import").await;
    let link =
        e.t.get(&format!("{}/link", e.path(&rid)), &e.researcher)
            .await;
    assert_eq!(link.status, 200, "{}", link.body);
    let form = &link.body["upload"];
    assert_eq!(link.body["containerUrl"], form["url"]);
    assert_eq!(form["method"], "POST");
    assert!(form["keyPrefix"]
        .as_str()
        .is_some_and(|p| p.ends_with(&format!("{}/{rid}/", e.ws))));
    assert!(form["maxBytes"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(link.body["files"], json!([]));
    // Only the requester uploads to a draft.
    for token in [&e.owner, &e.manager] {
        let r = e.t.get(&format!("{}/link", e.path(&rid)), token).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }

    // Two files through the form, none outside the request's prefix.
    let data = b"id,age\n1,42\n";
    assert_eq!(e.upload(&rid, "cohort.csv", data).await, 204);
    assert_eq!(e.upload(&rid, "codebook.txt", b"age: years").await, 204);
    let fields: BTreeMap<String, String> =
        serde_json::from_value(form["fields"].clone()).expect("fields");
    let outside = format!("{}/elsewhere/x.csv", e.ws);
    let (ct, body) = tre_testkit::object_store::form_upload(&fields, &outside, b"x");
    let r =
        e.t.http
            .post(form["url"].as_str().expect("url"))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("post");
    assert_eq!(r.status().as_u16(), 403);

    // Submit finds what the form uploaded; in review, the reviewer gets a link per file.
    let submitted = e.act(&rid, "submit", &e.researcher, &json!({})).await;
    let names: Vec<&str> = submitted["airlockRequest"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    // Found in key order.
    assert_eq!(names, ["codebook.txt", "cohort.csv"]);
    e.until_not(&rid, &e.researcher, &["submitted"]).await;
    let link = e.t.get(&format!("{}/link", e.path(&rid)), &e.manager).await;
    assert_eq!(link.status, 200, "{}", link.body);
    assert!(link.body.get("upload").is_none());
    let files = link.body["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    assert_eq!(link.body["containerUrl"], files[0]["url"]);
    let cohort = files
        .iter()
        .find(|f| f["file"] == "cohort.csv")
        .expect("cohort.csv");
    let got =
        e.t.http
            .get(cohort["url"].as_str().expect("url"))
            .send()
            .await
            .expect("download");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), data);
    // The requester does not read a request in review (the per-file rules).
    let r =
        e.t.get(&format!("{}/link", e.path(&rid)), &e.researcher)
            .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// Azure TRE api_app/api/routes/airlock.py (`POST .../review-user-resource`, airlock managers
/// only): a request not in review answers 400 (as Azure TRE does), the requester 403, an
/// unknown request 404; each as problem+json. (tests/tests/airlock_review_env.rs makes real
/// ones, and checks the 422 of a workspace without `airlock_review_config`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_user_resource_answers_as_azure_tre() {
    let e = env().await;
    let rid = e.draft("import").await;
    let path = format!("{}/review-user-resource", e.path(&rid));
    let r = e.t.post(&path, &e.manager, &json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.content_type.starts_with("application/problem+json"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("only made for a request in review"),
        "{}",
        r.body
    );
    assert_eq!(e.t.post(&path, &e.researcher, &json!({})).await.status, 403);
    let unknown = format!(
        "{}/00000000-0000-4000-8000-000000000000/review-user-resource",
        e.requests()
    );
    assert_eq!(e.t.post(&unknown, &e.manager, &json!({})).await.status, 404);
}

/// Azure TRE api_app/services/airlock.py (`get_allowed_actions`): `review`, `cancel`, `submit`,
/// `revoke`, in that order, as the status and the caller's role allow; every answer about one
/// request (get, submit, cancel, review, revoke) carries them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_user_actions_follow_the_status_and_the_role() {
    let e = env().await;
    let get = |rid: String, token: String| {
        let t = &e.t;
        let path = e.path(&rid);
        async move {
            let r = t.get(&path, &token).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(r.body["airlockRequest"].is_object(), "{}", r.body);
            actions(&r.body)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        }
    };
    let draft = e.draft("export").await;
    assert_eq!(
        get(draft.clone(), e.researcher.clone()).await,
        ["cancel", "submit"]
    );
    assert_eq!(get(draft.clone(), e.owner.clone()).await, ["cancel"]);
    assert!(get(draft.clone(), e.manager.clone()).await.is_empty());
    let cancelled = e.act(&draft, "cancel", &e.owner, &json!({})).await;
    assert_eq!(cancelled["airlockRequest"]["status"], "cancelled");
    assert!(actions(&cancelled).is_empty());

    let rid = e.draft("export").await;
    assert_eq!(e.upload(&rid, "t.csv", b"x\n1\n").await, 204);
    let submitted = e.act(&rid, "submit", &e.researcher, &json!({})).await;
    assert_eq!(submitted["airlockRequest"]["status"], "submitted");
    assert!(actions(&submitted).is_empty(), "{submitted}");
    e.until_not(&rid, &e.researcher, &["submitted"]).await;
    assert_eq!(get(rid.clone(), e.manager.clone()).await, ["review"]);
    assert_eq!(get(rid.clone(), e.researcher.clone()).await, ["cancel"]);
    assert_eq!(get(rid.clone(), e.owner.clone()).await, ["cancel"]);
    let body = json!({"approval": true, "decisionExplanation": "fine"});
    e.act(&rid, "review", &e.manager, &body).await;
    e.until_not(&rid, &e.researcher, &["approval_in_progress"])
        .await;
    assert_eq!(get(rid.clone(), e.manager.clone()).await, ["revoke"]);
    assert!(get(rid.clone(), e.researcher.clone()).await.is_empty());
    let revoked = e.act(&rid, "revoke", &e.manager, &json!({})).await;
    assert_eq!(revoked["airlockRequest"]["status"], "revoked");
    assert!(actions(&revoked).is_empty());
}

/// The OpenAPI document describes the Azure TRE shapes exactly: the bodies' fields, the
/// wrappers, the bare array of `/api/requests`, the link and the 501, and every `$ref` resolves.
#[test]
fn the_openapi_document_describes_the_airlock_shapes() {
    let doc = tre_api::openapi::document();
    let schemas = &doc["components"]["schemas"];
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for r in &refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas.get(name).is_some(), "{r} does not resolve");
    }
    let props = |name: &str| -> Vec<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no properties"))
            .keys()
            .cloned()
            .collect()
    };
    for (schema, fields) in [
        (
            "CreateAirlockRequest",
            &["type", "title", "businessJustification"][..],
        ),
        (
            "ReviewAirlockRequest",
            &["approval", "decisionExplanation"][..],
        ),
        ("RevokeAirlockRequest", &["reason"][..]),
        (
            "AirlockRequestWithAllowedUserActions",
            &["airlockRequest", "allowedUserActions"][..],
        ),
        ("AirlockLink", &["containerUrl", "upload", "files"][..]),
        (
            "AirlockRequest",
            &[
                "createdBy",
                "createdWhen",
                "businessJustification",
                "_etag",
                "reviewUserResources",
            ][..],
        ),
        (
            "AirlockReview",
            &[
                "reviewer",
                "dateCreated",
                "reviewDecision",
                "decisionExplanation",
            ][..],
        ),
    ] {
        let got = props(schema);
        for f in fields {
            assert!(got.iter().any(|g| g == f), "{schema} lacks {f}: {got:?}");
        }
    }
    let paths = &doc["paths"];
    let ws = "/api/workspaces/{workspaceId}/requests";
    assert_eq!(
        paths["/api/requests"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["type"],
        "array"
    );
    assert!(paths[format!("{ws}/{{requestId}}/link")]["get"].is_object());
    let rur = &paths[format!("{ws}/{{requestId}}/review-user-resource")];
    assert!(
        rur["post"]["responses"]["202"]["content"]["application/json"].is_object(),
        "{rur}"
    );
    assert!(rur["get"]["responses"]["200"].is_object(), "{rur}");
    assert_eq!(
        paths[format!("{ws}/{{requestId}}/revoke")]["post"]["requestBody"]["required"],
        false
    );
    assert_eq!(
        paths[ws]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AirlockRequestWithAllowedUserActions"
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

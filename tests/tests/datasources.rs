//! Data sources through the API: TRE admins register them (validated field by field; credentials
//! only as a secret's name, and a body carrying anything else is refused), list and read them;
//! no one else may. A refused registration stores nothing.

use serde_json::{json, Value};
use tre_e2e::{serve_exports, sha256_hex, TestStack, ADMISSIONS, CODEBOOK, EXPORTS};

fn https_source(name: &str) -> Value {
    json!({
        "kind": "Import", "displayName": name, "project": "Cohort study",
        "description": "Weekly admissions by region",
        "licence": "CC-BY-4.0",
        "publisher": {"organisation": "Example Trust", "contactName": "A. Steward", "contactRole": "Data steward"},
        "connection": {"type": "https", "baseUrl": "https://data.example.org/exports"},
        "credentialsSecret": "tre/example-exports",
        "objects": ["2026/admissions.csv", "codebook.txt"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_register_list_and_read_data_sources() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let created = t
        .post_ok("/api/datasources", &admin, &https_source("Admissions"), 201)
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["dataState"], "Pending");
    assert_eq!(created["createdBy"], "dev-admin");
    assert_eq!(created["credentialsSecret"], "tre/example-exports");
    assert_eq!(
        created["connection"]["baseUrl"],
        "https://data.example.org/exports"
    );

    let pg = json!({
        "kind": "Import", "displayName": "Warehouse table", "project": "Cohort study",
        "licence": "https://example.org/licences/internal",
        "publisher": {"organisation": "Example Trust", "contactName": "B. Engineer", "contactRole": "Data engineer"},
        "connection": {"type": "postgres", "host": "db.example.org", "port": 5432,
                       "database": "warehouse", "user": "reader", "table": "public.admissions",
                       "format": "parquet"},
        "credentialsSecret": "tre/warehouse-reader"
    });
    t.post_ok("/api/datasources", &admin, &pg, 201).await;
    let uploaded = json!({
        "kind": "Uploaded", "displayName": "Survey returns", "project": "Cohort study",
        "licence": "OGL-UK-3.0",
        "publisher": {"organisation": "Example Trust", "contactName": "C. Analyst", "contactRole": "Analyst"}
    });
    t.post_ok("/api/datasources", &admin, &uploaded, 201).await;

    let list = t.get("/api/datasources", &admin).await;
    assert_eq!(list.status, 200);
    let names: Vec<&str> = list.body["dataSources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["displayName"].as_str())
        .collect();
    assert_eq!(names, ["Admissions", "Warehouse table", "Survey returns"]);
    let one = t.get(&format!("/api/datasources/{id}"), &admin).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body, created);
    let missing = t.get("/api/datasources/no-such-source", &admin).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_refused_precisely_and_store_nothing() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    // Rules broken: 400; a field the body does not have (an unknown key): 422.
    let cases: Vec<(Value, &str, u16)> = vec![
        (
            {
                let mut b = https_source("x");
                b["objects"] = json!(["../secrets"]);
                b
            },
            "..",
            400,
        ),
        (
            {
                let mut b = https_source("x");
                b["licence"] = json!("free for all!");
                b
            },
            "licence",
            400,
        ),
        (
            {
                let mut b = https_source("x");
                b["connection"]["baseUrl"] = json!("https://u:pw@data.example.org/");
                b
            },
            "credentials",
            400,
        ),
        (
            {
                let mut b = https_source("x");
                b["connection"]["baseUrl"] = json!("ftp://data.example.org/");
                b
            },
            "https",
            400,
        ),
        (
            {
                let mut b = https_source("x");
                b["publisher"]["contactName"] = json!("");
                b
            },
            "contactName",
            400,
        ),
        (
            {
                let mut b = https_source("x");
                b["password"] = json!("hunter2");
                b
            },
            "password",
            422,
        ),
        (
            {
                let mut b = https_source("x");
                b["connection"] = json!({"type": "postgres", "host": "h", "port": 5432,
            "database": "d", "user": "u", "table": "t; drop table t", "format": "csv"});
                b["objects"] = json!([]);
                b
            },
            "identifier",
            400,
        ),
    ];
    for (body, needle, status) in cases {
        let r = t.post("/api/datasources", &admin, &body).await;
        assert_eq!(r.status, status, "{needle}: {}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{needle} not in `{detail}`");
    }
    let list = t.get("/api/datasources", &admin).await;
    assert_eq!(list.body["dataSources"], json!([]));
    // Only TRE admins.
    let r = t
        .post(
            "/api/datasources",
            &t.token("researcher"),
            &https_source("y"),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        t.get("/api/datasources", &t.token("owner")).await.status,
        403
    );
}

fn source(base: &str, objects: &[&str]) -> Value {
    let mut b = https_source("Regional admissions");
    b["connection"]["baseUrl"] = json!(format!("{base}/exports"));
    b["objects"] = json!(objects);
    b.as_object_mut().map(|o| o.remove("credentialsSecret"));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_source_is_imported_with_a_valid_ro_crate_reviewed_and_completed() {
    use tre_core::domain::datasource::data_key;
    use tre_core::domain::rocrate;
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let admin = t.token("admin");
    let base = serve_exports(EXPORTS).await;
    let ds = t
        .post_ok(
            "/api/datasources",
            &admin,
            &source(&base, &["admissions.csv", "2026/codebook.txt"]),
            201,
        )
        .await;
    let id = ds["id"].as_str().expect("id").to_string();
    let started = t
        .post_ok(
            &format!("/api/datasources/{id}/import"),
            &admin,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(started["dataState"], "Importing");
    assert_eq!(started["run"], 1);
    let imported = t.data_source_leaving(&id, "Importing").await;
    assert_eq!(imported["dataState"], "InReview", "{imported}");
    assert_eq!(imported["files"][0]["sha256"], sha256_hex(ADMISSIONS));
    assert_eq!(imported["files"][0]["encodingFormat"], "text/csv");
    assert_eq!(imported["files"][1]["name"], "2026/codebook.txt");

    // The files are where the source says, equal to the originals, and the RO-Crate describes
    // exactly them by the RO-Crate 1.1 rules.
    let mut on_disk = Vec::new();
    for (name, content) in EXPORTS {
        let got = t
            .read_workspace_data(&data_key(&id, name))
            .await
            .expect("imported file");
        assert_eq!(got, content.to_vec(), "{name}");
        on_disk.push((name.to_string(), got.len() as u64, sha256_hex(&got)));
    }
    let metadata: Value = serde_json::from_slice(
        &t.read_workspace_data(&data_key(&id, rocrate::METADATA_FILE))
            .await
            .expect("ro-crate"),
    )
    .expect("json");
    assert_eq!(rocrate::validate(&metadata, &on_disk), Vec::<String>::new());
    let graph = metadata["@graph"].as_array().expect("graph");
    let root = graph.iter().find(|e| e["@id"] == "./").expect("root");
    assert_eq!(root["name"], "Regional admissions");
    assert_eq!(
        root["license"]["@id"],
        "https://spdx.org/licenses/CC-BY-4.0"
    );
    let file = graph
        .iter()
        .find(|e| e["@id"] == "admissions.csv")
        .expect("file");
    assert_eq!(
        file["isBasedOn"]["@id"],
        format!("{base}/exports/admissions.csv")
    );

    // No second import while this one waits; a review needs a comment.
    let again = t
        .post(&format!("/api/datasources/{id}/import"), &admin, &json!({}))
        .await;
    assert_eq!(again.status, 409);
    let bare = t
        .post(
            &format!("/api/datasources/{id}/review"),
            &admin,
            &json!({"decision": "approve", "comment": " "}),
        )
        .await;
    assert_eq!(bare.status, 400);
    let done = t
        .post_ok(
            &format!("/api/datasources/{id}/review"),
            &admin,
            &json!({"decision": "approve", "comment": "matches the publisher's extract"}),
            200,
        )
        .await;
    assert_eq!(done["dataState"], "Completed");
    assert_eq!(done["review"]["reviewer"], "dev-admin");

    // Re-running is idempotent: the same files, the same checksums.
    t.post_ok(
        &format!("/api/datasources/{id}/import"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    let rerun = t.data_source_leaving(&id, "Importing").await;
    assert_eq!(rerun["dataState"], "InReview");
    assert_eq!(rerun["run"], 2);
    assert_eq!(rerun["files"], imported["files"]);
    // A rejection fails the source with its reason and deletes what was imported.
    let rejected = t
        .post_ok(
            &format!("/api/datasources/{id}/review"),
            &admin,
            &json!({"decision": "reject", "comment": "wrong week"}),
            200,
        )
        .await;
    assert_eq!(rejected["dataState"], "Failed");
    assert!(rejected["failureReason"]
        .as_str()
        .unwrap_or_default()
        .contains("wrong week"));
    assert!(t
        .read_workspace_data(&data_key(&id, "admissions.csv"))
        .await
        .is_none());
    assert!(t
        .read_workspace_data(&data_key(&id, rocrate::METADATA_FILE))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_connection_ends_failed_with_its_reason() {
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let base = serve_exports(EXPORTS).await;
    for (body, needle) in [
        (source(&closed, &["admissions.csv"]), "GET http://127.0.0.1"),
        (source(&base, &["admissions.csv", "missing.csv"]), "404"),
    ] {
        let failed = t.register_and_import(&body).await;
        assert_eq!(failed["dataState"], "Failed", "{failed}");
        let reason = failed["failureReason"].as_str().unwrap_or_default();
        assert!(reason.contains(needle), "`{needle}` not in `{reason}`");
        assert_eq!(failed["files"], json!([]));
    }
}

/// A completed source bound to workspace A: A's people list it and read its files through
/// read-only links, and A's bundles are told where it is on their next action; workspace B,
/// unbound, gets nothing, and binding a source that is not Completed is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_gives_a_workspace_read_access_and_an_unbound_one_none() {
    use tre_e2e::{create, register_bundle, sample_bundle};
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let admin = t.token("admin");
    register_bundle(&t, &admin, &sample_bundle("tre-workspace-base")).await;
    let a = create(&t, "/api/workspaces", &admin, "tre-workspace-base", "A").await;
    let b = create(&t, "/api/workspaces", &admin, "tre-workspace-base", "B").await;
    for (ws, who) in [(&a, "dev-researcher"), (&b, "dev-owner")] {
        t.post_ok(
            &format!("/api/workspaces/{ws}/role-assignments"),
            &admin,
            &json!({"principalId": who, "role": "WorkspaceResearcher"}),
            201,
        )
        .await;
    }
    let base = serve_exports(EXPORTS).await;
    let ds = t
        .post_ok(
            "/api/datasources",
            &admin,
            &source(&base, &["admissions.csv"]),
            201,
        )
        .await;
    let id = ds["id"].as_str().expect("id").to_string();
    let bind = json!({"dataSourceId": id});
    // Not Completed yet: no binding.
    let early = t
        .post(&format!("/api/workspaces/{a}/datasources"), &admin, &bind)
        .await;
    assert_eq!(early.status, 409, "{}", early.body);
    t.post_ok(
        &format!("/api/datasources/{id}/import"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    t.data_source_leaving(&id, "Importing").await;
    t.post_ok(
        &format!("/api/datasources/{id}/review"),
        &admin,
        &json!({"decision": "approve", "comment": "ok"}),
        200,
    )
    .await;
    let bound = t
        .post_ok(
            &format!("/api/workspaces/{a}/datasources"),
            &admin,
            &bind,
            201,
        )
        .await;
    assert_eq!(bound["prefix"], format!("datasources/{id}/"));
    // Binding twice changes nothing.
    t.post_ok(
        &format!("/api/workspaces/{a}/datasources"),
        &admin,
        &bind,
        201,
    )
    .await;

    let researcher = t.token("researcher");
    let listed = t
        .get(&format!("/api/workspaces/{a}/datasources"), &researcher)
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["dataSources"][0]["dataSourceId"], id.as_str());
    let link = t
        .get(
            &format!("/api/workspaces/{a}/datasources/{id}/link?file=admissions.csv"),
            &researcher,
        )
        .await;
    assert_eq!(link.status, 200, "{}", link.body);
    let got = t
        .http
        .get(link.body["url"].as_str().expect("url"))
        .send()
        .await
        .expect("download");
    assert_eq!(got.bytes().await.expect("body").as_ref(), ADMISSIONS);
    // The link reads only: the same URL refuses a write.
    let put = t
        .http
        .put(link.body["url"].as_str().expect("url"))
        .body("overwritten")
        .send()
        .await
        .expect("put");
    assert!(put.status().is_client_error(), "{}", put.status());

    // B is not bound: its member sees no source and gets no link.
    let owner_b = t.token("owner");
    let none = t
        .get(&format!("/api/workspaces/{b}/datasources"), &owner_b)
        .await;
    assert_eq!(none.body["dataSources"], json!([]));
    let refused = t
        .get(
            &format!("/api/workspaces/{b}/datasources/{id}/link?file=admissions.csv"),
            &owner_b,
        )
        .await;
    assert_eq!(refused.status, 404);
    // Nor does A's researcher reach it through B.
    let through_b = t
        .get(
            &format!("/api/workspaces/{b}/datasources/{id}/link?file=admissions.csv"),
            &researcher,
        )
        .await;
    assert_eq!(through_b.status, 404);

    // A's bundles learn where the data is on their next action.
    let ws = t.get(&format!("/api/workspaces/{a}"), &admin).await;
    let etag = ws.etag.clone().expect("etag");
    let patched = t
        .call(
            reqwest::Method::PATCH,
            &format!("/api/workspaces/{a}"),
            Some(&admin),
            Some(&json!({"properties": {"display_name": "A, renamed"}})),
            Some(&etag),
        )
        .await;
    assert_eq!(patched.status, 202, "{}", patched.body);
    let done = t.settled(&format!("/api/workspaces/{a}"), &admin).await;
    assert_eq!(done.item()["deploymentStatus"], "updated", "{}", done.body);
    let given: Value = serde_json::from_slice(
        &std::fs::read(
            t.stack
                .data_dir
                .join("storage/workspaces")
                .join(&a)
                .join("datasources.json"),
        )
        .expect("the bundle wrote what it was given"),
    )
    .expect("json");
    assert_eq!(given[0]["id"], id.as_str());
    assert_eq!(given[0]["prefix"], format!("datasources/{id}/"));
    assert_eq!(given[0]["readOnly"], true);

    // Unbinding takes the access away.
    let r = t
        .call(
            reqwest::Method::DELETE,
            &format!("/api/workspaces/{a}/datasources/{id}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let gone = t
        .get(
            &format!("/api/workspaces/{a}/datasources/{id}/link?file=admissions.csv"),
            &researcher,
        )
        .await;
    assert_eq!(gone.status, 404);
    // And A's bundles are told of none on their next action.
    let ws = t.get(&format!("/api/workspaces/{a}"), &admin).await;
    let patched = t
        .call(
            reqwest::Method::PATCH,
            &format!("/api/workspaces/{a}"),
            Some(&admin),
            Some(&json!({"properties": {"display_name": "A, unbound"}})),
            ws.etag.as_deref(),
        )
        .await;
    assert_eq!(patched.status, 202, "{}", patched.body);
    let done = t.settled(&format!("/api/workspaces/{a}"), &admin).await;
    assert_eq!(done.item()["deploymentStatus"], "updated", "{}", done.body);
    let given: Value = serde_json::from_slice(
        &std::fs::read(
            t.stack
                .data_dir
                .join("storage/workspaces")
                .join(&a)
                .join("datasources.json"),
        )
        .expect("the bundle wrote what it was given"),
    )
    .expect("json");
    assert_eq!(
        given,
        json!([]),
        "an unbound source is no longer given to the bundles"
    );
}

/// Credentials come from the named secret (here the local stack's secrets file), are sent to
/// the source, and appear nowhere in the TRE: not in the source, not in a failure's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_named_secret_and_are_never_shown() {
    const TOKEN: &str = "Bearer s3cret-export-token";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(TOKEN) {
            (axum::http::StatusCode::OK, ADMISSIONS.to_vec())
        } else {
            (
                axum::http::StatusCode::UNAUTHORIZED,
                b"who are you?".to_vec(),
            )
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let admin = t.token("admin");
    let mut body = source(&base, &["admissions.csv"]);
    body["credentialsSecret"] = json!("exports-token");
    let ds = t.post_ok("/api/datasources", &admin, &body, 201).await;
    let id = ds["id"].as_str().expect("id").to_string();

    // No such secret yet: Failed, naming the secret.
    t.post_ok(
        &format!("/api/datasources/{id}/import"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    let failed = t.data_source_leaving(&id, "Importing").await;
    assert_eq!(failed["dataState"], "Failed");
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(reason.contains("exports-token"), "{reason}");

    let secrets = t.stack.data_dir.join("secrets.json");
    std::fs::write(&secrets, json!({"exports-token": TOKEN}).to_string()).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    t.post_ok(
        &format!("/api/datasources/{id}/import"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    let imported = t.data_source_leaving(&id, "Importing").await;
    assert_eq!(imported["dataState"], "InReview", "{imported}");
    assert_eq!(imported["files"][0]["sha256"], sha256_hex(ADMISSIONS));
    for seen in [&ds, &failed, &imported] {
        assert!(
            !seen.to_string().contains("s3cret"),
            "the credential leaked: {seen}"
        );
    }
}

/// An Uploaded source is filled through pre-signed upload links, then goes through the same
/// import (checksums, scan, RO-Crate) and review; its staging copies are removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_source_is_filled_through_upload_links_and_imported() {
    use tre_core::domain::datasource::data_key;
    use tre_core::domain::rocrate;
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let ds = t
        .post_ok(
            "/api/datasources",
            &admin,
            &json!({
                "kind": "Uploaded", "displayName": "Survey returns", "project": "Cohort study",
                "licence": "OGL-UK-3.0",
                "publisher": {"organisation": "Example Trust", "contactName": "C. Analyst", "contactRole": "Analyst"}
            }),
            201,
        )
        .await;
    let id = ds["id"].as_str().expect("id").to_string();
    // Nothing to import before a file is uploaded.
    let early = t
        .post(&format!("/api/datasources/{id}/import"), &admin, &json!({}))
        .await;
    assert_eq!(early.status, 409);
    for (name, content) in [("survey.csv", ADMISSIONS), ("notes.txt", CODEBOOK)] {
        let link = t
            .post_ok(
                &format!("/api/datasources/{id}/files"),
                &admin,
                &json!({"name": name}),
                200,
            )
            .await;
        assert_eq!(link["method"], "PUT");
        let put = t
            .http
            .put(link["url"].as_str().expect("url"))
            .body(content.to_vec())
            .send()
            .await
            .expect("upload");
        assert!(put.status().is_success(), "{}", put.status());
    }
    let bad = t
        .post(
            &format!("/api/datasources/{id}/files"),
            &admin,
            &json!({"name": "../escape"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    t.post_ok(
        &format!("/api/datasources/{id}/import"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    let imported = t.data_source_leaving(&id, "Importing").await;
    assert_eq!(imported["dataState"], "InReview", "{imported}");
    assert_eq!(imported["files"][0]["sha256"], sha256_hex(ADMISSIONS));
    assert_eq!(imported["files"][1]["sha256"], sha256_hex(CODEBOOK));
    let on_disk = vec![
        (
            "survey.csv".to_string(),
            ADMISSIONS.len() as u64,
            sha256_hex(ADMISSIONS),
        ),
        (
            "notes.txt".to_string(),
            CODEBOOK.len() as u64,
            sha256_hex(CODEBOOK),
        ),
    ];
    let metadata: Value = serde_json::from_slice(
        &t.read_workspace_data(&data_key(&id, rocrate::METADATA_FILE))
            .await
            .expect("crate"),
    )
    .expect("json");
    assert_eq!(rocrate::validate(&metadata, &on_disk), Vec::<String>::new());
    // The staging copies are gone once the files are in place.
    let staging = t
        .stack
        .app
        .airlock
        .as_ref()
        .expect("storage")
        .store(tre_core::domain::airlock::Stage::ImportStaging)
        .expect("store");
    assert!(staging
        .head(&data_key(&id, "survey.csv"))
        .await
        .expect("head")
        .is_none());
}

/// Registration refuses what it can tell is forbidden without resolving anything: literal
/// addresses that are not globally routable (in any spelling, IPv4-mapped ones included),
/// `localhost`, and plain http, each naming its reason; the deployment's allowed networks
/// open them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_forbidden_destinations_unless_the_networks_are_allowed() {
    let with_base = |url: &str| {
        let mut b = https_source("x");
        b["connection"]["baseUrl"] = json!(url);
        b
    };
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    for (url, reason) in [
        (
            "https://169.254.170.2/",
            "169.254.170.2 is link-local (169.254.0.0/16)",
        ),
        ("https://10.0.0.5/", "10.0.0.5 is private (10.0.0.0/8)"),
        (
            "https://[::ffff:127.0.0.1]/",
            "::ffff:127.0.0.1 is IPv4-mapped 127.0.0.1, which is loopback (127.0.0.0/8)",
        ),
        ("https://[fe80::1]/", "fe80::1 is link-local (fe80::/10)"),
        (
            "http://localhost:8080/",
            "`localhost` is this machine (loopback)",
        ),
        ("http://data.example.org/", "use https"),
    ] {
        let r = t.post("/api/datasources", &admin, &with_base(url)).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(reason),
            "{url}: `{reason}` not in `{detail}`"
        );
    }
    let mut pg = https_source("x");
    pg["objects"] = json!([]);
    pg["connection"] = json!({"type": "postgres", "host": "::ffff:169.254.170.2", "port": 5432,
        "database": "d", "user": "u", "table": "t", "format": "csv",
        "caCertificate": "-----BEGIN CERTIFICATE-----\n"});
    let r = t.post("/api/datasources", &admin, &pg).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("IPv4-mapped 169.254.170.2, which is link-local"));
    assert_eq!(
        t.get("/api/datasources", &admin).await.body["dataSources"],
        json!([])
    );

    // Allowing loopback opens loopback, and only that.
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let admin = t.token("admin");
    for url in [
        "http://localhost:8080/",
        "https://[::ffff:127.0.0.1]/",
        "http://[::1]:8080/",
    ] {
        t.post_ok("/api/datasources", &admin, &with_base(url), 201)
            .await;
    }
    let r = t
        .post(
            "/api/datasources",
            &admin,
            &with_base("https://169.254.170.2/"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// A file server that counts its requests: refusals must happen before anything is sent.
async fn counting_server(hits: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().fallback(move || {
        hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { ADMISSIONS.to_vec() }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// The import enforces the runner's own setting, whatever registration accepted: here the API
/// allows loopback but the runner's `TRE_DATASOURCE_ALLOWED_NETWORKS` is empty (as after a
/// deployment narrowed it), so a literal loopback address and `localhost` (resolved to its
/// loopback addresses) are refused before any request, each with its reason in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_refuses_destinations_its_own_setting_forbids() {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let port = counting_server(hits.clone()).await;
    let t = TestStack::start_with(|o| {
        o.datasource_allowed_networks = tre_e2e::LOOPBACK.parse().unwrap_or_default();
        if let Some(r) = o.airlock_runner.as_mut() {
            r.env
                .push(("TRE_DATASOURCE_ALLOWED_NETWORKS".into(), String::new()));
        }
    })
    .await
    .expect("stack");
    for (base, reason) in [
        (
            format!("http://127.0.0.1:{port}"),
            "refused: 127.0.0.1 is loopback (127.0.0.0/8)",
        ),
        (
            format!("http://localhost:{port}"),
            "refused: `localhost` resolves only to refused addresses:",
        ),
    ] {
        let failed = t
            .register_and_import(&source(&base, &["admissions.csv"]))
            .await;
        assert_eq!(failed["dataState"], "Failed", "{failed}");
        let got = failed["failureReason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "`{reason}` not in `{got}`");
        assert!(
            got.contains("TRE_DATASOURCE_ALLOWED_NETWORKS is empty"),
            "{got}"
        );
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// A source's server redirects: to the task's credentials endpoint, to a private address, to
/// an IPv4-mapped one, and down to plain http; the import follows none and ends Failed with the
/// reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_forbidden_destination_ends_the_import_failed_with_its_reason() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let plain = format!("{base}/exports/admissions.csv");
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let plain = plain.clone();
        async move {
            let to = match uri.path() {
                "/exports/credentials.csv" => "https://169.254.170.2/v2/credentials".to_string(),
                "/exports/private.csv" => "https://10.0.0.5/admissions.csv".to_string(),
                "/exports/mapped.csv" => "https://[::ffff:169.254.169.254]/latest".to_string(),
                "/exports/downgrade.csv" => plain,
                _ => return (axum::http::StatusCode::OK, [("x-none", String::new())]),
            };
            (axum::http::StatusCode::FOUND, [("location", to)])
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    for (object, reason) in [
        (
            "credentials.csv",
            "the redirect to `https://169.254.170.2/v2/credentials` is not followed: 169.254.170.2 is link-local (169.254.0.0/16)",
        ),
        ("private.csv", "10.0.0.5 is private (10.0.0.0/8)"),
        (
            "mapped.csv",
            "::ffff:169.254.169.254 is IPv4-mapped 169.254.169.254, which is link-local",
        ),
        ("downgrade.csv", "redirects are followed only to https"),
    ] {
        let failed = t.register_and_import(&source(&base, &[object])).await;
        assert_eq!(failed["dataState"], "Failed", "{failed}");
        let got = failed["failureReason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "{object}: `{reason}` not in `{got}`");
        assert!(got.contains(&format!("GET {base}/exports/{object}")), "{got}");
    }
}

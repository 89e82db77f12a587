//! Data sources through the API: TRE admins register them (validated field by field; credentials
//! only as a secret's name, and a body carrying anything else is refused), list and read them;
//! no one else may. A refused registration stores nothing.

use serde_json::{json, Value};
use tre_e2e::TestStack;

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
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = https_source("x");
                b["objects"] = json!(["../secrets"]);
                b
            },
            "..",
        ),
        (
            {
                let mut b = https_source("x");
                b["licence"] = json!("free for all!");
                b
            },
            "licence",
        ),
        (
            {
                let mut b = https_source("x");
                b["connection"]["baseUrl"] = json!("https://u:pw@data.example.org/");
                b
            },
            "credentials",
        ),
        (
            {
                let mut b = https_source("x");
                b["connection"]["baseUrl"] = json!("ftp://data.example.org/");
                b
            },
            "https",
        ),
        (
            {
                let mut b = https_source("x");
                b["publisher"]["contactName"] = json!("");
                b
            },
            "contactName",
        ),
        (
            {
                let mut b = https_source("x");
                b["password"] = json!("hunter2");
                b
            },
            "password",
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
        ),
    ];
    for (body, needle) in cases {
        let r = t.post("/api/datasources", &admin, &body).await;
        assert_eq!(r.status, 400, "{needle}: {}", r.body);
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

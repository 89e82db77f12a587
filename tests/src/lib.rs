//! Shared harness for the end-to-end tests: a private local stack per test (fresh data
//! directory, API on a free loopback port) and a small HTTP helper.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tre_local::{DevOptions, DevStack};

pub struct TestStack {
    pub stack: DevStack,
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

/// One response, reduced to what tests look at.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    /// The `Location` header, when there is one.
    pub location: Option<String>,
    pub content_type: String,
    pub body: Value,
}

/// The keys single items are wrapped in (as Azure TRE wraps them).
pub const ITEM_KEYS: [&str; 6] = [
    "workspace",
    "workspaceService",
    "userResource",
    "sharedService",
    "operation",
    "airlockRequest",
];

/// The item inside a wrapped single-item body (`{"workspace": {...}}` gives the workspace);
/// any other body as it is.
pub fn item(body: &Value) -> &Value {
    match body.as_object() {
        Some(o) if o.len() == 1 => ITEM_KEYS.iter().find_map(|k| o.get(*k)).unwrap_or(body),
        _ => body,
    }
}

impl Reply {
    /// The resource, operation or request a single-item response wraps.
    pub fn item(&self) -> &Value {
        item(&self.body)
    }
}

impl TestStack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// A stack whose data sources may be the tests' own servers on loopback: allowed through
    /// the setting a deployment would use, not a path of their own.
    pub async fn start_allowing_loopback() -> anyhow::Result<Self> {
        Self::start_with(|o| {
            o.datasource_allowed_networks = LOOPBACK.parse().unwrap_or_default();
        })
        .await
    }

    /// A stack on [`test_options`] adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut DevOptions)) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut options = test_options(dir.path());
        adjust(&mut options);
        let stack = DevStack::start(options).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            stack,
            http,
            _dir: Some(dir),
        })
    }

    /// A harness around a stack the test started itself (on a directory it keeps).
    pub fn wrap(stack: DevStack) -> Self {
        Self {
            stack,
            http: reqwest::Client::new(),
            _dir: None,
        }
    }

    /// Stop the stack as `tre dev` stops on Ctrl-C.
    pub async fn stack_shutdown(self) {
        self.stack.shutdown().await
    }

    pub fn token(&self, user: &str) -> String {
        self.stack
            .token_for(user)
            .unwrap_or_else(|e| panic!("no token for {user}: {e}"))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.stack.api_url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(e) = if_match {
            req = req.header("If-Match", e);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            etag,
            location,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body), None)
            .await
    }

    /// GET a resource until its operation has ended (deployed, failed, deleted...): the local
    /// stack really runs every operation now. Gives up after a minute.
    pub async fn settled(&self, path: &str, token: &str) -> Reply {
        self.settled_within(path, token, Duration::from_secs(60))
            .await
    }

    /// `settled`, for operations that take longer (Terraform against an emulator).
    pub async fn settled_within(&self, path: &str, token: &str, limit: Duration) -> Reply {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let r = self.get(path, token).await;
            let status = r.item()["deploymentStatus"].as_str().unwrap_or_default();
            let busy = status.starts_with("awaiting_")
                || matches!(
                    status,
                    "deploying" | "updating" | "deleting" | "invoking_action" | "pipeline_running"
                );
            if r.status != 200 || !busy {
                return r;
            }
            if std::time::Instant::now() > deadline {
                let ops = self.get(&format!("{path}/operations"), token).await;
                panic!(
                    "{path} stayed {status} for {limit:?}; operations: {}",
                    ops.body
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Give each `(principal, role)` its role in workspace `ws` (as `admin`, a TRE admin).
    pub async fn assign_roles(&self, admin: &str, ws: &str, assignments: &[(&str, &str)]) {
        for (principal, role) in assignments {
            self.post_ok(
                &format!("/api/workspaces/{ws}/role-assignments"),
                admin,
                &serde_json::json!({"principalId": principal, "role": role}),
                201,
            )
            .await;
        }
    }

    /// POST that must succeed with `status`; returns the body.
    pub async fn post_ok(&self, path: &str, token: &str, body: &Value, status: u16) -> Value {
        let r = self.post(path, token, body).await;
        assert_eq!(r.status, status, "POST {path}: {:?}", r.body);
        r.body
    }
}

/// The loopback networks, as `TRE_DATASOURCE_ALLOWED_NETWORKS` names them.
pub const LOOPBACK: &str = "127.0.0.0/8,::1/128";

/// Options of a test stack: private port, fast retries, and the task runners of this package.
pub fn test_options(dir: &std::path::Path) -> DevOptions {
    let mut o = DevOptions::for_tests(dir);
    o.runner = Some(tre_local::RunnerCommand {
        program: runner_program(),
        args: Vec::new(),
        env: Vec::new(),
    });
    o.airlock_runner = Some(tre_local::RunnerCommand {
        program: runner_program(),
        args: vec!["airlock".into()],
        env: Vec::new(),
    });
    o
}

/// This package's `tre-e2e-runner` binary: Cargo builds it next to the test executables'
/// `deps/` folder whenever it builds this package's tests.
pub fn runner_program() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("TRE_E2E_RUNNER") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    dir.join(format!("tre-e2e-runner{}", std::env::consts::EXE_SUFFIX))
}

/// A parameters schema with the markers our templates use, for tests.
pub fn sample_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["display_name"],
        "properties": {
            "display_name": {"type": "string", "minLength": 1, "maxLength": 100, "updateable": true},
            "size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1},
            "secret_key": {"type": "string", "sensitive": true, "updateable": true}
        },
        "additionalProperties": false
    })
}

/// Register one template of each kind (each with a `restart` custom action); the user-resource
/// one under its workspace-service template, at Azure TRE's nested route.
pub async fn register_sample_templates(t: &TestStack, admin: &str) {
    let reg = |name: &str| {
        serde_json::json!({
            "name": name, "version": "1.0.0", "description": format!("{name} for tests"),
            "parameters": sample_schema(),
            "customActions": [{"name": "restart", "description": "Restart it"}]
        })
    };
    t.post_ok("/api/workspace-templates", admin, &reg("ws-base"), 201)
        .await;
    t.post_ok(
        "/api/workspace-service-templates",
        admin,
        &reg("svc-notebook"),
        201,
    )
    .await;
    t.post_ok(
        "/api/workspace-service-templates/svc-notebook/user-resource-templates",
        admin,
        &reg("ur-vm"),
        201,
    )
    .await;
    t.post_ok(
        "/api/shared-service-templates",
        admin,
        &reg("shared-mirror"),
        201,
    )
    .await;
}

/// The repository's sample bundle `name` (under `bundles/`).
pub fn sample_bundle(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bundles")
        .join(name)
}

/// Build a bundle into the stack's OCI layout and register its template (what
/// `tre bundle register` does); returns the template's name.
pub async fn register_bundle(t: &TestStack, admin: &str, dir: &std::path::Path) -> String {
    let artifact =
        tre_bundle::build(dir).unwrap_or_else(|e| panic!("build {}: {e}", dir.display()));
    let layout = t.stack.data_dir.join("bundles");
    tre_bundle::write_layout(&layout, &artifact, &artifact.manifest.version)
        .unwrap_or_else(|e| panic!("layout: {e}"));
    let reference = tre_bundle::BundleRef::Layout {
        dir: layout,
        reference: tre_bundle::Reference::Digest(artifact.digest.clone()),
    }
    .to_string();
    let body = artifact.manifest.template_registration(&reference);
    t.post_ok(&artifact.manifest.registration_path(), admin, &body, 201)
        .await;
    artifact.manifest.name.clone()
}

/// Create a resource and return its id.
pub async fn create(t: &TestStack, path: &str, token: &str, template: &str, name: &str) -> String {
    let body = serde_json::json!({"templateName": template, "properties": {"display_name": name}});
    let v = t.post_ok(path, token, &body, 202).await;
    let id = v["operation"]["resourceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    t.settled(&format!("{path}/{id}"), token).await;
    id
}

/// One token of every kind a correct validator must refuse, each claiming admin rights.
pub fn bad_tokens(t: &TestStack) -> Vec<(String, String)> {
    use tre_auth::testing::{claims, tamper_payload, token_alg_none, token_hs256_with_public_key};
    let issuer = &t.stack.issuer;
    let iss = t.stack.issuer_url.as_str();
    let aud = tre_local::DEV_AUDIENCE;
    let admin = |mut c: Value| {
        c["roles"] = serde_json::json!(["TREAdmin", "TREUser"]);
        c
    };
    let sign = |c: Value| issuer.sign_claims(&c).expect("sign");
    let good = admin(claims(iss, aud, "dev-admin", 3600));
    let mut not_yet = good.clone();
    not_yet["nbf"] = serde_json::json!(not_yet["iat"].as_i64().unwrap_or(0) + 3600);
    let valid_researcher = t.token("researcher");
    vec![
        ("alg-none".into(), token_alg_none(&good)),
        (
            "hs256-signed-with-the-public-key".into(),
            token_hs256_with_public_key(
                &good,
                issuer.public_key_pem().as_bytes(),
                Some(&issuer.kid()),
            ),
        ),
        (
            "wrong-issuer".into(),
            sign(admin(claims(
                "https://evil.example.org",
                aud,
                "dev-admin",
                3600,
            ))),
        ),
        (
            "wrong-audience".into(),
            sign(admin(claims(iss, "another-api", "dev-admin", 3600))),
        ),
        (
            "expired".into(),
            sign(admin(claims(iss, aud, "dev-admin", -3600))),
        ),
        ("not-yet-valid".into(), sign(not_yet)),
        (
            "tampered-payload".into(),
            tamper_payload(&valid_researcher, &good),
        ),
        ("garbage".into(), "not-a-token".into()),
    ]
}

/// Lower-case hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

impl TestStack {
    /// The whole object `key` of the workspace-data store (where imported data sources live),
    /// as the runners left it; `None` when there is no such object.
    pub async fn read_workspace_data(&self, key: &str) -> Option<Vec<u8>> {
        use futures::StreamExt;
        let store = self
            .stack
            .app
            .airlock
            .as_ref()
            .expect("airlock storage")
            .store(tre_core::domain::airlock::Stage::WorkspaceData)
            .expect("store");
        let mut got = store.get(key, None).await.ok()?;
        let mut out = Vec::new();
        while let Some(c) = got.body.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        Some(out)
    }

    /// GET a data source (as the admin) until its `dataState` is no longer `state`.
    pub async fn data_source_leaving(&self, id: &str, state: &str) -> Value {
        let admin = self.token("admin");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(&format!("/api/datasources/{id}"), &admin).await;
            if r.body["dataState"] != state {
                return r.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stuck {state}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Register a data source as the admin, import it, and return it once the import ended.
    pub async fn register_and_import(&self, body: &Value) -> Value {
        let admin = self.token("admin");
        let ds = self.post_ok("/api/datasources", &admin, body, 201).await;
        let id = ds["id"].as_str().expect("id").to_string();
        self.post_ok(
            &format!("/api/datasources/{id}/import"),
            &admin,
            &serde_json::json!({}),
            200,
        )
        .await;
        self.data_source_leaving(&id, "Importing").await
    }
}

/// A file server of the test's own (what a data engineer's source system would be): serves
/// `files` under `/exports/<path>`, 404 for anything else. Plain HTTP on loopback, which the
/// stack's allowed networks admit. Returns its base URL.
pub async fn serve_exports(files: &'static [(&'static str, &'static [u8])]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| async move {
        match files
            .iter()
            .find(|(p, _)| uri.path() == format!("/exports/{p}"))
        {
            Some((_, body)) => (axum::http::StatusCode::OK, body.to_vec()),
            None => (
                axum::http::StatusCode::NOT_FOUND,
                b"no such export".to_vec(),
            ),
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// Sample exports for [`serve_exports`]: a CSV and a text file in a folder.
pub const ADMISSIONS: &[u8] = b"region,week,admissions\nnorth,1,12\nsouth,1,9\n";
pub const CODEBOOK: &[u8] = b"region: NHS region\nweek: ISO week\n";
pub static EXPORTS: &[(&str, &[u8])] = &[
    ("admissions.csv", ADMISSIONS),
    ("2026/codebook.txt", CODEBOOK),
];

impl TestStack {
    /// A draft export request opened by `token` in `ws`, with one file uploaded through its
    /// link; returns the request's API path.
    pub async fn export_with_file(
        &self,
        ws: &str,
        token: &str,
        title: &str,
        file: &str,
        content: &[u8],
    ) -> String {
        let requests = format!("/api/workspaces/{ws}/requests");
        let body =
            serde_json::json!({"type": "export", "title": title, "businessJustification": "paper"});
        let opened = self.post_ok(&requests, token, &body, 201).await;
        let rid = opened["airlockRequest"]["id"].as_str().expect("id");
        let request = format!("{requests}/{rid}");
        let link = self
            .post_ok(
                &format!("{request}/files"),
                token,
                &serde_json::json!({"name": file}),
                200,
            )
            .await;
        let put = self
            .http
            .put(link["url"].as_str().expect("url"))
            .body(content.to_vec())
            .send()
            .await
            .expect("upload");
        assert!(put.status().is_success(), "upload: {}", put.status());
        request
    }

    /// GET an airlock request (`path`) until its status is `until`.
    pub async fn request_reaching(&self, path: &str, token: &str, until: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(path, token).await;
            let request = r.body["airlockRequest"].clone();
            if request["status"] == until {
                return request;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never reached {until}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// An `Import` data source fetching `admissions.csv` from [`serve_exports`] at `base`.
pub fn admissions_source(base: &str) -> Value {
    serde_json::json!({
        "kind": "Import", "displayName": "Admissions", "project": "Cohort study",
        "description": "Weekly admissions by region", "licence": "CC-BY-4.0",
        "publisher": {"organisation": "Example Trust", "contactName": "A. Steward", "contactRole": "Data steward"},
        "connection": {"type": "https", "baseUrl": format!("{base}/exports")},
        "objects": ["admissions.csv"]
    })
}

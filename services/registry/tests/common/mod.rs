//! The harness of the spec suites: the registry served over HTTP on the filesystem store or on
//! S3 (moto server), and helpers to push blobs, manifests and images.
#![allow(dead_code)]

use std::sync::Arc;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tre_core::ports::ObjectStore;

pub struct Server {
    pub base: String,
    pub http: Client,
    _dir: tempfile::TempDir,
    _moto: Option<tre_testkit::moto::MotoServer>,
    pub storage: tre_registry::Storage,
    /// With token auth: the key, and the test realm's URL (`GET <realm>?scope=..` with Basic
    /// `user:` grants what [`realm_allows`] says).
    pub tokens: Option<(RegistryTokenKey, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

use tre_auth::registry_token::{Access, RegistryTokenKey};

/// The test realm's rules: `admin` may do anything; `owner` pulls and pushes `team/...`;
/// everyone pulls `team/...` and `public/...`; nothing else.
pub fn realm_allows(user: &str, kind: &str, name: &str, action: &str) -> bool {
    match (user, kind) {
        ("admin", _) => true,
        (_, "repository") if name.starts_with("team/") => {
            action == "pull" || (user == "owner" && action == "push")
        }
        (_, "repository") => name.starts_with("public/") && action == "pull",
        _ => false,
    }
}

/// A token for `user` naming each asked scope with the actions the rules allow (none kept as
/// an empty list, as the TRE's realm does).
pub fn grant(key: &RegistryTokenKey, user: &str, scopes: &[&str]) -> String {
    let mut access: Vec<Access> = Vec::new();
    for s in scopes.iter().flat_map(|s| s.split_whitespace()) {
        let mut a = Access::parse_scope(s).expect("scope");
        a.actions
            .retain(|x| realm_allows(user, &a.kind, &a.name, x));
        match access
            .iter_mut()
            .find(|b| b.kind == a.kind && b.name == a.name)
        {
            Some(b) => b.actions.extend(a.actions),
            None => access.push(a),
        }
    }
    key.issue(user, access, std::time::Duration::from_secs(60))
        .expect("token")
}

async fn realm(
    axum::extract::State(key): axum::extract::State<RegistryTokenKey>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use base64::Engine;
    let user = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|up| up.split(':').next().map(str::to_string));
    let Some(user) = user else {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    };
    let scopes: Vec<String> = url_pairs(uri.query().unwrap_or_default())
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let token = grant(&key, &user, &scopes);
    axum::Json(json!({"token": token})).into_response()
}

/// `a=b&c=d` with `+` and `%xx` decoded.
pub fn url_pairs(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub async fn serve_on(
    store: Arc<dyn ObjectStore>,
    dir: tempfile::TempDir,
    moto: Option<tre_testkit::moto::MotoServer>,
) -> Server {
    serve_storage(tre_registry::Storage::new(store), dir, moto).await
}

pub async fn serve_storage(
    storage: tre_registry::Storage,
    dir: tempfile::TempDir,
    moto: Option<tre_testkit::moto::MotoServer>,
) -> Server {
    serve_with(storage, dir, moto, false).await
}

/// The registry, with token auth (and the test realm beside it) when `tokens`.
pub async fn serve_with(
    storage: tre_registry::Storage,
    dir: tempfile::TempDir,
    moto: Option<tre_testkit::moto::MotoServer>,
    tokens: bool,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let key = RegistryTokenKey::new(vec![9u8; 32], "tre-registry").expect("key");
    let realm_url = format!("{base}/token");
    let auth = if tokens {
        tre_registry::RegistryAuth::Tokens {
            key: key.clone(),
            realm: realm_url.clone(),
        }
    } else {
        tre_registry::RegistryAuth::Anyone
    };
    let realm_route = axum::Router::new()
        .route("/token", axum::routing::get(realm))
        .with_state(key.clone());
    let app = realm_route.merge(tre_registry::router(storage.clone(), auth));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        base,
        http: Client::new(),
        _dir: dir,
        _moto: moto,
        storage,
        tokens: tokens.then_some((key, realm_url)),
        task,
    }
}

/// The registry on the filesystem store (the registry's own, as its binary runs it).
pub async fn fs() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(tre_registry::RegistryFs::open(dir.path()).expect("store"));
    serve_on(store, dir, None).await
}

/// The registry on the embedded filesystem store (as `tre dev` runs it).
pub async fn fs_embedded() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(
        tre_embedded::FsObjectStore::open(dir.path(), "http://127.0.0.1", vec![7u8; 32])
            .expect("store"),
    );
    serve_on(store, dir, None).await
}

/// The registry on S3 (moto server on loopback).
pub async fn s3() -> Server {
    let (store, moto) = s3_store().await;
    serve_on(store, tempfile::tempdir().expect("tempdir"), Some(moto)).await
}

/// The registry on the filesystem store with token auth.
pub async fn fs_tokens() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(tre_registry::RegistryFs::open(dir.path()).expect("store"));
    serve_with(tre_registry::Storage::new(store), dir, None, true).await
}

/// The registry on S3 (moto) with token auth.
pub async fn s3_tokens() -> Server {
    let (store, moto) = s3_store().await;
    serve_with(
        tre_registry::Storage::new(store),
        tempfile::tempdir().expect("tempdir"),
        Some(moto),
        true,
    )
    .await
}

/// A bucket on a fresh moto server, as an object store.
pub async fn s3_store() -> (Arc<dyn ObjectStore>, tre_testkit::moto::MotoServer) {
    let moto = tre_testkit::moto::MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = tre_aws::S3ObjectStore::client(&conf, true);
    moto.create_bucket("registry").await.expect("bucket");
    let store: Arc<dyn ObjectStore> = Arc::new(tre_aws::S3ObjectStore::new(client, "registry", ""));
    (store, moto)
}

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn digest512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)))
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("get")
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.http.head(self.url(path)).send().await.expect("head")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .send()
            .await
            .expect("delete")
    }

    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self
            .http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
            .body(data.to_vec())
            .send()
            .await
            .expect("post");
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap_or_default()
        );
        d
    }

    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        m: &Value,
    ) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(serde_json::to_vec(m).expect("json"))
            .send()
            .await
            .expect("put manifest")
    }

    /// An image manifest over a config and one layer, pushed to `repo`.
    pub async fn image(&self, repo: &str, layer: &[u8]) -> (Value, String) {
        let config = self.push_blob(repo, b"{}").await;
        let l = self.push_blob(repo, layer).await;
        let m = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}]
        });
        (m.clone(), digest(&serde_json::to_vec(&m).expect("json")))
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Runs each named requirement on each store: the same suite on the filesystem and on S3
/// (`@tokens`: with token auth and the test realm).
macro_rules! on_both_stores {
    (@tokens $($name:ident),* $(,)?) => {
        on_both_stores!(@with fs_tokens, s3_tokens; $($name),*);
    };
    (@with $fs:ident, $s3:ident; $($name:ident),* $(,)?) => {
        mod filesystem {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::$fs().await).await })*
        }
        mod s3_on_moto {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::$s3().await).await })*
        }
    };
    ($($name:ident),* $(,)?) => {
        on_both_stores!(@with fs, s3; $($name),*);
    };
}

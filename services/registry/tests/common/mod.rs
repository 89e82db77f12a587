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
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = tre_registry::router(storage.clone(), tre_registry::RegistryAuth::Anyone);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        base,
        http: Client::new(),
        _dir: dir,
        _moto: moto,
        storage,
        task,
    }
}

/// The registry on the filesystem store.
pub async fn fs() -> Server {
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

/// Runs each named requirement on each store: the same suite on the filesystem and on S3.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod filesystem {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::fs().await).await })*
        }
        mod s3_on_moto {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::s3().await).await })*
        }
    };
}

//! The registry's token flow: anonymous access is refused with a challenge naming the realm,
//! the service and the scope; a token allows exactly the actions it names; forged or foreign
//! tokens are refused; mounting needs the right to read the source.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tre_auth::registry_token::{Access, RegistryTokenKey};
use tre_core::ports::ObjectStore;

struct Reg {
    base: String,
    key: RegistryTokenKey,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reg {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve() -> Reg {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(
        tre_embedded::FsObjectStore::open(dir.path(), "http://127.0.0.1", vec![7u8; 32])
            .expect("store"),
    );
    let key = RegistryTokenKey::new(vec![9u8; 32], "tre-registry").expect("key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = tre_registry::router(
        tre_registry::Storage::new(store),
        tre_registry::RegistryAuth::Tokens {
            key: key.clone(),
            realm: "https://tre.example/api/registry/token".into(),
        },
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Reg {
        base,
        key,
        _dir: dir,
        task,
    }
}

fn token(key: &RegistryTokenKey, scopes: &[&str]) -> String {
    let access = scopes
        .iter()
        .map(|s| Access::parse_scope(s).expect("scope"))
        .collect();
    key.issue("tester", access, Duration::from_secs(60))
        .expect("token")
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[tokio::test]
async fn anonymous_access_is_refused_with_a_challenge() {
    let r = serve().await;
    let resp = reqwest::get(format!("{}/v2/team/app/tags/list", r.base))
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"https://tre.example/api/registry/token\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("service=\"tre-registry\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"repository:team/app:pull\""),
        "{challenge}"
    );
    let base = reqwest::get(format!("{}/v2/", r.base)).await.expect("get");
    assert_eq!(base.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_allows_exactly_what_it_names() {
    let r = serve().await;
    let http = reqwest::Client::new();
    let data = b"layer";
    let d = digest(data);
    let push = token(&r.key, &["repository:team/app:pull,push"]);
    let pull = token(&r.key, &["repository:team/app:pull"]);
    let url = format!("{}/v2/team/app/blobs/uploads/?digest={d}", r.base);
    let refused = http
        .post(&url)
        .bearer_auth(&pull)
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    // A valid token without the scope: 403, and the challenge names the scope to ask for.
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let challenge = refused.headers()["www-authenticate"].to_str().expect("h");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(
        challenge.contains("scope=\"repository:team/app:pull,push\""),
        "{challenge}"
    );
    let ok = http
        .post(&url)
        .bearer_auth(&push)
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::CREATED);
    let get = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::OK);
    // Another repository, a forged token, a token for another service: refused.
    let other = http
        .get(format!("{}/v2/team/other/blobs/{d}", r.base))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let forged = token(
        &RegistryTokenKey::new(vec![1u8; 32], "tre-registry").expect("key"),
        &["repository:team/app:pull"],
    );
    let r1 = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&forged)
        .send()
        .await
        .expect("get");
    assert_eq!(r1.status(), StatusCode::UNAUTHORIZED);
    assert!(r1.headers()["www-authenticate"]
        .to_str()
        .expect("h")
        .contains("invalid_token"));
    let foreign = token(
        &RegistryTokenKey::new(vec![9u8; 32], "elsewhere").expect("key"),
        &["repository:team/app:pull"],
    );
    let r2 = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&foreign)
        .send()
        .await
        .expect("get");
    assert_eq!(r2.status(), StatusCode::UNAUTHORIZED);
    // Deleting needs `delete`.
    let del = http
        .delete(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&push)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn mounting_needs_the_right_to_read_the_source() {
    let r = serve().await;
    let http = reqwest::Client::new();
    let d = digest(b"secret layer");
    let owner = token(&r.key, &["repository:private/src:pull,push"]);
    http.post(format!(
        "{}/v2/private/src/blobs/uploads/?digest={d}",
        r.base
    ))
    .bearer_auth(&owner)
    .body(b"secret layer".to_vec())
    .send()
    .await
    .expect("push");
    let thief = token(&r.key, &["repository:mine/app:pull,push"]);
    let m = http
        .post(format!(
            "{}/v2/mine/app/blobs/uploads/?mount={d}&from=private/src",
            r.base
        ))
        .bearer_auth(&thief)
        .send()
        .await
        .expect("mount");
    // Not mounted: an ordinary upload starts instead, and the blob stays unknown to mine/app.
    assert_eq!(m.status(), StatusCode::ACCEPTED);
    let get = http
        .get(format!("{}/v2/mine/app/blobs/{d}", r.base))
        .bearer_auth(&thief)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
}

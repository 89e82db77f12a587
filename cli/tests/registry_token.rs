//! `tre registry token`: a registry token from the API's realm with the TRE token, used as a
//! Bearer token directly against the local registry (how skopeo's `--dest-registry-token` and
//! oras's `--registry-token` work where the realm sits behind a JWT gateway). It allows what the
//! caller may do and nothing more.

use std::process::Command;

use sha2::{Digest, Sha256};
use tre_local::{DevOptions, DevStack};

fn token(api: &str, user_token: &str, scope: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tre"))
        .args(["registry", "token", "--scope", scope])
        .env("TRE_API", api)
        .env("TRE_TOKEN", user_token)
        .output()
        .expect("run tre");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_token_pushes_for_an_admin_and_not_for_a_researcher() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = DevOptions::for_tests(dir.path());
    opts.registry_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let stack = DevStack::start(opts).await.expect("start");
    let scope = "repository:tre/bundles/cli:pull,push";
    let (api, admin, researcher) = (
        stack.api_url.clone(),
        stack.token_for("admin").expect("token"),
        stack.token_for("researcher").expect("token"),
    );
    let (a, r) = tokio::task::spawn_blocking(move || {
        (token(&api, &admin, scope), token(&api, &researcher, scope))
    })
    .await
    .expect("join");
    let data = b"pushed with a printed token";
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let url = format!(
        "{}/v2/tre/bundles/cli/blobs/uploads/?digest={digest}",
        stack.registry_url
    );
    let http = reqwest::Client::new();
    let refused = http
        .post(&url)
        .bearer_auth(&r)
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(
        refused.status().as_u16(),
        403,
        "a researcher may not push bundles"
    );
    let pushed = http
        .post(&url)
        .bearer_auth(&a)
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(pushed.status().as_u16(), 201);
    let pulled = http
        .get(format!(
            "{}/v2/tre/bundles/cli/blobs/{digest}",
            stack.registry_url
        ))
        .bearer_auth(&r)
        .send()
        .await
        .expect("get");
    assert_eq!(pulled.status().as_u16(), 200, "every user pulls bundles");
    assert_eq!(pulled.bytes().await.expect("body").as_ref(), data);
}

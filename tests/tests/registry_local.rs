//! The registry of the local stack: `tre bundle push` (the bundle crate's client) goes through
//! the token flow with TRE tokens; an admin pushes, a researcher pulls but may not push.

use tre_e2e::{sample_bundle, TestStack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_go_through_the_local_registry_with_tre_tokens() {
    let t = TestStack::start().await.expect("stack");
    let artifact = tre_bundle::build(&sample_bundle("tre-workspace-base")).expect("build");
    let repo = "tre/bundles/tre-workspace-base";
    let admin = tre_bundle::RegistryClient::new(&t.stack.registry_url, Some(t.token("admin")))
        .expect("client");
    let digest = admin
        .push(repo, "1.0.0", &artifact)
        .await
        .expect("admin pushes");
    assert_eq!(digest, artifact.digest);

    let researcher =
        tre_bundle::RegistryClient::new(&t.stack.registry_url, Some(t.token("researcher")))
            .expect("client");
    let pulled = researcher
        .pull(repo, &tre_bundle::Reference::Digest(digest.clone()))
        .await
        .expect("a user pulls bundles");
    assert_eq!(pulled.layer.bytes, artifact.layer.bytes);
    assert!(
        researcher.push(repo, "evil", &artifact).await.is_err(),
        "a user may not push bundles"
    );

    let anonymous = tre_bundle::RegistryClient::new(&t.stack.registry_url, None).expect("client");
    assert!(anonymous
        .pull(repo, &tre_bundle::Reference::Tag("1.0.0".into()))
        .await
        .is_err());
}

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

/// A template whose bundle lives in the registry (what `tre bundle register --push` records)
/// deploys: the local stack hands the bundle runner a pull token for that repository only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_in_the_registry_is_pulled_by_the_bundle_runner() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    let artifact = tre_bundle::build(&sample_bundle("tre-workspace-base")).expect("build");
    let repo = "tre/bundles/tre-workspace-base";
    let client = tre_bundle::RegistryClient::new(&t.stack.registry_url, Some(admin.clone()))
        .expect("client");
    let digest = client.push(repo, "1.0.0", &artifact).await.expect("push");
    let host = t.stack.registry_url.trim_start_matches("http://");
    let reference = tre_bundle::BundleRef::parse(&format!("{host}/{repo}:1.0.0"))
        .expect("reference")
        .with_digest(&digest)
        .to_string();
    assert!(!reference.contains("layout"), "{reference}");
    let body = artifact.manifest.template_registration(&reference);
    t.post_ok("/api/workspace-templates", &admin, &body, 201)
        .await;
    let ws = tre_e2e::create(
        &t,
        "/api/workspaces",
        &admin,
        "tre-workspace-base",
        "From the registry",
    )
    .await;
    let done = t.settled(&format!("/api/workspaces/{ws}"), &admin).await;
    assert_eq!(done.item()["deploymentStatus"], "deployed", "{}", done.body);
    // Nothing was written to the OCI layout: the runner could only have pulled from the registry.
    assert!(!t.stack.data_dir.join("bundles").exists());
}

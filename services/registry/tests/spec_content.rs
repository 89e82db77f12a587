//! More of the distribution spec's requirements, one test each, on both stores: the kinds of
//! content the conformance suite pushes (OCI index, nested index, Docker schema 2 manifest and
//! manifest list, a subject that does not exist yet), streamed uploads, mounts without a source,
//! tag deletion, and the spec's error codes.

#[macro_use]
mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn descriptor(media_type: &str, m: &Value, d: &str) -> Value {
    json!({"mediaType": media_type, "digest": d, "size": serde_json::to_vec(m).expect("json").len(),
           "platform": {"architecture": "amd64", "os": "linux"}})
}

async fn an_image_index_and_a_nested_index_are_pushed_and_pulled(s: Server) {
    let (m, md) = s.image("r", b"amd64 layer").await;
    assert_eq!(
        s.push_manifest("r", &md, OCI_MANIFEST, &m).await.status(),
        StatusCode::CREATED
    );
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [descriptor(OCI_MANIFEST, &m, &md)]});
    let id = digest(&serde_json::to_vec(&index).expect("json"));
    let r = s.push_manifest("r", "multi", OCI_INDEX, &index).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["docker-content-digest"], id.as_str());
    let nested = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [descriptor(OCI_INDEX, &index, &id)]});
    assert_eq!(
        s.push_manifest("r", "nested", OCI_INDEX, &nested)
            .await
            .status(),
        StatusCode::CREATED
    );
    for (tag, body) in [("multi", &index), ("nested", &nested)] {
        let got = s.get(&format!("/v2/r/manifests/{tag}")).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.headers()["content-type"], OCI_INDEX);
        assert_eq!(&got.json::<Value>().await.expect("json"), body);
    }
    // An index naming a manifest the repository does not hold is refused.
    let dangling = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                          "manifests": [descriptor(OCI_MANIFEST, &m, &digest(b"no such manifest"))]});
    let r = s.push_manifest("r", "dangling", OCI_INDEX, &dangling).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get("/v2/r/manifests/dangling").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn docker_schema2_manifests_and_manifest_lists_keep_their_media_types(s: Server) {
    let config = s
        .push_blob("d", br#"{"architecture":"amd64","os":"linux"}"#)
        .await;
    let layer = s.push_blob("d", b"docker layer").await;
    let m = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 37},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 12}]});
    let md = digest(&serde_json::to_vec(&m).expect("json"));
    assert_eq!(
        s.push_manifest("d", "v2", DOCKER_MANIFEST, &m)
            .await
            .status(),
        StatusCode::CREATED
    );
    let list = json!({"schemaVersion": 2, "mediaType": DOCKER_LIST,
                      "manifests": [descriptor(DOCKER_MANIFEST, &m, &md)]});
    assert_eq!(
        s.push_manifest("d", "list", DOCKER_LIST, &list)
            .await
            .status(),
        StatusCode::CREATED
    );
    for (tag, media_type) in [("v2", DOCKER_MANIFEST), ("list", DOCKER_LIST)] {
        let h = s.head(&format!("/v2/d/manifests/{tag}")).await;
        assert_eq!(h.status(), StatusCode::OK);
        assert_eq!(h.headers()["content-type"], media_type, "{tag}");
    }
}

async fn a_streamed_upload_without_content_range_is_accepted(s: Server) {
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 239) as u8).collect();
    let d = digest(&data);
    let post = s
        .http
        .post(s.url("/v2/r/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let location = post.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let patch = s
        .http
        .patch(s.url(&location))
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status(), StatusCode::ACCEPTED);
    assert_eq!(
        patch.headers()["range"],
        format!("0-{}", data.len() - 1).as_str()
    );
    let next = patch.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let sep = if next.contains('?') { '&' } else { '?' };
    let put = s
        .http
        .put(s.url(&format!("{next}{sep}digest={d}")))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);
    let got = s.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());
}

async fn a_manifest_whose_subject_does_not_exist_yet_is_accepted(s: Server) {
    let (mut m, _) = s.image("r", b"signature").await;
    let future = digest(b"an image pushed later");
    m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": future, "size": 123});
    m["artifactType"] = json!("application/vnd.tre.signature");
    let r = s.push_manifest("r", "sig", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["oci-subject"], future.as_str());
    let refs = s.get(&format!("/v2/r/referrers/{future}")).await;
    assert_eq!(refs.status(), StatusCode::OK);
    let v: Value = refs.json().await.expect("json");
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.tre.signature"
    );
}

async fn a_mount_without_a_source_repository_starts_an_upload(s: Server) {
    let d = s.push_blob("elsewhere", b"shared layer").await;
    let r = s
        .http
        .post(s.url(&format!("/v2/r/blobs/uploads/?mount={d}")))
        .send()
        .await
        .expect("post");
    // Without `from` the registry may not search other repositories: it opens an upload.
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers().contains_key("location"));
    assert_eq!(
        s.head(&format!("/v2/r/blobs/{d}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn a_tag_is_deleted_and_its_manifest_stays_by_digest(s: Server) {
    let (m, d) = s.image("r", b"tagged").await;
    s.push_manifest("r", "old", OCI_MANIFEST, &m).await;
    s.push_manifest("r", "keep", OCI_MANIFEST, &m).await;
    assert_eq!(
        s.delete("/v2/r/manifests/old").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.get("/v2/r/manifests/old").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/v2/r/manifests/{d}")).await.status(),
        StatusCode::OK
    );
    let tags: Value = s.get("/v2/r/tags/list").await.json().await.expect("json");
    assert_eq!(tags["tags"], json!(["keep"]));
}

async fn unknown_content_is_answered_with_the_spec_error_codes(s: Server) {
    s.push_blob("r", b"something").await;
    let cases = [
        (format!("/v2/r/blobs/{}", digest(b"absent")), "BLOB_UNKNOWN"),
        ("/v2/r/manifests/absent".to_string(), "MANIFEST_UNKNOWN"),
        ("/v2/never-pushed/tags/list".to_string(), "NAME_UNKNOWN"),
        (
            "/v2/r/blobs/uploads/00000000-0000-0000-0000-000000000000".to_string(),
            "BLOB_UPLOAD_UNKNOWN",
        ),
    ];
    for (path, code) in cases {
        let r = s.get(&path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["errors"][0]["code"], code, "{path}");
    }
    let r = s.get("/v2/r/blobs/sha256:not-hex").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID");
}

/// In S3 mode a pull may go straight to S3: the registry checks access, then redirects to a
/// short-lived pre-signed link; a blob the repository does not hold is not redirected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_a_blob_pull_may_redirect_to_a_pre_signed_link() {
    let (store, moto) = s3_store().await;
    let endpoint = moto.endpoint().to_string();
    let storage =
        tre_registry::Storage::new(store).redirect_pulls(std::time::Duration::from_secs(60));
    let s = serve_storage(storage, tempfile::tempdir().expect("tempdir"), Some(moto)).await;
    let data = b"served by S3".to_vec();
    let d = s.push_blob("r", &data).await;
    let manual = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = manual
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let location = r.headers()["location"].to_str().expect("location");
    assert!(location.starts_with(&endpoint), "{location}");
    let followed = s.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(followed.status(), StatusCode::OK);
    assert_eq!(
        followed.bytes().await.expect("body").as_ref(),
        data.as_slice()
    );
    let elsewhere = manual
        .get(s.url(&format!("/v2/other/blobs/{d}")))
        .send()
        .await
        .expect("get");
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
}

on_both_stores!(
    an_image_index_and_a_nested_index_are_pushed_and_pulled,
    docker_schema2_manifests_and_manifest_lists_keep_their_media_types,
    a_streamed_upload_without_content_range_is_accepted,
    a_manifest_whose_subject_does_not_exist_yet_is_accepted,
    a_mount_without_a_source_repository_starts_an_upload,
    a_tag_is_deleted_and_its_manifest_stays_by_digest,
    unknown_content_is_answered_with_the_spec_error_codes,
);

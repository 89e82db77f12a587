//! The distribution spec's requirements, one test each (named after them), against the
//! registry served over HTTP on the filesystem store.

#[macro_use]
mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn the_base_endpoint_answers(s: Server) {
    let r = s.get("/v2/").await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn pull_manifests_by_tag_and_by_digest_with_their_media_type_and_digest(s: Server) {
    let (m, d) = s.image("tre/bundles/base", b"layer").await;
    let r = s
        .push_manifest("tre/bundles/base", "1.0.0", OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    for reference in ["1.0.0", d.as_str()] {
        let r = s
            .get(&format!("/v2/tre/bundles/base/manifests/{reference}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
        assert_eq!(digest(&r.bytes().await.expect("body")), d);
        let h = s
            .head(&format!("/v2/tre/bundles/base/manifests/{reference}"))
            .await;
        assert_eq!(h.status(), StatusCode::OK);
        assert_eq!(h.headers()["docker-content-digest"], d.as_str());
    }
    let missing = s.get("/v2/tre/bundles/base/manifests/nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let v: Value = missing.json().await.expect("json");
    assert_eq!(v["errors"][0]["code"], "MANIFEST_UNKNOWN");
}

async fn pull_blobs_whole_and_by_range(s: Server) {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let d = s.push_blob("r", &data).await;
    let r = s.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    assert_eq!(r.bytes().await.expect("body").as_ref(), data.as_slice());
    let part = s
        .http
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("get");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(part.bytes().await.expect("body").as_ref(), &data[10..20]);
    let h = s.head(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(h.headers()["content-length"], "100000");
    // A blob is known per repository.
    let other = s.get(&format!("/v2/other/blobs/{d}")).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

async fn push_a_blob_in_chunks_resuming_after_a_broken_connection(s: Server) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let d = digest(&data);
    let start = s
        .http
        .post(s.url("/v2/r/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    assert_eq!(start.status(), StatusCode::ACCEPTED);
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let patch = |from: usize, to: usize| {
        s.http
            .patch(s.url(&location))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{from}-{}", to - 1))
            .body(data[from..to].to_vec())
            .send()
    };
    let r = patch(0, 100_000).await.expect("patch");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-99999");
    // The client lost track: it asks where the upload stands, and goes on from there.
    let status = s.get(&location).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-99999");
    // A small chunk: the registry answers before reading a body it refuses, and a large one
    // could still be in flight when the connection closes.
    let wrong = patch(50_000, 50_010).await.expect("patch");
    assert_eq!(wrong.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    patch(100_000, 200_000).await.expect("patch");
    let fin = s
        .http
        .put(s.url(&format!("{location}?digest={d}")))
        .body(data[200_000..].to_vec())
        .send()
        .await
        .expect("put");
    assert_eq!(fin.status(), StatusCode::CREATED);
    let got = s.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());
    // A finished upload is gone.
    assert_eq!(s.get(&location).await.status(), StatusCode::NOT_FOUND);
}

async fn a_push_with_a_wrong_digest_is_refused_and_stores_nothing(s: Server) {
    let wrong = digest(b"something else");
    let r = s
        .http
        .post(s.url(&format!("/v2/r/blobs/uploads/?digest={wrong}")))
        .body(b"the real bytes".to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID");
    for d in [wrong, digest(b"the real bytes")] {
        let h = s.head(&format!("/v2/r/blobs/{d}")).await;
        assert_eq!(h.status(), StatusCode::NOT_FOUND);
    }
}

async fn an_upload_can_be_cancelled(s: Server) {
    let start = s
        .http
        .post(s.url("/v2/r/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    s.http
        .patch(s.url(&location))
        .body(b"abc".to_vec())
        .send()
        .await
        .expect("patch");
    let del = s.delete(&location).await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let status = s.get(&location).await;
    assert_eq!(status.status(), StatusCode::NOT_FOUND);
}

async fn a_blob_is_mounted_from_another_repository(s: Server) {
    let d = s.push_blob("source", b"shared layer").await;
    let r = s
        .http
        .post(s.url(&format!("/v2/target/blobs/uploads/?mount={d}&from=source")))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = s.get(&format!("/v2/target/blobs/{d}")).await;
    assert_eq!(got.bytes().await.expect("body").as_ref(), b"shared layer");
    // From a repository that does not hold it: an ordinary upload starts instead.
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/third/blobs/uploads/?mount={}&from=nowhere",
            digest(b"x")
        )))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn a_manifest_referring_to_missing_blobs_is_refused_and_the_tag_does_not_move(s: Server) {
    let (m, _) = s.image("r", b"v1").await;
    assert_eq!(
        s.push_manifest("r", "latest", OCI_MANIFEST, &m)
            .await
            .status(),
        StatusCode::CREATED
    );
    let mut bad = m.clone();
    bad["layers"][0]["digest"] = json!(digest(b"never pushed"));
    let r = s.push_manifest("r", "latest", OCI_MANIFEST, &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    let now = s.get("/v2/r/manifests/latest").await;
    assert_eq!(now.json::<Value>().await.expect("json"), m);
    // Nor is a manifest whose declared media type contradicts its Content-Type, or that is not JSON.
    let r = s
        .push_manifest("r", "x", "application/vnd.oci.image.index.v1+json", &m)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn tags_are_listed_in_order_with_pagination_and_the_catalog_lists_repositories(s: Server) {
    let (m, _) = s.image("app", b"x").await;
    for t in ["b", "a", "c", "v1.0"] {
        s.push_manifest("app", t, OCI_MANIFEST, &m).await;
    }
    let all: Value = s.get("/v2/app/tags/list").await.json().await.expect("json");
    assert_eq!(all["tags"], json!(["a", "b", "c", "v1.0"]));
    let page = s.get("/v2/app/tags/list?n=2").await;
    assert!(page.headers()["link"]
        .to_str()
        .expect("link")
        .contains("last=b"));
    assert_eq!(
        page.json::<Value>().await.expect("json")["tags"],
        json!(["a", "b"])
    );
    let next: Value = s
        .get("/v2/app/tags/list?n=2&last=b")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(next["tags"], json!(["c", "v1.0"]));
    s.image("zeta/x", b"y").await;
    let cat: Value = s.get("/v2/_catalog").await.json().await.expect("json");
    assert_eq!(cat["repositories"], json!(["app", "zeta/x"]));
}

async fn referrers_are_listed_and_filtered_by_artifact_type(s: Server) {
    let (m, subject) = s.image("r", b"image").await;
    s.push_manifest("r", "latest", OCI_MANIFEST, &m).await;
    let empty = s.push_blob("r", b"{}").await;
    for (kind, body) in [
        ("application/vnd.tre.sbom", b"sbom" as &[u8]),
        ("application/vnd.tre.signature", b"sig"),
    ] {
        let layer = s.push_blob("r", body).await;
        let a = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": body.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": serde_json::to_vec(&m).expect("json").len()}
        });
        let d = digest(&serde_json::to_vec(&a).expect("json"));
        let r = s.push_manifest("r", &d, OCI_MANIFEST, &a).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["oci-subject"], subject.as_str());
    }
    let all: Value = s
        .get(&format!("/v2/r/referrers/{subject}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(all["manifests"].as_array().map(Vec::len), Some(2));
    let one = s
        .get(&format!(
            "/v2/r/referrers/{subject}?artifactType=application/vnd.tre.sbom"
        ))
        .await;
    assert_eq!(one.headers()["oci-filters-applied"], "artifactType");
    let one: Value = one.json().await.expect("json");
    assert_eq!(
        one["manifests"][0]["artifactType"],
        "application/vnd.tre.sbom"
    );
    assert_eq!(one["manifests"].as_array().map(Vec::len), Some(1));
}

async fn manifests_and_blobs_are_deleted(s: Server) {
    let (m, d) = s.image("r", b"gone").await;
    s.push_manifest("r", "t", OCI_MANIFEST, &m).await;
    let del = s.delete(&format!("/v2/r/manifests/{d}")).await;
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    for reference in ["t", d.as_str()] {
        let r = s.get(&format!("/v2/r/manifests/{reference}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{reference}");
    }
    let layer = m["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let del = s.delete(&format!("/v2/r/blobs/{layer}")).await;
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    let r = s.get(&format!("/v2/r/blobs/{layer}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn names_and_references_outside_the_grammar_are_refused(s: Server) {
    for path in [
        "/v2/UPPER/tags/list",
        "/v2/a/../b/tags/list",
        "/v2/a//b/tags/list",
    ] {
        let r = s.get(path).await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let r = s
        .http
        .put(s.url("/v2/r/manifests/-bad"))
        .header("content-type", OCI_MANIFEST)
        .body("{}")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn concurrent_pushes_of_the_same_blob_and_duplicate_manifest_puts_are_harmless(s: Server) {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    let pushes = (0..8).map(|_| s.push_blob("r", &data));
    let digests = futures::future::join_all(pushes).await;
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    let got = s.get(&format!("/v2/r/blobs/{}", digests[0])).await;
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());
    let (m, d) = s.image("r", b"dup").await;
    for _ in 0..3 {
        let r = s.push_manifest("r", "same", OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    }
}

/// What `tre bundle push` and the bundle runner do, through this registry.
async fn bundles_pushed_by_tre_are_pulled_and_verified(s: Server) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles/tre-workspace-base");
    let artifact = tre_bundle::build(&dir).expect("build");
    let client = tre_bundle::RegistryClient::new(&s.base, None).expect("client");
    let digest = client
        .push("tre/bundles/tre-workspace-base", "1.0.0", &artifact)
        .await
        .expect("push");
    assert_eq!(digest, artifact.digest);
    for reference in [
        tre_bundle::Reference::Tag("1.0.0".into()),
        tre_bundle::Reference::Digest(digest.clone()),
    ] {
        let pulled = client
            .pull("tre/bundles/tre-workspace-base", &reference)
            .await
            .expect("pull");
        assert_eq!(pulled.digest, artifact.digest);
        assert_eq!(pulled.layer.bytes, artifact.layer.bytes);
    }
}

async fn garbage_collection_sweeps_only_what_no_manifest_refers_to(s: Server) {
    use std::time::Duration;
    let (a, _) = s.image("keep", b"kept layer").await;
    s.push_manifest("keep", "v1", OCI_MANIFEST, &a).await;
    let orphan = s.push_blob("keep", b"never referenced").await;
    let (b, bd) = s.image("drop", b"dropped layer").await;
    s.push_manifest("drop", "v1", OCI_MANIFEST, &b).await;
    s.delete(&format!("/v2/drop/manifests/{bd}")).await;

    let dry = tre_registry::gc::collect(&s.storage, Duration::ZERO, false)
        .await
        .expect("gc");
    let swept: Vec<&str> = dry.blobs_swept.iter().map(|(d, _)| d.as_str()).collect();
    let dropped_layer = b["layers"][0]["digest"].as_str().expect("digest");
    for d in [orphan.as_str(), dropped_layer, bd.as_str()] {
        assert!(swept.contains(&d), "{d} should be swept: {swept:?}");
    }
    // A dry run deletes nothing.
    let h = s.head(&format!("/v2/keep/blobs/{orphan}")).await;
    assert_eq!(h.status(), StatusCode::OK);

    let done = tre_registry::gc::collect(&s.storage, Duration::ZERO, true)
        .await
        .expect("gc");
    assert_eq!(done.blobs_swept.len(), dry.blobs_swept.len());
    let h = s.head(&format!("/v2/keep/blobs/{orphan}")).await;
    assert_eq!(h.status(), StatusCode::NOT_FOUND);
    // What a manifest refers to is whole.
    let m = s.get("/v2/keep/manifests/v1").await;
    assert_eq!(m.status(), StatusCode::OK);
    for d in [&a["config"]["digest"], &a["layers"][0]["digest"]] {
        let r = s
            .get(&format!("/v2/keep/blobs/{}", d.as_str().expect("digest")))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{d}");
    }
    // Shared blobs (the empty config) stay while anything refers to them.
    assert!(!swept.contains(&a["config"]["digest"].as_str().expect("digest")));
}

async fn a_collection_racing_a_push_loses_nothing(s: Server) {
    // The push's blobs are in; its manifest is not yet.
    let (m, _) = s.image("race", b"layer in flight").await;
    let gc = tre_registry::gc::collect(&s.storage, tre_registry::gc::DEFAULT_GRACE, true);
    let push = s.push_manifest("race", "v1", OCI_MANIFEST, &m);
    let (report, pushed) = tokio::join!(gc, push);
    assert!(report.expect("gc").blobs_swept.is_empty());
    assert_eq!(pushed.status(), StatusCode::CREATED);
    for d in [&m["config"]["digest"], &m["layers"][0]["digest"]] {
        let r = s
            .get(&format!("/v2/race/blobs/{}", d.as_str().expect("digest")))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{d}");
    }
    // Had the collection taken the blob first, the push fails cleanly instead of leaving a
    // manifest that refers to nothing.
    let (late, _) = s.image("late", b"collected first").await;
    tre_registry::gc::collect(&s.storage, std::time::Duration::ZERO, true)
        .await
        .expect("gc");
    let r = s.push_manifest("late", "v1", OCI_MANIFEST, &late).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let gone = s.get("/v2/late/manifests/v1").await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

on_both_stores!(
    the_base_endpoint_answers,
    bundles_pushed_by_tre_are_pulled_and_verified,
    garbage_collection_sweeps_only_what_no_manifest_refers_to,
    a_collection_racing_a_push_loses_nothing,
    pull_manifests_by_tag_and_by_digest_with_their_media_type_and_digest,
    pull_blobs_whole_and_by_range,
    push_a_blob_in_chunks_resuming_after_a_broken_connection,
    a_push_with_a_wrong_digest_is_refused_and_stores_nothing,
    an_upload_can_be_cancelled,
    a_blob_is_mounted_from_another_repository,
    a_manifest_referring_to_missing_blobs_is_refused_and_the_tag_does_not_move,
    tags_are_listed_in_order_with_pagination_and_the_catalog_lists_repositories,
    referrers_are_listed_and_filtered_by_artifact_type,
    manifests_and_blobs_are_deleted,
    names_and_references_outside_the_grammar_are_refused,
    concurrent_pushes_of_the_same_blob_and_duplicate_manifest_puts_are_harmless,
);

//! Range and chunk semantics, connection handling, sha512 and non-distributable layers: one
//! test per requirement (named after the spec's or the RFC's words), on both stores.

#[macro_use]
mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

async fn start_upload(s: &Server, query: &str) -> String {
    let r = s
        .http
        .post(s.url(&format!("/v2/r/blobs/uploads/{query}")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

fn with_query(location: &str, q: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{q}")
}

/// distribution-spec, pushing a blob in chunks: "If the final chunk is uploaded out of order,
/// the registry MUST respond with a 416 Requested Range Not Satisfiable code", and a GET then
/// tells where the upload stands, so it goes on from there.
async fn a_final_chunk_out_of_order_is_answered_416_and_the_upload_stays_resumable(s: Server) {
    let data: Vec<u8> = (0..3067u32).map(|i| (i % 250) as u8).collect();
    let d = digest(&data);
    let location = start_upload(&s, "").await;
    let r = s
        .http
        .patch(s.url(&location))
        .header("content-range", "0-1023")
        .body(data[..1024].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // The last chunk, skipping 1024..2048.
    let r = s
        .http
        .put(s.url(&with_query(&location, &format!("digest={d}"))))
        .header("content-range", "2048-3066")
        .body(data[2048..].to_vec())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["range"], "0-1023");
    // A chunk out of order in a PATCH too, and a chunk shorter than its range.
    let r = s
        .http
        .patch(s.url(&location))
        .header("content-range", "2048-3066")
        .body(data[2048..].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = s
        .http
        .patch(s.url(&location))
        .header("content-range", "1024-2047")
        .body(data[1024..2000].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let status = s.get(&location).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-1023");
    let r = s
        .http
        .patch(s.url(&location))
        .header("content-range", "1024-2047")
        .body(data[1024..2048].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = s
        .http
        .put(s.url(&with_query(&location, &format!("digest={d}"))))
        .header("content-range", "2048-3066")
        .body(data[2048..].to_vec())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = s.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());
}

async fn ranged(s: &Server, d: &str, range: &str) -> reqwest::Response {
    s.http
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .header("range", range)
        .send()
        .await
        .expect("get")
}

/// RFC 9110 14.1.2 (byte ranges: `first-last`, `first-`, suffix `-n`) and 15.3.7 / 15.5.17:
/// a satisfiable range is answered 206 with its Content-Range; an unsatisfiable one 416 with
/// `Content-Range: bytes */<size>`; a range the server does not serve (several, another unit)
/// may be ignored: the whole blob, 200.
async fn rfc9110_byte_ranges_suffix_ranges_and_unsatisfiable_ranges(s: Server) {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 247) as u8).collect();
    let d = s.push_blob("r", &data).await;
    for (range, from, to) in [
        ("bytes=-500", 9500, 9999),
        ("bytes=9000-", 9000, 9999),
        ("bytes=10-19", 10, 19),
        ("bytes=9990-20000", 9990, 9999),
        ("bytes=-20000", 0, 9999),
    ] {
        let r = ranged(&s, &d, range).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {from}-{to}/10000").as_str(),
            "{range}"
        );
        assert_eq!(
            r.bytes().await.expect("body").as_ref(),
            &data[from..=to],
            "{range}"
        );
    }
    for range in ["bytes=10000-", "bytes=20000-30000", "bytes=-0"] {
        let r = ranged(&s, &d, range).await;
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.headers()["content-range"], "bytes */10000", "{range}");
    }
    for range in ["bytes=0-1,5-6", "items=0-1", "bytes=5-2"] {
        let r = ranged(&s, &d, range).await;
        assert_eq!(r.status(), StatusCode::OK, "{range}");
        assert_eq!(r.bytes().await.expect("body").len(), 10_000, "{range}");
    }
    let empty = s.push_blob("r", b"").await;
    let r = ranged(&s, &empty, "bytes=-1").await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */0");
}

/// One HTTP/1.1 exchange on an open connection; `None` if the server closed it.
async fn exchange(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
    head: &str,
    body: &[u8],
) -> Option<(u16, Vec<(String, String)>, Vec<u8>)> {
    conn.get_mut().write_all(head.as_bytes()).await.ok()?;
    conn.get_mut().write_all(body).await.ok()?;
    let mut status = String::new();
    if conn.read_line(&mut status).await.ok()? == 0 {
        return None;
    }
    let code = status.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut out = vec![0u8; len];
    conn.read_exact(&mut out).await.ok()?;
    Some((code, headers, out))
}

/// RFC 9112 9.3 (persistence) and 9.6 (tear-down): a server that answers before reading a
/// request's body must read the rest of it or say `Connection: close`; it must never leave a
/// client a connection that fails its next request. One connection makes, in a row, refused
/// unauthenticated PUTs with a body and good requests, many times; a body too large to read is
/// answered with `Connection: close`.
async fn rfc9112_a_refused_request_with_a_body_leaves_the_connection_usable(s: Server) {
    let (key, _) = s.tokens.clone().expect("token auth");
    let token = grant(&key, "owner", &["repository:team/app:pull,push"]);
    let host = s.base.trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let mut conn = tokio::io::BufReader::new(tcp);
    let chunk = vec![7u8; 64 * 1024];
    for i in 0..40u32 {
        let refused = format!(
            "PUT /v2/team/app/blobs/uploads/00000000-0000-0000-0000-000000000000?digest={} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            digest(&chunk),
            chunk.len()
        );
        let (code, headers, _) = exchange(&mut conn, &refused, &chunk)
            .await
            .unwrap_or_else(|| panic!("round {i}: the connection was closed after the refusal"));
        assert_eq!(code, 401, "round {i}");
        assert!(
            !headers
                .iter()
                .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
            "round {i}: a small body is read, the connection kept"
        );
        let blob = format!("blob {i}").into_bytes();
        let good = format!(
            "POST /v2/team/app/blobs/uploads/?digest={} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            digest(&blob),
            blob.len()
        );
        let (code, _, _) = exchange(&mut conn, &good, &blob)
            .await
            .unwrap_or_else(|| panic!("round {i}: the good request met a closed connection"));
        assert_eq!(code, 201, "round {i}");
    }
    // Through a client with a pool (reqwest), larger bodies: none of its requests fails.
    let large = vec![1u8; 4 << 20];
    for i in 0..10 {
        let r = s
            .http
            .put(s.url(&format!(
                "/v2/team/app/blobs/uploads/00000000-0000-0000-0000-000000000000?digest={}",
                digest(&large)
            )))
            .body(large.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {i}: {e}"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let ok = s
            .http
            .get(s.url("/v2/"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {i}: {e}"));
        assert_eq!(ok.status(), StatusCode::OK);
    }
    // A client waiting for `100 Continue` before sending a large body: told the connection
    // closes (nothing of the body was sent, so nothing is cut), the answer read whole.
    let tcp = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let mut conn = tokio::io::BufReader::new(tcp);
    let head = format!(
        "PUT /v2/team/app/blobs/uploads/00000000-0000-0000-0000-000000000000?digest={} HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 1073741824\r\n\r\n",
        digest(b"x")
    );
    let (code, headers, _) = exchange(&mut conn, &head, b"")
        .await
        .expect("an answer before the body");
    assert_eq!(code, 401);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
        "{headers:?}"
    );
}

/// The same for refusals after the token check: a chunk out of order (416) and an unknown
/// upload (404) answered before their bodies are read leave the connection usable.
async fn rfc9112_a_chunk_refused_before_its_body_is_read_leaves_the_connection_usable(s: Server) {
    let host = s.base.trim_start_matches("http://").to_string();
    let location = start_upload(&s, "").await;
    let tcp = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let mut conn = tokio::io::BufReader::new(tcp);
    let body = vec![3u8; 32 * 1024];
    for i in 0..30 {
        let (path, range, want) = if i % 2 == 0 {
            (location.clone(), "5000-37767", 416)
        } else {
            (
                "/v2/r/blobs/uploads/00000000-0000-0000-0000-000000000000".to_string(),
                "0-32767",
                404,
            )
        };
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: {host}\r\nContent-Range: {range}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (code, _, _) = exchange(&mut conn, &head, &body)
            .await
            .unwrap_or_else(|| panic!("round {i}: the connection was closed"));
        assert_eq!(code, want, "round {i}");
        let (code, _, _) = exchange(
            &mut conn,
            &format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            b"",
        )
        .await
        .unwrap_or_else(|| panic!("round {i}: the next request met a closed connection"));
        assert_eq!(code, 200, "round {i}");
    }
}

/// OCI image-spec's registered algorithms (sha256, sha512) and distribution-spec's
/// `digest-algorithm`: sha512 blobs pushed whole, in chunks with and without naming the
/// algorithm first, pulled and ranged; a manifest by sha512 digest over sha512 blobs, with a
/// sha512 subject among the referrers; a missing sha512 blob is 404 BLOB_UNKNOWN; garbage
/// collection keeps what a manifest refers to and sweeps a sha512 orphan.
async fn sha512_digests_for_blobs_and_manifests_end_to_end(s: Server) {
    let layer: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let ld = digest512(&layer);
    let r = s
        .http
        .post(s.url(&format!("/v2/r/blobs/uploads/?digest={ld}")))
        .body(layer.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["docker-content-digest"], ld.as_str());
    let h = s.head(&format!("/v2/r/blobs/{ld}")).await;
    assert_eq!(h.status(), StatusCode::OK);
    assert_eq!(h.headers()["content-length"], "200000");
    let part = ranged(&s, &ld, "bytes=-10").await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.expect("body").as_ref(),
        &layer[199_990..]
    );
    // In chunks, with and without `digest-algorithm`.
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let cd = digest512(&config);
    for query in ["?digest-algorithm=sha512", ""] {
        let location = start_upload(&s, query).await;
        for (from, to) in [(0usize, 10usize), (10, config.len())] {
            let r = s
                .http
                .patch(s.url(&location))
                .header("content-range", format!("{from}-{}", to - 1))
                .body(config[from..to].to_vec())
                .send()
                .await
                .expect("patch");
            assert_eq!(r.status(), StatusCode::ACCEPTED, "{query}");
        }
        let r = s
            .http
            .put(s.url(&with_query(&location, &format!("digest={cd}"))))
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::CREATED, "{query}");
    }
    // A wrong sha512 digest is refused like a wrong sha256 one.
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/r/blobs/uploads/?digest={}",
            digest512(b"other")
        )))
        .body(b"these bytes".to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let missing = s
        .get(&format!("/v2/r/blobs/{}", digest512(b"absent")))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let v: Value = missing.json().await.expect("json");
    assert_eq!(v["errors"][0]["code"], "BLOB_UNKNOWN");

    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]});
    let body = serde_json::to_vec(&m).expect("json");
    let md = digest512(&body);
    let r = s.push_manifest("r", &md, OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["docker-content-digest"], md.as_str());
    let got = s.get(&format!("/v2/r/manifests/{md}")).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["docker-content-digest"], md.as_str());
    assert_eq!(got.bytes().await.expect("body").as_ref(), body.as_slice());
    // A manifest pushed by a sha512 digest it does not hash to is refused.
    let r = s
        .push_manifest("r", &digest512(b"not it"), OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A referrer of the sha512 manifest.
    let mut sig = m.clone();
    sig["artifactType"] = json!("application/vnd.tre.signature");
    sig["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": md, "size": body.len()});
    let sd = digest512(&serde_json::to_vec(&sig).expect("json"));
    let r = s.push_manifest("r", &sd, OCI_MANIFEST, &sig).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["oci-subject"], md.as_str());
    let refs: Value = s
        .get(&format!("/v2/r/referrers/{md}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(refs["manifests"][0]["digest"], sd.as_str());

    let orphan = digest512(b"orphan");
    let r = s
        .http
        .post(s.url(&format!("/v2/r/blobs/uploads/?digest={orphan}")))
        .body(b"orphan".to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let report = tre_registry::gc::collect(&s.storage, std::time::Duration::ZERO, true)
        .await
        .expect("gc");
    let swept: Vec<&str> = report.blobs_swept.iter().map(|(d, _)| d.as_str()).collect();
    assert!(swept.contains(&orphan.as_str()), "{swept:?}");
    for d in [&ld, &cd, &md, &sd] {
        assert!(!swept.contains(&d.as_str()), "{d} was swept");
        assert_eq!(
            s.head(&format!("/v2/r/blobs/{d}")).await.status(),
            StatusCode::OK,
            "{d}"
        );
    }
}

/// OCI image-spec, image layer filesystem changeset, non-distributable layers (and Docker's
/// foreign layers): a layer of such a media type with `urls` is fetched from those URLs, so a
/// registry need not hold it, and a manifest referring to it is accepted; its URLs must be
/// http(s); a layer without URLs, or of an ordinary type, must still be pushed first.
async fn non_distributable_layers_with_urls_need_not_be_pushed(s: Server) {
    let config = s.push_blob("nd", b"{}").await;
    let normal = s.push_blob("nd", b"normal layer").await;
    let foreign = digest(b"never pushed");
    let layer = |media_type: &str, urls: Value| json!({"mediaType": media_type, "digest": foreign, "size": 123456, "urls": urls});
    let manifest = |layers: Vec<Value>| {
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": layers})
    };
    let ordinary = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": normal, "size": 12});
    let urls = json!([format!("https://store.example.com/blobs/{foreign}")]);
    for media_type in [
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ] {
        let m = manifest(vec![layer(media_type, urls.clone()), ordinary.clone()]);
        let r = s.push_manifest("nd", "image", OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{media_type}");
        let got = s.get("/v2/nd/manifests/image").await;
        assert_eq!(got.json::<Value>().await.expect("json"), m, "{media_type}");
    }
    let nd = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    for (why, layers, code) in [
        (
            "no urls",
            vec![layer(nd, json!([]))],
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            "an ordinary type with urls",
            vec![layer(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                urls.clone(),
            )],
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            "a URL that is not http(s)",
            vec![layer(nd, json!(["file:///etc/passwd"]))],
            "MANIFEST_INVALID",
        ),
    ] {
        let r = s
            .push_manifest("nd", "refused", OCI_MANIFEST, &manifest(layers))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{why}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["errors"][0]["code"], code, "{why}");
    }
}

on_both_stores!(
    a_final_chunk_out_of_order_is_answered_416_and_the_upload_stays_resumable,
    rfc9110_byte_ranges_suffix_ranges_and_unsatisfiable_ranges,
    rfc9112_a_chunk_refused_before_its_body_is_read_leaves_the_connection_usable,
    sha512_digests_for_blobs_and_manifests_end_to_end,
    non_distributable_layers_with_urls_need_not_be_pushed,
);

mod with_tokens {
    use super::*;
    on_both_stores!(@tokens rfc9112_a_refused_request_with_a_body_leaves_the_connection_usable);
}

//! Contract suite for the `ObjectStore` port. Every case works under a random key prefix.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tre_core::ports::{
    bytes_stream, ByteRange, ByteStream, GetObject, ObjectStore, PartInfo, PresignMethod,
    PutOptions,
};
use tre_core::PortError;

const MIB: usize = 1024 * 1024;

fn fail(case: &str, msg: impl std::fmt::Display) -> ! {
    panic!("object store contract, case `{case}`: {msg}")
}

/// Run every case against `store`; with `presign_http`, also use pre-signed URLs over HTTP.
pub async fn run(store: Arc<dyn ObjectStore>, presign_http: bool) {
    let p = format!("tk-{}/", uuid::Uuid::new_v4().simple());
    let s = store.as_ref();
    put_get_head(s, &p).await;
    missing(s, &p).await;
    invalid_keys(s).await;
    ranges(s, &p).await;
    delete_idempotent(s, &p).await;
    list_pages(s, &p).await;
    copy(s, &p).await;
    rename(s, &p).await;
    if_none_match(s, &p).await;
    multipart(s, &p).await;
    large_streamed_put(s, &p).await;
    presign(s, &p, presign_http).await;
    presigned_post(s, &p, presign_http).await;
}

async fn read_all(case: &str, obj: GetObject) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = obj.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| fail(case, e)));
    }
    out
}

async fn put_bytes(s: &dyn ObjectStore, case: &str, key: &str, data: &'static [u8]) {
    s.put(key, bytes_stream(data), PutOptions::default())
        .await
        .unwrap_or_else(|e| fail(case, e));
}

async fn put_get_head(s: &dyn ObjectStore, p: &str) {
    let case = "put, get, head";
    let key = format!("{p}dir/hello.txt");
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        content_length: Some(5),
        if_none_match: false,
    };
    let meta = s
        .put(&key, bytes_stream(&b"hello"[..]), opts)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if meta.size != 5 || meta.key != key || meta.etag.is_empty() {
        fail(case, format!("unexpected meta {meta:?}"));
    }
    let head = s
        .head(&key)
        .await
        .unwrap_or_else(|e| fail(case, e))
        .unwrap_or_else(|| fail(case, "head found nothing"));
    if head.size != 5
        || head.etag != meta.etag
        || head.content_type.as_deref() != Some("text/plain")
    {
        fail(case, format!("head {head:?} does not match put {meta:?}"));
    }
    let got = s.get(&key, None).await.unwrap_or_else(|e| fail(case, e));
    if got.range.is_some() {
        fail(case, "a plain get reports a range");
    }
    if read_all(case, got).await != b"hello" {
        fail(case, "body differs");
    }
    // Overwrite changes the etag; `a` and `a/b` may coexist as in S3.
    let meta2 = s
        .put(&key, bytes_stream(&b"hello!"[..]), PutOptions::default())
        .await
        .unwrap_or_else(|e| fail(case, e));
    if meta2.etag == meta.etag || meta2.size != 6 {
        fail(case, "overwrite did not change etag/size");
    }
    put_bytes(s, case, &format!("{p}dir"), b"file beside dir").await;
    if s.head(&format!("{p}dir")).await.ok().flatten().is_none() {
        fail(case, "key `dir` next to `dir/hello.txt` is missing");
    }
    put_bytes(s, case, &format!("{p}empty"), b"").await;
    let empty = s
        .get(&format!("{p}empty"), None)
        .await
        .unwrap_or_else(|e| fail("empty object", e));
    if empty.meta.size != 0 || !read_all("empty object", empty).await.is_empty() {
        fail("empty object", "an empty object is not empty");
    }
}

async fn missing(s: &dyn ObjectStore, p: &str) {
    let key = format!("{p}missing/object");
    match s.get(&key, None).await {
        Err(PortError::NotFound(_)) => {}
        Err(e) => fail("get missing", format!("want NotFound, got {e:?}")),
        Ok(_) => fail("get missing", "want NotFound, got an object"),
    }
    match s.head(&key).await {
        Ok(None) => {}
        other => fail("head missing", format!("want Ok(None), got {other:?}")),
    }
    match s.copy(&key, &format!("{p}missing/copy")).await {
        Err(PortError::NotFound(_)) => {}
        other => fail("copy missing", format!("want NotFound, got {other:?}")),
    }
}

async fn invalid_keys(s: &dyn ObjectStore) {
    // The keys the port documents as invalid (the embedded store also refuses empty segments).
    for key in ["", "/abs", "a/../b", "..", "nul\0byte"] {
        match s
            .put(key, bytes_stream(&b"x"[..]), PutOptions::default())
            .await
        {
            Err(PortError::Invalid(_)) => {}
            other => fail(
                "invalid key",
                format!("put {key:?} gave {other:?}, want Invalid"),
            ),
        }
        match s.head(key).await {
            Err(PortError::Invalid(_)) => {}
            other => fail(
                "invalid key",
                format!("head {key:?} gave {other:?}, want Invalid"),
            ),
        }
    }
}

async fn ranges(s: &dyn ObjectStore, p: &str) {
    let key = format!("{p}range");
    put_bytes(s, "range", &key, b"0123456789").await;
    for (range, want, span) in [
        (
            ByteRange {
                start: 2,
                end: Some(4),
            },
            &b"234"[..],
            (2, 4),
        ),
        (
            ByteRange {
                start: 7,
                end: None,
            },
            &b"789"[..],
            (7, 9),
        ),
        (
            ByteRange {
                start: 8,
                end: Some(100),
            },
            &b"89"[..],
            (8, 9),
        ),
    ] {
        let got = s
            .get(&key, Some(range))
            .await
            .unwrap_or_else(|e| fail("range get", e));
        if got.range != Some(span) {
            fail("range get", format!("{range:?} reported {:?}", got.range));
        }
        if read_all("range get", got).await != want {
            fail("range get", format!("{range:?} returned the wrong bytes"));
        }
    }
    match s
        .get(
            &key,
            Some(ByteRange {
                start: 10,
                end: None,
            }),
        )
        .await
    {
        Err(PortError::Invalid(_)) => {}
        Err(e) => fail("range past the end", format!("want Invalid, got {e:?}")),
        Ok(_) => fail("range past the end", "want Invalid, got a body"),
    }
}

async fn delete_idempotent(s: &dyn ObjectStore, p: &str) {
    let key = format!("{p}del/me");
    put_bytes(s, "delete", &key, b"x").await;
    s.delete(&key).await.unwrap_or_else(|e| fail("delete", e));
    if s.head(&key).await.ok().flatten().is_some() {
        fail("delete", "object still there");
    }
    s.delete(&key)
        .await
        .unwrap_or_else(|e| fail("delete twice", format!("deleting a missing object: {e}")));
}

async fn list_pages(s: &dyn ObjectStore, p: &str) {
    let base = format!("{p}list/");
    let mut want = Vec::new();
    for name in ["b", "a/x", "a-c", "a/y/z", "c", "a0"] {
        let key = format!("{base}{name}");
        put_bytes(s, "list", &key, b"data").await;
        want.push(key);
    }
    // Outside the prefix: must not show up.
    put_bytes(s, "list", &format!("{p}lisz"), b"x").await;
    want.sort();
    let mut got = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s
            .list(&base, after.as_deref(), 2)
            .await
            .unwrap_or_else(|e| fail("list pages", e));
        pages += 1;
        if page.objects.len() > 2 {
            fail("list pages", "page larger than the limit");
        }
        for o in &page.objects {
            if o.size != 4 {
                fail("list pages", format!("{} has size {}", o.key, o.size));
            }
        }
        got.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
        if pages > 20 {
            fail("list pages", "listing does not terminate");
        }
    }
    if got != want || pages < 3 {
        fail(
            "list pages",
            format!("got {got:?} in {pages} pages, want {want:?}"),
        );
    }
    let page = s
        .list(&format!("{base}a/"), None, 100)
        .await
        .unwrap_or_else(|e| fail("list sub-prefix", e));
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.clone()).collect();
    if keys != [format!("{base}a/x"), format!("{base}a/y/z")] || page.next.is_some() {
        fail("list sub-prefix", format!("got {keys:?}"));
    }
}

async fn copy(s: &dyn ObjectStore, p: &str) {
    let from = format!("{p}copy/src");
    let to = format!("{p}copy/dst/nested");
    let opts = PutOptions {
        content_type: Some("application/json".into()),
        ..PutOptions::default()
    };
    s.put(&from, bytes_stream(&b"{\"a\":1}"[..]), opts)
        .await
        .unwrap_or_else(|e| fail("copy", e));
    let meta = s.copy(&from, &to).await.unwrap_or_else(|e| fail("copy", e));
    if meta.key != to || meta.size != 7 {
        fail("copy", format!("unexpected meta {meta:?}"));
    }
    let got = s.get(&to, None).await.unwrap_or_else(|e| fail("copy", e));
    if got.meta.content_type.as_deref() != Some("application/json") {
        fail("copy", "content type not copied");
    }
    if read_all("copy", got).await != b"{\"a\":1}" {
        fail("copy", "copied body differs");
    }
}

async fn rename(s: &dyn ObjectStore, p: &str) {
    let from = format!("{p}rename/src");
    let to = format!("{p}rename/dst/nested");
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        ..PutOptions::default()
    };
    s.put(&from, bytes_stream(&b"moved"[..]), opts)
        .await
        .unwrap_or_else(|e| fail("rename", e));
    let meta = s
        .rename(&from, &to)
        .await
        .unwrap_or_else(|e| fail("rename", e));
    if meta.key != to || meta.size != 5 {
        fail("rename", format!("unexpected meta {meta:?}"));
    }
    let got = s.get(&to, None).await.unwrap_or_else(|e| fail("rename", e));
    if got.meta.content_type.as_deref() != Some("text/plain") {
        fail("rename", "content type lost");
    }
    if read_all("rename", got).await != b"moved" {
        fail("rename", "renamed body differs");
    }
    match s.head(&from).await {
        Ok(None) => {}
        other => fail("rename", format!("the source is still there: {other:?}")),
    }
    match s.rename(&from, &format!("{p}rename/again")).await {
        Err(PortError::NotFound(_)) => {}
        other => fail("rename", format!("renaming a missing object: {other:?}")),
    }
}

async fn if_none_match(s: &dyn ObjectStore, p: &str) {
    let key = format!("{p}inm");
    let opts = PutOptions {
        if_none_match: true,
        ..PutOptions::default()
    };
    s.put(&key, bytes_stream(&b"first"[..]), opts.clone())
        .await
        .unwrap_or_else(|e| fail("if_none_match create", e));
    match s.put(&key, bytes_stream(&b"second"[..]), opts).await {
        Err(PortError::AlreadyExists(_)) => {}
        other => fail(
            "if_none_match on existing",
            format!("want AlreadyExists, got {other:?}"),
        ),
    }
    let got = s
        .get(&key, None)
        .await
        .unwrap_or_else(|e| fail("if_none_match", e));
    if read_all("if_none_match", got).await != b"first" {
        fail("if_none_match", "the refused put changed the object");
    }
}

/// `n` bytes of a repeating pattern, produced in chunks of at most 256 KiB.
fn pattern_stream(n: usize) -> (ByteStream, String) {
    let chunk = 256 * 1024;
    let byte_at = |i: usize| (i % 251) as u8;
    let mut hasher = Sha256::new();
    for start in (0..n).step_by(chunk) {
        let part: Vec<u8> = (start..(start + chunk).min(n)).map(byte_at).collect();
        hasher.update(&part);
    }
    let stream = futures::stream::iter((0..n).step_by(chunk).map(move |start| {
        let part: Vec<u8> = (start..(start + chunk).min(n)).map(byte_at).collect();
        Ok(Bytes::from(part))
    }));
    (Box::pin(stream), hex::encode(hasher.finalize()))
}

/// Size and SHA-256 of a body, read chunk by chunk.
async fn digest(case: &str, obj: GetObject) -> (u64, String) {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = obj.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap_or_else(|e| fail(case, e));
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (size, hex::encode(hasher.finalize()))
}

async fn multipart(s: &dyn ObjectStore, p: &str) {
    let case = "multipart happy path";
    let key = format!("{p}mp/object");
    let id = s
        .create_multipart(&key, PutOptions::default())
        .await
        .unwrap_or_else(|e| fail(case, e));
    let (b1, _) = pattern_stream(5 * MIB);
    let p1 = s
        .upload_part(&key, &id, 1, b1, (5 * MIB) as u64)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let p2 = s
        .upload_part(&key, &id, 2, bytes_stream(&b"tail"[..]), 4)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let meta = s
        .complete_multipart(&key, &id, &[p1, p2])
        .await
        .unwrap_or_else(|e| fail(case, e));
    if meta.size != (5 * MIB + 4) as u64 {
        fail(case, format!("size {} after complete", meta.size));
    }
    let got = s
        .get(
            &key,
            Some(ByteRange {
                start: (5 * MIB) as u64,
                end: None,
            }),
        )
        .await;
    let tail = read_all(case, got.unwrap_or_else(|e| fail(case, e))).await;
    if tail != b"tail" {
        fail(case, "the last part is not at the end");
    }

    let case = "multipart part too small";
    let key = format!("{p}mp/small");
    let id = s
        .create_multipart(&key, PutOptions::default())
        .await
        .unwrap_or_else(|e| fail(case, e));
    let p1 = s
        .upload_part(&key, &id, 1, bytes_stream(&b"tiny"[..]), 4)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let p2 = s
        .upload_part(&key, &id, 2, bytes_stream(&b"tail"[..]), 4)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if s.complete_multipart(&key, &id, &[p1, p2]).await.is_ok() {
        fail(case, "a first part under 5 MiB was accepted");
    }
    if s.head(&key).await.ok().flatten().is_some() {
        fail(case, "the refused upload created an object");
    }

    let case = "multipart abort";
    s.abort_multipart(&key, &id)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if s.upload_part(&key, &id, 3, bytes_stream(&b"late"[..]), 4)
        .await
        .is_ok()
    {
        fail(case, "uploading a part to an aborted upload succeeded");
    }
    if s.head(&key).await.ok().flatten().is_some() {
        fail(case, "an aborted upload left an object");
    }
}

async fn large_streamed_put(s: &dyn ObjectStore, p: &str) {
    let case = "12 MiB streamed put of unknown length";
    let key = format!("{p}large");
    let (body, sha) = pattern_stream(12 * MIB);
    let meta = s
        .put(&key, body, PutOptions::default())
        .await
        .unwrap_or_else(|e| fail(case, e));
    if meta.size != (12 * MIB) as u64 {
        fail(case, format!("stored size {}", meta.size));
    }
    let got = s.get(&key, None).await.unwrap_or_else(|e| fail(case, e));
    let (size, got_sha) = digest(case, got).await;
    if size != (12 * MIB) as u64 || got_sha != sha {
        fail(case, "content read back differs");
    }
}

async fn presign(s: &dyn ObjectStore, p: &str, http: bool) {
    let key = format!("{p}presigned/file name.bin");
    let get = s
        .presign(PresignMethod::Get, &key, Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| fail("presign", e));
    if get.method != PresignMethod::Get || get.expires_at <= chrono::Utc::now() {
        fail("presign", format!("unexpected {get:?}"));
    }
    if !http {
        return;
    }
    let case = "presigned PUT over HTTP";
    let put = s
        .presign(PresignMethod::Put, &key, Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| fail(case, e));
    let client = reqwest::Client::new();
    let resp = client
        .put(&put.url)
        .body(&b"uploaded over http"[..])
        .send()
        .await
        .unwrap_or_else(|e| fail(case, e));
    if !resp.status().is_success() {
        fail(case, format!("status {}", resp.status()));
    }
    let got = s.get(&key, None).await.unwrap_or_else(|e| fail(case, e));
    if read_all(case, got).await != b"uploaded over http" {
        fail(case, "stored body differs");
    }
    let case = "presigned GET over HTTP";
    let resp = client
        .get(&get.url)
        .send()
        .await
        .unwrap_or_else(|e| fail(case, e));
    if !resp.status().is_success() {
        fail(case, format!("status {}", resp.status()));
    }
    let body = resp.bytes().await.unwrap_or_else(|e| fail(case, e));
    if body.as_ref() != b"uploaded over http" {
        fail(case, "downloaded body differs");
    }

    let case = "multipart upload through part links over HTTP";
    let big = format!("{p}presigned/large file.bin");
    let upload = s
        .create_multipart(&big, PutOptions::default())
        .await
        .unwrap_or_else(|e| fail(case, e));
    let first = vec![b'a'; 5 * 1024 * 1024];
    let mut parts = Vec::new();
    for (n, data) in [(1u32, first.clone()), (2, b"the tail".to_vec())] {
        let link = s
            .presign_part(&big, &upload, n, Duration::from_secs(300))
            .await
            .unwrap_or_else(|e| fail(case, e));
        let resp = client
            .put(&link.url)
            .header("content-length", data.len())
            .body(data)
            .send()
            .await
            .unwrap_or_else(|e| fail(case, e));
        if !resp.status().is_success() {
            fail(case, format!("part {n}: status {}", resp.status()));
        }
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| fail(case, format!("part {n} answered no ETag")))
            .to_string();
        parts.push(PartInfo {
            part_number: n,
            etag,
        });
    }
    let meta = s
        .complete_multipart(&big, &upload, &parts)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if meta.size != first.len() as u64 + 8 {
        fail(case, format!("assembled {} bytes", meta.size));
    }
    let got = s.get(&big, None).await.unwrap_or_else(|e| fail(case, e));
    let all = read_all(case, got).await;
    if all[..first.len()] != first[..] || &all[first.len()..] != b"the tail" {
        fail(case, "the assembled object differs from its parts");
    }
}

/// A `multipart/form-data` body for a form upload: `fields`, then `key`, then the file (last,
/// as S3 requires). Returns the content type (with its boundary) and the body.
pub fn form_upload(
    fields: &std::collections::BTreeMap<String, String>,
    key: &str,
    content: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("tre-form-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    for (name, value) in fields {
        text(name, value);
    }
    text("key", key);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POST a form upload; returns the HTTP status.
pub async fn post_form(
    post: &tre_core::ports::PresignedPost,
    key: &str,
    content: &[u8],
) -> reqwest::Result<u16> {
    let (content_type, body) = form_upload(&post.fields, key, content);
    let resp = reqwest::Client::new()
        .post(&post.url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

async fn presigned_post(s: &dyn ObjectStore, p: &str, http: bool) {
    let case = "presigned form upload";
    let prefix = format!("{p}form/");
    for bad in ["", "no-slash", "/abs/", "a/../b/", "a//b/"] {
        if s.presign_post(bad, 1024, Duration::from_secs(300))
            .await
            .is_ok()
        {
            fail(case, format!("the prefix `{bad}` was accepted"));
        }
    }
    let post = s
        .presign_post(&prefix, 1024, Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| fail(case, e));
    if !post.key_prefix.ends_with(&prefix)
        || post.max_bytes != 1024
        || post.expires_at <= chrono::Utc::now()
        || post.fields.is_empty()
    {
        fail(case, format!("unexpected {post:?}"));
    }
    if !http {
        return;
    }
    for name in ["one.csv", "two words.txt"] {
        let key = format!("{}{name}", post.key_prefix);
        let status = post_form(&post, &key, name.as_bytes())
            .await
            .unwrap_or_else(|e| fail(case, e));
        if !(200..300).contains(&status) {
            fail(case, format!("{name}: status {status}"));
        }
        let got = s
            .get(&format!("{prefix}{name}"), None)
            .await
            .unwrap_or_else(|e| fail(case, e));
        if read_all(case, got).await != name.as_bytes() {
            fail(case, format!("{name}: stored body differs"));
        }
    }
    let listed = s
        .list(&prefix, None, 10)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if listed.objects.len() != 2 {
        fail(case, format!("listed {:?}", listed.objects));
    }
}

/// What a store that checks form policies itself must refuse (S3 does; moto, which the AWS
/// adapter's suite runs against, does not check them, so its policy document is checked by
/// unit tests instead): a key outside the prefix, a file over the limit, a tampered policy or
/// signature, a field the policy does not name.
pub async fn form_policy_enforced(store: Arc<dyn ObjectStore>) {
    let case = "form policy enforced";
    let s = store.as_ref();
    let p = format!("tk-{}/", uuid::Uuid::new_v4().simple());
    let prefix = format!("{p}form/");
    let post = s
        .presign_post(&prefix, 8, Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| fail(case, e));
    let refused = |what: &str, status: u16| {
        if (200..300).contains(&status) {
            fail(case, format!("{what} was accepted"));
        }
    };
    let outside = format!("{p}elsewhere.txt");
    refused(
        "a key outside the prefix",
        post_form(&post, &outside, b"x")
            .await
            .unwrap_or_else(|e| fail(case, e)),
    );
    refused(
        "the bare prefix as a key",
        post_form(&post, &post.key_prefix, b"x")
            .await
            .unwrap_or_else(|e| fail(case, e)),
    );
    let inside = format!("{}big.bin", post.key_prefix);
    refused(
        "a file over the size limit",
        post_form(&post, &inside, b"nine bytes")
            .await
            .unwrap_or_else(|e| fail(case, e)),
    );
    for field in post.fields.keys() {
        let mut tampered = post.clone();
        if let Some(v) = tampered.fields.get_mut(field) {
            v.insert(0, 'A');
        }
        refused(
            &format!("a tampered `{field}`"),
            post_form(&tampered, &inside, b"x")
                .await
                .unwrap_or_else(|e| fail(case, e)),
        );
    }
    let mut extra = post.clone();
    extra
        .fields
        .insert("Content-Type".into(), "text/html".into());
    refused(
        "a field the policy does not name",
        post_form(&extra, &inside, b"x")
            .await
            .unwrap_or_else(|e| fail(case, e)),
    );
    for key in [
        outside.trim_start_matches(&p).to_string(),
        "form/big.bin".into(),
    ] {
        if s.head(&format!("{p}{key}")).await.ok().flatten().is_some() {
            fail(case, format!("`{key}` was written"));
        }
    }
    let ok = post_form(&post, &inside, b"fits")
        .await
        .unwrap_or_else(|e| fail(case, e));
    if !(200..300).contains(&ok) {
        fail(case, format!("a valid upload answered {ok}"));
    }
}

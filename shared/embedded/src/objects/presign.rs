//! Pre-signed URLs for the filesystem store: `{base}/objects/{key}?method=GET&expires=<unix>
//! &sig=<hex HMAC-SHA256 of "METHOD\nkey\nexpires">`, form uploads to `POST {base}/objects`
//! (S3's POST policy: a signed `policy` naming a key prefix, a size limit and an expiry), and
//! the HTTP routes that honour them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tre_core::ports::{
    validate_post_prefix, ByteStream, ObjectStore, PresignMethod, PresignedPost, PresignedUrl,
    PutOptions,
};
use tre_core::{PortError, PortResult};

use super::FsObjectStore;

/// S3's longest pre-signed URL lifetime.
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn method_name(method: PresignMethod) -> &'static str {
    match method {
        PresignMethod::Get => "GET",
        PresignMethod::Put => "PUT",
    }
}

fn mac(secret: &[u8], method: &str, key: &str, expires: i64) -> PortResult<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|e| PortError::Backend(format!("presign key: {e}")))?;
    mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
    Ok(mac)
}

/// Percent-encode a key for a URL path, keeping `/` between segments.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// When a link made now for `expires_in` expires (whole seconds, as signed).
fn expiry(expires_in: Duration) -> PortResult<DateTime<Utc>> {
    if expires_in.is_zero() || expires_in > MAX_EXPIRY {
        return Err(PortError::Invalid(
            "a pre-signed URL lives 1 s to 7 days".into(),
        ));
    }
    let at = Utc::now()
        + chrono::Duration::from_std(expires_in)
            .map_err(|e| PortError::Invalid(format!("expiry: {e}")))?;
    Ok(DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at))
}

/// The signature of (`method`, `subject`, `expires`) as it goes in a link.
fn signature(secret: &[u8], method: &str, subject: &str, expires: i64) -> PortResult<String> {
    Ok(hex::encode(
        mac(secret, method, subject, expires)?
            .finalize()
            .into_bytes(),
    ))
}

/// Check a link's signature over (`method`, `subject`, `expires`), then its expiry (after the
/// signature, so a forged expiry teaches an attacker nothing). Constant-time comparison.
fn check(
    secret: &[u8],
    method: &str,
    subject: &str,
    expires: i64,
    sig: &str,
    now: DateTime<Utc>,
) -> PortResult<()> {
    let bad = || PortError::Invalid("the link's signature does not match".into());
    let sig = hex::decode(sig).map_err(|_| bad())?;
    mac(secret, method, subject, expires)?
        .verify_slice(&sig)
        .map_err(|_| bad())?;
    if now.timestamp() > expires {
        return Err(PortError::Invalid("the link has expired".into()));
    }
    Ok(())
}

pub(super) fn presign(
    base_url: &str,
    secret: &[u8],
    method: PresignMethod,
    key: &str,
    expires_in: Duration,
) -> PortResult<PresignedUrl> {
    let expires_at = expiry(expires_in)?;
    let expires = expires_at.timestamp();
    let name = method_name(method);
    let sig = signature(secret, name, key, expires)?;
    Ok(PresignedUrl {
        url: format!(
            "{base_url}/objects/{}?method={name}&expires={expires}&sig={sig}",
            encode_key(key)
        ),
        method,
        expires_at,
    })
}

/// A link to PUT one part of a multipart upload: `method=PART`, signed over the key, the
/// upload and the part number.
pub(super) fn presign_part(
    base_url: &str,
    secret: &[u8],
    key: &str,
    upload_id: &str,
    part: u32,
    expires_in: Duration,
) -> PortResult<PresignedUrl> {
    let expires_at = expiry(expires_in)?;
    let expires = expires_at.timestamp();
    let sig = signature(secret, "PART", &part_subject(key, upload_id, part), expires)?;
    Ok(PresignedUrl {
        url: format!(
            "{base_url}/objects/{}?method=PART&upload={}&part={part}&expires={expires}&sig={sig}",
            encode_key(key),
            encode_key(upload_id)
        ),
        method: PresignMethod::Put,
        expires_at,
    })
}

fn part_subject(key: &str, upload_id: &str, part: u32) -> String {
    format!("{key}\n{upload_id}\n{part}")
}

/// What a form upload's `policy` field says (base64url of this JSON), signed as `POST`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostPolicy {
    prefix: String,
    max_bytes: u64,
    expires: i64,
}

pub(super) fn presign_post(
    base_url: &str,
    secret: &[u8],
    prefix: &str,
    max_bytes: u64,
    expires_in: Duration,
) -> PortResult<PresignedPost> {
    validate_post_prefix(prefix, max_bytes)?;
    let expires_at = expiry(expires_in)?;
    let expires = expires_at.timestamp();
    let policy = PostPolicy {
        prefix: prefix.to_string(),
        max_bytes,
        expires,
    };
    let json =
        serde_json::to_vec(&policy).map_err(|e| PortError::Backend(format!("form policy: {e}")))?;
    let policy = URL_SAFE_NO_PAD.encode(json);
    let sig = signature(secret, "POST", &policy, expires)?;
    Ok(PresignedPost {
        url: format!("{base_url}/objects"),
        fields: BTreeMap::from([
            ("policy".to_string(), policy),
            ("signature".to_string(), sig),
        ]),
        key_prefix: prefix.to_string(),
        max_bytes,
        expires_at,
    })
}

/// The policy of a form, once its signature and expiry are checked.
fn verify_policy(secret: &[u8], policy: &str, sig: &str) -> PortResult<PostPolicy> {
    let bad = || PortError::Invalid("the form's policy is not valid".into());
    let json = URL_SAFE_NO_PAD.decode(policy).map_err(|_| bad())?;
    let parsed: PostPolicy = serde_json::from_slice(&json).map_err(|_| bad())?;
    check(secret, "POST", policy, parsed.expires, sig, Utc::now())?;
    Ok(parsed)
}

impl FsObjectStore {
    /// Check a pre-signed link: `Invalid` if it has expired at `now` or its signature does not
    /// match. The comparison is constant-time.
    pub fn verify_presigned(
        &self,
        method: PresignMethod,
        key: &str,
        expires: i64,
        sig: &str,
        now: DateTime<Utc>,
    ) -> PortResult<()> {
        check(&self.secret, method_name(method), key, expires, sig, now)
    }
}

/// Routes serving `GET`/`PUT /objects/{key}` for pre-signed links; anything expired, tampered
/// with or signed for another method gets 403 with a problem+json body.
pub fn presigned_router(store: Arc<FsObjectStore>) -> Router {
    Router::new()
        .route("/objects/{*key}", get(get_object).put(put_object))
        // A form's size limit is its policy's, checked while the file streams.
        .route(
            "/objects",
            post(post_form).layer(DefaultBodyLimit::disable()),
        )
        .with_state(store)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn port_problem(e: PortError) -> Response {
    let status = match &e {
        PortError::NotFound(_) => StatusCode::NOT_FOUND,
        PortError::Invalid(_) => StatusCode::BAD_REQUEST,
        PortError::AlreadyExists(_) | PortError::ConditionFailed(_) => {
            StatusCode::PRECONDITION_FAILED
        }
        PortError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    problem(status, &e.to_string())
}

fn authorize(
    store: &FsObjectStore,
    method: PresignMethod,
    key: &str,
    q: &HashMap<String, String>,
) -> Result<(), Box<Response>> {
    let forbidden = |d: &str| Box::new(problem(StatusCode::FORBIDDEN, d));
    if q.get("method").map(String::as_str) != Some(method_name(method)) {
        return Err(forbidden("the link was not signed for this method"));
    }
    let expires = q
        .get("expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(|| forbidden("the link has no valid expiry"))?;
    let sig = q
        .get("sig")
        .ok_or_else(|| forbidden("the link is not signed"))?;
    store
        .verify_presigned(method, key, expires, sig, Utc::now())
        .map_err(|e| match e {
            PortError::Invalid(d) => forbidden(&d),
            other => Box::new(port_problem(other)),
        })
}

async fn get_object(
    State(store): State<Arc<FsObjectStore>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = authorize(&store, PresignMethod::Get, &key, &q) {
        return *resp;
    }
    let obj = match store.get(&key, None).await {
        Ok(o) => o,
        Err(e) => return port_problem(e),
    };
    let mut resp = Response::new(Body::from_stream(obj.body));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(obj.meta.size));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", obj.meta.etag)) {
        headers.insert(header::ETAG, v);
    }
    let ct = obj
        .meta
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    if let Ok(v) = HeaderValue::from_str(ct) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    resp
}

async fn put_object(
    State(store): State<Arc<FsObjectStore>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if q.get("method").map(String::as_str) == Some("PART") {
        return put_part(&store, &key, &q, &headers, body).await;
    }
    if let Err(resp) = authorize(&store, PresignMethod::Put, &key, &q) {
        return *resp;
    }
    let header_str = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let options = PutOptions {
        content_type: header_str(header::CONTENT_TYPE),
        content_length: header_str(header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        if_none_match: false,
    };
    let stream: ByteStream = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    match store.put(&key, stream, options).await {
        Ok(meta) => {
            let mut resp = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            resp
        }
        Err(e) => port_problem(e),
    }
}

/// `PUT` of one part through a part link (what S3's pre-signed UploadPart does).
async fn put_part(
    store: &FsObjectStore,
    key: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let forbidden = |d: &str| problem(StatusCode::FORBIDDEN, d);
    let (Some(upload), Some(part), Some(expires), Some(sig)) = (
        q.get("upload"),
        q.get("part").and_then(|p| p.parse::<u32>().ok()),
        q.get("expires").and_then(|e| e.parse::<i64>().ok()),
        q.get("sig"),
    ) else {
        return forbidden("the part link is incomplete");
    };
    let subject = part_subject(key, upload, part);
    match check(&store.secret, "PART", &subject, expires, sig, Utc::now()) {
        Ok(()) => {}
        Err(PortError::Invalid(d)) => return forbidden(&d),
        Err(other) => return port_problem(other),
    }
    let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return problem(
            StatusCode::LENGTH_REQUIRED,
            "a part needs its Content-Length",
        );
    };
    let stream: ByteStream = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    match store.upload_part(key, upload, part, stream, len).await {
        Ok(info) => {
            let mut resp = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", info.etag)) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            resp
        }
        Err(e) => port_problem(e),
    }
}

/// A form upload (what S3 does with a POST policy): the fields `key`, `policy` and
/// `signature` in any order, then `file`. The key must start with the policy's prefix and the
/// file may not exceed its size; any other field is refused, as S3 refuses fields a policy
/// does not name. Answers `204` with the object's ETag.
async fn post_form(State(store): State<Arc<FsObjectStore>>, mut form: Multipart) -> Response {
    let forbidden = |d: &str| problem(StatusCode::FORBIDDEN, d);
    let bad = |d: String| problem(StatusCode::BAD_REQUEST, &d);
    let mut fields: HashMap<String, String> = HashMap::new();
    let file = loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                if name == "file" {
                    break field;
                }
                if !matches!(name.as_str(), "key" | "policy" | "signature") {
                    return forbidden(&format!(
                        "the form's policy does not allow the field `{name}`"
                    ));
                }
                match field.text().await {
                    Ok(v) => {
                        fields.insert(name, v);
                    }
                    Err(e) => return bad(format!("the form could not be read: {e}")),
                }
            }
            Ok(None) => return bad("the form has no `file` field (it comes last)".into()),
            Err(e) => return bad(format!("the form could not be read: {e}")),
        }
    };
    let (Some(key), Some(policy), Some(sig)) = (
        fields.get("key"),
        fields.get("policy"),
        fields.get("signature"),
    ) else {
        return forbidden("the form needs `key`, `policy` and `signature` before `file`");
    };
    let policy = match verify_policy(&store.secret, policy, sig) {
        Ok(p) => p,
        Err(PortError::Invalid(d)) => return forbidden(&d),
        Err(other) => return port_problem(other),
    };
    if !key.starts_with(&policy.prefix) || key.len() == policy.prefix.len() {
        return forbidden(&format!(
            "the form may upload only keys below `{}`",
            policy.prefix
        ));
    }
    // The field borrows the form, so it is pumped into a channel beside the write rather than
    // handed to the store as a stream of its own.
    let limit = policy.max_bytes;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let body: ByteStream = Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let pump = async move {
        let mut file = file;
        let mut seen = 0u64;
        loop {
            let item = match file.chunk().await {
                Ok(Some(chunk)) => {
                    seen += chunk.len() as u64;
                    if seen > limit {
                        let _ = tx
                            .send(Err(std::io::Error::other(
                                "the file exceeds the form's limit",
                            )))
                            .await;
                        return true;
                    }
                    Ok(chunk)
                }
                Ok(None) => return false,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return false;
            }
        }
    };
    let (too_large, written) = tokio::join!(pump, store.put(key, body, PutOptions::default()));
    match written {
        Ok(meta) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            resp
        }
        Err(_) if too_large => bad(format!(
            "the file is larger than the {limit} bytes the form allows"
        )),
        Err(e) => port_problem(e),
    }
}

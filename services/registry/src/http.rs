//! The distribution spec's HTTP API (`/v2/...`). Repository names contain `/`, so routes are
//! matched here from the end of the path rather than by the router.
//!
//! Every answer leaves the connection usable: a request body the registry did not read (a
//! refusal before the upload, a chunk out of order) is read to its end when small, or the
//! answer says `Connection: close`, so a client reusing the connection never meets a closed one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::json;
use tre_auth::registry_token::Access;
use tre_core::ports::{ByteRange, ByteStream};

use crate::errors::{RegistryError, RegistryResult};
use crate::names::{parse_digest, parse_reference, valid_repository, Algorithm, Digest};
use crate::storage::{catalog_key, Appended, ChunkRange, Storage};

/// Manifests are read whole (they are small and must be validated); blobs always stream.
const MANIFEST_LIMIT: usize = crate::manifests::MAX_MANIFEST_BYTES + 1;
/// An unread request body up to this size is read and dropped so the connection stays open;
/// a larger one (or one slower to come than `DRAIN_TIME`) gets `Connection: close` instead.
const DRAIN_LIMIT: usize = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// Who may do what.
#[derive(Clone)]
pub enum RegistryAuth {
    /// Bearer tokens from the TRE's token endpoint (`realm`), signed with the shared key.
    Tokens {
        key: tre_auth::registry_token::RegistryTokenKey,
        realm: String,
    },
    /// Everyone may do everything: only for tests and throwaway registries on closed networks.
    Anyone,
}

#[derive(Clone)]
struct AppState {
    storage: Storage,
    auth: RegistryAuth,
}

pub fn router(storage: Storage, auth: RegistryAuth) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(AppState { storage, auth })
}

/// A scope one request needs: (type, name, action).
type Need = (&'static str, String, &'static str);

/// The scope a request needs, by method as Distribution has it (GET and HEAD pull; POST, PUT
/// and PATCH push; DELETE deletes), so a token a client got for one request of a kind serves
/// every request of that kind; `None` for the base route (any valid token).
fn needed(method: &str, r: &Route) -> Option<Need> {
    let name = match r {
        Route::Base => return None,
        Route::Catalog => return Some(("registry", "catalog".into(), "*")),
        Route::Uploads(n)
        | Route::Upload(n, _)
        | Route::Blob(n, _)
        | Route::Manifest(n, _)
        | Route::Tags(n)
        | Route::Referrers(n, _) => n.clone(),
    };
    let action = match method {
        "GET" | "HEAD" => "pull",
        "DELETE" => "delete",
        _ => "push",
    };
    Some(("repository", name, action))
}

/// A scope as challenges word it; writers read too (existence checks), so push asks for both,
/// as Distribution does.
fn scope_of((kind, name, action): &Need) -> String {
    let actions = if *action == "push" {
        "pull,push"
    } else {
        action
    };
    format!("{kind}:{name}:{actions}")
}

fn challenge(
    status: StatusCode,
    realm: &str,
    service: &str,
    scopes: &[String],
    error: Option<&str>,
) -> Response {
    let mut value = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
    if !scopes.is_empty() {
        // Several scopes are one space-separated parameter (the token spec's form).
        value.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    let err = if status == StatusCode::FORBIDDEN {
        RegistryError::new(
            status,
            "DENIED",
            "the token does not allow this: get one for the scope in WWW-Authenticate",
        )
    } else {
        RegistryError::new(
            status,
            "UNAUTHORIZED",
            "authentication required: get a token from the realm of WWW-Authenticate",
        )
    };
    let mut resp = err.into_response();
    header(&mut resp, "www-authenticate", &value);
    resp
}

/// Whether a token says anything about a resource, even with no action (the realm keeps asked
/// scopes it refused, with no actions, so the registry can tell "not asked" from "refused").
fn mentions(granted: &[Access], kind: &str, name: &str) -> bool {
    granted.iter().any(|a| a.kind == kind && a.name == name)
}

/// The access check: the token's grants, or the answer to send instead.
///
/// A missing or bad token is answered 401 with the challenge. A good token without the action
/// the request needs on its own repository is answered 403 with `error="insufficient_scope"`
/// and the scope (RFC 6750 3.1): oras-py, which keeps one token, asks the realm again only on
/// 403 (on 401 it resends the same token, and fails), while skopeo, containerd, Docker and the
/// conformance suite ask for the repository's scope before such a request and so meet this
/// answer only when the realm refused it, when failing is right. A mount whose token allows
/// the push but says nothing of the source is answered 401 with both scopes (what Distribution
/// answers, and what the clients that mount ask the realm again on); a token that names the
/// source without pull (the realm refused it) mounts nothing and opens an ordinary upload.
fn authorize(
    key: &tre_auth::registry_token::RegistryTokenKey,
    realm: &str,
    method: &str,
    route: Option<&Route>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<Vec<Access>>, Box<Response>> {
    let need = route.and_then(|r| needed(method, r));
    let mut scopes: Vec<String> = need.iter().map(scope_of).collect();
    let mount_from = match (route, q.get("mount"), q.get("from")) {
        (Some(Route::Uploads(_)), Some(_), Some(from)) if method == "POST" => {
            valid_repository(from).then(|| from.clone())
        }
        _ => None,
    };
    if let Some(from) = &mount_from {
        scopes.push(format!("repository:{from}:pull"));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return Err(Box::new(challenge(
            StatusCode::UNAUTHORIZED,
            realm,
            key.service(),
            &scopes,
            None,
        )));
    };
    let Ok((_, access)) = key.verify(token.trim()) else {
        return Err(Box::new(challenge(
            StatusCode::UNAUTHORIZED,
            realm,
            key.service(),
            &scopes,
            Some("invalid_token"),
        )));
    };
    if let Some((k, n, a)) = &need {
        if !access.iter().any(|x| x.allows(k, n, a)) {
            return Err(Box::new(challenge(
                StatusCode::FORBIDDEN,
                realm,
                key.service(),
                &scopes,
                Some("insufficient_scope"),
            )));
        }
    }
    if let Some(from) = &mount_from {
        if !mentions(&access, "repository", from) {
            return Err(Box::new(challenge(
                StatusCode::UNAUTHORIZED,
                realm,
                key.service(),
                &scopes,
                Some("insufficient_scope"),
            )));
        }
    }
    Ok(Some(access))
}

enum Route {
    Base,
    Catalog,
    Uploads(String),
    Upload(String, String),
    Blob(String, String),
    Manifest(String, String),
    Tags(String),
    Referrers(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.into()));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::Uploads(name.into()));
    }
    for (marker, make) in [
        (
            "/blobs/uploads/",
            Route::Upload as fn(String, String) -> Route,
        ),
        ("/blobs/", Route::Blob),
        ("/manifests/", Route::Manifest),
        ("/referrers/", Route::Referrers),
    ] {
        if let Some(i) = rest.rfind(marker) {
            let (name, tail) = (&rest[..i], &rest[i + marker.len()..]);
            if !tail.is_empty() && !tail.contains('/') {
                return Some(make(name.into(), tail.into()));
            }
        }
    }
    None
}

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn repo(name: &str) -> RegistryResult<&str> {
    if valid_repository(name) {
        Ok(name)
    } else {
        Err(RegistryError::name_invalid(name))
    }
}

fn digest_of(d: &str) -> RegistryResult<Digest> {
    parse_digest(d).ok_or_else(|| {
        RegistryError::digest_invalid(format!("`{d}` is not a sha256 or sha512 digest"))
    })
}

/// A digest's hex part (the fuzz targets' entry point).
pub(crate) fn digest_hex(d: &str) -> RegistryResult<String> {
    digest_of(d).map(|d| d.hex)
}

/// How far a request body was read: the connection may be reused only if to its end.
#[derive(Clone, Default)]
struct BodyRead(Arc<AtomicU8>);

const TAKEN: u8 = 1;
const ENDED: u8 = 2;

impl BodyRead {
    fn state(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}

/// The request body, handed out at most once. A stream handed out takes the body only when
/// first polled, so a refusal made before reading it (a chunk out of order, an unknown upload)
/// leaves it here for [`settle_body`] to read to its end.
struct ReqBody {
    slot: Arc<std::sync::Mutex<Option<Body>>>,
    read: BodyRead,
}

impl ReqBody {
    fn new(body: Body) -> Self {
        Self {
            slot: Arc::new(std::sync::Mutex::new(Some(body))),
            read: BodyRead::default(),
        }
    }

    fn take(&self) -> Option<Body> {
        self.slot.lock().ok().and_then(|mut b| b.take())
    }

    /// Known to be empty (`Content-Length: 0`, or no body at all).
    fn is_empty(&self) -> bool {
        self.slot
            .lock()
            .ok()
            .is_none_or(|b| b.as_ref().is_none_or(|b| b.size_hint().exact() == Some(0)))
    }

    fn stream(&self) -> ByteStream {
        let slot = self.slot.clone();
        let read = self.read.clone();
        let mut data: Option<axum::body::BodyDataStream> = None;
        Box::pin(futures::stream::poll_fn(move |cx| {
            if data.is_none() {
                let body = slot.lock().ok().and_then(|mut b| b.take());
                let Some(body) = body else {
                    return std::task::Poll::Ready(None);
                };
                read.0.store(TAKEN, Ordering::Release);
                data = Some(body.into_data_stream());
            }
            let Some(d) = data.as_mut() else {
                return std::task::Poll::Ready(None);
            };
            let next = d.poll_next_unpin(cx);
            if let std::task::Poll::Ready(None) = next {
                read.0.store(ENDED, Ordering::Release);
            }
            next.map(|o| o.map(|r| r.map_err(std::io::Error::other)))
        }))
    }

    async fn bytes(&self, limit: usize) -> RegistryResult<bytes::Bytes> {
        let Some(body) = self.take() else {
            return Ok(bytes::Bytes::new());
        };
        self.read.0.store(TAKEN, Ordering::Release);
        let got = axum::body::to_bytes(body, limit).await.map_err(|_| {
            RegistryError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                "the manifest is too large",
            )
        })?;
        self.read.0.store(ENDED, Ordering::Release);
        Ok(got)
    }
}

/// Leave the connection usable after `resp`: read what is left of an unread body (bounded in
/// size and time), or tell the client the connection closes (hyper would otherwise close it
/// without a word, and the client's next request on it would fail). Closing while a body is
/// still arriving can reset the connection under the answer, so bodies are read rather than
/// cut short unless they are very large or slow; a client waiting for `100 Continue` has sent
/// nothing, and is simply told the connection closes.
async fn settle_body(mut resp: Response, req_headers: &HeaderMap, body: ReqBody) -> Response {
    let has_body = req_headers.contains_key(header::TRANSFER_ENCODING)
        || req_headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    if !has_body {
        return resp;
    }
    let reusable = match body.take() {
        None => body.read.state() == ENDED,
        Some(unread) => {
            let expects = req_headers
                .get(header::EXPECT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
            let too_large = unread
                .size_hint()
                .exact()
                .is_some_and(|n| n > DRAIN_LIMIT as u64);
            if expects || too_large {
                false
            } else {
                matches!(
                    tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(unread, DRAIN_LIMIT))
                        .await,
                    Ok(Ok(_))
                )
            }
        }
    };
    if !reusable {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut resp = status.into_response();
    upload_headers(&mut resp, name, id, size);
    resp
}

fn upload_headers(resp: &mut Response, name: &str, id: &str, size: u64) {
    header(resp, "location", &format!("/v2/{name}/blobs/uploads/{id}"));
    header(resp, "docker-upload-uuid", id);
    // Range of bytes received: inclusive, `0-0` when nothing was (as Distribution answers).
    header(resp, "range", &format!("0-{}", size.saturating_sub(1)));
}

/// The spec's answer to a chunk out of order: 416, with where the upload stands.
fn out_of_order(name: &str, id: &str, size: u64) -> Response {
    let mut resp = RegistryError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "BLOB_UPLOAD_INVALID",
        format!("the upload stands at {size} bytes: the next chunk starts there"),
    )
    .into_response();
    upload_headers(&mut resp, name, id, size);
    resp
}

fn blob_created(name: &str, digest: &str) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    header(&mut resp, "location", &format!("/v2/{name}/blobs/{digest}"));
    header(&mut resp, "docker-content-digest", digest);
    resp
}

/// A `Range` header of a GET, as RFC 9110 14.1.2 words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-last` (`last` absent: to the end).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// The inclusive range of a representation of `size` bytes, `None` if unsatisfiable
    /// (RFC 9110 14.1.1: a first position past the end, or a suffix of zero bytes).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Self::From { first, last } => {
                (first < size).then(|| (first, last.map_or(size - 1, |l| l.min(size - 1))))
            }
            Self::Suffix(n) => (n > 0 && size > 0).then(|| (size - n.min(size), size - 1)),
        }
    }
}

/// `Range: bytes=...` of a GET. `None` when there is none, or when it is one the registry
/// ignores as RFC 9110 14.2 allows (not bytes, several ranges, not valid): the whole blob is
/// sent then.
pub(crate) fn range(headers: &HeaderMap) -> Option<RangeSpec> {
    let v = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let (unit, spec) = v.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (a, b) = spec.trim().split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", n) => num(n).map(RangeSpec::Suffix),
        (first, "") => num(first).map(|first| RangeSpec::From { first, last: None }),
        (first, last) => {
            let (first, last) = (num(first)?, num(last)?);
            (last >= first).then_some(RangeSpec::From {
                first,
                last: Some(last),
            })
        }
    }
}

/// `Content-Range: first-last` of a PATCH or of the closing PUT (the spec's form; `bytes `
/// before it, as some clients send, is accepted too).
pub(crate) fn content_range(headers: &HeaderMap) -> RegistryResult<Option<ChunkRange>> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || {
        RegistryError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            "Content-Range must be <first>-<last>, inclusive",
        )
    };
    let v = v.to_str().map_err(|_| bad())?.trim();
    let spec = v.strip_prefix("bytes ").unwrap_or(v).trim();
    let spec = spec.split('/').next().unwrap_or_default();
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (start, end) = (num(a).ok_or_else(bad)?, num(b).ok_or_else(bad)?);
    if end < start {
        return Err(bad());
    }
    Ok(Some(ChunkRange { start, end }))
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = ReqBody::new(body);
    let q = query(&parts.uri);
    let route = route(parts.uri.path());
    let granted = match &state.auth {
        RegistryAuth::Anyone => Ok(None),
        RegistryAuth::Tokens { key, realm } => authorize(
            key,
            realm,
            parts.method.as_str(),
            route.as_ref(),
            &q,
            &parts.headers,
        ),
    };
    let resp = match granted {
        Err(refused) => *refused,
        Ok(granted) => match dispatch(
            &state.storage,
            &parts.method,
            route,
            &q,
            &parts.headers,
            &body,
            granted.as_deref(),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    };
    settle_body(resp, &parts.headers, body).await
}

async fn dispatch(
    s: &Storage,
    method: &Method,
    route: Option<Route>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &ReqBody,
    granted: Option<&[Access]>,
) -> RegistryResult<Response> {
    let Some(r) = route else {
        return Err(RegistryError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "no such registry route",
        ));
    };
    let m = method.as_str();
    match (m, r) {
        ("GET" | "HEAD", Route::Base) => {
            let mut resp = axum::Json(json!({})).into_response();
            header(&mut resp, "docker-distribution-api-version", "registry/2.0");
            Ok(resp)
        }
        ("GET", Route::Catalog) => {
            let n = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(1000usize);
            let after = q.get("last").map(|l| catalog_key(l));
            let page = s.store.list("_catalog/", after.as_deref(), n).await?;
            let names: Vec<String> = page
                .objects
                .iter()
                .filter_map(|o| o.key.strip_prefix("_catalog/").map(str::to_string))
                .collect();
            let mut resp = axum::Json(json!({"repositories": names})).into_response();
            if let (Some(_), Some(last)) = (page.next, names.last()) {
                header(
                    &mut resp,
                    "link",
                    &format!("</v2/_catalog?n={n}&last={last}>; rel=\"next\""),
                );
            }
            Ok(resp)
        }
        ("GET", Route::Tags(name)) => {
            let name = repo(&name)?;
            let n = q
                .get("n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            let (tags, more) = s.tags(name, n, q.get("last").map(String::as_str)).await?;
            if tags.is_empty() && !q.contains_key("last") && !s.exists(&catalog_key(name)).await? {
                return Err(RegistryError::name_unknown(name));
            }
            let mut resp = axum::Json(json!({"name": name, "tags": tags})).into_response();
            if let (true, Some(last)) = (more, tags.last()) {
                header(
                    &mut resp,
                    "link",
                    &format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\""),
                );
            }
            Ok(resp)
        }
        ("POST", Route::Uploads(name)) => {
            let name = repo(&name)?;
            // Cross-repository mount: link a blob another repository holds.
            if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
                let d = digest_of(mount)?;
                // Mounting reads the source: the caller must be allowed to pull it.
                let may_read =
                    granted.is_none_or(|g| g.iter().any(|a| a.allows("repository", from, "pull")));
                if may_read && valid_repository(from) && s.has_blob(from, &d).await? {
                    s.link_blob(name, &d).await?;
                    return Ok(blob_created(name, mount));
                }
            }
            let digest = q.get("digest").map(|d| digest_of(d)).transpose()?;
            // The algorithm of the digest the client will name (spec: `digest-algorithm` when
            // it is not sha256), so the bytes are hashed once, as they arrive.
            let algorithm = match (&digest, q.get("digest-algorithm")) {
                (Some(d), _) => d.algorithm,
                (None, Some(a)) => Algorithm::parse(a).ok_or_else(|| {
                    RegistryError::unsupported(format!(
                        "digest algorithm `{a}` is not supported (sha256, sha512)"
                    ))
                })?,
                (None, None) => Algorithm::Sha256,
            };
            let id = s.start_upload(name, algorithm).await?;
            if let Some(d) = digest {
                // Monolithic: the whole blob in this request.
                let chunk = (!body.is_empty()).then(|| body.stream());
                return match s.finish(name, &id, &d, None, chunk).await? {
                    Appended::Size(_) => Ok(blob_created(name, &d.to_string())),
                    Appended::OutOfOrder(at) => Ok(out_of_order(name, &id, at)),
                };
            }
            Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
        }
        ("GET" | "HEAD", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            let size = s.upload_size(name, &id).await?;
            Ok(upload_response(StatusCode::NO_CONTENT, name, &id, size))
        }
        ("PATCH", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            let range = content_range(headers)?;
            match s.append(name, &id, range, body.stream()).await? {
                Appended::Size(size) => Ok(upload_response(StatusCode::ACCEPTED, name, &id, size)),
                Appended::OutOfOrder(at) => Ok(out_of_order(name, &id, at)),
            }
        }
        ("PUT", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            let digest = q
                .get("digest")
                .ok_or_else(|| RegistryError::digest_invalid("PUT of an upload needs ?digest="))?;
            let d = digest_of(digest)?;
            let range = content_range(headers)?;
            let chunk = (!body.is_empty()).then(|| body.stream());
            match s.finish(name, &id, &d, range, chunk).await? {
                Appended::Size(_) => Ok(blob_created(name, &d.to_string())),
                Appended::OutOfOrder(at) => Ok(out_of_order(name, &id, at)),
            }
        }
        ("DELETE", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            s.cancel(name, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("GET" | "HEAD", Route::Blob(name, digest)) => {
            let name = repo(&name)?;
            let d = digest_of(&digest)?;
            let asked = if m == "GET" { range(headers) } else { None };
            if m == "HEAD" || asked.is_some() {
                let size = s
                    .blob_size(name, &d)
                    .await?
                    .ok_or_else(|| RegistryError::blob_unknown(&digest))?;
                if m == "HEAD" {
                    let mut resp = StatusCode::OK.into_response();
                    header(&mut resp, "content-length", &size.to_string());
                    header(&mut resp, "docker-content-digest", &digest);
                    header(&mut resp, "accept-ranges", "bytes");
                    header(&mut resp, "content-type", "application/octet-stream");
                    return Ok(resp);
                }
                let Some((first, last)) = asked.and_then(|r| r.resolve(size)) else {
                    let mut resp = RegistryError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "UNSUPPORTED",
                        format!("the range is outside the blob's {size} bytes"),
                    )
                    .into_response();
                    header(&mut resp, "content-range", &format!("bytes */{size}"));
                    return Ok(resp);
                };
                let got = s
                    .get_blob(
                        name,
                        &d,
                        Some(ByteRange {
                            start: first,
                            end: Some(last),
                        }),
                    )
                    .await?;
                let mut resp = Response::new(Body::from_stream(got.body));
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                header(&mut resp, "content-length", &(last - first + 1).to_string());
                header(&mut resp, "docker-content-digest", &digest);
                header(&mut resp, "accept-ranges", "bytes");
                header(&mut resp, "content-type", "application/octet-stream");
                header(
                    &mut resp,
                    "content-range",
                    &format!("bytes {first}-{last}/{size}"),
                );
                return Ok(resp);
            }
            if let Some(url) = s.blob_redirect(name, &d).await? {
                let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
                header(&mut resp, "location", &url);
                header(&mut resp, "docker-content-digest", &digest);
                return Ok(resp);
            }
            let got = s.get_blob(name, &d, None).await?;
            let mut resp = Response::new(Body::from_stream(got.body));
            header(&mut resp, "content-length", &got.meta.size.to_string());
            header(&mut resp, "docker-content-digest", &digest);
            header(&mut resp, "accept-ranges", "bytes");
            header(&mut resp, "content-type", "application/octet-stream");
            Ok(resp)
        }
        ("DELETE", Route::Blob(name, digest)) => {
            let name = repo(&name)?;
            if s.unlink_blob(name, &digest_of(&digest)?).await? {
                Ok(StatusCode::ACCEPTED.into_response())
            } else {
                Err(RegistryError::blob_unknown(&digest))
            }
        }
        ("GET" | "HEAD", Route::Manifest(name, reference)) => {
            let name = repo(&name)?;
            let r = parse_reference(&reference)
                .ok_or_else(|| RegistryError::manifest_unknown(&reference))?;
            let d = s.resolve(name, &r).await?;
            let info = s.manifest_info(name, &d).await?;
            let mut resp = if m == "HEAD" {
                StatusCode::OK.into_response()
            } else {
                Response::new(Body::from(s.manifest_bytes(&d).await?))
            };
            header(&mut resp, "content-type", &info.media_type);
            header(&mut resp, "content-length", &info.size.to_string());
            header(&mut resp, "docker-content-digest", &d.to_string());
            Ok(resp)
        }
        ("PUT", Route::Manifest(name, reference)) => {
            let name = repo(&name)?;
            let r = parse_reference(&reference).ok_or_else(|| {
                RegistryError::new(
                    StatusCode::BAD_REQUEST,
                    "TAG_INVALID",
                    format!("`{reference}` is neither a tag nor a sha256 or sha512 digest"),
                )
            })?;
            let media_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let bytes = body.bytes(MANIFEST_LIMIT).await?;
            let (digest, subject) = s
                .put_manifest(name, &r, &media_type, &bytes, "anonymous")
                .await?;
            let mut resp = StatusCode::CREATED.into_response();
            header(
                &mut resp,
                "location",
                &format!("/v2/{name}/manifests/{digest}"),
            );
            header(&mut resp, "docker-content-digest", &digest.to_string());
            if let Some(subject) = subject {
                header(&mut resp, "oci-subject", &subject.to_string());
            }
            Ok(resp)
        }
        ("DELETE", Route::Manifest(name, reference)) => {
            let name = repo(&name)?;
            let r = parse_reference(&reference)
                .ok_or_else(|| RegistryError::manifest_unknown(&reference))?;
            s.delete_manifest(name, &r).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        ("GET", Route::Referrers(name, digest)) => {
            let name = repo(&name)?;
            let d = digest_of(&digest)?;
            let artifact_type = q.get("artifactType").map(String::as_str);
            let index = s.referrers(name, &d, artifact_type).await?;
            let mut resp = axum::Json(index).into_response();
            header(&mut resp, "content-type", crate::manifests::OCI_INDEX);
            if artifact_type.is_some() {
                header(&mut resp, "oci-filters-applied", "artifactType");
            }
            Ok(resp)
        }
        (
            _,
            Route::Upload(..)
            | Route::Uploads(_)
            | Route::Blob(..)
            | Route::Manifest(..)
            | Route::Tags(_)
            | Route::Referrers(..)
            | Route::Catalog
            | Route::Base,
        ) => Err(RegistryError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("{m} is not supported here"),
        )),
    }
}

//! The distribution spec's HTTP API (`/v2/...`). Repository names contain `/`, so routes are
//! matched here from the end of the path rather than by the router.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::TryStreamExt;
use serde_json::json;
use tre_core::ports::{ByteRange, ByteStream};

use crate::errors::{RegistryError, RegistryResult};
use crate::names::{parse_digest, parse_reference, valid_repository};
use crate::storage::{catalog_key, Storage};

/// Manifests are read whole (they are small and must be validated); blobs always stream.
const MANIFEST_LIMIT: usize = crate::manifests::MAX_MANIFEST_BYTES + 1;

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

/// The scope a request needs: (type, name, action); `None` for the base route (any valid token).
fn needed(method: &str, r: &Route) -> Option<(&'static str, String, &'static str)> {
    let pull = |n: &String| Some(("repository", n.clone(), "pull"));
    let push = |n: &String| Some(("repository", n.clone(), "push"));
    match (method, r) {
        (_, Route::Base) => None,
        (_, Route::Catalog) => Some(("registry", "catalog".into(), "*")),
        ("DELETE", Route::Manifest(n, _) | Route::Blob(n, _)) => {
            Some(("repository", n.clone(), "delete"))
        }
        (
            "GET" | "HEAD",
            Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _) | Route::Referrers(n, _),
        ) => pull(n),
        (
            _,
            Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _) | Route::Referrers(n, _),
        ) => push(n),
        (_, Route::Uploads(n) | Route::Upload(n, _)) => push(n),
    }
}

fn challenge(realm: &str, service: &str, scope: Option<String>, error: Option<&str>) -> Response {
    let mut value = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
    if let Some(s) = scope {
        value.push_str(&format!(",scope=\"{s}\""));
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    // RFC 6750: a missing or bad token is 401; a good token that lacks the scope is 403, with
    // the scope it needs, so clients that keep one token (oras) know to fetch a new one.
    let err = if error == Some("insufficient_scope") {
        RegistryError::new(
            StatusCode::FORBIDDEN,
            "DENIED",
            "the token does not allow this: get one for the scope in WWW-Authenticate",
        )
    } else {
        RegistryError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required: get a token from the realm of WWW-Authenticate",
        )
    };
    let mut resp = err.into_response();
    header(&mut resp, "www-authenticate", &value);
    resp
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

fn digest_hex(d: &str) -> RegistryResult<&str> {
    parse_digest(d)
        .ok_or_else(|| RegistryError::digest_invalid(format!("`{d}` is not a sha256 digest")))
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

fn header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut resp = status.into_response();
    header(
        &mut resp,
        "location",
        &format!("/v2/{name}/blobs/uploads/{id}"),
    );
    header(&mut resp, "docker-upload-uuid", id);
    // Range of bytes received: inclusive, `0-0` when nothing was (as Distribution answers).
    header(&mut resp, "range", &format!("0-{}", size.saturating_sub(1)));
    resp
}

fn blob_created(name: &str, digest: &str) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    header(&mut resp, "location", &format!("/v2/{name}/blobs/{digest}"));
    header(&mut resp, "docker-content-digest", digest);
    resp
}

/// `Range: bytes=a-b` of a GET.
fn range(headers: &HeaderMap) -> RegistryResult<Option<ByteRange>> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let bad = || RegistryError::range_invalid(format!("`{v}` is not a single byte range"));
    let spec = v.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let start = a.parse().map_err(|_| bad())?;
    let end = if b.is_empty() {
        None
    } else {
        Some(b.parse().map_err(|_| bad())?)
    };
    Ok(Some(ByteRange { start, end }))
}

/// `Content-Range: a-b` of a PATCH (the spec's form, without `bytes `).
fn content_range(headers: &HeaderMap) -> RegistryResult<Option<u64>> {
    let Some(v) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let spec = v.trim_start_matches("bytes ").trim();
    let start = spec
        .split('-')
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| RegistryError::range_invalid(format!("`{v}` is not a content range")))?;
    Ok(Some(start))
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let granted = match &state.auth {
        RegistryAuth::Anyone => None,
        RegistryAuth::Tokens { key, realm } => {
            let need = route(parts.uri.path()).and_then(|r| needed(parts.method.as_str(), &r));
            // Writers read too (existence checks): ask for both, as Distribution does.
            let scope = need.as_ref().map(|(k, n, a)| {
                let actions = if *a == "push" { "pull,push" } else { a };
                format!("{k}:{n}:{actions}")
            });
            let token = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let Some(token) = token else {
                return challenge(realm, key.service(), scope, None);
            };
            let Ok((_, access)) = key.verify(token.trim()) else {
                return challenge(realm, key.service(), scope, Some("invalid_token"));
            };
            if let Some((k, n, a)) = &need {
                if !access.iter().any(|x| x.allows(k, n, a)) {
                    return challenge(realm, key.service(), scope, Some("insufficient_scope"));
                }
            }
            Some(access)
        }
    };
    match dispatch(
        &state.storage,
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
        granted.as_deref(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    s: &Storage,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Body,
    granted: Option<&[tre_auth::registry_token::Access]>,
) -> RegistryResult<Response> {
    let q = query(uri);
    let Some(r) = route(uri.path()) else {
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
                let hex = digest_hex(mount)?;
                // Mounting reads the source: the caller must be allowed to pull it.
                let may_read =
                    granted.is_none_or(|g| g.iter().any(|a| a.allows("repository", from, "pull")));
                if may_read && valid_repository(from) && s.has_blob(from, hex).await? {
                    s.link_blob(name, hex).await?;
                    return Ok(blob_created(name, mount));
                }
            }
            let id = s.start_upload(name).await?;
            if let Some(digest) = q.get("digest") {
                // Monolithic: the whole blob in this request.
                s.append(name, &id, None, body_stream(body)).await?;
                s.finish(name, &id, digest).await?;
                return Ok(blob_created(name, digest));
            }
            Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
        }
        ("GET", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            let size = s.upload_size(name, &id).await?;
            Ok(upload_response(StatusCode::NO_CONTENT, name, &id, size))
        }
        ("PATCH", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            let start = content_range(headers)?;
            let size = s.append(name, &id, start, body_stream(body)).await?;
            Ok(upload_response(StatusCode::ACCEPTED, name, &id, size))
        }
        ("PUT", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            let digest = q
                .get("digest")
                .ok_or_else(|| RegistryError::digest_invalid("PUT of an upload needs ?digest="))?;
            digest_hex(digest)?;
            s.append(name, &id, None, body_stream(body)).await?;
            s.finish(name, &id, digest).await?;
            Ok(blob_created(name, digest))
        }
        ("DELETE", Route::Upload(name, id)) => {
            let name = repo(&name)?;
            s.cancel(name, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("GET" | "HEAD", Route::Blob(name, digest)) => {
            let name = repo(&name)?;
            let hex = digest_hex(&digest)?;
            if m == "HEAD" {
                let size = s
                    .blob_size(name, hex)
                    .await?
                    .ok_or_else(|| RegistryError::blob_unknown(&digest))?;
                let mut resp = StatusCode::OK.into_response();
                header(&mut resp, "content-length", &size.to_string());
                header(&mut resp, "docker-content-digest", &digest);
                header(&mut resp, "accept-ranges", "bytes");
                header(&mut resp, "content-type", "application/octet-stream");
                return Ok(resp);
            }
            if let Some(url) = s.blob_redirect(name, hex).await? {
                let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
                header(&mut resp, "location", &url);
                header(&mut resp, "docker-content-digest", &digest);
                return Ok(resp);
            }
            let got = s.get_blob(name, hex, range(headers)?).await?;
            let total = got.meta.size;
            let (status, len) = match got.range {
                Some((a, b)) => (StatusCode::PARTIAL_CONTENT, b - a + 1),
                None => (StatusCode::OK, total),
            };
            let mut resp = Response::new(Body::from_stream(got.body));
            *resp.status_mut() = status;
            header(&mut resp, "content-length", &len.to_string());
            header(&mut resp, "docker-content-digest", &digest);
            header(&mut resp, "accept-ranges", "bytes");
            header(&mut resp, "content-type", "application/octet-stream");
            if let Some((a, b)) = got.range {
                header(
                    &mut resp,
                    "content-range",
                    &format!("bytes {a}-{b}/{total}"),
                );
            }
            Ok(resp)
        }
        ("DELETE", Route::Blob(name, digest)) => {
            let name = repo(&name)?;
            if s.unlink_blob(name, digest_hex(&digest)?).await? {
                Ok(StatusCode::ACCEPTED.into_response())
            } else {
                Err(RegistryError::blob_unknown(&digest))
            }
        }
        ("GET" | "HEAD", Route::Manifest(name, reference)) => {
            let name = repo(&name)?;
            let r = parse_reference(&reference)
                .ok_or_else(|| RegistryError::manifest_unknown(&reference))?;
            let digest = s.resolve(name, &r).await?;
            let info = s.manifest_info(name, &digest).await?;
            let mut resp = if m == "HEAD" {
                StatusCode::OK.into_response()
            } else {
                Response::new(Body::from(s.manifest_bytes(&digest).await?))
            };
            header(&mut resp, "content-type", &info.media_type);
            header(&mut resp, "content-length", &info.size.to_string());
            header(&mut resp, "docker-content-digest", &digest);
            Ok(resp)
        }
        ("PUT", Route::Manifest(name, reference)) => {
            let name = repo(&name)?;
            let r = parse_reference(&reference).ok_or_else(|| {
                RegistryError::new(
                    StatusCode::BAD_REQUEST,
                    "TAG_INVALID",
                    format!("`{reference}` is neither a tag nor a sha256 digest"),
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
            let bytes = axum::body::to_bytes(body, MANIFEST_LIMIT)
                .await
                .map_err(|_| {
                    RegistryError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "SIZE_INVALID",
                        "the manifest is too large",
                    )
                })?;
            let (digest, subject) = s
                .put_manifest(name, &r, &media_type, &bytes, "anonymous")
                .await?;
            let mut resp = StatusCode::CREATED.into_response();
            header(
                &mut resp,
                "location",
                &format!("/v2/{name}/manifests/{digest}"),
            );
            header(&mut resp, "docker-content-digest", &digest);
            if let Some(subject) = subject {
                header(&mut resp, "oci-subject", &subject);
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
            let hex = digest_hex(&digest)?;
            let artifact_type = q.get("artifactType").map(String::as_str);
            let index = s.referrers(name, hex, artifact_type).await?;
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

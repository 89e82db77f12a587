use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

use super::PortResult;

/// A stream of bytes: bodies are streamed, never required to fit in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Turn an in-memory buffer into a `ByteStream` (small bodies, tests).
pub fn bytes_stream(data: impl Into<Bytes>) -> ByteStream {
    let data: Bytes = data.into();
    Box::pin(futures::stream::once(async move { Ok(data) }))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Backend entity tag (opaque; changes whenever the content changes).
    pub etag: String,
    pub last_modified: DateTime<Utc>,
    pub content_type: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutOptions {
    pub content_type: Option<String>,
    /// Length of the body if known. Adapters that need it (S3) fall back to a multipart upload
    /// with bounded parts when it is unknown.
    pub content_length: Option<u64>,
    /// Refuse with `AlreadyExists` if the key already holds an object.
    pub if_none_match: bool,
}

/// Inclusive byte range, as in HTTP `Range: bytes=start-end`. `end: None` means to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
}

pub struct GetObject {
    pub meta: ObjectMeta,
    /// The range actually returned (inclusive), if a range was asked for.
    pub range: Option<(u64, u64)>,
    pub body: ByteStream,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// Pass as `start_after` to get the next page; `None` when complete.
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: u32,
    pub etag: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresignMethod {
    Get,
    Put,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedUrl {
    pub url: String,
    pub method: PresignMethod,
    pub expires_at: DateTime<Utc>,
}

/// A signed HTML-form upload (S3's POST policy): its holder may upload, until `expires_at`,
/// any number of objects whose key starts with `key_prefix`, each at most `max_bytes`, by a
/// `multipart/form-data` POST to `url` of `fields` as given, then `key`, then `file` last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedPost {
    pub url: String,
    pub fields: std::collections::BTreeMap<String, String>,
    /// The prefix every `key` field must start with, as the backend names keys (a store that
    /// adds a prefix of its own includes it here).
    pub key_prefix: String,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// S3's largest object uploaded by a form POST.
pub const MAX_POST_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Object storage (S3; the filesystem locally). Keys are `/`-separated relative paths; a key
/// containing `..` segments, a leading `/` or NUL is rejected with `Invalid`.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put(&self, key: &str, body: ByteStream, options: PutOptions)
        -> PortResult<ObjectMeta>;

    /// `NotFound` if there is no such object; `Invalid` if the range starts past the end.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> PortResult<GetObject>;

    async fn head(&self, key: &str) -> PortResult<Option<ObjectMeta>>;

    /// Deleting a missing object is not an error (idempotent).
    async fn delete(&self, key: &str) -> PortResult<()>;

    /// Objects whose key starts with `prefix`, in key order, after `start_after`.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<ListPage>;

    /// Server-side copy (no bytes through the caller).
    async fn copy(&self, from: &str, to: &str) -> PortResult<ObjectMeta>;

    /// Move an object: afterwards `to` holds it and `from` is gone. Stores that can rename do it
    /// without touching the bytes; the default copies, then deletes the source.
    async fn rename(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        let meta = self.copy(from, to).await?;
        self.delete(from).await?;
        Ok(meta)
    }

    /// Where `key` really lives when this store is a view of another one (a prefix of it): that
    /// store and the key there. Lets a caller holding two views of one store move an object
    /// between them with one `rename` instead of copying its bytes. `None`: this store is its
    /// own backend.
    fn backend_key(&self, _key: &str) -> Option<(std::sync::Arc<dyn ObjectStore>, String)> {
        None
    }

    async fn create_multipart(&self, key: &str, options: PutOptions) -> PortResult<String>;

    /// Part numbers 1..=10000. All parts but the last must be at least 5 MiB (S3's rule, kept
    /// locally too so behaviour does not differ).
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        content_length: u64,
    ) -> PortResult<PartInfo>;

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> PortResult<ObjectMeta>;

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> PortResult<()>;

    /// A URL that lets its holder PUT part `part_number` of multipart upload `upload_id` of
    /// `key` until `expires_in` has passed (with `Content-Length`; the answer's `ETag` names
    /// the part for `complete_multipart`, quotes and all). How large files are uploaded
    /// without passing through the caller.
    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl>;

    /// A URL that lets its holder GET or PUT this one key until `expires_in` has passed.
    async fn presign(
        &self,
        method: PresignMethod,
        key: &str,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl>;

    /// A form upload limited to keys under `prefix` (which ends with `/`) and to `max_bytes`
    /// (at most `MAX_POST_BYTES`) per object: how a client that names its files itself uploads
    /// them without passing through the caller. `Invalid` for a bad prefix or limit.
    async fn presign_post(
        &self,
        prefix: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedPost>;
}

/// The rule for `presign_post`'s prefix, shared by the adapters: a relative key prefix of
/// whole segments, ending with `/`.
pub fn validate_post_prefix(prefix: &str, max_bytes: u64) -> PortResult<()> {
    let segments: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    let bad = !prefix.ends_with('/')
        || prefix.starts_with('/')
        || prefix.contains('\0')
        || segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..");
    if bad {
        return Err(super::PortError::Invalid(format!(
            "`{prefix}` is not a key prefix (relative, whole segments, ending with `/`)"
        )));
    }
    if max_bytes == 0 || max_bytes > MAX_POST_BYTES {
        return Err(super::PortError::Invalid(format!(
            "a form upload takes 1 to {MAX_POST_BYTES} bytes"
        )));
    }
    Ok(())
}

//! `ObjectStore` on the local filesystem.
//!
//! Layout under the root: `objects/` (see [`layout`]), `uploads/<id>/` for multipart uploads,
//! `tmp/` for bodies being written. Every write streams into `tmp/` and is published with one
//! rename (same filesystem, so atomic): a reader sees the old object or the new one, never half.
//! The etag is the hex SHA-256 of the content, computed while streaming.

pub mod layout;
mod multipart;
mod presign;

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tre_core::ports::{
    ByteRange, ByteStream, GetObject, ListPage, ObjectMeta, ObjectStore, PartInfo, PresignMethod,
    PresignedPost, PresignedUrl, PutOptions,
};
use tre_core::{PortError, PortResult};

use layout::{io_err, object_path, read_meta, validate_key, Header, HEADER_LEN};
pub use presign::presigned_router;

/// Most keys one `list` call returns (S3's page size).
const MAX_LIST: usize = 1000;
/// Chunk size of streamed reads, and how many chunks may wait for a slow reader: together they
/// bound the memory of one open body (3 MiB). Large chunks keep per-chunk costs (a channel
/// hop, an allocation, a wakeup) far below the cost of the bytes themselves.
const READ_CHUNK: usize = 1024 * 1024;
const READ_AHEAD: usize = 2;
/// Bodies up to this size are read at once, when the object is opened.
const INLINE_READ: usize = 64 * 1024;

enum Opened {
    Read(bytes::Bytes),
    File(std::fs::File, u64),
}

/// Streams `len` bytes from `file` (positioned) through one blocking reader loop: the async
/// side gets whole chunks through a bounded channel, with no pool hop per read. The loop ends
/// when the body is dropped.
fn stream_file(mut file: std::fs::File, len: u64) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut left = len;
        while left > 0 {
            let want = left.min(READ_CHUNK as u64) as usize;
            // Read into spare capacity: no zeroing of memory the read overwrites anyway.
            let mut buf = Vec::with_capacity(want);
            let result = match (&mut file).take(want as u64).read_to_end(&mut buf) {
                Ok(n) if n == want => Ok(bytes::Bytes::from(buf)),
                Ok(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the object file is shorter than its size",
                )),
                Err(e) => Err(e),
            };
            let failed = result.is_err();
            if tx.blocking_send(result).is_err() || failed {
                return;
            }
            left -= want as u64;
        }
    });
    Box::pin(tokio_stream_from(rx))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub struct FsObjectStore {
    root: PathBuf,
    objects: PathBuf,
    base_url: String,
    secret: Vec<u8>,
}

impl FsObjectStore {
    /// Store objects under `root`. Pre-signed URLs point at `base_url` (where
    /// [`presigned_router`] is served) and are signed with `secret`.
    pub fn open(
        root: impl Into<PathBuf>,
        base_url: impl Into<String>,
        secret: impl Into<Vec<u8>>,
    ) -> PortResult<Self> {
        let root = root.into();
        let secret = secret.into();
        if secret.len() < 16 {
            return Err(PortError::Invalid(
                "presign secret must be at least 16 bytes".into(),
            ));
        }
        let objects = root.join("objects");
        for dir in [&objects, &root.join("uploads"), &root.join("tmp")] {
            std::fs::create_dir_all(dir).map_err(|e| io_err("creating object store", e))?;
        }
        Ok(Self {
            root,
            objects,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            secret,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tmp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}.tmp", uuid::Uuid::new_v4().simple()))
    }

    fn uploads(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// Stream `body` into a new temp object file; returns its path, size and etag.
    async fn write_temp(
        &self,
        body: ByteStream,
        content_type: Option<String>,
    ) -> PortResult<(PathBuf, u64, String)> {
        let tmp = self.tmp_path();
        let result = write_object_file(&tmp, body, content_type).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map(|(size, etag)| (tmp, size, etag))
    }

    /// Move a finished temp file to `key` (blocking work on the blocking pool).
    async fn publish(
        &self,
        tmp: PathBuf,
        key: &str,
        if_none_match: bool,
    ) -> PortResult<ObjectMeta> {
        let dest = object_path(&self.objects, key);
        let key = key.to_string();
        let res = tokio::task::spawn_blocking(move || {
            let out = layout::publish_file(&tmp, &dest, if_none_match)
                .and_then(|_| read_meta(&dest, &key))
                .and_then(|m| m.ok_or_else(|| PortError::Backend("object vanished".into())));
            let _ = std::fs::remove_file(&tmp);
            out
        })
        .await;
        res.map_err(|e| PortError::Backend(format!("object task failed: {e}")))?
    }
}

/// Header placeholder, body, then the real header: one pass over the body, bounded memory.
pub(crate) async fn write_object_file(
    path: &Path,
    mut body: ByteStream,
    content_type: Option<String>,
) -> PortResult<(u64, String)> {
    // Encode once up front so an oversized content type fails before any byte is written.
    Header {
        etag: "0".repeat(64),
        content_type: content_type.clone(),
    }
    .encode()?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io_err("creating temp object", e))?;
    file.write_all(&vec![b' '; HEADER_LEN as usize])
        .await
        .map_err(|e| io_err("writing object", e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| PortError::Invalid(format!("reading request body: {e}")))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| io_err("writing object", e))?;
    }
    let etag = hex::encode(hasher.finalize());
    finish_header(&mut file, &etag, content_type).await?;
    Ok((size, etag))
}

pub(crate) async fn finish_header(
    file: &mut tokio::fs::File,
    etag: &str,
    content_type: Option<String>,
) -> PortResult<()> {
    let header = Header {
        etag: etag.to_string(),
        content_type,
    }
    .encode()?;
    file.seek(SeekFrom::Start(0))
        .await
        .map_err(|e| io_err("writing object", e))?;
    file.write_all(&header)
        .await
        .map_err(|e| io_err("writing object", e))?;
    // Durable before it becomes visible, so a crash cannot publish an empty file.
    file.sync_all()
        .await
        .map_err(|e| io_err("syncing object", e))
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        options: PutOptions,
    ) -> PortResult<ObjectMeta> {
        validate_key(key)?;
        let (tmp, size, _) = self.write_temp(body, options.content_type).await?;
        if let Some(expected) = options.content_length {
            if expected != size {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(PortError::Invalid(format!(
                    "body has {size} bytes, content length said {expected}"
                )));
            }
        }
        self.publish(tmp, key, options.if_none_match)
            .await
            .map_err(|e| match e {
                PortError::AlreadyExists(_) => PortError::AlreadyExists(format!("object {key}")),
                other => other,
            })
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> PortResult<GetObject> {
        validate_key(key)?;
        let path = object_path(&self.objects, key);
        let owned_key = key.to_string();
        // One blocking call opens the file, reads its header and, for a small body, the body
        // too: a small read costs one hop to the blocking pool instead of one per step.
        let (meta, start, end, opened) = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek};
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(PortError::NotFound(format!("object {owned_key}")))
                }
                Err(e) => return Err(io_err("opening object", e)),
            };
            let meta = layout::meta_of(&mut file, &owned_key)?;
            let (start, end) = match range {
                None => (0, meta.size.saturating_sub(1)),
                Some(r) => {
                    if r.start >= meta.size || r.end.is_some_and(|e| e < r.start) {
                        return Err(PortError::Invalid(format!(
                            "range {}-{:?} not satisfiable for {} bytes",
                            r.start, r.end, meta.size
                        )));
                    }
                    (r.start, r.end.unwrap_or(u64::MAX).min(meta.size - 1))
                }
            };
            let len = if meta.size == 0 { 0 } else { end - start + 1 };
            file.seek(SeekFrom::Start(HEADER_LEN + start))
                .map_err(|e| io_err("reading object", e))?;
            let opened = if len <= INLINE_READ as u64 {
                let mut buf = Vec::with_capacity(len as usize);
                file.take(len)
                    .read_to_end(&mut buf)
                    .map_err(|e| io_err("reading object", e))?;
                Opened::Read(bytes::Bytes::from(buf))
            } else {
                Opened::File(file, len)
            };
            Ok((meta, start, end, opened))
        })
        .await
        .map_err(|e| PortError::Backend(format!("object task failed: {e}")))??;
        let body: ByteStream = match opened {
            Opened::Read(b) if b.is_empty() => Box::pin(futures::stream::empty()),
            Opened::Read(b) => Box::pin(futures::stream::once(async move { Ok(b) })),
            Opened::File(file, len) => stream_file(file, len),
        };
        Ok(GetObject {
            meta,
            range: range.map(|_| (start, end)),
            body,
        })
    }

    async fn head(&self, key: &str) -> PortResult<Option<ObjectMeta>> {
        validate_key(key)?;
        let path = object_path(&self.objects, key);
        let key = key.to_string();
        tokio::task::spawn_blocking(move || read_meta(&path, &key))
            .await
            .map_err(|e| PortError::Backend(format!("object task failed: {e}")))?
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        validate_key(key)?;
        let path = object_path(&self.objects, key);
        let objects = self.objects.clone();
        tokio::task::spawn_blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err("deleting object", e)),
            }
            layout::prune_empty_dirs(&objects, path.parent());
            Ok(())
        })
        .await
        .map_err(|e| PortError::Backend(format!("object task failed: {e}")))?
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<ListPage> {
        if limit == 0 {
            return Err(PortError::Invalid("list limit must be at least 1".into()));
        }
        let limit = limit.min(MAX_LIST);
        let objects = self.objects.clone();
        let prefix = prefix.to_string();
        let after = start_after.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            // One more than asked tells whether there is a next page.
            let mut keys = layout::list_keys(&objects, &prefix, after.as_deref(), limit + 1)?;
            let more = keys.len() > limit;
            keys.truncate(limit);
            let mut page = ListPage::default();
            for key in keys {
                // Deleted since the walk: skip it rather than fail the page.
                if let Some(meta) = read_meta(&object_path(&objects, &key), &key)? {
                    page.objects.push(meta);
                }
            }
            if more {
                page.next = page.objects.last().map(|m| m.key.clone());
            }
            Ok(page)
        })
        .await
        .map_err(|e| PortError::Backend(format!("object task failed: {e}")))?
    }

    async fn copy(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        validate_key(from)?;
        validate_key(to)?;
        let src = object_path(&self.objects, from);
        let tmp = self.tmp_path();
        let (from_s, tmp2) = (from.to_string(), tmp.clone());
        tokio::task::spawn_blocking(move || match std::fs::copy(&src, &tmp2) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&tmp2);
                Err(PortError::NotFound(format!("object {from_s}")))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp2);
                Err(io_err("copying object", e))
            }
        })
        .await
        .map_err(|e| PortError::Backend(format!("object task failed: {e}")))??;
        self.publish(tmp, to, false).await
    }

    /// One rename on the same filesystem: no byte is read or written again.
    async fn rename(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        validate_key(from)?;
        validate_key(to)?;
        let src = object_path(&self.objects, from);
        let probe = src.clone();
        let exists = tokio::task::spawn_blocking(move || probe.is_file())
            .await
            .map_err(|e| PortError::Backend(format!("object task failed: {e}")))?;
        if !exists {
            return Err(PortError::NotFound(format!("object {from}")));
        }
        let from_dir = src.parent().map(Path::to_path_buf);
        let meta = self.publish(src, to, false).await?;
        let objects = self.objects.clone();
        let to_dir = object_path(&self.objects, to)
            .parent()
            .map(Path::to_path_buf);
        tokio::task::spawn_blocking(move || {
            // The move is durable once both directories are: a crash cannot undo it after
            // the caller has gone on (e.g. to report the file moved).
            for dir in [&to_dir, &from_dir].into_iter().flatten() {
                match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
                    Ok(()) => {}
                    // The source's directory may be pruned by a concurrent delete.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("syncing object directory", e)),
                }
            }
            layout::prune_empty_dirs(&objects, from_dir.as_deref());
            Ok(())
        })
        .await
        .map_err(|e| PortError::Backend(format!("object task failed: {e}")))??;
        Ok(meta)
    }

    async fn create_multipart(&self, key: &str, options: PutOptions) -> PortResult<String> {
        multipart::create(self, key, options).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        content_length: u64,
    ) -> PortResult<PartInfo> {
        multipart::upload_part(self, key, upload_id, part_number, body, content_length).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> PortResult<ObjectMeta> {
        multipart::complete(self, key, upload_id, parts).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> PortResult<()> {
        multipart::abort(self, key, upload_id).await
    }

    async fn presign(
        &self,
        method: PresignMethod,
        key: &str,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        validate_key(key)?;
        presign::presign(&self.base_url, &self.secret, method, key, expires_in)
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        validate_key(key)?;
        if !(1..=10_000).contains(&part_number) {
            return Err(PortError::Invalid(
                "part numbers run from 1 to 10000".into(),
            ));
        }
        presign::presign_part(
            &self.base_url,
            &self.secret,
            key,
            upload_id,
            part_number,
            expires_in,
        )
    }

    async fn presign_post(
        &self,
        prefix: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedPost> {
        presign::presign_post(&self.base_url, &self.secret, prefix, max_bytes, expires_in)
    }
}

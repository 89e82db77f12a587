//! The registry's filesystem store: the embedded `FsObjectStore`'s layout and file format (its
//! `fs_layout`, so `tre registry gc --dir`, `tre dev` and directories written before read and
//! write the same files), with a write path made for blobs:
//!
//! - bytes are written on a blocking thread of their own while the request's task receives and
//!   hashes the next ones, so a push costs one hash (the registry's) instead of two;
//! - writeback to disk is started as the file grows (Linux `sync_file_range`), so the sync that
//!   makes a blob durable before it is published waits for the last few MiB only;
//! - small bodies (links, states, tags, small blobs) are written in one blocking call;
//! - upload chunks (`uploads/...`) are scratch and are not synced when written: they are synced
//!   when renamed into place as a blob (`rename`), or copied into one that is (`put`).
//!
//! The etag of an object written here is opaque (a fresh id per write), as the port allows; the
//! registry never reads etags. Large bodies are served from 1 MiB mapped windows of the file
//! (one copy, page cache to socket, instead of two).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures::StreamExt;
use tre_core::ports::{
    ByteRange, ByteStream, GetObject, ListPage, ObjectMeta, ObjectStore, PartInfo, PresignMethod,
    PresignedPost, PresignedUrl, PutOptions,
};
use tre_core::{PortError, PortResult};
use tre_embedded::fs_layout::{
    io_err, meta_of, object_path, publish_file, validate_key, Header, HEADER_LEN,
};
use tre_embedded::FsObjectStore;

/// Bodies that end within this many bytes are written in one blocking call.
const SMALL: usize = 256 * 1024;
/// Received chunks are handed to the writing thread in batches of about this size (one wake-up
/// of the thread per batch, not per chunk), and this many batches may wait for it.
const BATCH: usize = 512 * 1024;
const IN_FLIGHT: usize = 2;
/// Writeback is started every this many bytes written.
const WRITEBACK: u64 = 8 << 20;
/// Reads of large bodies, and how many may wait for a slow reader.
const READ_CHUNK: usize = 1 << 20;
const READ_AHEAD: usize = 1;

pub struct RegistryFs {
    inner: FsObjectStore,
    root: PathBuf,
}

impl RegistryFs {
    /// The registry's store in `root` (created if missing). Pre-signed links, which the
    /// registry makes only on S3, are those of the embedded store with a throwaway key.
    pub fn open(root: impl Into<PathBuf>) -> PortResult<Self> {
        let root = root.into();
        let inner = FsObjectStore::open(&root, "http://127.0.0.1", vec![0u8; 32])?;
        Ok(Self { inner, root })
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn tmp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}.tmp", uuid::Uuid::new_v4().simple()))
    }
}

fn task_err(e: tokio::task::JoinError) -> PortError {
    PortError::Backend(format!("object task failed: {e}"))
}

/// Start writing `len` bytes at `offset` back to disk without waiting for it, so a later sync
/// finds little left to do.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the whole call; sync_file_range reads no memory of
    // ours. A failure only means the final sync does more of the work.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

/// An object file being written in `tmp/`: header first, then the body.
struct TempObject {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    unsynced_from: u64,
}

impl TempObject {
    fn create(path: PathBuf, content_type: Option<String>) -> PortResult<Self> {
        let header = Header {
            etag: uuid::Uuid::new_v4().simple().to_string(),
            content_type,
        }
        .encode()?;
        let mut file = std::fs::File::create(&path).map_err(|e| io_err("creating object", e))?;
        let made = file.write_all(&header);
        let mut t = Self {
            path,
            file,
            size: 0,
            unsynced_from: 0,
        };
        if let Err(e) = made {
            t.discard();
            return Err(io_err("writing object", e));
        }
        Ok(t)
    }

    fn write(&mut self, b: &[u8]) -> PortResult<()> {
        self.file
            .write_all(b)
            .map_err(|e| io_err("writing object", e))?;
        self.size += b.len() as u64;
        if self.size - self.unsynced_from >= WRITEBACK {
            start_writeback(
                &self.file,
                HEADER_LEN + self.unsynced_from,
                self.size - self.unsynced_from,
            );
            self.unsynced_from = self.size;
        }
        Ok(())
    }

    fn discard(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Make it durable (unless scratch) and move it to `dest`; `AlreadyExists` when
    /// `if_none_match` and `dest` holds an object.
    fn publish(mut self, dest: &Path, durable: bool, if_none_match: bool) -> PortResult<u64> {
        let out = (|| {
            if durable {
                // Durable before it becomes visible, so a crash cannot publish a torn file.
                self.file
                    .sync_data()
                    .map_err(|e| io_err("syncing object", e))?;
            }
            publish_file(&self.path, dest, if_none_match)
        })();
        self.discard();
        out.map(|()| self.size)
    }
}

fn meta_now(key: &str, size: u64, content_type: Option<String>) -> ObjectMeta {
    ObjectMeta {
        key: key.to_string(),
        size,
        etag: String::new(),
        last_modified: Utc::now(),
        content_type,
    }
}

/// A read-only mapping of part of a blob file, freed when the last `Bytes` over it goes. Blob
/// files are never written in place (every write is a new file renamed over the key), so the
/// pages stay valid while mapped, even if the key is deleted or replaced meanwhile.
#[cfg(target_os = "linux")]
struct Mapped {
    addr: usize,
    map_len: usize,
    skip: usize,
    len: usize,
}

#[cfg(target_os = "linux")]
impl Mapped {
    /// Map `len` bytes at `offset` of `file` (page-aligned below), its pages read in at once.
    fn new(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        const PAGE: u64 = 4096;
        let aligned = offset / PAGE * PAGE;
        let skip = (offset - aligned) as usize;
        let map_len = skip + len;
        // SAFETY: a fresh private read-only mapping of an open file; the pointer is used only
        // through `as_ref` within `map_len`, and unmapped once, on drop.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                aligned as libc::off_t,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            addr: addr as usize,
            map_len,
            skip,
            len,
        })
    }
}

#[cfg(target_os = "linux")]
impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `addr..addr + map_len` is mapped readable for the life of `self`.
        unsafe { std::slice::from_raw_parts((self.addr as *const u8).add(self.skip), self.len) }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.map_len);
        }
    }
}

/// One piece of a large body: mapped where the platform allows (the bytes go from the page
/// cache to the socket with one copy), read into memory otherwise.
fn read_piece(file: &mut std::fs::File, offset: u64, want: u64) -> std::io::Result<Bytes> {
    #[cfg(target_os = "linux")]
    if let Ok(m) = Mapped::new(file, offset, want as usize) {
        return Ok(Bytes::from_owner(m));
    }
    file.seek(SeekFrom::Start(offset))?;
    // Read into fresh capacity: no zeroing of memory about to be overwritten.
    let mut buf = Vec::with_capacity(want as usize);
    match file.take(want).read_to_end(&mut buf) {
        Ok(n) if n as u64 == want => Ok(Bytes::from(buf)),
        Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
        Err(e) => Err(e),
    }
}

/// Streams `len` bytes of `file` from `offset` (in the file) from one blocking reader loop.
fn stream_file(mut file: std::fs::File, offset: u64, len: u64) -> ByteStream {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut done = 0;
        while done < len {
            let want = (len - done).min(READ_CHUNK as u64);
            let result = read_piece(&mut file, offset + done, want);
            let failed = result.is_err();
            if tx.blocking_send(result).is_err() || failed {
                return;
            }
            done += want;
        }
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[async_trait]
impl ObjectStore for RegistryFs {
    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        options: PutOptions,
    ) -> PortResult<ObjectMeta> {
        validate_key(key)?;
        let dest = object_path(&self.objects(), key);
        let durable = !key.starts_with("uploads/");
        let content_type = options.content_type.clone();
        let body_err = |e: std::io::Error| PortError::Invalid(format!("reading request body: {e}"));
        // Gather the start of the body: most bodies end within it.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < SMALL {
            match body.next().await {
                Some(c) => head.extend_from_slice(&c.map_err(body_err)?),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let tmp = self.tmp_path();
        let size = if ended {
            let ct = content_type.clone();
            tokio::task::spawn_blocking(move || {
                let mut t = TempObject::create(tmp, ct)?;
                if let Err(e) = t.write(&head) {
                    t.discard();
                    return Err(e);
                }
                check_length(&mut t, options.content_length)?;
                t.publish(&dest, durable, options.if_none_match)
            })
            .await
            .map_err(task_err)??
        } else {
            // Large: a writing thread, fed through a bounded channel.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(IN_FLIGHT);
            let ct = content_type.clone();
            let writer = tokio::task::spawn_blocking(move || {
                let mut t = TempObject::create(tmp, ct)?;
                let mut written = t.write(&head);
                while written.is_ok() {
                    match rx.blocking_recv() {
                        Some(batch) => {
                            for chunk in batch {
                                written = t.write(&chunk);
                                if written.is_err() {
                                    break;
                                }
                            }
                        }
                        None => break,
                    }
                }
                // Dropped early (an error): the sender learns it at its next send.
                drop(rx);
                Ok::<_, PortError>((t, written))
            });
            let mut failed = None;
            let mut batch = Vec::new();
            let mut batched = 0;
            loop {
                let next = body.next().await;
                let end = match next {
                    Some(Ok(c)) => {
                        batched += c.len();
                        batch.push(c);
                        false
                    }
                    Some(Err(e)) => {
                        failed = Some(body_err(e));
                        break;
                    }
                    None => true,
                };
                if (end || batched >= BATCH) && !batch.is_empty() {
                    batched = 0;
                    if tx.send(std::mem::take(&mut batch)).await.is_err() {
                        break;
                    }
                }
                if end {
                    break;
                }
            }
            drop(tx);
            let (mut t, written) = writer.await.map_err(task_err)??;
            if let Some(e) = failed.or(written.err()) {
                t.discard();
                return Err(e);
            }
            tokio::task::spawn_blocking(move || {
                check_length(&mut t, options.content_length)?;
                t.publish(&dest, durable, options.if_none_match)
            })
            .await
            .map_err(task_err)??
        };
        Ok(meta_now(key, size, content_type))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> PortResult<GetObject> {
        validate_key(key)?;
        let path = object_path(&self.objects(), key);
        let owned = key.to_string();
        let (meta, start, end, file) = tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(PortError::NotFound(format!("object {owned}")))
                }
                Err(e) => return Err(io_err("opening object", e)),
            };
            let meta = meta_of(&mut file, &owned)?;
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
            file.seek(SeekFrom::Start(HEADER_LEN + start))
                .map_err(|e| io_err("reading object", e))?;
            Ok((meta, start, end, file))
        })
        .await
        .map_err(task_err)??;
        let len = if meta.size == 0 { 0 } else { end - start + 1 };
        let body: ByteStream = if len <= SMALL as u64 {
            // Small: read at once (the file is open and positioned already).
            let mut file = file;
            let b = tokio::task::spawn_blocking(move || {
                let mut buf = Vec::with_capacity(len as usize);
                (&mut file)
                    .take(len)
                    .read_to_end(&mut buf)
                    .map(|_| Bytes::from(buf))
                    .map_err(|e| io_err("reading object", e))
            })
            .await
            .map_err(task_err)??;
            Box::pin(futures::stream::once(async move { Ok(b) }))
        } else {
            stream_file(file, HEADER_LEN + start, len)
        };
        Ok(GetObject {
            meta,
            range: range.map(|_| (start, end)),
            body,
        })
    }

    async fn head(&self, key: &str) -> PortResult<Option<ObjectMeta>> {
        self.inner.head(key).await
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.inner.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<ListPage> {
        self.inner.list(prefix, start_after, limit).await
    }

    async fn copy(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        self.inner.copy(from, to).await
    }

    /// Scratch chunks are synced here, as they become a blob.
    async fn rename(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        validate_key(from)?;
        if from.starts_with("uploads/") {
            let path = object_path(&self.objects(), from);
            let owned = from.to_string();
            tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
                Ok(f) => f.sync_data().map_err(|e| io_err("syncing object", e)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(PortError::NotFound(format!("object {owned}")))
                }
                Err(e) => Err(io_err("opening object", e)),
            })
            .await
            .map_err(task_err)??;
        }
        self.inner.rename(from, to).await
    }

    async fn create_multipart(&self, key: &str, options: PutOptions) -> PortResult<String> {
        self.inner.create_multipart(key, options).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        content_length: u64,
    ) -> PortResult<PartInfo> {
        self.inner
            .upload_part(key, upload_id, part_number, body, content_length)
            .await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> PortResult<ObjectMeta> {
        self.inner.complete_multipart(key, upload_id, parts).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> PortResult<()> {
        self.inner.abort_multipart(key, upload_id).await
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        self.inner
            .presign_part(key, upload_id, part_number, expires_in)
            .await
    }

    async fn presign(
        &self,
        method: PresignMethod,
        key: &str,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        self.inner.presign(method, key, expires_in).await
    }

    async fn presign_post(
        &self,
        prefix: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedPost> {
        self.inner.presign_post(prefix, max_bytes, expires_in).await
    }
}

fn check_length(t: &mut TempObject, expected: Option<u64>) -> PortResult<()> {
    match expected {
        Some(n) if n != t.size => {
            t.discard();
            Err(PortError::Invalid(format!(
                "body has {} bytes, content length said {n}",
                t.size
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tre_core::ports::bytes_stream;

    async fn read(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
        let mut got = store.get(key, None).await.expect("get");
        let mut out = Vec::new();
        while let Some(c) = got.body.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        out
    }

    fn big(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// Both stores read what the other wrote (small, large, empty; content type kept), list the
    /// same keys and delete each other's objects: the format is the embedded store's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_and_writes_the_embedded_stores_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = RegistryFs::open(dir.path()).expect("open");
        let theirs =
            FsObjectStore::open(dir.path(), "http://127.0.0.1", vec![1u8; 32]).expect("open");
        let large = big(3 << 20);
        let chunks: Vec<Result<Bytes, std::io::Error>> = large
            .chunks(300_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let typed = PutOptions {
            content_type: Some("application/json".into()),
            ..Default::default()
        };
        ours.put("a/small", bytes_stream(b"small".to_vec()), typed.clone())
            .await
            .expect("put");
        ours.put(
            "a/large",
            Box::pin(futures::stream::iter(chunks)),
            PutOptions::default(),
        )
        .await
        .expect("put");
        ours.put("a/empty", bytes_stream(Vec::new()), PutOptions::default())
            .await
            .expect("put");
        theirs
            .put(
                "a/theirs",
                bytes_stream(large.clone()),
                PutOptions::default(),
            )
            .await
            .expect("put");
        assert_eq!(read(&theirs, "a/small").await, b"small");
        assert_eq!(read(&theirs, "a/large").await, large);
        assert_eq!(read(&theirs, "a/empty").await, b"");
        assert_eq!(read(&ours, "a/theirs").await, large);
        let meta = theirs.head("a/small").await.expect("head").expect("some");
        assert_eq!(
            (meta.size, meta.content_type.as_deref()),
            (5, Some("application/json"))
        );
        let part = ours
            .get(
                "a/theirs",
                Some(ByteRange {
                    start: 1_000_000,
                    end: Some(2_999_999),
                }),
            )
            .await
            .expect("range");
        let mut got = Vec::new();
        let mut body = part.body;
        while let Some(c) = body.next().await {
            got.extend_from_slice(&c.expect("chunk"));
        }
        assert_eq!(got, &large[1_000_000..3_000_000]);
        let keys = |p: ListPage| p.objects.into_iter().map(|o| o.key).collect::<Vec<_>>();
        assert_eq!(
            keys(ours.list("a/", None, 100).await.expect("list")),
            keys(theirs.list("a/", None, 100).await.expect("list"))
        );
        theirs.delete("a/large").await.expect("delete");
        assert!(ours.head("a/large").await.expect("head").is_none());
    }

    /// Create-if-absent holds, a body shorter than its declared length is refused and leaves
    /// nothing, and a scratch chunk renamed into place is whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conditional_puts_lengths_and_renames() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = RegistryFs::open(dir.path()).expect("open");
        let once = PutOptions {
            if_none_match: true,
            ..Default::default()
        };
        s.put("k", bytes_stream(b"1".to_vec()), once.clone())
            .await
            .expect("put");
        assert!(matches!(
            s.put("k", bytes_stream(b"2".to_vec()), once).await,
            Err(PortError::AlreadyExists(_))
        ));
        let short = PutOptions {
            content_length: Some(10),
            ..Default::default()
        };
        assert!(s
            .put("short", bytes_stream(b"123".to_vec()), short)
            .await
            .is_err());
        assert!(s.head("short").await.expect("head").is_none());
        let data = big(1 << 20);
        s.put(
            "uploads/x/chunk",
            bytes_stream(data.clone()),
            PutOptions::default(),
        )
        .await
        .expect("put");
        s.rename("uploads/x/chunk", "blobs/x")
            .await
            .expect("rename");
        assert_eq!(read(&s, "blobs/x").await, data);
        assert!(s.head("uploads/x/chunk").await.expect("head").is_none());
        let tmp = std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .count();
        assert_eq!(tmp, 0, "no temp file left behind");
    }
}

#[cfg(test)]
mod races {
    use super::*;
    use tre_core::ports::bytes_stream;

    /// Objects written beside others being deleted (which prunes the directories they leave
    /// empty, up to a shared parent) are all written: the writes retry a pruned directory.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_beside_deletes_that_prune_their_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = std::sync::Arc::new(RegistryFs::open(dir.path()).expect("open"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    for _ in 0..150 {
                        let key = format!("uploads/{}/state.json", uuid::Uuid::new_v4());
                        s.put(&key, bytes_stream(b"{}".to_vec()), PutOptions::default())
                            .await
                            .expect("put beside deletes");
                        s.delete(&key).await.expect("delete");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    }
}

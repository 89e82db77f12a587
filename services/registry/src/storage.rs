//! The registry's layout on the `ObjectStore` port. Blobs are content-addressed under
//! `blobs/<algorithm>/`; a repository holds links to them, so a blob is stored once whatever the
//! number of repositories that use it. Uploads live under `uploads/<uuid>/` as chunks plus a
//! state whose hash is the *serialized hasher*, so a digest is verified as the bytes stream in,
//! across requests, processes and restarts, and never by reading the data back (unless the
//! client names, only when it closes the upload, an algorithm other than the upload's).

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2_resumable::digest::common::hazmat::{SerializableState, SerializedState};
use sha2_resumable::{Digest as _, Sha256, Sha512};
use tre_core::ports::{bytes_stream, ByteRange, ByteStream, GetObject, ObjectStore, PutOptions};
use tre_core::PortError;

use crate::errors::{RegistryError, RegistryResult};
use crate::names::{Algorithm, Digest};

/// When a manifest last referred to a blob (garbage collection keeps recently referred blobs).
pub(crate) fn blob_touch(d: &Digest) -> String {
    format!("_touched/{}/{}", d.algorithm.name(), d.hex)
}

pub fn blob_key(d: &Digest) -> String {
    format!("blobs/{}/{}/{}", d.algorithm.name(), &d.hex[..2], d.hex)
}
fn repo_blob(repo: &str, d: &Digest) -> String {
    format!(
        "repositories/{repo}/_layers/{}/{}",
        d.algorithm.name(),
        d.hex
    )
}
pub(crate) fn repo_manifest(repo: &str, d: &Digest) -> String {
    format!(
        "repositories/{repo}/_manifests/revisions/{}/{}",
        d.algorithm.name(),
        d.hex
    )
}
pub(crate) fn tags_prefix(repo: &str) -> String {
    format!("repositories/{repo}/_manifests/tags/")
}
pub(crate) fn tag_key(repo: &str, tag: &str) -> String {
    format!("{}{tag}/current", tags_prefix(repo))
}
pub(crate) fn tag_history(repo: &str, tag: &str, at: &str, d: &Digest) -> String {
    format!("{}{tag}/history/{at}-{}", tags_prefix(repo), key_part(d))
}
/// A digest as one key segment: the hex alone for sha256 (the layout before other algorithms),
/// `<algorithm>-<hex>` otherwise.
pub(crate) fn key_part(d: &Digest) -> String {
    match d.algorithm {
        Algorithm::Sha256 => d.hex.clone(),
        other => format!("{}-{}", other.name(), d.hex),
    }
}
/// The digest a key segment written by [`key_part`] names.
pub(crate) fn from_key_part(part: &str) -> Option<Digest> {
    match part.split_once('-') {
        Some((algo, hex)) => crate::names::parse_digest(&format!("{algo}:{hex}")),
        None => crate::names::parse_digest(&format!("sha256:{part}")),
    }
}
pub(crate) fn referrers_prefix(repo: &str, subject: &Digest) -> String {
    format!("repositories/{repo}/_referrers/{}/", key_part(subject))
}
pub(crate) fn catalog_key(repo: &str) -> String {
    format!("_catalog/{repo}")
}
fn upload_state(id: &str) -> String {
    format!("uploads/{id}/state.json")
}
fn upload_chunk(id: &str, n: u32) -> String {
    format!("uploads/{id}/chunk-{n:08}")
}

/// A hash being computed, of either algorithm.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn new(a: Algorithm) -> Self {
        match a {
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, b: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(b),
            Self::Sha512(h) => h.update(b),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        match self {
            Self::Sha256(h) => Digest::new(Algorithm::Sha256, hex::encode(h.finalize())),
            Self::Sha512(h) => Digest::new(Algorithm::Sha512, hex::encode(h.finalize())),
        }
    }

    pub(crate) fn digest(a: Algorithm, data: &[u8]) -> Digest {
        let mut h = Self::new(a);
        h.update(data);
        h.finish()
    }

    fn serialize(&self) -> String {
        let raw = match self {
            Self::Sha256(h) => h.serialize().to_vec(),
            Self::Sha512(h) => h.serialize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    fn deserialize(a: Algorithm, encoded: &str) -> RegistryResult<Self> {
        let bad = |_| RegistryError::upload_unknown();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| RegistryError::upload_unknown())?;
        Ok(match a {
            Algorithm::Sha256 => Self::Sha256(
                Sha256::deserialize(
                    &SerializedState::<Sha256>::try_from(raw.as_slice())
                        .map_err(|_| RegistryError::upload_unknown())?,
                )
                .map_err(bad)?,
            ),
            Algorithm::Sha512 => Self::Sha512(
                Sha512::deserialize(
                    &SerializedState::<Sha512>::try_from(raw.as_slice())
                        .map_err(|_| RegistryError::upload_unknown())?,
                )
                .map_err(bad)?,
            ),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct UploadState {
    repo: String,
    size: u64,
    chunks: u32,
    /// The algorithm the upload is hashed with as it arrives (absent in states written before
    /// there was a choice: sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    algorithm: Option<String>,
    /// The hash of everything received so far, as a serialized hasher.
    hasher: String,
}

impl UploadState {
    fn algorithm(&self) -> RegistryResult<Algorithm> {
        match &self.algorithm {
            None => Ok(Algorithm::Sha256),
            Some(a) => Algorithm::parse(a).ok_or_else(RegistryError::upload_unknown),
        }
    }

    fn hasher(&self) -> RegistryResult<Hasher> {
        Hasher::deserialize(self.algorithm()?, &self.hasher)
    }

    fn set_hasher(&mut self, h: &Hasher) {
        self.algorithm = match h {
            Hasher::Sha256(_) => None,
            Hasher::Sha512(_) => Some(Algorithm::Sha512.name().to_string()),
        };
        self.hasher = h.serialize();
    }
}

/// What a chunk's `Content-Range` says: its first and last byte (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

/// The outcome of streaming a chunk into an upload.
pub(crate) enum Appended {
    /// The upload now holds this many bytes.
    Size(u64),
    /// The chunk does not start where the upload stands, or is not as long as its range said:
    /// refused, the upload unchanged.
    OutOfOrder(u64),
}

#[derive(Clone)]
pub struct Storage {
    pub store: Arc<dyn ObjectStore>,
    /// When set, blob pulls are answered with a redirect to a pre-signed link of this lifetime
    /// (S3 serves the bytes; the registry only checks access).
    redirect_pulls: Option<std::time::Duration>,
}

pub(crate) async fn read_all(store: &dyn ObjectStore, key: &str) -> Result<Vec<u8>, PortError> {
    let mut got = store.get(key, None).await?;
    let mut out = Vec::with_capacity(got.meta.size as usize);
    while let Some(c) = got.body.next().await {
        out.extend_from_slice(&c.map_err(|e| PortError::Backend(e.to_string()))?);
    }
    Ok(out)
}

impl Storage {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            redirect_pulls: None,
        }
    }

    /// Answer blob pulls with a redirect to a pre-signed link living `ttl`.
    pub fn redirect_pulls(mut self, ttl: std::time::Duration) -> Self {
        self.redirect_pulls = Some(ttl);
        self
    }

    /// A pre-signed link to a blob of `repo`, if pulls redirect; `None` to stream it.
    pub async fn blob_redirect(&self, repo: &str, d: &Digest) -> RegistryResult<Option<String>> {
        let Some(ttl) = self.redirect_pulls else {
            return Ok(None);
        };
        if !self.has_blob(repo, d).await? {
            return Err(RegistryError::blob_unknown(&d.to_string()));
        }
        let link = self
            .store
            .presign(tre_core::ports::PresignMethod::Get, &blob_key(d), ttl)
            .await?;
        Ok(Some(link.url))
    }

    pub(crate) async fn put_json(&self, key: &str, v: &impl Serialize) -> RegistryResult<()> {
        let body = serde_json::to_vec(v).map_err(|e| RegistryError::unsupported(e.to_string()))?;
        self.store
            .put(key, bytes_stream(body), PutOptions::default())
            .await?;
        Ok(())
    }

    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> RegistryResult<Option<T>> {
        match read_all(self.store.as_ref(), key).await {
            Ok(raw) => Ok(serde_json::from_slice(&raw).ok()),
            Err(PortError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn exists(&self, key: &str) -> RegistryResult<bool> {
        Ok(self.store.head(key).await?.is_some())
    }

    /// An empty marker object, written only if absent (most pushes find it there already).
    async fn mark(&self, key: &str) -> RegistryResult<()> {
        if !self.exists(key).await? {
            self.store
                .put(key, bytes_stream(Vec::new()), PutOptions::default())
                .await?;
        }
        Ok(())
    }

    pub async fn has_blob(&self, repo: &str, d: &Digest) -> RegistryResult<bool> {
        Ok(self.exists(&repo_blob(repo, d)).await? && self.exists(&blob_key(d)).await?)
    }

    pub(crate) async fn link_blob(&self, repo: &str, d: &Digest) -> RegistryResult<()> {
        self.mark(&repo_blob(repo, d)).await?;
        self.mark(&catalog_key(repo)).await
    }

    pub async fn unlink_blob(&self, repo: &str, d: &Digest) -> RegistryResult<bool> {
        let key = repo_blob(repo, d);
        if !self.exists(&key).await? {
            return Ok(false);
        }
        self.store.delete(&key).await?;
        Ok(true)
    }

    pub async fn get_blob(
        &self,
        repo: &str,
        d: &Digest,
        range: Option<ByteRange>,
    ) -> RegistryResult<GetObject> {
        if !self.exists(&repo_blob(repo, d)).await? {
            return Err(RegistryError::blob_unknown(&d.to_string()));
        }
        self.store
            .get(&blob_key(d), range)
            .await
            .map_err(|e| match e {
                PortError::NotFound(_) => RegistryError::blob_unknown(&d.to_string()),
                other => other.into(),
            })
    }

    pub async fn blob_size(&self, repo: &str, d: &Digest) -> RegistryResult<Option<u64>> {
        if !self.exists(&repo_blob(repo, d)).await? {
            return Ok(None);
        }
        Ok(self.store.head(&blob_key(d)).await?.map(|m| m.size))
    }

    /// A new upload hashed with `algorithm` as its bytes arrive.
    pub async fn start_upload(&self, repo: &str, algorithm: Algorithm) -> RegistryResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut state = UploadState {
            repo: repo.to_string(),
            size: 0,
            chunks: 0,
            algorithm: None,
            hasher: String::new(),
        };
        state.set_hasher(&Hasher::new(algorithm));
        self.put_json(&upload_state(&id), &state).await?;
        Ok(id)
    }

    async fn state(&self, repo: &str, id: &str) -> RegistryResult<UploadState> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(RegistryError::upload_unknown());
        }
        match self.get_json::<UploadState>(&upload_state(id)).await? {
            Some(s) if s.repo == repo => Ok(s),
            _ => Err(RegistryError::upload_unknown()),
        }
    }

    /// Bytes received so far.
    pub async fn upload_size(&self, repo: &str, id: &str) -> RegistryResult<u64> {
        Ok(self.state(repo, id).await?.size)
    }

    /// Stream a chunk into the upload's next chunk object, hashing it on the way, and advance
    /// `state` in memory (the caller stores it, or finishes). A chunk that does not start where
    /// the upload stands, or whose length differs from its range, changes nothing.
    async fn write_chunk(
        &self,
        id: &str,
        state: &mut UploadState,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> RegistryResult<Appended> {
        if let Some(r) = range {
            if r.start != state.size {
                return Ok(Appended::OutOfOrder(state.size));
            }
        }
        let hasher = Arc::new(std::sync::Mutex::new((state.hasher()?, 0u64)));
        let seen = hasher.clone();
        let hashed: ByteStream = Box::pin(body.map(move |chunk| {
            if let (Ok(b), Ok(mut h)) = (&chunk, seen.lock()) {
                h.0.update(b);
                h.1 += b.len() as u64;
            }
            chunk
        }));
        let key = upload_chunk(id, state.chunks + 1);
        // A chunk number is written once: a concurrent PATCH of the same upload loses cleanly.
        self.store
            .put(
                &key,
                hashed,
                PutOptions {
                    if_none_match: true,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| match e {
                PortError::AlreadyExists(_) => RegistryError::new(
                    axum::http::StatusCode::CONFLICT,
                    "BLOB_UPLOAD_INVALID",
                    "another chunk of this upload was written at the same time",
                ),
                other => other.into(),
            })?;
        let (h, n) = {
            let guard = hasher.lock().map_err(|_| RegistryError::upload_unknown())?;
            (guard.0.clone(), guard.1)
        };
        let wrong_length =
            range.is_some_and(|r| r.end.checked_sub(r.start).map(|l| l + 1) != Some(n));
        if n == 0 || wrong_length {
            self.store.delete(&key).await?;
            return Ok(if wrong_length {
                Appended::OutOfOrder(state.size)
            } else {
                Appended::Size(state.size)
            });
        }
        state.chunks += 1;
        state.size += n;
        state.set_hasher(&h);
        Ok(Appended::Size(state.size))
    }

    /// Append a chunk (a PATCH).
    pub(crate) async fn append(
        &self,
        repo: &str,
        id: &str,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> RegistryResult<Appended> {
        let mut state = self.state(repo, id).await?;
        let chunks = state.chunks;
        let out = self.write_chunk(id, &mut state, range, body).await?;
        if state.chunks != chunks {
            if let Err(e) = self.put_json(&upload_state(id), &state).await {
                // The chunk is not recorded: remove it so the upload can go on from where it was.
                let _ = self.store.delete(&upload_chunk(id, state.chunks)).await;
                return Err(e);
            }
        }
        Ok(out)
    }

    /// Close an upload as blob `digest`, with its last chunk (if any) in `body`: the bytes
    /// received must hash to it, or the upload is dropped. A final chunk out of order changes
    /// nothing (the upload stays resumable). Returns the blob's size.
    pub(crate) async fn finish(
        &self,
        repo: &str,
        id: &str,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
    ) -> RegistryResult<Appended> {
        let mut state = self.state(repo, id).await?;
        if state.chunks == 0 && state.algorithm()? != digest.algorithm {
            // Nothing is hashed yet: hash the whole body with the digest's own algorithm.
            state.set_hasher(&Hasher::new(digest.algorithm));
        }
        if let Some(body) = body {
            if let Appended::OutOfOrder(at) = self.write_chunk(id, &mut state, range, body).await? {
                return Ok(Appended::OutOfOrder(at));
            }
        } else if range.is_some_and(|r| r.start != state.size) {
            return Ok(Appended::OutOfOrder(state.size));
        }
        let got = if state.algorithm()? == digest.algorithm {
            state.hasher()?.finish()
        } else {
            // Hashed as it came with another algorithm (the client named this one only now, not
            // with `digest-algorithm` when it started): read the chunks back once.
            self.rehash(id, state.chunks, digest.algorithm).await?
        };
        if got != *digest {
            self.drop_upload(id, state.chunks).await?;
            return Err(RegistryError::digest_invalid(format!(
                "the uploaded bytes hash to {got}, not {digest}"
            )));
        }
        let target = blob_key(digest);
        if self.store.head(&target).await?.is_none() {
            match state.chunks {
                0 => {
                    self.store
                        .put(&target, bytes_stream(Bytes::new()), PutOptions::default())
                        .await?;
                }
                1 => {
                    // The bytes were verified as they arrived: the chunk becomes the blob.
                    self.store.rename(&upload_chunk(id, 1), &target).await?;
                }
                n => {
                    // Assembly moves bytes only: the digest was verified as they arrived.
                    self.store
                        .put(
                            &target,
                            self.chunks_stream(id, n),
                            PutOptions {
                                content_length: Some(state.size),
                                ..Default::default()
                            },
                        )
                        .await?;
                }
            }
        }
        self.link_blob(repo, digest).await?;
        self.drop_upload(id, state.chunks).await?;
        Ok(Appended::Size(state.size))
    }

    /// The chunks of an upload, in order, as one stream.
    fn chunks_stream(&self, id: &str, n: u32) -> ByteStream {
        let store = self.store.clone();
        let id = id.to_string();
        let parts = futures::stream::iter(1..=n)
            .then(move |i| {
                let store = store.clone();
                let key = upload_chunk(&id, i);
                async move { store.get(&key, None).await }
            })
            .map(|r| match r {
                Ok(g) => g.body,
                Err(e) => {
                    let err = std::io::Error::other(e.to_string());
                    Box::pin(futures::stream::once(async move { Err(err) })) as ByteStream
                }
            })
            .flatten();
        Box::pin(parts)
    }

    async fn rehash(&self, id: &str, n: u32, a: Algorithm) -> RegistryResult<Digest> {
        let mut h = Hasher::new(a);
        let mut body = self.chunks_stream(id, n);
        while let Some(c) = body.next().await {
            h.update(&c.map_err(|e| PortError::Backend(e.to_string()))?);
        }
        Ok(h.finish())
    }

    async fn drop_upload(&self, id: &str, chunks: u32) -> RegistryResult<()> {
        for n in 1..=chunks {
            self.store.delete(&upload_chunk(id, n)).await?;
        }
        self.store.delete(&upload_state(id)).await?;
        Ok(())
    }

    pub async fn cancel(&self, repo: &str, id: &str) -> RegistryResult<()> {
        let state = self.state(repo, id).await?;
        self.drop_upload(id, state.chunks).await
    }
}

//! The registry's layout on the `ObjectStore` port. Blobs are content-addressed under
//! `blobs/sha256/`; a repository holds links to them, so a blob is stored once whatever the
//! number of repositories that use it. Uploads live under `uploads/<uuid>/` as chunks plus a
//! state whose sha256 is the *serialized hasher*, so a digest is verified as the bytes stream in,
//! across requests, processes and restarts, and never by reading the data back.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2_resumable::digest::common::hazmat::{SerializableState, SerializedState};
use sha2_resumable::{Digest, Sha256};
use tre_core::ports::{bytes_stream, ByteRange, ByteStream, GetObject, ObjectStore, PutOptions};
use tre_core::PortError;

use crate::errors::{RegistryError, RegistryResult};

/// When a manifest last referred to a blob (garbage collection keeps recently referred blobs).
pub(crate) fn blob_touch(hex: &str) -> String {
    format!("_touched/sha256/{hex}")
}

pub fn blob_key(hex: &str) -> String {
    format!("blobs/sha256/{}/{hex}", &hex[..2])
}
fn repo_blob(repo: &str, hex: &str) -> String {
    format!("repositories/{repo}/_layers/sha256/{hex}")
}
pub(crate) fn repo_manifest(repo: &str, hex: &str) -> String {
    format!("repositories/{repo}/_manifests/revisions/sha256/{hex}")
}
pub(crate) fn tags_prefix(repo: &str) -> String {
    format!("repositories/{repo}/_manifests/tags/")
}
pub(crate) fn tag_key(repo: &str, tag: &str) -> String {
    format!("{}{tag}/current", tags_prefix(repo))
}
pub(crate) fn tag_history(repo: &str, tag: &str, at: &str, hex: &str) -> String {
    format!("{}{tag}/history/{at}-{hex}", tags_prefix(repo))
}
pub(crate) fn referrers_prefix(repo: &str, subject_hex: &str) -> String {
    format!("repositories/{repo}/_referrers/{subject_hex}/")
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

#[derive(Serialize, Deserialize)]
struct UploadState {
    repo: String,
    size: u64,
    chunks: u32,
    /// The sha256 of everything received so far, as a serialized hasher.
    hasher: String,
}

impl UploadState {
    fn hasher(&self) -> RegistryResult<Sha256> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&self.hasher)
            .map_err(|_| RegistryError::upload_unknown())?;
        let state = SerializedState::<Sha256>::try_from(raw.as_slice())
            .map_err(|_| RegistryError::upload_unknown())?;
        Sha256::deserialize(&state).map_err(|_| RegistryError::upload_unknown())
    }

    fn set_hasher(&mut self, h: &Sha256) {
        self.hasher = base64::engine::general_purpose::STANDARD.encode(h.serialize().as_slice());
    }
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
    pub async fn blob_redirect(&self, repo: &str, hex: &str) -> RegistryResult<Option<String>> {
        let Some(ttl) = self.redirect_pulls else {
            return Ok(None);
        };
        if !self.has_blob(repo, hex).await? {
            return Err(RegistryError::blob_unknown(&format!("sha256:{hex}")));
        }
        let link = self
            .store
            .presign(tre_core::ports::PresignMethod::Get, &blob_key(hex), ttl)
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

    pub async fn has_blob(&self, repo: &str, hex: &str) -> RegistryResult<bool> {
        Ok(self.exists(&repo_blob(repo, hex)).await? && self.exists(&blob_key(hex)).await?)
    }

    pub(crate) async fn link_blob(&self, repo: &str, hex: &str) -> RegistryResult<()> {
        self.store
            .put(
                &repo_blob(repo, hex),
                bytes_stream(Vec::new()),
                PutOptions::default(),
            )
            .await?;
        self.store
            .put(
                &catalog_key(repo),
                bytes_stream(Vec::new()),
                PutOptions::default(),
            )
            .await?;
        Ok(())
    }

    pub async fn unlink_blob(&self, repo: &str, hex: &str) -> RegistryResult<bool> {
        let key = repo_blob(repo, hex);
        if !self.exists(&key).await? {
            return Ok(false);
        }
        self.store.delete(&key).await?;
        Ok(true)
    }

    pub async fn get_blob(
        &self,
        repo: &str,
        hex: &str,
        range: Option<ByteRange>,
    ) -> RegistryResult<GetObject> {
        if !self.exists(&repo_blob(repo, hex)).await? {
            return Err(RegistryError::blob_unknown(&format!("sha256:{hex}")));
        }
        self.store
            .get(&blob_key(hex), range)
            .await
            .map_err(|e| match e {
                PortError::NotFound(_) => RegistryError::blob_unknown(&format!("sha256:{hex}")),
                PortError::Invalid(m) => RegistryError::range_invalid(m),
                other => other.into(),
            })
    }

    pub async fn blob_size(&self, repo: &str, hex: &str) -> RegistryResult<Option<u64>> {
        if !self.exists(&repo_blob(repo, hex)).await? {
            return Ok(None);
        }
        Ok(self.store.head(&blob_key(hex)).await?.map(|m| m.size))
    }

    pub async fn start_upload(&self, repo: &str) -> RegistryResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut state = UploadState {
            repo: repo.to_string(),
            size: 0,
            chunks: 0,
            hasher: String::new(),
        };
        state.set_hasher(&Sha256::new());
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

    /// Append a chunk (hashed as it streams into the store); `start` is where the client says
    /// it begins (`Content-Range`), which must be where the upload stands.
    pub async fn append(
        &self,
        repo: &str,
        id: &str,
        start: Option<u64>,
        body: ByteStream,
    ) -> RegistryResult<u64> {
        let mut state = self.state(repo, id).await?;
        if let Some(s) = start {
            if s != state.size {
                return Err(RegistryError::range_invalid(format!(
                    "the upload stands at {} bytes; a chunk starting at {s} does not follow",
                    state.size
                )));
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
                PortError::AlreadyExists(_) => RegistryError::range_invalid(
                    "another chunk of this upload was written at the same time",
                ),
                other => other.into(),
            })?;
        let (h, n) = {
            let guard = hasher.lock().map_err(|_| RegistryError::upload_unknown())?;
            (guard.0.clone(), guard.1)
        };
        if n == 0 {
            self.store.delete(&key).await?;
            return Ok(state.size);
        }
        state.chunks += 1;
        state.size += n;
        state.set_hasher(&h);
        self.put_json(&upload_state(id), &state).await?;
        Ok(state.size)
    }

    /// Finish an upload as blob `digest`: refused (and the upload dropped) if the bytes
    /// received do not hash to it. Returns the blob's size.
    pub async fn finish(&self, repo: &str, id: &str, digest: &str) -> RegistryResult<u64> {
        let state = self.state(repo, id).await?;
        let hex = crate::names::parse_digest(digest)
            .ok_or_else(|| {
                RegistryError::digest_invalid(format!("`{digest}` is not a sha256 digest"))
            })?
            .to_string();
        let got = hex::encode(state.hasher()?.finalize());
        if got != hex {
            self.cancel(repo, id).await?;
            return Err(RegistryError::digest_invalid(format!(
                "the uploaded bytes hash to sha256:{got}, not {digest}"
            )));
        }
        let target = blob_key(&hex);
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
                    let store = self.store.clone();
                    let id2 = id.to_string();
                    let parts = futures::stream::iter(1..=n)
                        .then(move |i| {
                            let store = store.clone();
                            let key = upload_chunk(&id2, i);
                            async move { store.get(&key, None).await }
                        })
                        .map(|r| match r {
                            Ok(g) => g.body,
                            Err(e) => {
                                let err = std::io::Error::other(e.to_string());
                                Box::pin(futures::stream::once(async move { Err(err) }))
                                    as ByteStream
                            }
                        })
                        .flatten();
                    self.store
                        .put(
                            &target,
                            Box::pin(parts),
                            PutOptions {
                                content_length: Some(state.size),
                                ..Default::default()
                            },
                        )
                        .await?;
                }
            }
        }
        self.link_blob(repo, &hex).await?;
        self.cancel(repo, id).await?;
        Ok(state.size)
    }

    pub async fn cancel(&self, repo: &str, id: &str) -> RegistryResult<()> {
        let state = self.state(repo, id).await?;
        for n in 1..=state.chunks {
            self.store.delete(&upload_chunk(id, n)).await?;
        }
        self.store.delete(&upload_state(id)).await?;
        Ok(())
    }
}

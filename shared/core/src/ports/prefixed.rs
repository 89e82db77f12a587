//! One object store seen through a key prefix: the airlock's stages share one filesystem
//! store locally (and one pre-signed URL route) where AWS gives each stage its own bucket.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    ByteRange, ByteStream, GetObject, ListPage, ObjectMeta, ObjectStore, PartInfo, PortResult,
    PresignMethod, PresignedPost, PresignedUrl, PutOptions,
};

pub struct PrefixedStore {
    inner: Arc<dyn ObjectStore>,
    /// Ends with `/`.
    prefix: String,
}

impl PrefixedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            inner,
            prefix: format!("{}/", prefix.trim_end_matches('/')),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn meta(&self, mut m: ObjectMeta) -> ObjectMeta {
        if let Some(k) = m.key.strip_prefix(&self.prefix) {
            m.key = k.to_string();
        }
        m
    }
}

#[async_trait]
impl ObjectStore for PrefixedStore {
    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        options: PutOptions,
    ) -> PortResult<ObjectMeta> {
        Ok(self.meta(self.inner.put(&self.key(key), body, options).await?))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> PortResult<GetObject> {
        let mut got = self.inner.get(&self.key(key), range).await?;
        got.meta = self.meta(got.meta);
        Ok(got)
    }

    async fn head(&self, key: &str) -> PortResult<Option<ObjectMeta>> {
        Ok(self.inner.head(&self.key(key)).await?.map(|m| self.meta(m)))
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.inner.delete(&self.key(key)).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<ListPage> {
        let after = start_after.map(|a| self.key(a));
        let page = self
            .inner
            .list(&self.key(prefix), after.as_deref(), limit)
            .await?;
        Ok(ListPage {
            objects: page.objects.into_iter().map(|m| self.meta(m)).collect(),
            next: page
                .next
                .map(|n| n.strip_prefix(&self.prefix).unwrap_or(&n).to_string()),
        })
    }

    async fn copy(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        Ok(self.meta(self.inner.copy(&self.key(from), &self.key(to)).await?))
    }

    async fn rename(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        Ok(self.meta(self.inner.rename(&self.key(from), &self.key(to)).await?))
    }

    fn backend_key(&self, key: &str) -> Option<(Arc<dyn ObjectStore>, String)> {
        let key = self.key(key);
        self.inner
            .backend_key(&key)
            .or_else(|| Some((self.inner.clone(), key)))
    }

    async fn create_multipart(&self, key: &str, options: PutOptions) -> PortResult<String> {
        self.inner.create_multipart(&self.key(key), options).await
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
            .upload_part(&self.key(key), upload_id, part_number, body, content_length)
            .await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> PortResult<ObjectMeta> {
        Ok(self.meta(
            self.inner
                .complete_multipart(&self.key(key), upload_id, parts)
                .await?,
        ))
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> PortResult<()> {
        self.inner.abort_multipart(&self.key(key), upload_id).await
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        self.inner
            .presign_part(&self.key(key), upload_id, part_number, expires_in)
            .await
    }

    async fn presign(
        &self,
        method: PresignMethod,
        key: &str,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        self.inner.presign(method, &self.key(key), expires_in).await
    }

    async fn presign_post(
        &self,
        prefix: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedPost> {
        super::validate_post_prefix(prefix, max_bytes)?;
        // The form names keys as the inner store does: `key_prefix` carries this prefix too.
        self.inner
            .presign_post(&self.key(prefix), max_bytes, expires_in)
            .await
    }
}

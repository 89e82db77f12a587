//! `ObjectStore` on S3 (a bucket and an optional key prefix). Memory stays bounded: bodies up to
//! `SINGLE_PUT_LIMIT` are sent in one PutObject, larger or unknown-length ones as a multipart
//! upload of `PART_SIZE` parts, one part buffered at a time.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use tre_core::ports::{
    ByteRange, ByteStream, GetObject, ListPage, ObjectMeta, ObjectStore, PartInfo, PortError,
    PortResult, PresignMethod, PresignedPost, PresignedUrl, PutOptions,
};

use crate::errors::{backend, code};

const SINGLE_PUT_LIMIT: u64 = 16 * 1024 * 1024;
const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    prefix: String,
    /// Objects larger than this are copied part by part (CopyObject stops at 5 GiB).
    copy_limit: u64,
    copy_part: u64,
    /// What signs form uploads (the client's own credentials are not readable from it).
    form_signer: Option<(aws_sdk_s3::config::SharedCredentialsProvider, String)>,
}

/// CopyObject's limit, and the part size used above it.
const COPY_OBJECT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;

fn validate_key(key: &str) -> PortResult<()> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\0')
        || key
            .split('/')
            .any(|seg| seg == ".." || seg == "." || seg.is_empty());
    if bad {
        Err(PortError::Invalid(format!(
            "object key `{key}` is not allowed"
        )))
    } else {
        Ok(())
    }
}

fn to_chrono(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single())
        .unwrap_or_else(Utc::now)
}

fn etag(e: Option<&str>) -> String {
    e.unwrap_or_default().trim_matches('"').to_string()
}

impl S3ObjectStore {
    /// `prefix` (may be empty) is prepended to every key, so several stores can share a bucket.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self {
            client,
            bucket: bucket.into(),
            prefix,
            copy_limit: COPY_OBJECT_LIMIT,
            copy_part: COPY_PART_SIZE,
            form_signer: None,
        }
    }

    /// Sign form uploads (`presign_post`) with the credentials and region of `conf`, which
    /// should be those the client was built from.
    pub fn with_form_signer(mut self, conf: &aws_config::SdkConfig) -> Self {
        self.form_signer = conf
            .credentials_provider()
            .zip(conf.region().map(|r| r.as_ref().to_string()));
        self
    }

    /// Lower the size above which copies go part by part (tests exercise that path with small
    /// objects; parts but the last must stay at least 5 MiB).
    pub fn with_copy_limits(mut self, limit: u64, part: u64) -> Self {
        self.copy_limit = limit;
        self.copy_part = part.max(5 * 1024 * 1024);
        self
    }

    /// A copy of an object too large for CopyObject: UploadPartCopy of ranges, then complete;
    /// the upload is aborted on any failure.
    async fn copy_in_parts(
        &self,
        from: &str,
        to: &str,
        meta: &ObjectMeta,
    ) -> PortResult<ObjectMeta> {
        let (src, dst) = (self.full(from)?, self.full(to)?);
        let options = PutOptions {
            content_type: meta.content_type.clone(),
            ..PutOptions::default()
        };
        let upload_id = self.create_multipart(to, options).await?;
        let mut parts = Vec::new();
        let mut start = 0u64;
        let copied: PortResult<()> = async {
            while start < meta.size {
                let end = (start + self.copy_part).min(meta.size) - 1;
                let part_number = parts.len() as i32 + 1;
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(&dst)
                    .upload_id(&upload_id)
                    .part_number(part_number)
                    .copy_source(format!("{}/{}", self.bucket, src))
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| backend("copy part", e))?;
                let etag = out
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .ok_or_else(|| PortError::Backend("a copied part has no ETag".into()))?;
                parts.push(PartInfo {
                    part_number: part_number as u32,
                    etag: etag.to_string(),
                });
                start = end + 1;
            }
            Ok(())
        }
        .await;
        match copied {
            Ok(()) => self.complete_multipart(to, &upload_id, &parts).await,
            Err(e) => {
                let _ = self.abort_multipart(to, &upload_id).await;
                Err(e)
            }
        }
    }

    /// A client for S3; `force_path_style` is needed for emulators (moto) and custom endpoints.
    pub fn client(conf: &aws_config::SdkConfig, force_path_style: bool) -> Client {
        let s3_conf = aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(force_path_style)
            .build();
        Client::from_conf(s3_conf)
    }

    fn full(&self, key: &str) -> PortResult<String> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    fn strip<'a>(&self, full: &'a str) -> &'a str {
        full.strip_prefix(&self.prefix).unwrap_or(full)
    }

    async fn put_single(&self, key: &str, body: Bytes, options: &PutOptions) -> PortResult<()> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(body.len() as i64)
            .body(SdkStream::from(body));
        if let Some(ct) = &options.content_type {
            req = req.content_type(ct);
        }
        if options.if_none_match {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("PreconditionFailed") => {
                Err(PortError::AlreadyExists(key.to_string()))
            }
            Err(e) => Err(backend("put object", e)),
        }
    }

    async fn meta(&self, full_key: &str) -> PortResult<ObjectMeta> {
        let key = self.strip(full_key).to_string();
        self.head(&key).await?.ok_or_else(|| {
            PortError::Backend(format!("`{key}` vanished right after it was written"))
        })
    }
}

/// Read from the stream until `buf` holds `want` bytes or the stream ends.
async fn fill(stream: &mut ByteStream, buf: &mut BytesMut, want: usize) -> PortResult<bool> {
    while buf.len() < want {
        match stream.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(PortError::Backend(format!("reading the body: {e}"))),
            None => return Ok(false),
        }
    }
    Ok(true)
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        options: PutOptions,
    ) -> PortResult<ObjectMeta> {
        let full = self.full(key)?;
        if options.if_none_match && self.head(key).await?.is_some() {
            // S3 enforces this itself too; the early check spares the upload.
            return Err(PortError::AlreadyExists(key.to_string()));
        }
        let mut buf = BytesMut::new();
        let small = match options.content_length {
            Some(n) if n <= SINGLE_PUT_LIMIT => true,
            Some(_) => false,
            // Unknown length: read up to the limit, then decide.
            None => !fill(&mut body, &mut buf, SINGLE_PUT_LIMIT as usize + 1).await?,
        };
        if small {
            fill(&mut body, &mut buf, usize::MAX).await?;
            self.put_single(&full, buf.freeze(), &options).await?;
            return self.meta(&full).await;
        }
        let upload_id = self.create_multipart(key, options.clone()).await?;
        let result: PortResult<Vec<PartInfo>> = async {
            let mut parts = Vec::new();
            loop {
                let more = fill(&mut body, &mut buf, PART_SIZE).await?;
                if buf.is_empty() {
                    break;
                }
                let take = buf.len().min(PART_SIZE);
                let chunk = buf.split_to(take).freeze();
                let n = parts.len() as u32 + 1;
                let len = chunk.len() as u64;
                let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(chunk) }));
                parts.push(self.upload_part(key, &upload_id, n, stream, len).await?);
                if !more && buf.is_empty() {
                    break;
                }
            }
            Ok(parts)
        }
        .await;
        match result {
            Ok(parts) => self.complete_multipart(key, &upload_id, &parts).await,
            Err(e) => {
                let _ = self.abort_multipart(key, &upload_id).await;
                Err(e)
            }
        }
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> PortResult<GetObject> {
        let full = self.full(key)?;
        let mut req = self.client.get_object().bucket(&self.bucket).key(&full);
        if let Some(r) = range {
            req = req.range(match r.end {
                Some(end) => format!("bytes={}-{end}", r.start),
                None => format!("bytes={}-", r.start),
            });
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e) if code(&e) == Some("NoSuchKey") => {
                return Err(PortError::NotFound(key.to_string()))
            }
            Err(e) if code(&e) == Some("InvalidRange") => {
                return Err(PortError::Invalid(format!("range outside `{key}`")))
            }
            Err(e) => return Err(backend("get object", e)),
        };
        let returned = out.content_range().and_then(|cr| {
            let (span, total) = cr.strip_prefix("bytes ")?.split_once('/')?;
            let (a, b) = span.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?, total.parse::<u64>().ok()?))
        });
        let size = match returned {
            Some((_, _, total)) => total,
            None => out.content_length().unwrap_or(0).max(0) as u64,
        };
        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            etag: etag(out.e_tag()),
            last_modified: to_chrono(out.last_modified()),
            content_type: out.content_type().map(str::to_string),
        };
        let reader = out.body.into_async_read();
        let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::new(reader));
        Ok(GetObject {
            meta,
            range: range.and(returned.map(|(a, b, _)| (a, b))),
            body,
        })
    }

    async fn head(&self, key: &str) -> PortResult<Option<ObjectMeta>> {
        let full = self.full(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                etag: etag(out.e_tag()),
                last_modified: to_chrono(out.last_modified()),
                content_type: out.content_type().map(str::to_string),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(backend("head object", e)),
        }
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        let full = self.full(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| backend("delete object", e))?;
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<ListPage> {
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{prefix}", self.prefix))
            .max_keys(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
        if let Some(after) = start_after {
            req = req.start_after(format!("{}{after}", self.prefix));
        }
        let out = req.send().await.map_err(|e| backend("list objects", e))?;
        let objects: Vec<ObjectMeta> = out
            .contents()
            .iter()
            .map(|o| ObjectMeta {
                key: self.strip(o.key().unwrap_or_default()).to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: etag(o.e_tag()),
                last_modified: to_chrono(o.last_modified()),
                content_type: None,
            })
            .collect();
        let next = if out.is_truncated().unwrap_or(false) {
            objects.last().map(|o| o.key.clone())
        } else {
            None
        };
        Ok(ListPage { objects, next })
    }

    async fn copy(&self, from: &str, to: &str) -> PortResult<ObjectMeta> {
        let (src, dst) = (self.full(from)?, self.full(to)?);
        if let Some(meta) = self.head(from).await? {
            if meta.size > self.copy_limit {
                return self.copy_in_parts(from, to, &meta).await;
            }
        }
        match self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&dst)
            .copy_source(format!("{}/{}", self.bucket, src))
            .send()
            .await
        {
            Ok(_) => self.meta(&dst).await,
            Err(e) if code(&e) == Some("NoSuchKey") => Err(PortError::NotFound(from.to_string())),
            Err(e) => Err(backend("copy object", e)),
        }
    }

    async fn create_multipart(&self, key: &str, options: PutOptions) -> PortResult<String> {
        let full = self.full(key)?;
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full);
        if let Some(ct) = &options.content_type {
            req = req.content_type(ct);
        }
        let out = req
            .send()
            .await
            .map_err(|e| backend("create multipart upload", e))?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| PortError::Backend("no upload id".into()))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        content_length: u64,
    ) -> PortResult<PartInfo> {
        if !(1..=10_000).contains(&part_number) {
            return Err(PortError::Invalid(
                "part numbers run from 1 to 10000".into(),
            ));
        }
        let full = self.full(key)?;
        // One part in memory at a time (parts are bounded by the caller's part size).
        let bytes: Vec<Bytes> = body
            .try_collect()
            .await
            .map_err(|e| PortError::Backend(format!("reading the part: {e}")))?;
        let data: Bytes = bytes.concat().into();
        if data.len() as u64 != content_length {
            return Err(PortError::Invalid(format!(
                "part {part_number} has {} bytes, not the {content_length} announced",
                data.len()
            )));
        }
        let out = match self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .part_number(part_number as i32)
            .content_length(content_length as i64)
            .body(SdkStream::from(data))
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if code(&e) == Some("NoSuchUpload") => {
                return Err(PortError::NotFound(format!("upload {upload_id}")))
            }
            Err(e) => return Err(backend("upload part", e)),
        };
        Ok(PartInfo {
            part_number,
            etag: out.e_tag().unwrap_or_default().to_string(),
        })
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> PortResult<ObjectMeta> {
        let full = self.full(key)?;
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.part_number as i32)
                            .e_tag(&p.etag)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await
        {
            Ok(_) => self.meta(&full).await,
            Err(e) if code(&e) == Some("EntityTooSmall") => Err(PortError::Invalid(
                "every part but the last must be at least 5 MiB".into(),
            )),
            Err(e) if matches!(code(&e), Some("InvalidPart" | "InvalidPartOrder")) => Err(
                PortError::Invalid("the parts do not match the upload".into()),
            ),
            Err(e) if code(&e) == Some("NoSuchUpload") => {
                Err(PortError::NotFound(format!("upload {upload_id}")))
            }
            Err(e) => Err(backend("complete multipart upload", e)),
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> PortResult<()> {
        let full = self.full(key)?;
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(backend("abort multipart upload", e)),
        }
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        let full = self.full(key)?;
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| PortError::Invalid(e.to_string()))?;
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .part_number(part_number as i32)
            .presigned(config)
            .await
            .map_err(|e| backend("presign part", e))?;
        Ok(PresignedUrl {
            url: req.uri().to_string(),
            method: PresignMethod::Put,
            expires_at: Utc::now()
                + chrono::Duration::from_std(expires_in)
                    .map_err(|e| PortError::Invalid(e.to_string()))?,
        })
    }

    async fn presign(
        &self,
        method: PresignMethod,
        key: &str,
        expires_in: Duration,
    ) -> PortResult<PresignedUrl> {
        let full = self.full(key)?;
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| PortError::Invalid(e.to_string()))?;
        let req = match method {
            PresignMethod::Get => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&full)
                .presigned(config)
                .await
                .map_err(|e| backend("presign", e))?,
            PresignMethod::Put => self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .presigned(config)
                .await
                .map_err(|e| backend("presign", e))?,
        };
        Ok(PresignedUrl {
            url: req.uri().to_string(),
            method,
            expires_at: Utc::now() + chrono::Duration::from_std(expires_in).unwrap_or_default(),
        })
    }

    async fn presign_post(
        &self,
        prefix: &str,
        max_bytes: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedPost> {
        tre_core::ports::validate_post_prefix(prefix, max_bytes)?;
        let (credentials, region) = self.form_signer.as_ref().ok_or_else(|| {
            PortError::Backend("this S3 store was built without a signer for form uploads".into())
        })?;
        let full = format!("{}{prefix}", self.prefix);
        let target = crate::s3_post::Target {
            client: &self.client,
            bucket: &self.bucket,
            credentials,
            region,
        };
        crate::s3_post::presign_post(&target, &full, max_bytes, expires_in).await
    }
}

//! Multipart uploads: `uploads/<id>/upload.json` names the key and options, each part is a
//! file `part-<n>` with its etag beside it in `part-<n>.etag`. Completing streams the parts,
//! in order, into one new object file.

use std::path::PathBuf;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;
use tre_core::ports::{ByteStream, ObjectMeta, PartInfo, PutOptions};
use tre_core::{PortError, PortResult};

use super::layout::{io_err, validate_key, HEADER_LEN};
use super::{finish_header, FsObjectStore};

/// S3's minimum size of every part but the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: u32 = 10_000;

#[derive(Serialize, Deserialize)]
struct Upload {
    key: String,
    content_type: Option<String>,
    if_none_match: bool,
}

fn upload_dir(store: &FsObjectStore, upload_id: &str) -> PortResult<PathBuf> {
    // Ids are ours (32 hex digits); anything else cannot name an upload and must not reach
    // the filesystem as a path.
    if upload_id.len() != 32 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PortError::NotFound(format!("upload {upload_id}")));
    }
    Ok(store.uploads().join(upload_id))
}

async fn load(store: &FsObjectStore, key: &str, upload_id: &str) -> PortResult<(PathBuf, Upload)> {
    validate_key(key)?;
    let dir = upload_dir(store, upload_id)?;
    let raw = match tokio::fs::read(dir.join("upload.json")).await {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PortError::NotFound(format!("upload {upload_id}")))
        }
        Err(e) => return Err(io_err("reading upload", e)),
    };
    let upload: Upload = serde_json::from_slice(&raw)
        .map_err(|e| PortError::Backend(format!("corrupt upload record: {e}")))?;
    if upload.key != key {
        return Err(PortError::NotFound(format!("upload {upload_id} of {key}")));
    }
    Ok((dir, upload))
}

pub async fn create(store: &FsObjectStore, key: &str, options: PutOptions) -> PortResult<String> {
    validate_key(key)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = upload_dir(store, &id)?;
    let record = serde_json::to_vec(&Upload {
        key: key.to_string(),
        content_type: options.content_type,
        if_none_match: options.if_none_match,
    })
    .map_err(|e| PortError::Backend(format!("encoding upload: {e}")))?;
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io_err("creating upload", e))?;
    tokio::fs::write(dir.join("upload.json"), record)
        .await
        .map_err(|e| io_err("creating upload", e))?;
    Ok(id)
}

pub async fn upload_part(
    store: &FsObjectStore,
    key: &str,
    upload_id: &str,
    part_number: u32,
    mut body: ByteStream,
    content_length: u64,
) -> PortResult<PartInfo> {
    if !(1..=MAX_PART_NUMBER).contains(&part_number) {
        return Err(PortError::Invalid(format!(
            "part number {part_number} is outside 1..={MAX_PART_NUMBER}"
        )));
    }
    let (dir, _) = load(store, key, upload_id).await?;
    let tmp = store.tmp_path();
    let written: PortResult<(u64, String)> = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_err("writing part", e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PortError::Invalid(format!("reading part body: {e}")))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| io_err("writing part", e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| io_err("writing part", e))?;
        Ok((size, hex::encode(hasher.finalize())))
    }
    .await;
    let (size, etag) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    if size != content_length {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(PortError::Invalid(format!(
            "part has {size} bytes, content length said {content_length}"
        )));
    }
    // The etag file first: a part file without its etag is never trusted by `complete`.
    let part = dir.join(format!("part-{part_number:05}"));
    let etag_file = dir.join(format!("part-{part_number:05}.etag"));
    let _ = tokio::fs::remove_file(&etag_file).await;
    let published = async {
        tokio::fs::rename(&tmp, &part).await?;
        tokio::fs::write(&etag_file, etag.as_bytes()).await
    }
    .await;
    if let Err(e) = published {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(io_err("storing part", e));
    }
    Ok(PartInfo { part_number, etag })
}

pub async fn complete(
    store: &FsObjectStore,
    key: &str,
    upload_id: &str,
    parts: &[PartInfo],
) -> PortResult<ObjectMeta> {
    let (dir, upload) = load(store, key, upload_id).await?;
    if parts.is_empty() {
        return Err(PortError::Invalid(
            "a multipart upload needs at least one part".into(),
        ));
    }
    let mut files = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 && p.part_number <= parts[i - 1].part_number {
            return Err(PortError::Invalid(
                "parts must be in ascending order".into(),
            ));
        }
        let part = dir.join(format!("part-{:05}", p.part_number));
        let stored = tokio::fs::read_to_string(dir.join(format!("part-{:05}.etag", p.part_number)))
            .await
            .ok();
        // Accepted as an HTTP ETag header gives it, quoted, as S3 does.
        if stored.as_deref() != Some(p.etag.trim_matches('"')) {
            return Err(PortError::Invalid(format!(
                "part {} was not uploaded with etag {}",
                p.part_number, p.etag
            )));
        }
        let size = tokio::fs::metadata(&part)
            .await
            .map_err(|e| io_err("reading part", e))?
            .len();
        if i + 1 < parts.len() && size < MIN_PART {
            return Err(PortError::Invalid(format!(
                "part {} has {size} bytes; all parts but the last need at least 5 MiB",
                p.part_number
            )));
        }
        files.push(part);
    }
    let tmp = store.tmp_path();
    let written: PortResult<()> = async {
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_err("assembling object", e))?;
        out.write_all(&vec![b' '; HEADER_LEN as usize])
            .await
            .map_err(|e| io_err("assembling object", e))?;
        let mut hasher = Sha256::new();
        for part in &files {
            let file = tokio::fs::File::open(part)
                .await
                .map_err(|e| io_err("reading part", e))?;
            let mut chunks = ReaderStream::with_capacity(file, 64 * 1024);
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| io_err("reading part", e))?;
                hasher.update(&chunk);
                out.write_all(&chunk)
                    .await
                    .map_err(|e| io_err("assembling object", e))?;
            }
        }
        let etag = hex::encode(hasher.finalize());
        finish_header(&mut out, &etag, upload.content_type.clone()).await
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    let meta = store.publish(tmp, key, upload.if_none_match).await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(meta)
}

pub async fn abort(store: &FsObjectStore, key: &str, upload_id: &str) -> PortResult<()> {
    let (dir, _) = load(store, key, upload_id).await?;
    tokio::fs::remove_dir_all(&dir)
        .await
        .map_err(|e| io_err("aborting upload", e))
}

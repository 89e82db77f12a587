//! Where objects live on disk and how keys map to paths.
//!
//! A key `a/b/c` is stored at `objects/a.dir/b.dir/c.obj`: distinct suffixes for directories
//! and objects let `a` and `a/b` both exist, as they can in S3. Each object file starts with a
//! fixed-size header holding its metadata, so data and metadata are published together by one
//! rename and a crash can never pair new content with old metadata.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tre_core::ports::ObjectMeta;
use tre_core::{PortError, PortResult};

pub const OBJ_SUFFIX: &str = ".obj";
pub const DIR_SUFFIX: &str = ".dir";
/// S3's key length limit.
const MAX_KEY: usize = 1024;
/// A segment plus its suffix must fit a file name (255 bytes on common filesystems).
const MAX_SEGMENT: usize = 250;

/// Bytes reserved at the start of every object file for its metadata.
pub const HEADER_LEN: u64 = 512;
const MAGIC: &[u8] = b"TREOBJ1\n";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl Header {
    /// The padded header bytes; `Invalid` if the metadata does not fit.
    pub fn encode(&self) -> PortResult<Vec<u8>> {
        let json = serde_json::to_vec(self)
            .map_err(|e| PortError::Backend(format!("encoding object header: {e}")))?;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&json);
        if out.len() + 1 > HEADER_LEN as usize {
            return Err(PortError::Invalid("content type too long".into()));
        }
        out.resize(HEADER_LEN as usize - 1, b' ');
        out.push(b'\n');
        Ok(out)
    }

    pub fn decode(raw: &[u8]) -> PortResult<Self> {
        let corrupt = || PortError::Backend("object file has a corrupt header".into());
        let rest = raw.strip_prefix(MAGIC).ok_or_else(corrupt)?;
        serde_json::from_slice(rest.trim_ascii()).map_err(|_| corrupt())
    }
}

pub fn validate_key(key: &str) -> PortResult<()> {
    let bad = |why: &str| Err(PortError::Invalid(format!("object key {key:?}: {why}")));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY {
        return bad("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return bad("leading '/'");
    }
    if key.contains('\0') {
        return bad("contains NUL");
    }
    for seg in key.split('/') {
        if seg.is_empty() {
            return bad("empty path segment");
        }
        if seg == "." || seg == ".." {
            return bad("'.' or '..' segment");
        }
        if seg.len() > MAX_SEGMENT {
            return bad("path segment longer than 250 bytes");
        }
    }
    Ok(())
}

/// Path of the object file for a (validated) key.
pub fn object_path(objects: &Path, key: &str) -> PathBuf {
    let mut path = objects.to_path_buf();
    let mut segs = key.split('/').peekable();
    while let Some(seg) = segs.next() {
        if segs.peek().is_some() {
            path.push(format!("{seg}{DIR_SUFFIX}"));
        } else {
            path.push(format!("{seg}{OBJ_SUFFIX}"));
        }
    }
    path
}

pub fn io_err(what: &str, e: std::io::Error) -> PortError {
    PortError::Backend(format!("{what}: {e}"))
}

/// Metadata of the object at `path` (blocking), `None` if there is none.
pub fn read_meta(path: &Path, key: &str) -> PortResult<Option<ObjectMeta>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("opening object", e)),
    };
    meta_of(&mut file, key).map(Some)
}

pub fn meta_of(file: &mut std::fs::File, key: &str) -> PortResult<ObjectMeta> {
    let fs_meta = file.metadata().map_err(|e| io_err("reading object", e))?;
    let mut raw = vec![0u8; HEADER_LEN as usize];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut raw))
        .map_err(|e| io_err("reading object header", e))?;
    let header = Header::decode(&raw)?;
    let modified: DateTime<Utc> = fs_meta
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    Ok(ObjectMeta {
        key: key.to_string(),
        size: fs_meta.len().saturating_sub(HEADER_LEN),
        etag: header.etag,
        last_modified: modified,
        content_type: header.content_type,
    })
}

/// How often a publish retries a parent directory pruned under it by a concurrent delete.
const PUBLISH_ATTEMPTS: u32 = 32;

/// Move the finished file `tmp` to `dest` (blocking), creating its parent directories; with
/// `if_none_match`, `AlreadyExists` when `dest` holds an object. `tmp` is the caller's to remove.
///
/// A concurrent delete prunes the directories it leaves empty, so the parent can vanish at any
/// point: while `create_dir_all` runs (which then fails with `NotFound`, or with `AlreadyExists`
/// when its own check finds the directory gone after `mkdir` saw it), or between creating it and
/// the rename. Each of those is retried; a delete never prunes a directory holding an object, so
/// once the file is in place it stays.
pub fn publish_file(tmp: &Path, dest: &Path, if_none_match: bool) -> PortResult<()> {
    let pruned = |e: &std::io::Error, attempt: u32| {
        matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::AlreadyExists
        ) && attempt < PUBLISH_ATTEMPTS
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(parent) = dest.parent() {
            match std::fs::create_dir_all(parent) {
                Ok(()) => {}
                Err(e) if pruned(&e, attempt) => continue,
                Err(e) => return Err(io_err("creating object directory", e)),
            }
        }
        let res = if if_none_match {
            // A hard link fails atomically when the destination exists: create-if-absent.
            std::fs::hard_link(tmp, dest)
        } else {
            std::fs::rename(tmp, dest)
        };
        match res {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && if_none_match => {
                return Err(PortError::AlreadyExists(format!(
                    "object {}",
                    dest.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < PUBLISH_ATTEMPTS => {
                continue
            }
            Err(e) => return Err(io_err("publishing object", e)),
        }
    }
}

/// Remove directories left empty by a delete, up to (not including) `objects`.
pub fn prune_empty_dirs(objects: &Path, mut dir: Option<&Path>) {
    while let Some(d) = dir {
        if d == objects || !d.starts_with(objects) {
            break;
        }
        // Fails (and stops) as soon as a directory is not empty: that is the point.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Keys under `objects` that start with `prefix` and sort after `start_after`, in key order,
/// at most `want` of them (blocking). Directories that cannot hold a match are skipped.
pub fn list_keys(
    objects: &Path,
    prefix: &str,
    start_after: Option<&str>,
    want: usize,
) -> PortResult<Vec<String>> {
    let mut out = Vec::new();
    walk(
        objects,
        "",
        prefix,
        start_after.unwrap_or(""),
        want,
        &mut out,
    )?;
    Ok(out)
}

fn walk(
    dir: &Path,
    key_prefix: &str,
    prefix: &str,
    after: &str,
    want: usize,
    out: &mut Vec<String>,
) -> PortResult<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // Removed by a concurrent delete: nothing to list there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("listing objects", e)),
    };
    // (sort string, is_dir, path): a directory sorts as its key prefix with the '/'.
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("listing objects", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(OBJ_SUFFIX) {
            children.push((format!("{key_prefix}{stem}"), false, entry.path()));
        } else if let Some(stem) = name.strip_suffix(DIR_SUFFIX) {
            children.push((format!("{key_prefix}{stem}/"), true, entry.path()));
        }
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (sort, is_dir, path) in children {
        if out.len() >= want {
            break;
        }
        if is_dir {
            let relevant = (sort.starts_with(prefix) || prefix.starts_with(&sort))
                && (sort.as_str() >= after || after.starts_with(&sort));
            if relevant {
                walk(&path, &sort, prefix, after, want, out)?;
            }
        } else if sort.starts_with(prefix) && sort.as_str() > after {
            out.push(sort);
        }
    }
    Ok(())
}

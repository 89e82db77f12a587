//! Garbage collection: mark every blob a manifest of any repository refers to (configs, layers,
//! sub-manifests, the manifests themselves), then sweep the blobs nothing marked. A blob younger
//! than the grace period is never swept, so a push in flight (its blobs land before its
//! manifest) loses nothing; abandoned uploads older than the grace period are removed too.
//! A dry run (the default of `tre registry gc`) reports what it would delete and deletes nothing.
//!
//! A manifest push marks the blobs it refers to before checking they exist, and checks them
//! again once the manifest is stored (failing the push if one went). What remains open is a
//! collector that stalls between its last check of a blob and the blob's deletion for the
//! whole length of a push that refers to it; run collections when pushes are rare.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::errors::RegistryResult;
use crate::names::{parse_digest, Digest};
use crate::storage::{read_all, Storage};

/// Blobs and uploads younger than this are kept whatever the marks say.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub repositories: usize,
    pub manifests: usize,
    pub blobs_kept: usize,
    /// `<algorithm>:<hex>` of each blob deleted (or that a dry run would delete), with its size.
    pub blobs_swept: Vec<(String, u64)>,
    /// Blobs unreferenced but younger than the grace period.
    pub blobs_too_young: usize,
    pub uploads_swept: usize,
    pub deleted: bool,
}

impl GcReport {
    pub fn bytes_swept(&self) -> u64 {
        self.blobs_swept.iter().map(|(_, n)| n).sum()
    }
}

async fn list_all(s: &Storage, prefix: &str) -> RegistryResult<Vec<tre_core::ports::ObjectMeta>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.store.list(prefix, after.as_deref(), 1000).await?;
        out.extend(page.objects);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// Did a manifest push refer to the blob within the grace period? Checked right before the
/// blob would be deleted.
async fn touched_recently(s: &Storage, d: &Digest, grace: Duration) -> RegistryResult<bool> {
    Ok(match s.store.head(&crate::storage::blob_touch(d)).await? {
        Some(m) => (Utc::now() - m.last_modified)
            .to_std()
            .map(|age| age < grace)
            .unwrap_or(true),
        None => false,
    })
}

/// Run a collection. With `delete` false nothing changes.
pub async fn collect(s: &Storage, grace: Duration, delete: bool) -> RegistryResult<GcReport> {
    let mut report = GcReport {
        deleted: delete,
        ..Default::default()
    };
    let mut marked: HashSet<Digest> = HashSet::new();
    for repo_key in list_all(s, "_catalog/").await? {
        let repo = repo_key.key.trim_start_matches("_catalog/").to_string();
        report.repositories += 1;
        let prefix = format!("repositories/{repo}/_manifests/revisions/");
        for m in list_all(s, &prefix).await? {
            // `<algorithm>/<hex>`
            let Some(d) = m
                .key
                .strip_prefix(&prefix)
                .and_then(|k| k.split_once('/'))
                .and_then(|(a, h)| parse_digest(&format!("{a}:{h}")))
            else {
                continue;
            };
            report.manifests += 1;
            marked.insert(d.clone());
            let Ok(raw) = read_all(s.store.as_ref(), &crate::storage::blob_key(&d)).await else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            let descriptors = v["config"]
                .as_object()
                .map(|_| v["config"].clone())
                .into_iter()
                .chain(v["layers"].as_array().cloned().unwrap_or_default())
                .chain(v["manifests"].as_array().cloned().unwrap_or_default());
            for d in descriptors {
                if let Some(h) = d["digest"].as_str().and_then(parse_digest) {
                    marked.insert(h);
                }
            }
        }
    }
    let now = Utc::now();
    let young = |m: &tre_core::ports::ObjectMeta| {
        (now - m.last_modified)
            .to_std()
            .map(|age| age < grace)
            .unwrap_or(true)
    };
    for blob in list_all(s, "blobs/").await? {
        // `blobs/<algorithm>/<xx>/<hex>`
        let mut parts = blob.key.split('/').skip(1);
        let (Some(algo), Some(hex)) = (parts.next(), parts.nth(1)) else {
            continue;
        };
        let Some(d) = parse_digest(&format!("{algo}:{hex}")) else {
            continue;
        };
        if marked.contains(&d) {
            report.blobs_kept += 1;
        } else if young(&blob) || touched_recently(s, &d, grace).await? {
            report.blobs_too_young += 1;
        } else {
            if delete {
                s.store.delete(&blob.key).await?;
                s.store.delete(&crate::storage::blob_touch(&d)).await?;
            }
            report.blobs_swept.push((d.to_string(), blob.size));
        }
    }
    // Uploads: a state untouched for longer than the grace period is abandoned.
    let mut stale = HashSet::new();
    for o in list_all(s, "uploads/").await? {
        if let Some(id) = o
            .key
            .strip_prefix("uploads/")
            .and_then(|k| k.split('/').next())
        {
            if o.key.ends_with("/state.json") && !young(&o) {
                stale.insert(id.to_string());
            }
        }
    }
    for id in &stale {
        if delete {
            for o in list_all(s, &format!("uploads/{id}/")).await? {
                s.store.delete(&o.key).await?;
            }
        }
    }
    report.uploads_swept = stale.len();
    tracing::info!(
        swept = report.blobs_swept.len(),
        bytes = report.bytes_swept(),
        kept = report.blobs_kept,
        delete,
        "registry garbage collection"
    );
    Ok(report)
}

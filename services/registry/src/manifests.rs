//! Manifests: validated before anything moves (media type, schema, every referenced blob and
//! sub-manifest present in the repository, except non-distributable layers, which live at their
//! `urls`), stored as blobs, tagged with history, and indexed by subject for the referrers API.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tre_core::ports::{bytes_stream, PutOptions};
use tre_core::PortError;

use crate::errors::{RegistryError, RegistryResult};
use crate::names::{parse_digest, Algorithm, Digest, Reference};
use crate::storage::{
    blob_key, from_key_part, key_part, read_all, referrers_prefix, repo_manifest, tag_history,
    tag_key, tags_prefix, Hasher, Storage,
};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests larger than this are refused (the spec suggests at least 4 MiB be accepted).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredManifest {
    pub media_type: String,
    pub size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRecord {
    pub digest: String,
    pub media_type: String,
    pub at: String,
    pub by: String,
}

/// The digests a manifest refers to: (blobs, sub-manifests), and its subject and artifact type.
struct Parsed {
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Value,
}

fn descriptor_digest(d: &Value, what: &str) -> RegistryResult<Digest> {
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| RegistryError::manifest_invalid(format!("{what} has no digest")))?;
    let parsed = parse_digest(digest).ok_or_else(|| {
        RegistryError::manifest_invalid(format!(
            "{what} digest `{digest}` is not a sha256 or sha512 digest"
        ))
    })?;
    if d.get("size").and_then(Value::as_u64).is_none() {
        return Err(RegistryError::manifest_invalid(format!(
            "{what} has no size"
        )));
    }
    Ok(parsed)
}

/// Layer media types that are not distributed by registries (image-spec's non-distributable
/// layers, Docker's foreign layers): their bytes live at the descriptor's `urls`.
fn non_distributable_type(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.nondistributable.")
        || media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
}

/// A layer the registry need not hold: a non-distributable media type with at least one URL.
/// Its URLs must be http(s), as Distribution requires, so a manifest cannot point pullers at
/// anything else.
fn non_distributable(layer: &Value, what: &str) -> RegistryResult<bool> {
    let media_type = layer
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let urls = match layer.get("urls") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Array(u)) => u,
        Some(_) => {
            return Err(RegistryError::manifest_invalid(format!(
                "{what}: urls is not a list"
            )))
        }
    };
    for u in urls {
        let ok = u.as_str().is_some_and(|u| {
            (u.starts_with("https://") || u.starts_with("http://")) && !u.contains('#')
        });
        if !ok {
            return Err(RegistryError::manifest_invalid(format!(
                "{what}: {u} is not an http(s) URL"
            )));
        }
    }
    Ok(non_distributable_type(media_type) && !urls.is_empty())
}

/// Whether a pushed manifest parses (the fuzz targets' entry point).
pub(crate) fn check(media_type: &str, body: &[u8]) -> RegistryResult<()> {
    parse(media_type, body).map(|_| ())
}

fn parse(media_type: &str, body: &[u8]) -> RegistryResult<Parsed> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RegistryError::manifest_invalid(format!("the manifest is not JSON: {e}")))?;
    if let Some(declared) = v.get("mediaType").and_then(Value::as_str) {
        if declared != media_type {
            return Err(RegistryError::manifest_invalid(format!(
                "Content-Type is {media_type} but the manifest says {declared}"
            )));
        }
    }
    if v.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(RegistryError::manifest_invalid("schemaVersion must be 2"));
    }
    let mut p = Parsed {
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject: None,
        artifact_type: v
            .get("artifactType")
            .and_then(Value::as_str)
            .map(str::to_string),
        annotations: v.get("annotations").cloned().unwrap_or(Value::Null),
    };
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = v
                .get("config")
                .ok_or_else(|| RegistryError::manifest_invalid("an image manifest needs a config"))?;
            p.blobs.push(descriptor_digest(config, "config")?);
            if p.artifact_type.is_none() {
                p.artifact_type = config.get("mediaType").and_then(Value::as_str).map(str::to_string);
            }
            let layers = v
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| RegistryError::manifest_invalid("an image manifest needs layers (may be empty)"))?;
            for (i, l) in layers.iter().enumerate() {
                let what = format!("layer {i}");
                let d = descriptor_digest(l, &what)?;
                if !non_distributable(l, &what)? {
                    p.blobs.push(d);
                }
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            let list = v
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| RegistryError::manifest_invalid("an index needs manifests"))?;
            for (i, m) in list.iter().enumerate() {
                p.manifests.push(descriptor_digest(m, &format!("manifest {i}"))?);
            }
        }
        other => {
            return Err(RegistryError::manifest_invalid(format!(
                "media type `{other}` is not a manifest this registry accepts (OCI manifest or index, Docker v2 schema 2 or list)"
            )))
        }
    }
    if let Some(s) = v.get("subject") {
        p.subject = Some(descriptor_digest(s, "subject")?);
    }
    Ok(p)
}

impl Storage {
    /// Resolve a reference to a digest known to the repository.
    pub async fn resolve(&self, repo: &str, reference: &Reference) -> RegistryResult<Digest> {
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => self
                .get_json::<TagRecord>(&tag_key(repo, t))
                .await?
                .map(|r| r.digest)
                .ok_or_else(|| RegistryError::manifest_unknown(t))?,
        };
        let d = parse_digest(&digest).ok_or_else(|| RegistryError::manifest_unknown(&digest))?;
        if !self.exists(&repo_manifest(repo, &d)).await? {
            return Err(RegistryError::manifest_unknown(&digest));
        }
        Ok(d)
    }

    pub async fn manifest_info(&self, repo: &str, d: &Digest) -> RegistryResult<StoredManifest> {
        self.get_json(&repo_manifest(repo, d))
            .await?
            .ok_or_else(|| RegistryError::manifest_unknown(&d.to_string()))
    }

    pub async fn manifest_bytes(&self, d: &Digest) -> RegistryResult<Vec<u8>> {
        read_all(self.store.as_ref(), &blob_key(d))
            .await
            .map_err(|e| match e {
                PortError::NotFound(_) => RegistryError::manifest_unknown(&d.to_string()),
                other => other.into(),
            })
    }

    /// Store a manifest under `reference` (a tag moves only after validation). Pushed by digest
    /// it is hashed with that digest's algorithm; by tag, with sha256 (the canonical one).
    /// Returns its digest and its subject, if any.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &Reference,
        media_type: &str,
        body: &[u8],
        who: &str,
    ) -> RegistryResult<(Digest, Option<Digest>)> {
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("manifests are limited to {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        let algorithm = match reference {
            Reference::Digest(d) => parse_digest(d).map_or(Algorithm::Sha256, |d| d.algorithm),
            Reference::Tag(_) => Algorithm::Sha256,
        };
        let digest = Hasher::digest(algorithm, body);
        if let Reference::Digest(d) = reference {
            if *d != digest.to_string() {
                return Err(RegistryError::digest_invalid(format!(
                    "the manifest hashes to {digest}, not {d}"
                )));
            }
        }
        let parsed = parse(media_type, body)?;
        // Mark what this manifest refers to as in use *before* checking it exists, so a garbage
        // collection running now either keeps it or has deleted it already (and the check fails).
        for d in parsed.blobs.iter().chain(&parsed.manifests) {
            self.store
                .put(
                    &crate::storage::blob_touch(d),
                    bytes_stream(Vec::new()),
                    PutOptions::default(),
                )
                .await?;
        }
        let mut missing = Vec::new();
        for b in &parsed.blobs {
            if !self.has_blob(repo, b).await? {
                missing.push(b.to_string());
            }
        }
        for m in &parsed.manifests {
            if !self.exists(&repo_manifest(repo, m)).await? {
                missing.push(m.to_string());
            }
        }
        if !missing.is_empty() {
            return Err(RegistryError::new(
                axum::http::StatusCode::BAD_REQUEST,
                if parsed.manifests.is_empty() {
                    "MANIFEST_BLOB_UNKNOWN"
                } else {
                    "MANIFEST_UNKNOWN"
                },
                format!(
                    "the manifest refers to what this repository does not hold: {}",
                    missing.join(", ")
                ),
            ));
        }
        match self
            .store
            .put(
                &blob_key(&digest),
                bytes_stream(body.to_vec()),
                PutOptions {
                    if_none_match: true,
                    ..Default::default()
                },
            )
            .await
        {
            Ok(_) | Err(PortError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.put_json(
            &repo_manifest(repo, &digest),
            &StoredManifest {
                media_type: media_type.to_string(),
                size: body.len() as u64,
            },
        )
        .await?;
        self.link_blob(repo, &digest).await?;
        // Checked again now the manifest is stored: nothing it refers to may have gone since.
        for b in &parsed.blobs {
            if !self.exists(&blob_key(b)).await? {
                self.store.delete(&repo_manifest(repo, &digest)).await?;
                return Err(RegistryError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("{b} was removed while the manifest was pushed; push it again"),
                ));
            }
        }
        if let Some(subject) = &parsed.subject {
            let mut descriptor =
                json!({"mediaType": media_type, "digest": digest.to_string(), "size": body.len()});
            if let Some(t) = &parsed.artifact_type {
                descriptor["artifactType"] = json!(t);
            }
            if !parsed.annotations.is_null() {
                descriptor["annotations"] = parsed.annotations.clone();
            }
            self.put_json(
                &format!("{}{}", referrers_prefix(repo, subject), key_part(&digest)),
                &descriptor,
            )
            .await?;
        }
        if let Reference::Tag(tag) = reference {
            let at = Utc::now();
            let record = TagRecord {
                digest: digest.to_string(),
                media_type: media_type.to_string(),
                at: at.to_rfc3339(),
                by: who.to_string(),
            };
            self.put_json(
                &tag_history(
                    repo,
                    tag,
                    &at.format("%Y%m%dT%H%M%S%.6fZ").to_string(),
                    &digest,
                ),
                &record,
            )
            .await?;
            self.put_json(&tag_key(repo, tag), &record).await?;
        }
        Ok((digest, parsed.subject))
    }

    /// Tags of a repository in lexical order, `n` at most, after `last`.
    pub async fn tags(
        &self,
        repo: &str,
        n: usize,
        last: Option<&str>,
    ) -> RegistryResult<(Vec<String>, bool)> {
        let prefix = tags_prefix(repo);
        let mut out = Vec::new();
        let mut after = last.map(|l| format!("{prefix}{l}/~"));
        loop {
            let page = self.store.list(&prefix, after.as_deref(), 1000).await?;
            for o in &page.objects {
                if let Some(tag) = o
                    .key
                    .strip_prefix(&prefix)
                    .and_then(|k| k.strip_suffix("/current"))
                {
                    if out.len() == n {
                        return Ok((out, true));
                    }
                    out.push(tag.to_string());
                }
            }
            match page.next {
                Some(c) => after = Some(c),
                None => return Ok((out, false)),
            }
        }
    }

    /// Delete a manifest: by tag, the tag only; by digest, the manifest and the tags on it.
    pub async fn delete_manifest(&self, repo: &str, reference: &Reference) -> RegistryResult<()> {
        match reference {
            Reference::Tag(t) => {
                if !self.exists(&tag_key(repo, t)).await? {
                    return Err(RegistryError::manifest_unknown(t));
                }
                self.store.delete(&tag_key(repo, t)).await?;
            }
            Reference::Digest(d) => {
                let digest = self.resolve(repo, reference).await?;
                let (tags, _) = self.tags(repo, usize::MAX, None).await?;
                for t in tags {
                    if let Some(r) = self.get_json::<TagRecord>(&tag_key(repo, &t)).await? {
                        if r.digest == *d {
                            self.store.delete(&tag_key(repo, &t)).await?;
                        }
                    }
                }
                self.store.delete(&repo_manifest(repo, &digest)).await?;
            }
        }
        Ok(())
    }

    /// The referrers of a subject, as an OCI index, optionally only of one artifact type.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> RegistryResult<Value> {
        let prefix = referrers_prefix(repo, subject);
        let mut manifests = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.list(&prefix, after.as_deref(), 1000).await?;
            for o in &page.objects {
                let Some(referrer) = o.key.strip_prefix(&prefix).and_then(from_key_part) else {
                    continue;
                };
                // A deleted manifest is no longer a referrer.
                if !self.exists(&repo_manifest(repo, &referrer)).await? {
                    continue;
                }
                if let Some(d) = self.get_json::<Value>(&o.key).await? {
                    if artifact_type
                        .is_none_or(|t| d.get("artifactType").and_then(Value::as_str) == Some(t))
                    {
                        manifests.push(d);
                    }
                }
            }
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        Ok(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
    }
}

//! OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/...`): what `tre bundle
//! build` writes when no registry is at hand, readable by any OCI tool (skopeo, oras).

use std::path::Path;

use serde_json::{json, Value};

use crate::{BundleArtifact, BundleError, Reference, OCI_MANIFEST_MEDIA_TYPE};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn blob_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs").join(digest.replace(':', "/"))
}

fn write_blob(dir: &Path, digest: &str, bytes: &[u8]) -> Result<(), BundleError> {
    let path = blob_path(dir, digest);
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BundleError::io(parent, e))?;
    }
    // Write then rename, so a reader never sees half a blob.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(|e| BundleError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| BundleError::io(&path, e))
}

/// Add the artifact to the layout at `dir` (created if needed), tagged `tag`.
pub fn write_layout(dir: &Path, artifact: &BundleArtifact, tag: &str) -> Result<(), BundleError> {
    std::fs::create_dir_all(dir).map_err(|e| BundleError::io(dir, e))?;
    let marker = dir.join("oci-layout");
    if !marker.exists() {
        std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(|e| BundleError::io(&marker, e))?;
    }
    write_blob(dir, &artifact.config.digest, &artifact.config.bytes)?;
    write_blob(dir, &artifact.layer.digest, &artifact.layer.bytes)?;
    write_blob(dir, &artifact.digest, &artifact.oci_manifest)?;
    let index_path = dir.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| BundleError::NotABundle(format!("index.json: {e}")))?,
        Err(_) => {
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
        }
    };
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    // A tag names one manifest: drop the tag from any other entry.
    let mut kept: Vec<Value> = manifests
        .into_iter()
        .filter(|m| m["annotations"][REF_NAME] != tag && m["digest"] != artifact.digest.as_str())
        .collect();
    kept.push(json!({
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "digest": artifact.digest,
        "size": artifact.oci_manifest.len(),
        "artifactType": crate::ARTIFACT_TYPE,
        "annotations": { REF_NAME: tag }
    }));
    index["manifests"] = Value::Array(kept);
    let tmp = dir.join("index.json.partial");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&index).unwrap_or_default())
        .map_err(|e| BundleError::io(&tmp, e))?;
    std::fs::rename(&tmp, &index_path).map_err(|e| BundleError::io(&index_path, e))
}

/// Read and verify a bundle from a layout, by tag or digest.
pub fn read_layout(dir: &Path, reference: &Reference) -> Result<BundleArtifact, BundleError> {
    let digest = match reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(tag) => {
            let index_path = dir.join("index.json");
            let bytes = std::fs::read(&index_path).map_err(|e| BundleError::io(&index_path, e))?;
            let index: Value = serde_json::from_slice(&bytes)
                .map_err(|e| BundleError::NotABundle(format!("index.json: {e}")))?;
            index["manifests"]
                .as_array()
                .and_then(|ms| {
                    ms.iter()
                        .find(|m| m["annotations"][REF_NAME] == tag.as_str())
                })
                .and_then(|m| m["digest"].as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    BundleError::NotABundle(format!("no tag `{tag}` in {}", dir.display()))
                })?
        }
    };
    let read = |d: &str| {
        let p = blob_path(dir, d);
        std::fs::read(&p).map_err(|e| BundleError::io(&p, e))
    };
    let manifest = read(&digest)?;
    let oci: Value =
        serde_json::from_slice(&manifest).map_err(|e| BundleError::NotABundle(e.to_string()))?;
    let config = read(oci["config"]["digest"].as_str().unwrap_or_default())?;
    let layer = read(oci["layers"][0]["digest"].as_str().unwrap_or_default())?;
    BundleArtifact::verify(manifest, Some(&digest), config, layer)
}

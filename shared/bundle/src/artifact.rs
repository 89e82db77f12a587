//! Building the artifact from a directory, and unpacking its layer safely.

use std::io::Read;
use std::path::{Component, Path};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    BundleError, BundleManifest, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE,
};

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            media_type: media_type.into(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// A packaged bundle: the OCI manifest (its digest names the bundle), config and layer.
#[derive(Clone, Debug)]
pub struct BundleArtifact {
    pub manifest: BundleManifest,
    pub config: Blob,
    pub layer: Blob,
    pub oci_manifest: Vec<u8>,
    pub digest: String,
}

impl BundleArtifact {
    fn assemble(manifest: BundleManifest, layer: Vec<u8>) -> Result<Self, BundleError> {
        let config = Blob::new(
            CONFIG_MEDIA_TYPE,
            serde_json::to_vec(&manifest).map_err(|e| BundleError::Manifest(e.to_string()))?,
        );
        let layer = Blob::new(LAYER_MEDIA_TYPE, layer);
        let mut layer_desc = layer.descriptor();
        layer_desc["annotations"] = json!({"org.opencontainers.image.title": "bundle.tar.gz"});
        let oci = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": config.descriptor(),
            "layers": [layer_desc],
            "annotations": {
                "org.opencontainers.image.title": manifest.name,
                "org.opencontainers.image.version": manifest.version,
                "org.opencontainers.image.description": manifest.description,
            }
        });
        let oci_manifest =
            serde_json::to_vec(&oci).map_err(|e| BundleError::Manifest(e.to_string()))?;
        Ok(Self {
            digest: sha256_digest(&oci_manifest),
            manifest,
            config,
            layer,
            oci_manifest,
        })
    }

    /// Rebuild from fetched bytes, checking every digest and that it really is a TRE bundle.
    pub fn verify(
        oci_manifest: Vec<u8>,
        expected_digest: Option<&str>,
        config: Vec<u8>,
        layer: Vec<u8>,
    ) -> Result<Self, BundleError> {
        let digest = sha256_digest(&oci_manifest);
        if let Some(expected) = expected_digest {
            if expected != digest {
                return Err(BundleError::DigestMismatch {
                    what: "manifest".into(),
                    expected: expected.into(),
                    actual: digest,
                });
            }
        }
        let oci: serde_json::Value = serde_json::from_slice(&oci_manifest)
            .map_err(|e| BundleError::NotABundle(format!("manifest is not JSON: {e}")))?;
        if oci["artifactType"] != ARTIFACT_TYPE {
            return Err(BundleError::NotABundle(format!(
                "artifactType is {}",
                oci["artifactType"]
            )));
        }
        let check = |what: &str, desc: &serde_json::Value, bytes: &[u8]| {
            let actual = sha256_digest(bytes);
            let expected = desc["digest"].as_str().unwrap_or_default();
            if expected != actual || desc["size"].as_u64() != Some(bytes.len() as u64) {
                return Err(BundleError::DigestMismatch {
                    what: what.into(),
                    expected: expected.into(),
                    actual,
                });
            }
            Ok(())
        };
        check("config", &oci["config"], &config)?;
        check("layer", &oci["layers"][0], &layer)?;
        let manifest: BundleManifest = serde_json::from_slice(&config).map_err(|e| {
            BundleError::NotABundle(format!("config is not a bundle manifest: {e}"))
        })?;
        manifest.validate()?;
        Ok(Self {
            manifest,
            config: Blob::new(CONFIG_MEDIA_TYPE, config),
            layer: Blob::new(LAYER_MEDIA_TYPE, layer),
            oci_manifest,
            digest,
        })
    }
}

/// Package a bundle directory. The layer is deterministic (sorted entries, zeroed times and
/// owners), so the same directory always gives the same digest.
pub fn build(dir: &Path) -> Result<BundleArtifact, BundleError> {
    let yaml_path = dir.join("bundle.yaml");
    let text = std::fs::read_to_string(&yaml_path).map_err(|e| BundleError::io(&yaml_path, e))?;
    let manifest = BundleManifest::from_yaml(&text)?;
    for (action, spec) in &manifest.actions {
        for step in &spec.steps {
            let Some(tf) = &step.terraform else { continue };
            let module = dir.join(&tf.dir);
            let has_tf = std::fs::read_dir(&module)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .any(|e| e.file_name().to_string_lossy().ends_with(".tf"))
                })
                .unwrap_or(false);
            if !has_tf {
                return Err(BundleError::Manifest(format!(
                    "step `{}` of `{action}`: `{}` holds no Terraform (*.tf) files",
                    step.name, tf.dir
                )));
            }
        }
    }
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    append_dir(&mut tar, dir, Path::new(""))?;
    let gz = tar.into_inner().map_err(|e| BundleError::io(dir, e))?;
    let layer = gz.finish().map_err(|e| BundleError::io(dir, e))?;
    BundleArtifact::assemble(manifest, layer)
}

fn append_dir(
    tar: &mut tar::Builder<GzEncoder<Vec<u8>>>,
    root: &Path,
    rel: &Path,
) -> Result<(), BundleError> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| BundleError::io(&dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| BundleError::io(&dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if is_local_terraform_file(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let rel_path = rel.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&path).map_err(|e| BundleError::io(&path, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if meta.file_type().is_symlink() {
            return Err(BundleError::UnsafeEntry(rel_path.display().to_string()));
        } else if meta.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, &rel_path, std::io::empty())
                .map_err(|e| BundleError::io(&path, e))?;
            append_dir(tar, root, &rel_path)?;
        } else {
            let data = std::fs::read(&path).map_err(|e| BundleError::io(&path, e))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if is_executable(&meta) { 0o755 } else { 0o644 });
            header.set_size(data.len() as u64);
            tar.append_data(&mut header, &rel_path, data.as_slice())
                .map_err(|e| BundleError::io(&path, e))?;
        }
    }
    Ok(())
}

/// What a local `terraform init`/`apply` in a bundle's folder leaves behind, and override files
/// (a deployment's own settings, given to the runner, never part of a bundle): not packaged.
fn is_local_terraform_file(name: &str) -> bool {
    name == ".terraform"
        || name.starts_with("terraform.tfstate")
        || name == "override.tf"
        || name.ends_with("_override.tf")
        || name == "override.tf.json"
        || name.ends_with("_override.tf.json")
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// Unpack a layer into `dest`, refusing links and any path that would leave `dest`.
pub fn extract(layer: &[u8], dest: &Path) -> Result<(), BundleError> {
    let mut archive = tar::Archive::new(GzDecoder::new(layer));
    archive.set_preserve_permissions(true);
    let entries = archive.entries().map_err(|e| BundleError::io(dest, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BundleError::io(dest, e))?;
        let path = entry
            .path()
            .map_err(|e| BundleError::io(dest, e))?
            .into_owned();
        let kind = entry.header().entry_type();
        let safe = path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe || !(kind.is_file() || kind.is_dir()) {
            return Err(BundleError::UnsafeEntry(path.display().to_string()));
        }
        let target = dest.join(&path);
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| BundleError::io(&target, e))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BundleError::io(parent, e))?;
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| BundleError::io(&target, e))?;
        std::fs::write(&target, &data).map_err(|e| BundleError::io(&target, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(|e| BundleError::io(&target, e))?;
        }
    }
    Ok(())
}

//! Bundles: a directory with a `bundle.yaml`, packaged as an OCI artifact
//! (artifactType `application/vnd.tre.bundle.v1`) whose config is the manifest as JSON and whose
//! one layer is a deterministic tar.gz of the directory. Stored in an OCI image layout on disk or
//! in any OCI Distribution registry, and always fetched by digest and verified.

mod artifact;
mod layout;
mod manifest;
mod pull_tokens;
mod reference;
mod registry;

pub use artifact::{build, extract, sha256_digest, Blob, BundleArtifact};
pub use layout::{read_layout, write_layout};
pub use manifest::{
    ActionSpec, BundleManifest, OutputSpec, StepSpec, TerraformCommand, TerraformStep,
    STANDARD_ACTIONS,
};
pub use pull_tokens::{RegistryPullTokens, RUNNER_PULL_TOKEN_TTL};
pub use reference::{BundleRef, Reference};
pub use registry::RegistryClient;

/// Entry points for the fuzz targets (`fuzz/`): parsers otherwise private. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// A registry's `WWW-Authenticate` challenge: the realm and the parameters passed on.
    pub fn challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
        crate::registry::parse_challenge(header)
    }
}

pub const ARTIFACT_TYPE: &str = "application/vnd.tre.bundle.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.tre.bundle.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.tre.bundle.layer.v1.tar+gzip";
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle.yaml: {0}")]
    Manifest(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("not a TRE bundle: {0}")]
    NotABundle(String),
    #[error("bad reference `{0}`: {1}")]
    Reference(String, String),
    #[error("registry: {0}")]
    Registry(String),
    #[error("unsafe archive entry `{0}` (absolute, `..`, or a link)")]
    UnsafeEntry(String),
}

impl BundleError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

//! An OCI Distribution Spec v1.1 registry whose storage is the `ObjectStore` port (S3 in AWS,
//! the filesystem locally): pull, push (monolithic, chunked and resumable, cross-repository
//! mount), content discovery (tags, catalog, referrers) and deletion. Digests (sha256, sha512)
//! are verified as the bytes stream in, across requests (the upload's hash state is stored
//! with it).
//!
//! Access is by the registry token flow (`RegistryAuth::Tokens`); `RegistryAuth::Anyone` is for
//! tests only.

pub mod errors;
pub mod fs_store;
pub mod gc;
pub mod http;
pub mod manifests;
pub mod names;
pub mod storage;

pub use http::{router, RegistryAuth};

/// Entry points for the fuzz targets (`fuzz/`): the parsers of request headers, digests and
/// manifests, on text as a client sends it. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use axum::http::{header, HeaderMap, HeaderValue};

    fn headers(name: header::HeaderName, value: &str) -> Option<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).ok()?);
        Some(h)
    }

    /// `Range` of a blob GET (`None` inside: no range, or one the registry ignores).
    pub fn range(value: &str) -> Option<Result<Option<crate::http::RangeSpec>, String>> {
        let h = headers(header::RANGE, value)?;
        Some(Ok(crate::http::range(&h)))
    }

    /// `Content-Range` of an upload PATCH or closing PUT.
    pub fn content_range(
        value: &str,
    ) -> Option<Result<Option<crate::storage::ChunkRange>, String>> {
        let h = headers(header::CONTENT_RANGE, value)?;
        Some(crate::http::content_range(&h).map_err(|e| e.to_string()))
    }

    /// A digest in a URL or query (sha256 or sha512): its hex part.
    pub fn digest(d: &str) -> Result<String, String> {
        crate::http::digest_hex(d).map_err(|e| e.to_string())
    }

    /// A pushed manifest with its Content-Type.
    pub fn manifest(media_type: &str, body: &[u8]) -> Result<(), String> {
        crate::manifests::check(media_type, body).map_err(|e| e.to_string())
    }
}
pub use fs_store::RegistryFs;
pub use storage::Storage;

/// The AWS SDK operations the service makes in AWS (its S3 storage), for the consistency test
/// that checks its task role in infra/ allows exactly these.
pub const SDK_CALLS: &[(&str, &str)] = &[
    ("S3ObjectStore", "get_object"),
    ("S3ObjectStore", "head_object"),
    ("S3ObjectStore", "put_object"),
    ("S3ObjectStore", "delete_object"),
    ("S3ObjectStore", "list_objects_v2"),
    ("S3ObjectStore", "copy_object"),
    ("S3ObjectStore", "upload_part_copy"),
    ("S3ObjectStore", "create_multipart_upload"),
    ("S3ObjectStore", "upload_part"),
    ("S3ObjectStore", "complete_multipart_upload"),
    ("S3ObjectStore", "abort_multipart_upload"),
];

/// The environment the service needs in AWS (see `main.rs`); infra/ must set each one.
pub const AWS_ENV_VARS: &[&str] = &[
    "TRE_REGISTRY_BUCKET",
    "TRE_REGISTRY_TOKEN_KEY",
    "TRE_REGISTRY_REALM",
    "TRE_REGISTRY_SERVICE",
    "TRE_REGISTRY_ADDR",
];

//! An OCI Distribution Spec v1.1 registry whose storage is the `ObjectStore` port (S3 in AWS,
//! the filesystem locally): pull, push (monolithic, chunked and resumable, cross-repository
//! mount), content discovery (tags, catalog, referrers) and deletion. Digests are verified as
//! the bytes stream in, across requests (the upload's sha256 state is stored with it).
//!
//! Access is by the registry token flow (`RegistryAuth::Tokens`); `RegistryAuth::Anyone` is for
//! tests only.

pub mod errors;
pub mod gc;
pub mod http;
pub mod manifests;
pub mod names;
pub mod storage;

pub use http::{router, RegistryAuth};
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

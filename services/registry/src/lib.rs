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

//! An OCI Distribution Spec v1.1 registry whose storage is the `ObjectStore` port (S3 in AWS,
//! the filesystem locally): pull, push (monolithic, chunked and resumable, cross-repository
//! mount), content discovery (tags, catalog, referrers) and deletion. Digests are verified as
//! the bytes stream in, across requests (the upload's sha256 state is stored with it).
//!
//! In progress: the token flow (until it lands, serve it only where every caller may push and
//! pull), the conformance suite and the real-client tests.

pub mod errors;
pub mod gc;
pub mod http;
pub mod manifests;
pub mod names;
pub mod storage;

pub use http::router;
pub use storage::Storage;

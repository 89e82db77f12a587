//! Ports: the traits the application needs from the outside world. Adapters (AWS SDK, embedded)
//! implement them; every adapter pair passes the same contract suite in `tre-testkit`.

mod bundle_access;
mod clock;
mod mailer;
mod object_store;
mod prefixed;
mod queue;
mod secrets;
mod table;
mod workflows;

pub use bundle_access::BundlePullTokens;
pub use clock::{Clock, Ids, RandomIds, SystemClock};
pub use mailer::{Mail, Mailer};
pub use object_store::{
    bytes_stream, validate_post_prefix, ByteRange, ByteStream, GetObject, ListPage, ObjectMeta,
    ObjectStore, PartInfo, PresignMethod, PresignedPost, PresignedUrl, PutOptions, MAX_POST_BYTES,
};
pub use prefixed::PrefixedStore;
pub use queue::{Queue, QueueMessage};
pub use secrets::SecretStore;
pub use table::{Condition, Item, Key, Page, Query, Table, WriteOp, INDEX_GSI1, MAX_GET_MANY};
pub use workflows::{Execution, ExecutionStatus, Workflows};

/// Errors every port may return. Adapters map their backend's errors onto these so that the
/// application can react without knowing which backend it talks to.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("not found: {0}")]
    NotFound(String),
    /// A conditional write lost: the item changed (or exists / does not exist) since it was read.
    #[error("condition failed: {0}")]
    ConditionFailed(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The caller passed something the backend cannot accept (bad key, bad range, bad token...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backend failed or could not be reached; retrying may help.
    #[error("backend error: {0}")]
    Backend(String),
}

pub type PortResult<T> = Result<T, PortError>;

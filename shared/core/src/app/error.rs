use crate::ports::PortError;

/// What can go wrong in a use case. Each variant maps to one HTTP status in the API layer, and
/// every message is safe to show the caller.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing, or hidden from this caller (we do not reveal what exists to those who may not see it).
    #[error("{0}")]
    NotFound(String),
    /// Answered as not found because the caller may not see it: a refusal, which the audit
    /// trail records (a plain `NotFound` is not).
    #[error("{0}")]
    Hidden(String),
    #[error("{0}")]
    Forbidden(String),
    /// Input is malformed or breaks a rule; `errors` lists each violation.
    #[error("{detail}")]
    Validation { detail: String, errors: Vec<String> },
    /// Well-formed, but what it relies on is not set up to serve it (a configuration the
    /// caller cannot fix, such as a workspace's review settings).
    #[error("{0}")]
    Unprocessable(String),
    /// The request conflicts with the current state (exists already, resource enabled...).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` does not match the current etag (someone else changed it first).
    #[error("{0}")]
    PreconditionFailed(String),
    /// An update was sent without `If-Match`.
    #[error("{0}")]
    PreconditionRequired(String),
    /// A backend is unavailable; the request changed nothing and may be retried.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn validation(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Validation {
            errors: vec![detail.clone()],
            detail,
        }
    }
}

impl From<PortError> for AppError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::NotFound(m) => Self::NotFound(m),
            PortError::ConditionFailed(_) => Self::PreconditionFailed(
                "the item was changed by someone else; fetch it again and retry".into(),
            ),
            PortError::AlreadyExists(m) => Self::Conflict(format!("already exists: {m}")),
            PortError::Invalid(m) => Self::validation(m),
            PortError::Backend(m) => {
                tracing::error!(error = %m, "backend failure");
                Self::Unavailable("a backing service is unavailable; try again".into())
            }
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        // Only our own stored items are decoded with this conversion: a failure is a bug or a
        // corrupted item, not a caller error.
        Self::Internal(format!("stored item could not be decoded: {e}"))
    }
}

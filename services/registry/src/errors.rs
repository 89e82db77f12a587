//! Errors as the distribution spec words them: `{"errors": [{"code", "message", "detail"}]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tre_core::PortError;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RegistryError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl RegistryError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn name_invalid(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            format!("`{name}` is not a valid repository name"),
        )
    }
    pub fn name_unknown(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("repository `{name}` is not known"),
        )
    }
    pub fn blob_unknown(digest: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            format!("blob {digest} is not known to this repository"),
        )
    }
    pub fn manifest_unknown(reference: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest `{reference}` is not known"),
        )
    }
    pub fn upload_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "no such upload (it was finished, cancelled or never started)",
        )
    }
    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }
    pub fn manifest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", message)
    }
    pub fn range_invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            message,
        )
    }
}

impl From<PortError> for RegistryError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", m),
            PortError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", m),
            PortError::ConditionFailed(m) | PortError::AlreadyExists(m) => {
                Self::new(StatusCode::CONFLICT, "UNSUPPORTED", m)
            }
            PortError::Backend(m) => {
                tracing::error!(error = %m, "registry storage failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the registry's storage is unavailable; try again",
                )
            }
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body =
            json!({"errors": [{"code": self.code, "message": self.message, "detail": null}]});
        (self.status, axum::Json(body)).into_response()
    }
}

pub type RegistryResult<T> = Result<T, RegistryError>;

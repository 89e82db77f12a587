//! RFC 9457 problem details (`application/problem+json`) for every error the API returns.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tre_core::app::AppError;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What exactly was wrong with this request.
    pub detail: String,
    /// Each individual violation, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<String>,
    /// Authorisation refused the call (a 404 that hides, or a 403): the audit trail records it.
    #[serde(skip)]
    pub refused: bool,
}

/// Marks a response whose refusal the audit trail records.
#[derive(Clone, Copy, Debug)]
pub struct Refusal;

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        let slug = title.to_lowercase().replace(' ', "-");
        Self {
            kind: format!("https://tre.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            refused: false,
        }
    }

    /// Mark as a refusal by authorisation.
    pub fn refusal(mut self) -> Self {
        self.refused = true;
        self
    }

    pub fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if self.refused {
            resp.extensions_mut().insert(Refusal);
        }
        resp
    }
}

/// The API's error type: every handler returns `Result<_, ApiError>`.
#[derive(Debug)]
pub struct ApiError(pub Problem);

/// What a handler returns.
pub(crate) type ApiResult = Result<Response, ApiError>;

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let p = match e {
            AppError::NotFound(d) => Problem::new(StatusCode::NOT_FOUND, d),
            AppError::Hidden(d) => Problem::new(StatusCode::NOT_FOUND, d).refusal(),
            AppError::Forbidden(d) => Problem::new(StatusCode::FORBIDDEN, d).refusal(),
            AppError::Validation { detail, errors } => {
                Problem::new(StatusCode::BAD_REQUEST, detail).with_errors(errors)
            }
            AppError::Conflict(d) => Problem::new(StatusCode::CONFLICT, d),
            AppError::Unprocessable(d) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, d),
            AppError::PreconditionFailed(d) => Problem::new(StatusCode::PRECONDITION_FAILED, d),
            AppError::PreconditionRequired(d) => Problem::new(StatusCode::PRECONDITION_REQUIRED, d),
            AppError::Unavailable(d) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, d),
            AppError::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "an internal error occurred; it has been logged",
                )
            }
        };
        Self(p)
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

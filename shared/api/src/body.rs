//! A JSON body extractor whose every rejection is a precise problem response (axum's own would
//! answer in plain text).

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, Problem};

/// Largest JSON body accepted (templates carry schemas; nothing legitimate comes near this).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawJson::from_request(req, state).await?;
        Ok(Self(raw.parse()?))
    }
}

/// A body read but not yet judged, for routes that must refuse a caller before telling them
/// what is wrong with their body (a caller without the role learns nothing of the rules).
pub struct RawJson {
    content_type: String,
    bytes: Bytes,
}

impl<S> FromRequest<S> for RawJson
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than the {MAX_BODY_BYTES} bytes accepted"),
                )
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {e}"),
                )
            }
        })?;
        Ok(Self {
            content_type,
            bytes,
        })
    }
}

impl RawJson {
    /// The body as `T`: 415 for a body that is not sent as JSON, 400 for one that is not JSON,
    /// 422 for JSON without the expected fields and types (as RFC 9110 and Azure TRE answer).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mime = self.content_type.split(';').next().unwrap_or("").trim();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with `Content-Type: application/json`",
            )
            .into());
        }
        serde_json::from_slice::<T>(&self.bytes).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid JSON: {e}"),
                )
                .into()
            } else {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("the body does not have the expected fields and types: {e}"),
                )
                .into()
            }
        })
    }
}

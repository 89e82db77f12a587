//! The API's wire shapes: what a response looks like, built from the domain types. They follow
//! Azure TRE's API models (field names, wrappers, epoch-second times) so that its clients work
//! unchanged; the domain types and what the store keeps are not tied to them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub mod airlock;
pub mod operation;
pub mod resource;
pub mod template;
pub mod users;

/// Who did something, as Azure TRE's clients read it (`user`, `createdBy`, `reviewer`...).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct User {
    /// Subject id of the principal.
    pub id: String,
    /// Display name when it was known at the time, else the subject id.
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl User {
    pub fn new(id: &str, name: Option<&str>) -> Self {
        Self {
            id: id.to_string(),
            name: name.filter(|n| !n.is_empty()).unwrap_or(id).to_string(),
            email: String::new(),
            roles: Vec::new(),
        }
    }
}

/// A time as POSIX seconds (UTC) with a fraction: Azure TRE's `createdWhen`/`updatedWhen`.
pub fn when(t: DateTime<Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1_000_000.0
}

/// An etag as it appears in a body (`_etag`): the value without the quotes of the HTTP header.
/// Clients send it back in the `etag` header, or quoted in `If-Match`; both are accepted.
pub fn bare_etag(etag: &str) -> String {
    tre_core::domain::resource::etag_value(etag).to_string()
}

/// An API path as Azure TRE's clients use it: without the `/api` prefix (they prepend it).
pub fn client_path(path: &str) -> String {
    match path.strip_prefix("/api/") {
        Some(rest) => format!("/{rest}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_epoch_seconds_with_a_fraction() {
        let t = DateTime::parse_from_rfc3339("2022-01-19T17:05:42.423857Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert!((when(t) - 1_642_611_942.423_857).abs() < 1e-6);
    }

    #[test]
    fn etags_lose_their_quotes_and_paths_their_prefix() {
        assert_eq!(bare_etag("\"7\""), "7");
        assert_eq!(bare_etag("W/\"7\""), "7");
        assert_eq!(client_path("/api/workspaces/a"), "/workspaces/a");
        assert_eq!(client_path("/workspaces/a"), "/workspaces/a");
    }
}

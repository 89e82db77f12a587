//! The one error type of token validation. Every message is safe to show to the caller: none
//! of them contains the token or any part of it beyond a (truncated) algorithm name.

/// Why a bearer token was not accepted, or why tokens cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a compact JWS: wrong number of parts, bad base64url, bad JSON, ...
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// `none`, any symmetric (`HS*`) algorithm, or one we do not support.
    #[error("the token's signing algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    /// The header's `alg` does not fit the type (or the declared `alg`) of the key it names.
    #[error("the token's algorithm does not match its signing key")]
    AlgorithmMismatch,
    /// No `kid` in the header while the issuer publishes several keys.
    #[error("the token names no signing key and the issuer has several")]
    MissingKeyId,
    /// The `kid` is not among the issuer's keys, even after refreshing them.
    #[error("the token's signing key is not one of the issuer's keys")]
    UnknownKeyId,
    #[error("the token's signature is invalid")]
    InvalidSignature,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this service")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the token's `{0}` claim is invalid")]
    InvalidClaim(String),
    /// The issuer's keys could not be fetched or read (a server-side fault, not the caller's).
    #[error("the issuer's signing keys could not be loaded: {0}")]
    KeySource(String),
    /// The validator or claim mapping is misconfigured (a server-side fault).
    #[error("authentication is misconfigured: {0}")]
    Config(String),
}

impl AuthError {
    /// True when the fault lies with this service or the issuer rather than with the token, so
    /// an HTTP layer can answer 503/500 instead of 401.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Self::KeySource(_) | Self::Config(_))
    }

    /// An algorithm name from an untrusted header, cut down so it is safe to put in a message.
    pub(crate) fn unsupported_alg(alg: &str) -> Self {
        let shown: String = alg
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(16)
            .collect();
        Self::UnsupportedAlgorithm(shown)
    }
}

//! Bearer-token validation against an OIDC issuer's published keys.

use std::sync::RwLock;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use tokio::sync::Mutex;
use tre_core::domain::principal::Principal;

use crate::jwks::{parse_alg, parse_jwks, KeyEntry};
use crate::{principal_from_claims, AuthError, ValidatorConfig};

/// Largest discovery or JWKS document we read; real ones are a few KiB.
const MAX_DOC_BYTES: usize = 512 * 1024;

/// Validates bearer JWTs. Cheap to share behind an `Arc`; keys are fetched lazily on first use,
/// cached, and refreshed when a token names an unknown `kid` (at most once per
/// [`ValidatorConfig::min_refresh_interval`]).
pub struct Validator {
    config: ValidatorConfig,
    http: reqwest::Client,
    keys: RwLock<KeyCache>,
    /// Serialises fetches and remembers the last attempt, for the rate limit.
    fetch: Mutex<FetchState>,
}

#[derive(Default)]
struct KeyCache {
    keys: Vec<KeyEntry>,
    /// Bumped on every successful fetch, so a waiter can tell someone else already refreshed.
    generation: u64,
}

struct FetchState {
    last_attempt: Option<Instant>,
    jwks_url: Option<String>,
}

/// The parts of the header we decide on before touching any key.
struct Header {
    alg: Algorithm,
    kid: Option<String>,
}

fn parse_header(token: &str) -> Result<Header, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "not a compact JWS (three dot-separated parts)",
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| AuthError::Malformed("the header is not base64url"))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("the header is not JSON"))?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AuthError::Malformed("the header has no `alg`"))?;
    let alg = parse_alg(alg_name).ok_or_else(|| AuthError::unsupported_alg(alg_name))?;
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(AuthError::Malformed("the header's `kid` is not a string")),
    };
    Ok(Header { alg, kid })
}

impl Validator {
    pub fn new(config: ValidatorConfig) -> Result<Self, AuthError> {
        if config.issuer.trim().is_empty() || config.audience.trim().is_empty() {
            return Err(AuthError::Config("issuer and audience must be set".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .build()
            .map_err(|e| AuthError::Config(format!("cannot build the HTTP client: {e}")))?;
        let fetch = FetchState {
            last_attempt: None,
            jwks_url: config.jwks_url.clone(),
        };
        Ok(Self {
            config,
            http,
            keys: RwLock::new(KeyCache::default()),
            fetch: Mutex::new(fetch),
        })
    }

    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// Validate a bearer token and map its claims to the caller.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.validate_claims(token).await?;
        principal_from_claims(&claims, &self.config.claims)
    }

    /// Validate a bearer token and return its verified claims.
    pub async fn validate_claims(&self, token: &str) -> Result<Value, AuthError> {
        let token = token.trim();
        let header = parse_header(token)?;
        let key = self.key_for(&header).await?;
        if !key.accepts(header.alg) {
            return Err(AuthError::AlgorithmMismatch);
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| {
            match e.into_kind() {
                ErrorKind::InvalidSignature => AuthError::InvalidSignature,
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidAlgorithm => AuthError::AlgorithmMismatch,
                ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c),
                ErrorKind::Base64(_) => AuthError::Malformed("a part is not base64url"),
                ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                    AuthError::Malformed("the claims are not valid JSON")
                }
                // Bad signature encodings and crypto-level failures: the signature is unusable.
                _ => AuthError::InvalidSignature,
            }
        })?;
        Ok(data.claims)
    }

    /// The key a token's header points at, fetching or refreshing the JWKS when needed.
    async fn key_for(&self, header: &Header) -> Result<KeyEntry, AuthError> {
        let (found, generation) = self.lookup(header)?;
        if let Some(found) = found {
            return Ok(found);
        }
        self.refresh(generation).await?;
        match self.lookup(header)? {
            (Some(found), _) => Ok(found),
            (None, 0) => Err(AuthError::KeySource(
                "no keys loaded yet; retry later".into(),
            )),
            (None, _) => Err(AuthError::UnknownKeyId),
        }
    }

    /// The matching key, if any, and the cache generation it was looked up in.
    fn lookup(&self, header: &Header) -> Result<(Option<KeyEntry>, u64), AuthError> {
        let cache = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let keys = &cache.keys;
        let found = match &header.kid {
            Some(kid) => Ok(keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned()),
            // Without a kid the choice is unambiguous only when the issuer has a single key.
            None => match keys.len() {
                0 => Ok(None),
                1 => Ok(keys.first().cloned()),
                _ => Err(AuthError::MissingKeyId),
            },
        }?;
        Ok((found, cache.generation))
    }

    /// Fetch the JWKS again unless another fetch happened within the minimum interval.
    /// Returns once the cache is as fresh as the rate limit allows.
    async fn refresh(&self, seen_generation: u64) -> Result<(), AuthError> {
        let mut state = self.fetch.lock().await;
        if self.generation() != seen_generation {
            return Ok(()); // someone refreshed while we waited
        }
        if let Some(last) = state.last_attempt {
            if last.elapsed() < self.config.min_refresh_interval {
                tracing::debug!("JWKS refresh skipped: rate limited");
                return Ok(());
            }
        }
        state.last_attempt = Some(Instant::now());
        let url = match &state.jwks_url {
            Some(u) => u.clone(),
            None => {
                let u = self.discover().await?;
                state.jwks_url = Some(u.clone());
                u
            }
        };
        let doc = self.get_json(&url).await?;
        let keys = parse_jwks(&doc).map_err(|m| AuthError::KeySource(m.to_string()))?;
        tracing::info!(keys = keys.len(), "loaded the issuer's signing keys");
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        cache.keys = keys;
        cache.generation += 1;
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    async fn discover(&self) -> Result<String, AuthError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&url).await?;
        if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err(AuthError::KeySource(
                "the discovery document names another issuer".into(),
            ));
        }
        doc.get("jwks_uri")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| AuthError::KeySource("the discovery document has no jwks_uri".into()))
    }

    async fn get_json(&self, url: &str) -> Result<Value, AuthError> {
        let fail = |what: &str| {
            tracing::warn!(url, what, "cannot read from the issuer");
            AuthError::KeySource(format!("{what} ({url})"))
        };
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| fail("request failed"))?;
        if !resp.status().is_success() {
            return Err(fail(&format!("HTTP {}", resp.status().as_u16())));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOC_BYTES as u64)
        {
            return Err(fail("document too large"));
        }
        let body = resp.bytes().await.map_err(|_| fail("reading failed"))?;
        if body.len() > MAX_DOC_BYTES {
            return Err(fail("document too large"));
        }
        serde_json::from_slice(&body).map_err(|_| fail("not JSON"))
    }
}

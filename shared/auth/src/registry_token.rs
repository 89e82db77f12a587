//! The registry's tokens (the Docker registry token flow): short-lived JWTs, HS256 with a key
//! the API (which issues them from the caller's TRE identity) and the registry share, naming
//! each repository and the actions allowed on it.

use std::time::Duration;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The registry's name in its tokens (`aud`, and the challenge's `service`) unless a
/// deployment names it otherwise.
pub const DEFAULT_SERVICE: &str = "tre-registry";

/// What a token allows: `{"type": "repository", "name": ..., "actions": ["pull", "push"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// A scope as clients ask for it: `repository:tre/bundles/base:pull,push`.
    pub fn parse_scope(scope: &str) -> Option<Self> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Self {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }

    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.kind == kind
            && self.name == name
            && self.actions.iter().any(|a| a == action || a == "*")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
    access: Vec<Access>,
}

#[derive(Clone)]
pub struct RegistryTokenKey {
    key: Vec<u8>,
    service: String,
}

impl RegistryTokenKey {
    /// `key` at least 32 bytes; `service` is the registry's name (the token's audience).
    pub fn new(key: Vec<u8>, service: impl Into<String>) -> Result<Self, String> {
        if key.len() < 32 {
            return Err("a registry token key has at least 32 bytes".into());
        }
        Ok(Self {
            key,
            service: service.into(),
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn issue(
        &self,
        subject: &str,
        access: Vec<Access>,
        ttl: Duration,
    ) -> Result<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let claims = Claims {
            iss: "tre".into(),
            sub: subject.to_string(),
            aud: self.service.clone(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            access,
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .map_err(|e| format!("signing a registry token: {e}"))
    }

    /// The subject and access of a valid token (signature, audience, expiry checked).
    pub fn verify(&self, token: &str) -> Result<(String, Vec<Access>), String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[&self.service]);
        v.set_issuer(&["tre"]);
        v.leeway = 5;
        let data = decode::<Claims>(token, &DecodingKey::from_secret(&self.key), &v)
            .map_err(|e| format!("the registry token is not valid: {e}"))?;
        Ok((data.claims.sub, data.claims.access))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_refuse() {
        let k = RegistryTokenKey::new(vec![1; 32], "tre-registry").unwrap();
        let a = Access::parse_scope("repository:tre/bundles/base:pull,push").unwrap();
        assert_eq!(a.name, "tre/bundles/base");
        let t = k
            .issue("dev-admin", vec![a.clone()], Duration::from_secs(60))
            .unwrap();
        let (sub, access) = k.verify(&t).unwrap();
        assert_eq!((sub.as_str(), access), ("dev-admin", vec![a]));
        let other = RegistryTokenKey::new(vec![2; 32], "tre-registry").unwrap();
        assert!(other.verify(&t).is_err());
        let elsewhere = RegistryTokenKey::new(vec![1; 32], "other").unwrap();
        assert!(elsewhere.verify(&t).is_err());
        // Expired (beyond the 5 s leeway): refused.
        let old = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                iss: "tre".into(),
                sub: "x".into(),
                aud: "tre-registry".into(),
                iat: 0,
                exp: 1,
                access: vec![],
            },
            &EncodingKey::from_secret(&[1; 32]),
        )
        .unwrap();
        assert!(k.verify(&old).is_err());
    }
}

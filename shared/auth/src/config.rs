//! Validator configuration, from code or from the environment.

use std::time::Duration;

use crate::{AuthError, ClaimMapping};

pub const ENV_ISSUER: &str = "TRE_OIDC_ISSUER";
pub const ENV_AUDIENCE: &str = "TRE_OIDC_AUDIENCE";
pub const ENV_JWKS_URL: &str = "TRE_OIDC_JWKS_URL";
pub const ENV_ROLES_CLAIM: &str = "TRE_OIDC_ROLES_CLAIM";
pub const ENV_GROUPS_CLAIM: &str = "TRE_OIDC_GROUPS_CLAIM";
pub const ENV_GROUP_ROLES: &str = "TRE_OIDC_GROUP_ROLES";
pub const ENV_LEEWAY_SECS: &str = "TRE_OIDC_LEEWAY_SECS";
pub const ENV_JWKS_REFRESH_SECS: &str = "TRE_OIDC_JWKS_MIN_REFRESH_SECS";

/// Every environment variable this crate reads (see the crate docs for their meaning).
pub const ENV_VARS: &[&str] = &[
    ENV_ISSUER,
    ENV_AUDIENCE,
    ENV_JWKS_URL,
    ENV_ROLES_CLAIM,
    ENV_GROUPS_CLAIM,
    ENV_GROUP_ROLES,
    ENV_LEEWAY_SECS,
    ENV_JWKS_REFRESH_SECS,
];

/// What a [`crate::Validator`] accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// Expected `iss`, exactly as the issuer writes it.
    pub issuer: String,
    /// This service's audience; it must be among the token's `aud` values.
    pub audience: String,
    /// JWKS address; when `None` it is discovered at `{issuer}/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    pub claims: ClaimMapping,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// At most one JWKS fetch per this interval, so tokens with random `kid`s cannot hammer
    /// the issuer.
    pub min_refresh_interval: Duration,
    /// Timeout of one discovery or JWKS request.
    pub http_timeout: Duration,
}

impl ValidatorConfig {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            claims: ClaimMapping::default(),
            leeway: Duration::from_secs(30),
            min_refresh_interval: Duration::from_secs(30),
            http_timeout: Duration::from_secs(10),
        }
    }

    /// Read the configuration from the process environment (see [`ENV_VARS`]).
    pub fn from_env() -> Result<Self, AuthError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required =
            |name: &str| get(name).ok_or_else(|| AuthError::Config(format!("{name} is not set")));
        let secs = |name: &str, default: u64| -> Result<Duration, AuthError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                    AuthError::Config(format!("{name} must be a whole number of seconds"))
                }),
            }
        };
        let mut config = Self::new(required(ENV_ISSUER)?, required(ENV_AUDIENCE)?);
        config.jwks_url = get(ENV_JWKS_URL);
        config.claims = ClaimMapping::from_lookup(&lookup)?;
        config.leeway = secs(ENV_LEEWAY_SECS, 30)?;
        config.min_refresh_interval = secs(ENV_JWKS_REFRESH_SECS, 30)?;
        Ok(config)
    }
}

impl ClaimMapping {
    /// The claim mapping alone from the environment (`TRE_OIDC_ROLES_CLAIM`,
    /// `TRE_OIDC_GROUPS_CLAIM`, `TRE_OIDC_GROUP_ROLES`), e.g. for Lambdas behind API Gateway.
    pub fn from_env() -> Result<Self, AuthError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut mapping = Self::default();
        if let Some(c) = get(ENV_ROLES_CLAIM) {
            mapping.roles_claim = c;
        }
        if let Some(c) = get(ENV_GROUPS_CLAIM) {
            mapping.groups_claim = c;
        }
        if let Some(spec) = get(ENV_GROUP_ROLES) {
            mapping.group_roles = Self::parse_group_roles(&spec)?;
        }
        Ok(mapping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tre_core::domain::principal::TreRole;

    #[test]
    fn reads_env_style_lookup() {
        let env: HashMap<&str, &str> = HashMap::from([
            (ENV_ISSUER, "https://idp.example/realms/tre"),
            (ENV_AUDIENCE, "tre-api"),
            (ENV_ROLES_CLAIM, "realm_access.roles"),
            (ENV_GROUP_ROLES, "tre-admins=TREAdmin,tre-users=TREUser"),
            (ENV_LEEWAY_SECS, "5"),
        ]);
        let c = ValidatorConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.issuer, "https://idp.example/realms/tre");
        assert_eq!(c.jwks_url, None);
        assert_eq!(c.claims.roles_claim, "realm_access.roles");
        assert_eq!(
            c.claims.group_roles[0],
            ("tre-admins".to_string(), TreRole::TREAdmin)
        );
        assert_eq!(c.leeway, Duration::from_secs(5));
        assert_eq!(c.min_refresh_interval, Duration::from_secs(30));
    }

    #[test]
    fn missing_or_bad_values_are_config_errors() {
        let none = ValidatorConfig::from_lookup(|_| None);
        assert!(matches!(none, Err(AuthError::Config(m)) if m.contains(ENV_ISSUER)));
        let bad = ValidatorConfig::from_lookup(|k| match k {
            ENV_LEEWAY_SECS => Some("soon".into()),
            _ => Some("x".into()),
        });
        assert!(matches!(bad, Err(AuthError::Config(_))));
    }
}

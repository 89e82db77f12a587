//! tre-auth: who is calling.
//!
//! - [`Validator`] verifies bearer JWTs against an OIDC issuer's JWKS (RS*/PS*/ES256/ES384;
//!   `none` and every symmetric algorithm are refused) and maps the claims to a
//!   [`Principal`](tre_core::domain::principal::Principal).
//! - [`principal_from_claims`] does that mapping alone, for claims that API Gateway's JWT
//!   authorizer has already verified.
//! - [`DevIssuer`] is the development OIDC issuer of the local stack: a persisted RSA key, a
//!   discovery document, a JWKS, sample users, and authorization code + PKCE (S256) sign-in.
//! - With the `testing` feature, the `testing` module forges *bad* tokens for other crates' tests.
//!
//! # Environment
//! [`ValidatorConfig::from_env`] (and [`ClaimMapping::from_env`] for the mapping alone) read:
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `TRE_OIDC_ISSUER` | expected `iss`, also the base of discovery | required |
//! | `TRE_OIDC_AUDIENCE` | this API's audience, must be in `aud` | required |
//! | `TRE_OIDC_JWKS_URL` | JWKS address, skipping discovery | discovered |
//! | `TRE_OIDC_ROLES_CLAIM` | dotted claim path of role names, e.g. `realm_access.roles` | `roles` |
//! | `TRE_OIDC_GROUPS_CLAIM` | dotted claim path of group names, e.g. `cognito:groups` | `groups` |
//! | `TRE_OIDC_GROUP_ROLES` | group→role mapping, e.g. `tre-admins=TREAdmin,tre-users=TREUser` | none |
//! | `TRE_OIDC_LEEWAY_SECS` | clock skew tolerated on `exp`/`nbf` | `30` |
//! | `TRE_OIDC_JWKS_MIN_REFRESH_SECS` | least time between two JWKS fetches | `30` |
//!
//! The list of names is [`ENV_VARS`].

mod claims;
mod config;
mod dev;
mod error;
mod jwks;
mod validator;

pub mod registry_token;
#[cfg(feature = "testing")]
pub mod testing;

pub use claims::{principal_from_claims, ClaimMapping};
pub use config::{
    ValidatorConfig, ENV_AUDIENCE, ENV_GROUPS_CLAIM, ENV_GROUP_ROLES, ENV_ISSUER,
    ENV_JWKS_REFRESH_SECS, ENV_JWKS_URL, ENV_LEEWAY_SECS, ENV_ROLES_CLAIM, ENV_VARS,
};
pub use dev::{DevIssuer, DevIssuerConfig, DevIssuerError, DevUser, KEY_FILE as DEV_KEY_FILE};
pub use error::AuthError;
pub use validator::Validator;

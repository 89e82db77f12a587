//! The development OIDC issuer of the local stack. It is for one machine only: anyone who can
//! reach it can sign in as any sample user.

mod oauth;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tre_core::domain::principal::TreRole;

/// File (in the data directory) holding the issuer's private key as PKCS#8 PEM.
pub const KEY_FILE: &str = "dev-oidc-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    #[error("dev issuer key file: {0}")]
    Io(#[from] std::io::Error),
    #[error("dev issuer key: {0}")]
    Key(String),
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

/// Where the dev issuer lives and whom it lets in.
#[derive(Clone, Debug)]
pub struct DevIssuerConfig {
    /// Public base address the router is served at (also the `iss` of its tokens), e.g.
    /// `http://127.0.0.1:8080/oidc` when nested under `/oidc`.
    pub issuer: String,
    /// `aud` of the access tokens it mints (the API's audience).
    pub audience: String,
    /// Directory for the persisted key.
    pub data_dir: PathBuf,
    /// Exact redirect URIs `/authorize` accepts.
    pub redirect_uris: Vec<String>,
    /// Lifetime of tokens issued through `/token`.
    pub token_ttl: Duration,
}

impl DevIssuerConfig {
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_string(),
            audience: audience.into(),
            data_dir: data_dir.into(),
            redirect_uris: Vec::new(),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// A sample user of the local stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevUser {
    /// `sub`, e.g. `dev-admin`.
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<TreRole>,
}

impl DevUser {
    fn sample(key: &str, name: &str, roles: Vec<TreRole>) -> Self {
        Self {
            id: format!("dev-{key}"),
            username: key.to_string(),
            name: name.to_string(),
            email: format!("{key}@tre.localhost"),
            roles,
        }
    }
    pub fn admin() -> Self {
        Self::sample(
            "admin",
            "Dev Admin",
            vec![TreRole::TREAdmin, TreRole::TREUser],
        )
    }
    pub fn owner() -> Self {
        Self::sample("owner", "Dev Workspace Owner", vec![TreRole::TREUser])
    }
    pub fn researcher() -> Self {
        Self::sample("researcher", "Dev Researcher", vec![TreRole::TREUser])
    }
    pub fn airlock_manager() -> Self {
        Self::sample(
            "airlock-manager",
            "Dev Airlock Manager",
            vec![TreRole::TREUser],
        )
    }
    pub fn samples() -> Vec<Self> {
        vec![
            Self::admin(),
            Self::owner(),
            Self::researcher(),
            Self::airlock_manager(),
        ]
    }
    /// A sample user by `sub` (`dev-admin`) or user name (`admin`).
    pub fn find(id_or_username: &str) -> Option<Self> {
        Self::samples()
            .into_iter()
            .find(|u| u.id == id_or_username || u.username == id_or_username)
    }

    fn profile_claims(&self) -> Value {
        let roles: Vec<&str> = self
            .roles
            .iter()
            .map(|r| match r {
                TreRole::TREAdmin => "TREAdmin",
                TreRole::TREUser => "TREUser",
            })
            .collect();
        json!({
            "sub": self.id, "name": self.name, "preferred_username": self.username,
            "email": self.email, "email_verified": true, "roles": roles,
        })
    }
}

struct SigningKey {
    kid: String,
    public_pem: String,
    encoding: EncodingKey,
    jwk: Value,
}

struct KeyState {
    current: SigningKey,
    /// The public key before the last rotation, still published so its tokens stay valid.
    previous: Option<Value>,
}

struct Inner {
    config: DevIssuerConfig,
    keys: RwLock<KeyState>,
    codes: Mutex<HashMap<String, oauth::PendingCode>>,
}

/// The development issuer; clones share one key and one code store.
#[derive(Clone)]
pub struct DevIssuer {
    inner: Arc<Inner>,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 7638 thumbprint of an RSA public key: SHA-256 over the canonical `{e,kty,n}` JSON.
fn rsa_jwk(key: &RsaPrivateKey) -> (String, Value) {
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
    (kid, jwk)
}

fn signing_key(key: &RsaPrivateKey) -> Result<SigningKey, DevIssuerError> {
    let der = key
        .to_pkcs1_der()
        .map_err(|e| DevIssuerError::Key(e.to_string()))?;
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| DevIssuerError::Key(e.to_string()))?;
    let (kid, jwk) = rsa_jwk(key);
    Ok(SigningKey {
        kid,
        public_pem,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk,
    })
}

fn generate_key() -> Result<RsaPrivateKey, DevIssuerError> {
    RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| DevIssuerError::Key(e.to_string()))
}

/// Write the key so only its owner can read it, replacing any older file in one step.
fn store_key(dir: &Path, key: &RsaPrivateKey) -> Result<(), DevIssuerError> {
    std::fs::create_dir_all(dir)?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| DevIssuerError::Key(e.to_string()))?;
    let tmp = dir.join(format!("{KEY_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, pem.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(KEY_FILE))?;
    Ok(())
}

fn load_or_create_key(dir: &Path) -> Result<RsaPrivateKey, DevIssuerError> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
            DevIssuerError::Key(format!("{} is not a PKCS#8 RSA key: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!("generating the dev issuer's signing key");
            let key = generate_key()?;
            store_key(dir, &key)?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

impl DevIssuer {
    /// Load the key from the data directory, or generate and store one (CPU-heavy for a moment;
    /// call it off the async executor's hot path, e.g. once at start-up).
    pub fn open(config: DevIssuerConfig) -> Result<Self, DevIssuerError> {
        let key = load_or_create_key(&config.data_dir)?;
        let current = signing_key(&key)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                keys: RwLock::new(KeyState {
                    current,
                    previous: None,
                }),
                codes: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &DevIssuerConfig {
        &self.inner.config
    }

    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    pub fn audience(&self) -> &str {
        &self.inner.config.audience
    }

    /// The `kid` of the current signing key.
    pub fn kid(&self) -> String {
        self.read_keys().current.kid.clone()
    }

    /// The current public key as SPKI PEM (public; handy for key-confusion tests).
    pub fn public_key_pem(&self) -> String {
        self.read_keys().current.public_pem.clone()
    }

    /// Replace the signing key with a new one (stored in the data directory). The old public
    /// key stays in the JWKS until the next rotation.
    pub fn rotate_key(&self) -> Result<String, DevIssuerError> {
        let key = generate_key()?;
        store_key(&self.inner.config.data_dir, &key)?;
        let next = signing_key(&key)?;
        let kid = next.kid.clone();
        let mut keys = self.inner.keys.write().unwrap_or_else(|p| p.into_inner());
        let old = std::mem::replace(&mut keys.current, next);
        keys.previous = Some(old.jwk);
        Ok(kid)
    }

    /// The published key set.
    pub fn jwks(&self) -> Value {
        let keys = self.read_keys();
        let mut list = vec![keys.current.jwk.clone()];
        list.extend(keys.previous.clone());
        json!({ "keys": list })
    }

    /// The OpenID Provider metadata served at `/.well-known/openid-configuration`.
    pub fn discovery(&self) -> Value {
        let base = self.issuer();
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks.json"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email"],
        })
    }

    /// An RS256 access token for `user`, valid for `ttl`, for the configured audience.
    pub fn mint(&self, user: &DevUser, ttl: Duration) -> Result<String, DevIssuerError> {
        let mut claims = user.profile_claims();
        self.stamp(&mut claims, self.audience(), ttl);
        self.sign_claims(&claims)
    }

    /// Sign arbitrary claims with the current key (RS256, its `kid` in the header). Meant for
    /// tests that need a correctly signed token with unusual claims.
    pub fn sign_claims(&self, claims: &Value) -> Result<String, DevIssuerError> {
        let keys = self.read_keys();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(keys.current.kid.clone());
        jsonwebtoken::encode(&header, claims, &keys.current.encoding)
            .map_err(|e| DevIssuerError::Sign(e.to_string()))
    }

    /// Add `iss`, `aud`, `iat`, `nbf`, `exp` and a fresh `jti`.
    fn stamp(&self, claims: &mut Value, audience: &str, ttl: Duration) {
        let now = now_secs();
        if let Some(map) = claims.as_object_mut() {
            map.insert("iss".into(), json!(self.issuer()));
            map.insert("aud".into(), json!(audience));
            map.insert("iat".into(), json!(now));
            map.insert("nbf".into(), json!(now));
            map.insert("exp".into(), json!(now + ttl.as_secs()));
            map.insert("jti".into(), json!(oauth::random_token()));
        }
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, KeyState> {
        self.inner.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The issuer's HTTP endpoints; nest it where [`DevIssuerConfig::issuer`] points.
    pub fn router(&self) -> Router {
        let issuer = self.clone();
        let jwks = self.clone();
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(issuer.discovery()) }),
            )
            .route("/jwks.json", get(move || async move { Json(jwks.jwks()) }))
            .merge(oauth::routes(self.clone()))
    }
}

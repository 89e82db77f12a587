//! Reading an issuer's JWKS into verification keys. Only asymmetric keys are ever built: a
//! symmetric (`oct`) JWK is skipped, so no token can be checked with an HMAC key.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

/// The kind of a public key, which decides the algorithms it may verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
}

impl KeyFamily {
    pub(crate) fn allows(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::EcP256 => alg == ES256,
            Self::EcP384 => alg == ES384,
        }
    }
}

/// One usable verification key.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The JWK's own `alg`, when it declares one: the token's must then be exactly that.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl KeyEntry {
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.family.allows(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The asymmetric algorithms a token may name; everything else (`none`, `HS*`, `EdDSA`) is
/// refused before any key is looked at.
pub(crate) fn parse_alg(name: &str) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match name {
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        _ => return None,
    })
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn entry(raw: RawJwk) -> Option<KeyEntry> {
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    // A declared alg we do not accept (e.g. RSA-OAEP, HS256) makes the key unusable for us.
    let alg = match raw.alg.as_deref() {
        None => None,
        Some(a) => Some(parse_alg(a)?),
    };
    let (family, key) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => (
            KeyFamily::Rsa,
            DecodingKey::from_rsa_components(raw.n.as_deref()?, raw.e.as_deref()?).ok()?,
        ),
        ("EC", Some(crv @ ("P-256" | "P-384"))) => (
            if crv == "P-256" {
                KeyFamily::EcP256
            } else {
                KeyFamily::EcP384
            },
            DecodingKey::from_ec_components(raw.x.as_deref()?, raw.y.as_deref()?).ok()?,
        ),
        _ => return None,
    };
    if alg.is_some_and(|a| !family.allows(a)) {
        return None;
    }
    Some(KeyEntry {
        kid: raw.kid,
        family,
        alg,
        key,
    })
}

/// The usable keys of a JWKS document; unusable entries are skipped (and logged), so one odd
/// key does not take the issuer's other keys down with it.
pub(crate) fn parse_jwks(doc: &Value) -> Result<Vec<KeyEntry>, &'static str> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no `keys` array")?;
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        match serde_json::from_value::<RawJwk>(k.clone())
            .ok()
            .and_then(entry)
        {
            Some(e) => out.push(e),
            None => {
                let kid = k.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::debug!(kid, "skipping a JWK that is not a usable signature key");
            }
        }
    }
    Ok(out)
}

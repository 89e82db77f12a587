//! Forged and broken tokens for tests (feature `testing`). Every function here produces a token
//! a correct validator must refuse; none of it belongs in a production build.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A compact JWS from any header, claims and raw signature bytes.
pub fn token_with_header(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64_json(header),
        b64_json(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Unsigned token (`alg: none`, empty signature).
pub fn token_alg_none(claims: &Value) -> String {
    token_with_header(&json!({"alg": "none", "typ": "JWT"}), claims, b"")
}

/// The key-confusion attack: HS256 with the issuer's *public* key (e.g. its PEM bytes) as the
/// HMAC secret, naming the issuer's `kid`.
pub fn token_hs256_with_public_key(claims: &Value, public_key: &[u8], kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(public_key))
        .unwrap_or_else(|_| token_with_header(&json!({"alg": "HS256"}), claims, b"x"))
}

/// Keep a signed token's header and signature but swap in other claims.
pub fn tamper_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.splitn(3, '.');
    let header = parts.next().unwrap_or_default();
    let _ = parts.next();
    let signature = parts.next().unwrap_or_default();
    format!("{header}.{}.{signature}", b64_json(claims))
}

/// Claims with `iss`, `aud`, `sub`, `iat`, `nbf` = now and `exp` = now + `ttl_secs` (negative
/// for an already expired token).
pub fn claims(issuer: &str, audience: &str, sub: &str, ttl_secs: i64) -> Value {
    let now = crate::dev::now_secs() as i64;
    json!({"iss": issuer, "aud": audience, "sub": sub, "iat": now, "nbf": now,
           "exp": now + ttl_secs})
}

/// Strings that are not tokens at all.
pub fn garbage_tokens() -> Vec<String> {
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "eyJhbGciOiJSUzI1NiJ9",
        "e30.e30.",
        "bm90IGpzb24.e30.c2ln",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

//! ES256 keys from a JWKS served by a tiny server, with an explicit JWKS URL.

mod common;

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde_json::json;
use tre_auth::{testing, AuthError, Validator, ValidatorConfig};
use tre_core::domain::principal::TreRole;

const ISSUER: &str = "https://idp.example";

#[tokio::test]
async fn es256_tokens_verify_and_mismatches_fail() {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    let (x, y) = (point.x().unwrap(), point.y().unwrap());
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256", "use": "sig",
         "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)},
        // A symmetric key in the set must never be used to verify anything.
        {"kty": "oct", "kid": "hmac-1", "k": URL_SAFE_NO_PAD.encode(b"shared-secret")},
    ]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/keys", listener.local_addr().unwrap());
    common::serve(
        Router::new().route("/keys", get(move || async move { Json(jwks) })),
        listener,
    )
    .await;

    let mut config = ValidatorConfig::new(ISSUER, common::AUDIENCE);
    config.jwks_url = Some(jwks_url);
    config.min_refresh_interval = Duration::ZERO;
    let v = Validator::new(config).unwrap();

    let der = secret.to_pkcs8_der().unwrap();
    let key = EncodingKey::from_ec_der(der.as_bytes());
    let mut claims = testing::claims(ISSUER, common::AUDIENCE, "ec-user", 300);
    claims["roles"] = json!(["TREUser", "Nonsense"]);
    let sign = |alg: Algorithm, kid: Option<&str>| {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&h, &claims, &key).unwrap()
    };

    let p = v
        .validate(&sign(Algorithm::ES256, Some("ec-1")))
        .await
        .unwrap();
    assert_eq!(
        (p.id.as_str(), p.roles.as_slice()),
        ("ec-user", &[TreRole::TREUser][..])
    );
    // Only one usable key: a missing kid is fine.
    assert!(v.validate(&sign(Algorithm::ES256, None)).await.is_ok());

    // RS256 claimed on an EC key.
    let rs_on_ec =
        testing::token_with_header(&json!({"alg": "RS256", "kid": "ec-1"}), &claims, b"s");
    assert_eq!(
        v.validate(&rs_on_ec).await,
        Err(AuthError::AlgorithmMismatch)
    );
    // The oct key is never loaded, and HS256 is refused outright anyway.
    let hs = testing::token_hs256_with_public_key(&claims, b"shared-secret", Some("hmac-1"));
    assert_eq!(
        v.validate(&hs).await,
        Err(AuthError::UnsupportedAlgorithm("HS256".into()))
    );
    let rs_on_oct =
        testing::token_with_header(&json!({"alg": "RS256", "kid": "hmac-1"}), &claims, b"s");
    assert_eq!(v.validate(&rs_on_oct).await, Err(AuthError::UnknownKeyId));
}

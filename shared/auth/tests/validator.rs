//! The validator against the dev issuer, served over real HTTP.

mod common;

use std::time::Duration;

use common::{config_for, start_issuer, validator, AUDIENCE};
use serde_json::json;
use tre_auth::testing;
use tre_auth::{AuthError, ClaimMapping, DevUser, Validator};
use tre_core::domain::principal::TreRole;

#[tokio::test]
async fn a_valid_token_yields_the_principal() {
    let s = start_issuer().await;
    let v = validator(&s.base);
    let token = s
        .issuer
        .mint(&DevUser::admin(), Duration::from_secs(300))
        .unwrap();
    let p = v.validate(&token).await.unwrap();
    assert_eq!(p.id, "dev-admin");
    assert_eq!(p.name, "Dev Admin");
    assert_eq!(p.email.as_deref(), Some("admin@tre.localhost"));
    assert_eq!(p.roles, vec![TreRole::TREAdmin, TreRole::TREUser]);

    let r = v
        .validate(
            &s.issuer
                .mint(&DevUser::researcher(), Duration::from_secs(60))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.id.as_str(), r.roles.as_slice()),
        ("dev-researcher", &[TreRole::TREUser][..])
    );
}

#[tokio::test]
async fn forged_and_broken_tokens_are_refused_with_their_reason() {
    let s = start_issuer().await;
    let v = validator(&s.base);
    let good = testing::claims(&s.base, AUDIENCE, "dev-admin", 300);
    let sign = |claims: &serde_json::Value| s.issuer.sign_claims(claims).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let now = good["iat"].as_i64().unwrap();

    let cases: Vec<(&str, String, AuthError)> = vec![
        (
            "alg none",
            testing::token_alg_none(&good),
            AuthError::UnsupportedAlgorithm("none".into()),
        ),
        (
            "HS256 keyed with the public key",
            testing::token_hs256_with_public_key(
                &good,
                s.issuer.public_key_pem().as_bytes(),
                Some(&s.issuer.kid()),
            ),
            AuthError::UnsupportedAlgorithm("HS256".into()),
        ),
        (
            "wrong issuer",
            sign(&with("iss", json!("https://evil.example"))),
            AuthError::WrongIssuer,
        ),
        (
            "wrong audience",
            sign(&with("aud", json!(["other-api"]))),
            AuthError::WrongAudience,
        ),
        (
            "expired",
            sign(&with("exp", json!(now - 120))),
            AuthError::Expired,
        ),
        (
            "not yet valid",
            sign(&with("nbf", json!(now + 600))),
            AuthError::NotYetValid,
        ),
        (
            "no exp",
            sign(&{
                let mut c = good.clone();
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
            AuthError::MissingClaim("exp".into()),
        ),
        (
            "tampered payload",
            testing::tamper_payload(&sign(&good), &with("sub", json!("someone-else"))),
            AuthError::InvalidSignature,
        ),
        (
            "unknown kid",
            testing::token_with_header(
                &json!({"alg": "RS256", "kid": "no-such-key"}),
                &good,
                b"sig",
            ),
            AuthError::UnknownKeyId,
        ),
        (
            "ES256 header on an RSA key",
            testing::token_with_header(
                &json!({"alg": "ES256", "kid": s.issuer.kid()}),
                &good,
                b"sig",
            ),
            AuthError::AlgorithmMismatch,
        ),
    ];
    for (what, token, expected) in cases {
        let got = v.validate(&token).await;
        assert_eq!(got, Err(expected), "{what}");
        let message = got.unwrap_err().to_string();
        assert!(
            !message.contains(&token) || token.is_empty(),
            "{what}: message echoes the token"
        );
    }
    for garbage in testing::garbage_tokens() {
        assert!(
            matches!(v.validate(&garbage).await, Err(AuthError::Malformed(_))),
            "garbage {garbage:?}"
        );
    }
    // Within the leeway, a just-expired token still passes.
    assert!(v
        .validate(&sign(&with("exp", json!(now - 5))))
        .await
        .is_ok());
    // aud as a list containing ours is fine.
    assert!(v
        .validate(&sign(&with("aud", json!(["x", AUDIENCE]))))
        .await
        .is_ok());
}

#[tokio::test]
async fn key_rotation_is_picked_up_on_an_unknown_kid() {
    let s = start_issuer().await;
    let v = validator(&s.base);
    let before = s
        .issuer
        .mint(&DevUser::owner(), Duration::from_secs(300))
        .unwrap();
    v.validate(&before).await.unwrap();
    let claims = testing::claims(&s.base, AUDIENCE, "x", 60);
    let no_kid = testing::token_with_header(&json!({"alg": "RS256"}), &claims, b"sig");
    // One published key: a token without kid is checked against it.
    assert_eq!(v.validate(&no_kid).await, Err(AuthError::InvalidSignature));
    let old_kid = s.issuer.kid();
    let new_kid = s.issuer.rotate_key().unwrap();
    assert_ne!(old_kid, new_kid);
    let after = s
        .issuer
        .mint(&DevUser::owner(), Duration::from_secs(300))
        .unwrap();
    assert_eq!(v.validate(&after).await.unwrap().id, "dev-owner");
    // Two published keys: without a kid the key is ambiguous.
    assert_eq!(v.validate(&no_kid).await, Err(AuthError::MissingKeyId));
    // The old key is still published for a while, so its tokens keep working.
    assert!(v.validate(&before).await.is_ok());
    // The new key was persisted: reopening the data directory gives the same kid.
    let reopened = tre_auth::DevIssuer::open(s.issuer.config().clone()).unwrap();
    assert_eq!(reopened.kid(), new_kid);
}

#[tokio::test]
async fn refreshes_are_rate_limited() {
    let s = start_issuer().await;
    let mut config = config_for(&s.base);
    config.min_refresh_interval = Duration::from_secs(30);
    let v = Validator::new(config).unwrap();
    v.validate(
        &s.issuer
            .mint(&DevUser::admin(), Duration::from_secs(60))
            .unwrap(),
    )
    .await
    .unwrap();
    s.issuer.rotate_key().unwrap();
    // The first fetch was just now, so the new kid is not looked up yet.
    let after = s
        .issuer
        .mint(&DevUser::admin(), Duration::from_secs(60))
        .unwrap();
    assert_eq!(v.validate(&after).await, Err(AuthError::UnknownKeyId));
}

#[tokio::test]
async fn keycloak_roles_and_group_mapping() {
    let s = start_issuer().await;
    let mut claims = testing::claims(&s.base, AUDIENCE, "kc-user", 300);
    claims["preferred_username"] = json!("kc");
    claims["realm_access"] = json!({"roles": ["TREAdmin", "offline_access"]});
    claims["groups"] = json!(["/ignored", "tre-users"]);
    let token = s.issuer.sign_claims(&claims).unwrap();

    let mut keycloak = config_for(&s.base);
    keycloak.claims = ClaimMapping {
        roles_claim: "realm_access.roles".into(),
        ..ClaimMapping::default()
    };
    let p = Validator::new(keycloak)
        .unwrap()
        .validate(&token)
        .await
        .unwrap();
    assert_eq!(
        (p.name.as_str(), p.roles.as_slice()),
        ("kc", &[TreRole::TREAdmin][..])
    );

    let mut grouped = config_for(&s.base);
    grouped.claims.group_roles = ClaimMapping::parse_group_roles("tre-users=TREUser").unwrap();
    let p = Validator::new(grouped)
        .unwrap()
        .validate(&token)
        .await
        .unwrap();
    assert_eq!(p.roles, vec![TreRole::TREUser]);

    // Default mapping: no `roles` claim, no groups mapped → no roles.
    assert!(common::validator(&s.base)
        .validate(&token)
        .await
        .unwrap()
        .roles
        .is_empty());
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_server_fault() {
    let v = validator("http://127.0.0.1:9");
    let token = testing::token_with_header(&json!({"alg": "RS256", "kid": "k"}), &json!({}), b"s");
    let err = v.validate(&token).await.unwrap_err();
    assert!(matches!(err, AuthError::KeySource(_)), "{err:?}");
    assert!(err.is_server_fault());
}

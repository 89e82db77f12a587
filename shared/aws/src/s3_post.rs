//! S3 form uploads: a POST policy signed with Signature Version 4, as a browser-based upload
//! to S3 uses. The SDK presigns single requests only, so the policy document is written and
//! signed here (the signing key derivation is the SDK's own).
//!
//! The policy allows any key under one prefix, up to a size, until an expiry; S3 enforces it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;
use tre_core::ports::{PortError, PortResult, PresignedPost};

use crate::errors::backend;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Who signs and where: what a policy needs besides its conditions.
pub(crate) struct Signer {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: String,
}

/// The form fields for uploads to `bucket` under `key_prefix` (the full key prefix, as S3
/// names keys), signed at `now`.
pub(crate) fn policy_fields(
    signer: &Signer,
    bucket: &str,
    key_prefix: &str,
    max_bytes: u64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let date = now.format("%Y%m%d").to_string();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!(
        "{}/{date}/{}/s3/aws4_request",
        signer.access_key_id, signer.region
    );
    let mut conditions = vec![
        json!({ "bucket": bucket }),
        json!(["starts-with", "$key", key_prefix]),
        json!(["content-length-range", 0, max_bytes]),
        json!({ "x-amz-algorithm": ALGORITHM }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": amz_date }),
    ];
    if let Some(token) = &signer.session_token {
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    let policy = json!({
        "expiration": expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": conditions,
    });
    let policy = STANDARD.encode(policy.to_string());
    let key = aws_sigv4::sign::v4::generate_signing_key(
        &signer.secret_access_key,
        SystemTime::from(now),
        &signer.region,
        "s3",
    );
    let signature = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
    let mut fields = BTreeMap::from([
        ("policy".to_string(), policy),
        ("x-amz-algorithm".to_string(), ALGORITHM.to_string()),
        ("x-amz-credential".to_string(), credential),
        ("x-amz-date".to_string(), amz_date),
        ("x-amz-signature".to_string(), signature),
    ]);
    if let Some(token) = &signer.session_token {
        fields.insert("x-amz-security-token".to_string(), token.clone());
    }
    fields
}

/// The bucket's URL as the client resolves it (virtual-hosted or path style, custom endpoint):
/// a pre-signed URL of `probe_key`, less the key's path segments and the query. Presigning
/// sends nothing.
async fn bucket_url(client: &Client, bucket: &str, probe_key: &str) -> PortResult<String> {
    let config = PresigningConfig::expires_in(Duration::from_secs(60))
        .map_err(|e| PortError::Invalid(e.to_string()))?;
    let probe = client
        .get_object()
        .bucket(bucket)
        .key(probe_key)
        .presigned(config)
        .await
        .map_err(|e| backend("presign", e))?;
    let uri = probe.uri();
    let mut url = uri.split('?').next().unwrap_or(uri).to_string();
    for _ in probe_key.split('/') {
        match url.rfind('/') {
            Some(i) => url.truncate(i),
            None => {
                return Err(PortError::Backend(format!(
                    "unexpected presigned URL {uri}"
                )))
            }
        }
    }
    // `https://bucket.s3.region.amazonaws.com` posts to its root.
    if url.matches('/').count() < 3 {
        url.push('/');
    }
    Ok(url)
}

/// Where a form uploads to, and what signs it.
pub(crate) struct Target<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub credentials: &'a SharedCredentialsProvider,
    pub region: &'a str,
}

pub(crate) async fn presign_post(
    target: &Target<'_>,
    key_prefix: &str,
    max_bytes: u64,
    expires_in: Duration,
) -> PortResult<PresignedPost> {
    if expires_in.is_zero() || expires_in > Duration::from_secs(7 * 24 * 60 * 60) {
        return Err(PortError::Invalid(
            "a form upload lives 1 s to 7 days".into(),
        ));
    }
    let creds = target
        .credentials
        .provide_credentials()
        .await
        .map_err(|e| PortError::Backend(format!("credentials to sign a form: {e}")))?;
    let signer = Signer {
        access_key_id: creds.access_key_id().to_string(),
        secret_access_key: creds.secret_access_key().to_string(),
        session_token: creds.session_token().map(str::to_string),
        region: target.region.to_string(),
    };
    let now = Utc::now();
    let expires_at = now
        + chrono::Duration::from_std(expires_in).map_err(|e| PortError::Invalid(e.to_string()))?;
    let url = bucket_url(target.client, target.bucket, &format!("{key_prefix}probe")).await?;
    Ok(PresignedPost {
        url,
        fields: policy_fields(
            &signer,
            target.bucket,
            key_prefix,
            max_bytes,
            now,
            expires_at,
        ),
        key_prefix: key_prefix.to_string(),
        max_bytes,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing key derivation, against the example in AWS's Signature Version 4 guide.
    #[test]
    fn the_signing_key_matches_the_aws_example() {
        let at = DateTime::parse_from_rfc3339("2012-02-15T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let key = aws_sigv4::sign::v4::generate_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            SystemTime::from(at),
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(key.as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// The form's target is the bucket's URL however the client addresses it, and its key
    /// prefix is the store's full prefix.
    #[tokio::test]
    async fn the_form_posts_to_the_bucket_as_the_client_addresses_it() {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let credentials = SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ));
        let conf = |path_style: bool| {
            let mut b = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("eu-west-2"))
                .credentials_provider(credentials.clone())
                .force_path_style(path_style);
            if path_style {
                b = b.endpoint_url("http://127.0.0.1:9000");
            }
            Client::from_conf(b.build())
        };
        for (path_style, want) in [
            (false, "https://tre-stage.s3.eu-west-2.amazonaws.com/"),
            (true, "http://127.0.0.1:9000/tre-stage"),
        ] {
            let client = conf(path_style);
            let target = Target {
                client: &client,
                bucket: "tre-stage",
                credentials: &credentials,
                region: "eu-west-2",
            };
            let post = presign_post(&target, "stage/ws 1/rq/", 100, Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(post.url, want);
            assert_eq!(post.key_prefix, "stage/ws 1/rq/");
            assert_eq!(post.fields["x-amz-algorithm"], ALGORITHM);
            assert!(!post.fields.contains_key("x-amz-security-token"));
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn the_policy_limits_prefix_size_and_time_and_is_signed() {
        let signer = Signer {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
            region: "eu-west-2".into(),
        };
        let now = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let later = now + chrono::Duration::hours(1);
        let f = policy_fields(&signer, "stage-bucket", "ws/rq/", 10, now, later);
        assert_eq!(f["x-amz-date"], "20260102T030405Z");
        assert_eq!(
            f["x-amz-credential"],
            "AKIDEXAMPLE/20260102/eu-west-2/s3/aws4_request"
        );
        assert_eq!(f["x-amz-security-token"], "token");
        let doc: serde_json::Value = STANDARD
            .decode(&f["policy"])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        assert_eq!(doc["expiration"], "2026-01-02T04:04:05.000Z");
        let conditions = doc["conditions"].as_array().cloned().unwrap_or_default();
        for c in [
            json!({"bucket": "stage-bucket"}),
            json!(["starts-with", "$key", "ws/rq/"]),
            json!(["content-length-range", 0, 10]),
            json!({"x-amz-security-token": "token"}),
        ] {
            assert!(conditions.contains(&c), "{c} missing from {doc}");
        }
        // The signature is HMAC-SHA256 of the base64 policy under the derived key.
        let key = aws_sigv4::sign::v4::generate_signing_key(
            "secret",
            SystemTime::from(now),
            "eu-west-2",
            "s3",
        );
        assert_eq!(
            f["x-amz-signature"],
            aws_sigv4::sign::v4::calculate_signature(key, f["policy"].as_bytes())
        );
    }
}

//! A small OCI Distribution client: push (monolithic uploads) and pull by digest, with the
//! registry token flow (`WWW-Authenticate: Bearer realm=...`) using the TRE token as password.

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::{BundleArtifact, BundleError, Reference, OCI_MANIFEST_MEDIA_TYPE};

pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    /// The TRE token, exchanged for a registry token when the registry asks for one.
    credential: Option<String>,
    bearer: TokenSlot,
}

/// The current registry token, shared by the client's requests.
#[derive(Default)]
struct TokenSlot(std::sync::Mutex<Option<String>>);

impl TokenSlot {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
    fn set(&self, v: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(v);
        }
    }
}

fn reg_err(what: &str, e: impl std::fmt::Display) -> BundleError {
    BundleError::Registry(format!("{what}: {e}"))
}

/// Parse `Bearer realm="...",service="...",scope="..."`.
/// `Bearer realm="...",service="...",scope="repository:x:pull,push"`: quoted values may hold
/// commas. Only `service` and `scope` go on to the realm (not `error`).
pub(crate) fn parse_challenge(h: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut rest = h.strip_prefix("Bearer ")?.trim();
    let mut realm = None;
    let mut params = Vec::new();
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match k.trim() {
            "realm" => realm = Some(v.to_string()),
            key @ ("service" | "scope") => params.push((key.to_string(), v.to_string())),
            _ => {}
        }
        rest = next.trim_start_matches(',').trim();
    }
    Some((realm?, params))
}

impl RegistryClient {
    pub fn new(base: &str, credential: Option<String>) -> Result<Self, BundleError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("tre-bundle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| reg_err("client", e))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            credential,
            bearer: Default::default(),
        })
    }

    /// A client that already holds a registry token (a task given one for its bundle's
    /// repository): it is sent from the first request, and there is no TRE credential to
    /// exchange for another.
    pub fn with_registry_token(base: &str, token: String) -> Result<Self, BundleError> {
        let client = Self::new(base, None)?;
        client.bearer.set(token);
        Ok(client)
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(Vec<u8>, &str)>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, BundleError> {
        for attempt in 0..2 {
            let mut req = self.http.request(method.clone(), url);
            if let Some((bytes, ct)) = &body {
                req = req.header(header::CONTENT_TYPE, *ct).body(bytes.clone());
            }
            if let Some(a) = accept {
                req = req.header(header::ACCEPT, a);
            }
            if let Some(t) = self.bearer.get() {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.map_err(|e| reg_err(url, e))?;
            // 401: no or a bad token; 403 with a challenge: the token lacks this scope (RFC
            // 6750). Either way, one new token for the scope the challenge names.
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let retry = match resp.status() {
                StatusCode::UNAUTHORIZED => true,
                StatusCode::FORBIDDEN => challenge.is_some(),
                _ => false,
            };
            if !retry || attempt == 1 {
                return Ok(resp);
            }
            let challenge =
                challenge.ok_or_else(|| reg_err(url, "401 without a Bearer challenge"))?;
            self.fetch_token(challenge).await?;
        }
        Err(reg_err(url, "unauthorized"))
    }

    async fn fetch_token(
        &self,
        (realm, params): (String, Vec<(String, String)>),
    ) -> Result<(), BundleError> {
        let mut req = self.http.get(&realm).query(&params);
        if let Some(c) = &self.credential {
            req = req.basic_auth("tre", Some(c));
        }
        let resp = req.send().await.map_err(|e| reg_err("token", e))?;
        if !resp.status().is_success() {
            return Err(reg_err(
                "token",
                format!("the registry refused the credential ({})", resp.status()),
            ));
        }
        let v: Value = resp.json().await.map_err(|e| reg_err("token", e))?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| reg_err("token", "no token in the answer"))?;
        self.bearer.set(token.to_string());
        Ok(())
    }

    async fn push_blob(&self, repo: &str, digest: &str, bytes: &[u8]) -> Result<(), BundleError> {
        let head = self
            .send(
                Method::HEAD,
                &format!("{}/v2/{repo}/blobs/{digest}", self.base),
                None,
                None,
            )
            .await?;
        if head.status().is_success() {
            return Ok(());
        }
        let start = self
            .send(
                Method::POST,
                &format!("{}/v2/{repo}/blobs/uploads/", self.base),
                None,
                None,
            )
            .await?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(reg_err("start upload", start.status()));
        }
        let location = start
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| reg_err("start upload", "no Location"))?;
        let mut url = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let put = self
            .send(
                Method::PUT,
                &url,
                Some((bytes.to_vec(), "application/octet-stream")),
                None,
            )
            .await?;
        if put.status() != StatusCode::CREATED {
            let status = put.status();
            let text = put.text().await.unwrap_or_default();
            return Err(reg_err("upload", format!("{status} {text}")));
        }
        Ok(())
    }

    /// Push the artifact and tag it; returns the manifest digest.
    pub async fn push(
        &self,
        repo: &str,
        tag: &str,
        artifact: &BundleArtifact,
    ) -> Result<String, BundleError> {
        self.push_blob(repo, &artifact.config.digest, &artifact.config.bytes)
            .await?;
        self.push_blob(repo, &artifact.layer.digest, &artifact.layer.bytes)
            .await?;
        let resp = self
            .send(
                Method::PUT,
                &format!("{}/v2/{repo}/manifests/{tag}", self.base),
                Some((artifact.oci_manifest.clone(), OCI_MANIFEST_MEDIA_TYPE)),
                None,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            let status = resp.status();
            return Err(reg_err(
                "manifest",
                format!("{status} {}", resp.text().await.unwrap_or_default()),
            ));
        }
        Ok(artifact.digest.clone())
    }

    async fn get_bytes(&self, url: &str, accept: Option<&str>) -> Result<Vec<u8>, BundleError> {
        let resp = self.send(Method::GET, url, None, accept).await?;
        if !resp.status().is_success() {
            return Err(reg_err(url, resp.status()));
        }
        Ok(resp.bytes().await.map_err(|e| reg_err(url, e))?.to_vec())
    }

    /// Fetch and verify a bundle (by digest, or by tag — then the digest is what the tag names now).
    pub async fn pull(
        &self,
        repo: &str,
        reference: &Reference,
    ) -> Result<BundleArtifact, BundleError> {
        let r = match reference {
            Reference::Digest(d) | Reference::Tag(d) => d,
        };
        let manifest = self
            .get_bytes(
                &format!("{}/v2/{repo}/manifests/{r}", self.base),
                Some(OCI_MANIFEST_MEDIA_TYPE),
            )
            .await?;
        let oci: Value = serde_json::from_slice(&manifest)
            .map_err(|e| BundleError::NotABundle(e.to_string()))?;
        let blob = |d: &Value| {
            format!(
                "{}/v2/{repo}/blobs/{}",
                self.base,
                d.as_str().unwrap_or_default()
            )
        };
        let config = self
            .get_bytes(&blob(&oci["config"]["digest"]), None)
            .await?;
        let layer = self
            .get_bytes(&blob(&oci["layers"][0]["digest"]), None)
            .await?;
        let expected = match reference {
            Reference::Digest(d) => Some(d.as_str()),
            Reference::Tag(_) => None,
        };
        BundleArtifact::verify(manifest, expected, config, layer)
    }
}

#[cfg(test)]
mod challenge_tests {
    #[test]
    fn quoted_values_keep_their_commas() {
        let (realm, params) = super::parse_challenge(
            r#"Bearer realm="https://tre/api/registry/token",service="tre-registry",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(realm, "https://tre/api/registry/token");
        assert_eq!(
            params,
            vec![
                ("service".to_string(), "tre-registry".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string())
            ]
        );
    }
}

//! The registry's token flow: anonymous access is refused with a challenge naming the realm,
//! the service and the scope; a token allows exactly the actions it names; forged or foreign
//! tokens are refused; mounting needs the right to read the source, and its challenge names
//! it. How clients that keep tokens behave (the conformance suite refreshes on 401 only, oras-py
//! on 403 only) is emulated here over every flow; the real clients run in tests/tests.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use tre_auth::registry_token::{Access, RegistryTokenKey};

fn token(key: &RegistryTokenKey, scopes: &[&str]) -> String {
    let access = scopes
        .iter()
        .map(|s| Access::parse_scope(s).expect("scope"))
        .collect();
    key.issue("tester", access, Duration::from_secs(60))
        .expect("token")
}

struct Reg {
    base: String,
    key: RegistryTokenKey,
    s: Server,
}

fn reg(s: Server) -> Reg {
    let (key, _) = s.tokens.clone().expect("token auth");
    Reg {
        base: s.base.clone(),
        key,
        s,
    }
}

async fn anonymous_access_is_refused_with_a_challenge(s: Server) {
    let r = reg(s);
    let resp = reqwest::get(format!("{}/v2/team/app/tags/list", r.base))
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(
        challenge.starts_with(&format!("Bearer realm=\"{}/token\"", r.base)),
        "{challenge}"
    );
    assert!(
        challenge.contains("service=\"tre-registry\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"repository:team/app:pull\""),
        "{challenge}"
    );
    let base = reqwest::get(format!("{}/v2/", r.base)).await.expect("get");
    assert_eq!(base.status(), StatusCode::UNAUTHORIZED);
}

/// RFC 6750 3.1: a good token without the action its repository needs is 403 with
/// `error="insufficient_scope"` and the scope; a missing or bad one is 401.
async fn a_token_allows_exactly_what_it_names(s: Server) {
    let r = reg(s);
    let http = reqwest::Client::new();
    let data = b"layer";
    let d = digest(data);
    let push = token(&r.key, &["repository:team/app:pull,push"]);
    let pull = token(&r.key, &["repository:team/app:pull"]);
    let url = format!("{}/v2/team/app/blobs/uploads/?digest={d}", r.base);
    let refused = http
        .post(&url)
        .bearer_auth(&pull)
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    // A valid token without the scope: 403, and the challenge names the scope to ask for.
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let challenge = refused.headers()["www-authenticate"].to_str().expect("h");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(
        challenge.contains("scope=\"repository:team/app:pull,push\""),
        "{challenge}"
    );
    let ok = http
        .post(&url)
        .bearer_auth(&push)
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::CREATED);
    let get = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::OK);
    // Another repository, a forged token, a token for another service: refused.
    let other = http
        .get(format!("{}/v2/team/other/blobs/{d}", r.base))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let forged = token(
        &RegistryTokenKey::new(vec![1u8; 32], "tre-registry").expect("key"),
        &["repository:team/app:pull"],
    );
    let r1 = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&forged)
        .send()
        .await
        .expect("get");
    assert_eq!(r1.status(), StatusCode::UNAUTHORIZED);
    assert!(r1.headers()["www-authenticate"]
        .to_str()
        .expect("h")
        .contains("invalid_token"));
    let foreign = token(
        &RegistryTokenKey::new(vec![9u8; 32], "elsewhere").expect("key"),
        &["repository:team/app:pull"],
    );
    let r2 = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&foreign)
        .send()
        .await
        .expect("get");
    assert_eq!(r2.status(), StatusCode::UNAUTHORIZED);
    // Deleting needs `delete`.
    let del = http
        .delete(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&push)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), StatusCode::FORBIDDEN);
}

/// distribution-spec, mounting a blob from another repository: mounting reads the source, so
/// its challenge names `repository:<source>:pull` beside the target's scope (a token that says
/// nothing of the source is answered 401 with both, as Distribution does); a token the realm
/// refused the source's pull (it names the source with no action) opens an ordinary upload.
async fn a_mount_needs_the_right_to_read_the_source_and_its_challenge_names_it(s: Server) {
    let r = reg(s);
    let http = reqwest::Client::new();
    let d = digest(b"secret layer");
    let owner = token(&r.key, &["repository:private/src:pull,push"]);
    http.post(format!(
        "{}/v2/private/src/blobs/uploads/?digest={d}",
        r.base
    ))
    .bearer_auth(&owner)
    .body(b"secret layer".to_vec())
    .send()
    .await
    .expect("push");
    let url = format!(
        "{}/v2/team/app/blobs/uploads/?mount={d}&from=private/src",
        r.base
    );
    let both = "scope=\"repository:team/app:pull,push repository:private/src:pull\"";
    let anon = http.post(&url).send().await.expect("mount");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let c = anon.headers()["www-authenticate"].to_str().expect("h");
    assert!(c.contains(both), "{c}");
    // A token for the target only: asked again, with both scopes.
    let target_only = token(&r.key, &["repository:team/app:pull,push"]);
    let m = http
        .post(&url)
        .bearer_auth(&target_only)
        .send()
        .await
        .expect("mount");
    assert_eq!(m.status(), StatusCode::UNAUTHORIZED);
    let c = m.headers()["www-authenticate"].to_str().expect("h");
    assert!(c.contains(both) && c.contains("insufficient_scope"), "{c}");
    // What the realm gives a user who may not read the source: no mount, an upload instead.
    let refused = grant(
        &r.key,
        "owner",
        &["repository:team/app:pull,push repository:private/src:pull"],
    );
    let m = http
        .post(&url)
        .bearer_auth(&refused)
        .send()
        .await
        .expect("mount");
    assert_eq!(m.status(), StatusCode::ACCEPTED);
    let get = http
        .get(format!("{}/v2/team/app/blobs/{d}", r.base))
        .bearer_auth(&refused)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    // And to one who may: mounted.
    let allowed = grant(
        &r.key,
        "admin",
        &["repository:team/app:pull,push repository:private/src:pull"],
    );
    let m = http
        .post(&url)
        .bearer_auth(&allowed)
        .send()
        .await
        .expect("mount");
    assert_eq!(m.status(), StatusCode::CREATED);
    let _ = &r.s;
}

/// How a client that keeps tokens reacts to a refusal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refresh {
    /// The conformance suite (and containerd, go-containerregistry): a token per repository
    /// and kind of request (pull, push, delete), asked again from the challenge on 401 only.
    On401,
    /// oras-py: one token for everything; on 401 or 403 the same token is sent again, and on
    /// a second 403 a new one is asked for the challenge's scope.
    On403,
}

struct Client {
    http: reqwest::Client,
    user: &'static str,
    how: Refresh,
    tokens: HashMap<String, String>,
}

fn challenge_param(c: &str, name: &str) -> Option<String> {
    let at = c.find(&format!("{name}=\""))? + name.len() + 2;
    Some(c[at..].split('"').next()?.to_string())
}

impl Client {
    fn new(user: &'static str, how: Refresh) -> Self {
        Self {
            http: reqwest::Client::new(),
            user,
            how,
            tokens: HashMap::new(),
        }
    }

    fn cache_key(&self, method: &str, path: &str) -> String {
        match self.how {
            Refresh::On403 => "one".into(),
            Refresh::On401 => {
                let repo = path
                    .trim_start_matches("/v2/")
                    .split("/blobs/")
                    .next()
                    .and_then(|p| p.split("/manifests/").next())
                    .unwrap_or_default()
                    .to_string();
                let kind = match method {
                    "GET" | "HEAD" => "pull",
                    "DELETE" => "delete",
                    _ => "push",
                };
                format!("{repo}:{kind}")
            }
        }
    }

    async fn fetch_token(&mut self, key: &str, resp: &reqwest::Response) -> bool {
        let Some(c) = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (Some(realm), Some(service)) =
            (challenge_param(c, "realm"), challenge_param(c, "service"))
        else {
            return false;
        };
        let mut q = vec![("service", service)];
        if let Some(scope) = challenge_param(c, "scope") {
            q.push(("scope", scope));
        }
        let got = self
            .http
            .get(realm)
            .query(&q)
            .basic_auth(self.user, Some("secret"))
            .send()
            .await
            .expect("realm");
        let v: serde_json::Value = got.json().await.expect("json");
        self.tokens.insert(
            key.to_string(),
            v["token"].as_str().expect("token").to_string(),
        );
        true
    }

    async fn send_once(
        &self,
        key: &str,
        method: &str,
        url: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().expect("method"), url)
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(t) = self.tokens.get(key) {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("send")
    }

    async fn send(
        &mut self,
        base: &str,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> reqwest::Response {
        let key = self.cache_key(method, path);
        let url = format!("{base}{path}");
        let r = self.send_once(&key, method, &url, body, headers).await;
        match (self.how, r.status().as_u16()) {
            (Refresh::On401, 401) => {
                if !self.fetch_token(&key, &r).await {
                    return r;
                }
                self.send_once(&key, method, &url, body, headers).await
            }
            (Refresh::On403, 401 | 403) => {
                let had = self.tokens.contains_key(&key);
                if !had && !self.fetch_token(&key, &r).await {
                    return r;
                }
                let again = self.send_once(&key, method, &url, body, headers).await;
                if again.status() == StatusCode::FORBIDDEN && self.fetch_token(&key, &again).await {
                    return self.send_once(&key, method, &url, body, headers).await;
                }
                again
            }
            _ => r,
        }
    }
}

/// Every flow a client makes, as `user` through a client that refreshes its tokens `how`:
/// existence checks then pushes (whole, chunked with a status check, a mount), pulls, a
/// cancelled upload, deleting a manifest; returns the statuses of the final steps.
async fn flows(base: &str, user: &'static str, how: Refresh) -> Vec<(String, u16)> {
    let mut c = Client::new(user, how);
    let mut out = Vec::new();
    let data = format!("layer of {user} {how:?}").into_bytes();
    let d = digest(&data);
    let mut note =
        |what: &str, r: &reqwest::Response| out.push((what.to_string(), r.status().as_u16()));
    let h = c
        .send(base, "HEAD", &format!("/v2/team/src/blobs/{d}"), b"", &[])
        .await;
    note("exists", &h);
    let r = c
        .send(
            base,
            "POST",
            &format!("/v2/team/src/blobs/uploads/?digest={d}"),
            &data,
            &[],
        )
        .await;
    note("push whole", &r);
    let r = c
        .send(base, "POST", "/v2/team/app/blobs/uploads/", b"", &[])
        .await;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    note("start chunked", &r);
    let r = c
        .send(
            base,
            "PATCH",
            &location,
            &data,
            &[("content-range", format!("0-{}", data.len() - 1))],
        )
        .await;
    note("chunk", &r);
    let r = c.send(base, "GET", &location, b"", &[]).await;
    note("upload status", &r);
    let r = c
        .send(base, "PUT", &format!("{location}?digest={d}"), b"", &[])
        .await;
    note("close chunked", &r);
    let r = c
        .send(
            base,
            "POST",
            &format!("/v2/team/other/blobs/uploads/?mount={d}&from=team/src"),
            b"",
            &[],
        )
        .await;
    note("mount", &r);
    let r = c
        .send(base, "GET", &format!("/v2/team/other/blobs/{d}"), b"", &[])
        .await;
    note("pull mounted", &r);
    let config = b"{}".to_vec();
    let cd = digest(&config);
    let r = c
        .send(
            base,
            "POST",
            &format!("/v2/team/app/blobs/uploads/?digest={cd}"),
            &config,
            &[],
        )
        .await;
    note("push config", &r);
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": data.len()}]});
    let mb = serde_json::to_vec(&m).expect("json");
    let r = c
        .send(
            base,
            "PUT",
            "/v2/team/app/manifests/v1",
            &mb,
            &[("content-type", OCI_MANIFEST.to_string())],
        )
        .await;
    note("push manifest", &r);
    let r = c
        .send(base, "GET", "/v2/team/app/manifests/v1", b"", &[])
        .await;
    note("pull manifest", &r);
    let r = c
        .send(base, "GET", "/v2/public/elsewhere/tags/list", b"", &[])
        .await;
    note("another repository", &r);
    let r = c
        .send(base, "POST", "/v2/team/app/blobs/uploads/", b"", &[])
        .await;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let r = c.send(base, "DELETE", &location, b"", &[]).await;
    note("cancel", &r);
    let r = c
        .send(
            base,
            "DELETE",
            &format!("/v2/team/app/manifests/{}", digest(&mb)),
            b"",
            &[],
        )
        .await;
    note("delete manifest", &r);
    out
}

/// The conformance suite's way (refresh on 401) and oras-py's (refresh on 403) both complete
/// every flow an admin makes; a user allowed to push `team/...` but not to delete gets
/// everything but the deletes, each refused cleanly (403), whichever the client.
async fn clients_that_refresh_on_401_and_clients_that_refresh_on_403_complete_every_flow(
    s: Server,
) {
    let r = reg(s);
    for how in [Refresh::On401, Refresh::On403] {
        let got = flows(&r.base, "admin", how).await;
        let want = [
            ("exists", 404),
            ("push whole", 201),
            ("start chunked", 202),
            ("chunk", 202),
            ("upload status", 204),
            ("close chunked", 201),
            ("mount", 201),
            ("pull mounted", 200),
            ("push config", 201),
            ("push manifest", 201),
            ("pull manifest", 200),
            ("another repository", 404),
            ("cancel", 204),
            ("delete manifest", 202),
        ];
        let want: Vec<(String, u16)> = want.iter().map(|(w, c)| (w.to_string(), *c)).collect();
        assert_eq!(got, want, "{how:?}");
    }
    for how in [Refresh::On401, Refresh::On403] {
        let got: HashMap<String, u16> = flows(&r.base, "owner", how).await.into_iter().collect();
        assert_eq!(got["push whole"], 201, "{how:?}");
        assert_eq!(got["mount"], 201, "{how:?}");
        assert_eq!(got["push manifest"], 201, "{how:?}");
        assert_eq!(got["cancel"], 403, "{how:?}");
        assert_eq!(got["delete manifest"], 403, "{how:?}");
    }
}

on_both_stores!(@tokens
    anonymous_access_is_refused_with_a_challenge,
    a_token_allows_exactly_what_it_names,
    a_mount_needs_the_right_to_read_the_source_and_its_challenge_names_it,
    clients_that_refresh_on_401_and_clients_that_refresh_on_403_complete_every_flow,
);

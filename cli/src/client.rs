//! A small HTTP client for the TRE API that turns problem responses into readable errors.

use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// Items per page asked of lists (`page_size`); the API's default when `None`.
    page_size: Option<u32>,
}

/// A successful response: etag and JSON body (null when empty).
pub struct Reply {
    pub etag: Option<String>,
    pub body: Value,
    /// False for a 404 asked to be taken as an answer ([`ApiClient::get_if_found`]).
    pub found: bool,
    /// The next page of a list (`Link: <...>; rel="next"`).
    pub next: Option<String>,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("tre-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
            page_size: None,
        })
    }

    pub fn with_page_size(mut self, page_size: Option<u32>) -> Self {
        self.page_size = page_size;
        self
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> anyhow::Result<Reply> {
        self.send(method, path, body, if_match, false).await
    }

    /// GET, with a 404 as `None` rather than an error (an operation whose resource was deleted).
    pub async fn get_if_found(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let r = self.send(Method::GET, path, None, None, true).await?;
        Ok(r.found.then_some(r.body))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        missing_ok: bool,
    ) -> anyhow::Result<Reply> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(e) = if_match {
            req = req.header("If-Match", e);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("could not reach the TRE API at {}", self.base))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND && missing_ok {
            return Ok(Reply {
                etag: None,
                body: Value::Null,
                found: false,
                next: None,
            });
        }
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let text = resp.text().await?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let detail = body
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string());
            let mut msg = format!("{method} {path}: {status}: {detail}");
            if let Some(errors) = body.get("errors").and_then(Value::as_array) {
                for e in errors.iter().filter_map(Value::as_str) {
                    msg.push_str(&format!("\n  - {e}"));
                }
            }
            if status == StatusCode::UNAUTHORIZED {
                msg.push_str("\n(set TRE_TOKEN or pass --token; `tre dev` prints tokens for its sample users)");
            }
            return Err(anyhow!(msg));
        }
        Ok(Reply {
            etag,
            body,
            found: true,
            next,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.call(Method::GET, path, None, None).await?.body)
    }

    /// GET a list and every page after it (each names the next in `nextLink`, or in a `Link`
    /// header when the list is a bare array), as one answer.
    pub async fn get_all(&self, path: &str) -> anyhow::Result<Value> {
        // Each `nextLink` keeps the query of the first request, `page_size` included.
        let path = match self.page_size {
            Some(n) if path.contains('?') => format!("{path}&page_size={n}"),
            Some(n) => format!("{path}?page_size={n}"),
            None => path.to_string(),
        };
        let first = self.call(Method::GET, &path, None, None).await?;
        let mut next = first
            .body
            .get("nextLink")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(first.next);
        let mut all = first.body;
        while let Some(link) = next.take() {
            let page = self.call(Method::GET, &link, None, None).await?;
            next = page
                .body
                .get("nextLink")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(page.next);
            match (&mut all, page.body) {
                (Value::Array(a), Value::Array(b)) => a.extend(b),
                (Value::Object(a), Value::Object(b)) => {
                    for (k, v) in b {
                        if let (Some(Value::Array(have)), Value::Array(more)) = (a.get_mut(&k), v) {
                            have.extend(more);
                        }
                    }
                }
                _ => bail!("GET {link}: a page of another shape than the first"),
            }
        }
        if let Some(o) = all.as_object_mut() {
            o.remove("nextLink");
        }
        Ok(all)
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288).
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""))
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// Parse `key=value` parameters: the value is JSON when it parses as JSON, a string otherwise.
pub fn parse_params(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("parameter `{pair}` must look like key=value");
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

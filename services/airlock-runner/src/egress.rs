//! The guard on every connection a data source import makes (HTTPS, PostgreSQL, an S3
//! endpoint). The source's address comes from a TRE admin, so it must not become a way into
//! what the runner can reach and the internet cannot: its own loopback, the task's credentials
//! endpoint (169.254.170.2 in Fargate), the VPC. A destination is resolved once, each address
//! is checked against the deployment's allowed networks ([`AllowedNetworks`]; otherwise only
//! globally routable addresses), and the connection goes to the addresses that passed: the
//! check is made inside the clients' own name resolution, so there is no second look-up for a
//! rebinding name server to answer differently. Redirects are followed only to https and are
//! checked like the first request. Proxies from the environment are not used: the guard checks
//! the destination itself.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tre_core::domain::datasource::{canonical, is_localhost, AllowedNetworks, Forbidden};

/// The allowed networks, a comma-separated list of CIDR networks (`127.0.0.0/8,::1/128`);
/// unset or empty for none.
pub const ENV_ALLOWED_NETWORKS: &str = "TRE_DATASOURCE_ALLOWED_NETWORKS";

/// Redirects one fetch follows at most.
pub const MAX_REDIRECTS: usize = 5;

/// Why the guard stopped a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Address(Forbidden),
    #[error("`{host}` resolves only to refused addresses: {reason}")]
    Resolved { host: String, reason: Forbidden },
    #[error("`{host}` is this machine, which data sources may not reach unless the allowed networks include loopback")]
    ThisMachine { host: String },
    #[error("`{url}` is unencrypted: plain http is only for addresses in the allowed networks, named by address")]
    Unencrypted { url: String },
    #[error("`{url}` is neither https nor http")]
    Scheme { url: String },
    #[error("the redirect to `{url}` is not followed: redirects are followed only to https")]
    RedirectNotHttps { url: String },
    #[error("the redirect to `{url}` is not followed: {reason}")]
    Redirect { url: String, reason: Box<Refused> },
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

/// A connection that could not be made: refused, or its name not resolved.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("resolving `{host}`: {source}")]
    Lookup {
        host: String,
        source: std::io::Error,
    },
}

/// Name resolution (the system's resolver; tests map names of their own).
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The guard, shared by the clients of one import.
#[derive(Clone)]
pub struct Egress {
    networks: Arc<AllowedNetworks>,
    lookup: Arc<dyn Lookup>,
    /// The last refusal, for clients whose errors do not carry their cause (the AWS SDK's
    /// dispatch failures are reported as text by the S3 adapter).
    last: Arc<Mutex<Option<Refused>>>,
}

impl Egress {
    pub fn new(networks: AllowedNetworks) -> Self {
        Self {
            networks: Arc::new(networks),
            lookup: Arc::new(SystemLookup),
            last: Arc::default(),
        }
    }

    pub fn with_lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.lookup = lookup;
        self
    }

    pub fn networks(&self) -> &AllowedNetworks {
        &self.networks
    }

    fn refuse(&self, r: Refused) -> Refused {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(r.clone());
        }
        r
    }

    /// The refusal that ended the last failed connection, if one did (and forget it).
    pub fn take_refusal(&self) -> Option<Refused> {
        self.last.lock().ok().and_then(|mut l| l.take())
    }

    /// A failure's reason as the source's status shows it: a refusal names the setting that
    /// would allow the destination.
    pub fn describe(&self, what: &str, refused: &Refused) -> String {
        let current = if self.networks.is_empty() {
            "empty".to_string()
        } else {
            format!("`{}`", self.networks)
        };
        format!("{what}: refused: {refused} ({ENV_ALLOWED_NETWORKS} is {current})")
    }

    /// What can be told from a URL before connecting: its scheme, and a literal address
    /// (connectors skip name resolution for those, so they are checked here). A name is checked
    /// when it is resolved; over plain http only `localhost` may be named (its addresses are
    /// loopback, which must be allowed).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let encrypted = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => {
                return Err(self.refuse(Refused::Scheme {
                    url: url.to_string(),
                }))
            }
        };
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(d)) if encrypted || is_localhost(d) => return Ok(()),
            _ => {
                return Err(self.refuse(Refused::Unencrypted {
                    url: url.to_string(),
                }))
            }
        };
        self.networks
            .check(ip, encrypted)
            .map_err(|f| self.refuse(Refused::Address(f)))
    }

    /// A redirect's target: https only, then as any URL.
    fn check_redirect(&self, url: &url::Url) -> Result<(), Refused> {
        if url.scheme() != "https" {
            return Err(self.refuse(Refused::RedirectNotHttps {
                url: url.to_string(),
            }));
        }
        self.check_url(url).map_err(|reason| {
            self.refuse(Refused::Redirect {
                url: url.to_string(),
                reason: Box::new(reason),
            })
        })
    }

    /// Resolve `host` and keep the addresses that may be reached (encrypted connections: the
    /// allowed networks and global addresses; unencrypted: the allowed networks only). None
    /// left is a refusal naming the first address's reason.
    pub async fn resolve(&self, host: &str, encrypted: bool) -> Result<Vec<IpAddr>, EgressError> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            self.networks
                .check(ip, encrypted)
                .map_err(|f| self.refuse(Refused::Address(f)))?;
            return Ok(vec![ip]);
        }
        let found = self
            .lookup
            .lookup(host)
            .await
            .map_err(|source| EgressError::Lookup {
                host: host.to_string(),
                source,
            })?;
        let mut first_refusal = None;
        let mut allowed = Vec::new();
        for ip in found {
            match self.networks.check(ip, encrypted) {
                Ok(()) if !allowed.contains(&ip) => allowed.push(ip),
                Ok(()) => {}
                Err(f) => {
                    first_refusal.get_or_insert(f);
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(reason)) => Err(self
                .refuse(Refused::Resolved {
                    host: host.to_string(),
                    reason,
                })
                .into()),
            (true, None) => Err(EgressError::Lookup {
                host: host.to_string(),
                source: std::io::Error::other("no addresses"),
            }),
        }
    }

    /// A Unix socket is this machine: only where loopback is allowed.
    pub fn check_this_machine(&self, host: &str) -> Result<(), Refused> {
        if self.networks.allows_this_machine() {
            Ok(())
        } else {
            Err(self.refuse(Refused::ThisMachine {
                host: host.to_string(),
            }))
        }
    }

    /// An HTTP client builder with the guard in place (name resolution, redirects, no
    /// proxies); the caller adds what else it needs. Each URL it is sent to must pass
    /// [`Egress::check_url`] first.
    pub fn http_client(&self) -> reqwest::ClientBuilder {
        let redirects = self.clone();
        reqwest::Client::builder()
            .dns_resolver(Arc::new(ReqwestResolver(self.clone())))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    let r = redirects.refuse(Refused::TooManyRedirects);
                    return attempt.error(r);
                }
                match redirects.check_redirect(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(r) => attempt.error(r),
                }
            }))
    }

    /// The HTTP client for an S3 source's SDK client: names resolved through the guard.
    pub fn s3_http_client(&self) -> aws_sdk_s3::config::SharedHttpClient {
        use aws_smithy_http_client::tls;
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_with_resolver(SdkResolver(self.clone()))
    }

    /// Checks each request's final URL (after the endpoint is applied) as [`Egress::check_url`].
    pub fn s3_interceptor(&self) -> impl aws_sdk_s3::config::Intercept + 'static {
        SdkUrlCheck(self.clone())
    }
}

/// Whether every address is loopback (a plain PostgreSQL connection stays on this machine).
pub fn all_loopback(addrs: &[IpAddr]) -> bool {
    addrs.iter().all(|ip| canonical(*ip).is_loopback())
}

struct ReqwestResolver(Egress);

impl reqwest::dns::Resolve for ReqwestResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        Box::pin(async move {
            let addrs = egress.resolve(name.as_str(), true).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[derive(Clone)]
struct SdkResolver(Egress);

impl std::fmt::Debug for SdkResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkResolver")
    }
}

impl aws_smithy_runtime_api::client::dns::ResolveDns for SdkResolver {
    fn resolve_dns<'a>(
        &'a self,
        name: &'a str,
    ) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDnsError};
        DnsFuture::new(async move {
            self.0
                .resolve(name, true)
                .await
                .map_err(ResolveDnsError::new)
        })
    }
}

#[derive(Debug)]
struct SdkUrlCheck(Egress);

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("networks", &self.networks.to_string())
            .finish_non_exhaustive()
    }
}

impl aws_sdk_s3::config::Intercept for SdkUrlCheck {
    fn name(&self) -> &'static str {
        "DataSourceEgress"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let uri = context.request().uri();
        let url = url::Url::parse(uri).map_err(|e| format!("request URL `{uri}`: {e}"))?;
        self.0.check_url(&url)?;
        Ok(())
    }
}

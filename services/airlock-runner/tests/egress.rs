//! The data source guard against real connections: an HTTPS server of the test's own on
//! loopback (allowed explicitly, as a deployment would allow its database subnet), names mapped
//! by a resolver of the test's own to each kind of forbidden address, and redirects from the
//! allowed server to each. The fixtures are a self-signed certificate and key for
//! `data.example.test` and 127.0.0.1, made for these tests only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use airlock_runner::egress::{Egress, EgressError, Lookup, Refused, SystemLookup};
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CERT: &str = include_str!("fixtures/test-server-cert.pem");
const KEY: &str = include_str!("fixtures/test-server-key.pem");

/// Names of the test's own, each mapped to addresses.
struct MapLookup(HashMap<&'static str, Vec<IpAddr>>);

impl Lookup for MapLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(host).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no such name {host}"))
        });
        Box::pin(async move { found })
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn names() -> Arc<MapLookup> {
    Arc::new(MapLookup(HashMap::from([
        ("data.example.test", vec![ip("127.0.0.1")]),
        ("metadata.example.test", vec![ip("169.254.170.2")]),
        ("internal.example.test", vec![ip("10.0.0.5")]),
        ("mapped.example.test", vec![ip("::ffff:169.254.169.254")]),
        ("ula.example.test", vec![ip("fd00::1")]),
        ("linklocal6.example.test", vec![ip("fe80::1")]),
        ("loopback.example.test", vec![ip("127.0.0.1"), ip("::1")]),
        // A name with one refused and one global address keeps only the global one.
        (
            "mixed.example.test",
            vec![ip("10.0.0.5"), ip("93.184.215.14")],
        ),
    ])))
}

fn egress(networks: &str) -> Egress {
    Egress::new(networks.parse().unwrap_or_else(|e| panic!("{e}"))).with_lookup(names())
}

fn refusal(e: EgressError) -> String {
    match e {
        EgressError::Refused(r) => r.to_string(),
        other => panic!("not a refusal: {other}"),
    }
}

#[tokio::test]
async fn names_resolving_to_forbidden_addresses_are_refused_with_their_reason() {
    let g = egress("");
    for (host, reason) in [
        (
            "metadata.example.test",
            "169.254.170.2 is link-local (169.254.0.0/16)",
        ),
        ("internal.example.test", "10.0.0.5 is private (10.0.0.0/8)"),
        (
            "mapped.example.test",
            "::ffff:169.254.169.254 is IPv4-mapped 169.254.169.254, which is link-local",
        ),
        ("ula.example.test", "fd00::1 is unique-local (fc00::/7)"),
        (
            "linklocal6.example.test",
            "fe80::1 is link-local (fe80::/10)",
        ),
        (
            "loopback.example.test",
            "127.0.0.1 is loopback (127.0.0.0/8)",
        ),
        ("data.example.test", "127.0.0.1 is loopback"),
    ] {
        let got = refusal(g.resolve(host, true).await.expect_err(host));
        assert!(
            got.contains(&format!(
                "`{host}` resolves only to refused addresses: {reason}"
            )),
            "{host}: {got}"
        );
    }
    assert_eq!(
        g.resolve("mixed.example.test", true).await.ok(),
        Some(vec![ip("93.184.215.14")])
    );
    // Unencrypted connections: the allowed networks only, global addresses too are refused.
    assert!(refusal(
        g.resolve("mixed.example.test", false)
            .await
            .expect_err("plain")
    )
    .contains("resolves only to refused addresses: 10.0.0.5 is private"));
    assert!(
        refusal(g.resolve("93.184.215.14", false).await.expect_err("plain"))
            .contains("93.184.215.14 is not in the allowed networks")
    );
    // Literal addresses, in every spelling, are checked without a look-up.
    assert!(refusal(
        g.resolve("[::ffff:127.0.0.1]", true)
            .await
            .expect_err("mapped")
    )
    .contains("IPv4-mapped 127.0.0.1, which is loopback"));
    // The system's resolver: `localhost` is loopback.
    let system = Egress::new(Default::default()).with_lookup(Arc::new(SystemLookup));
    assert!(refusal(
        system
            .resolve("localhost", true)
            .await
            .expect_err("localhost")
    )
    .contains("is loopback"));
    // What the allowed networks name is reachable, the mapped form included.
    let open = egress("127.0.0.0/8,::1/128,10.0.0.0/8");
    assert_eq!(
        open.resolve("loopback.example.test", false).await.ok(),
        Some(vec![ip("127.0.0.1"), ip("::1")])
    );
    assert_eq!(
        open.resolve("internal.example.test", true).await.ok(),
        Some(vec![ip("10.0.0.5")])
    );
    assert!(open.resolve("metadata.example.test", true).await.is_err());
    assert!(open.check_this_machine("/var/run/postgresql").is_ok());
    assert!(g.check_this_machine("/var/run/postgresql").is_err());
}

#[tokio::test]
async fn urls_are_checked_before_connecting() {
    let g = egress("");
    let check = |u: &str| {
        let url = url::Url::parse(u).unwrap_or_else(|e| panic!("{u}: {e}"));
        g.check_url(&url).map_err(|r| r.to_string())
    };
    for (u, reason) in [
        (
            "https://169.254.170.2/v2/credentials",
            "169.254.170.2 is link-local",
        ),
        ("https://10.0.0.5/", "10.0.0.5 is private"),
        (
            "https://[::ffff:127.0.0.1]/",
            "IPv4-mapped 127.0.0.1, which is loopback",
        ),
        ("https://[fe80::1]/", "fe80::1 is link-local"),
        ("http://localhost.:8080/", ""),
        (
            "http://data.example.org/",
            "plain http is only for addresses in the allowed networks",
        ),
        ("http://93.184.215.14/", "not in the allowed networks"),
        ("ftp://data.example.org/", "neither https nor http"),
    ] {
        match check(u) {
            Ok(()) => assert_eq!(reason, "", "{u} passed"),
            Err(got) => assert!(!reason.is_empty() && got.contains(reason), "{u}: {got}"),
        }
    }
    assert_eq!(check("https://data.example.org/"), Ok(()));
}

/// An HTTPS server on loopback: `/ok` answers, `/to/N` redirects to the Nth target (`PORT` in
/// a target is the server's own port).
async fn https_server(targets: &[&str], hits: Arc<AtomicUsize>) -> u16 {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(CERT.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let targets: Vec<String> = targets
        .iter()
        .map(|t| t.replace("PORT", &port.to_string()))
        .collect();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, targets, hits) = (acceptor.clone(), targets.clone(), hits.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                hits.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&head);
                let path = text.split(' ').nth(1).unwrap_or("/").to_string();
                let response = match path.strip_prefix("/to/").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        targets.get(n).map(String::as_str).unwrap_or("/")
                    ),
                    None if path == "/ok" => {
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".into()
                    }
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                };
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn client(g: &Egress) -> reqwest::Client {
    g.http_client()
        .add_root_certificate(reqwest::Certificate::from_pem(CERT.as_bytes()).expect("cert"))
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_https_server_is_reached_and_each_forbidden_redirect_refused() {
    let hits = Arc::new(AtomicUsize::new(0));
    let targets = [
        "https://169.254.170.2/v2/credentials",
        "https://10.0.0.5/",
        "https://[::ffff:169.254.170.2]/",
        "https://[::ffff:10.0.0.5]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://metadata.example.test/",
        "https://internal.example.test/",
        // Downgrade to plain http, to a server the allowed networks do include.
        "http://127.0.0.1:PORT/ok",
        // Followed: https, to an allowed destination.
        "https://data.example.test:PORT/ok",
        // A loop.
        "https://data.example.test:PORT/to/10",
    ];
    let port = https_server(&targets, hits.clone()).await;

    let g = egress("127.0.0.0/8");
    let http = client(&g);
    let base = format!("https://data.example.test:{port}");
    // The allowed network works.
    let ok = http.get(format!("{base}/ok")).send().await.expect("ok");
    assert_eq!(ok.text().await.ok().as_deref(), Some("ok"));
    for (n, reason) in [
        (0, "the redirect to `https://169.254.170.2/v2/credentials` is not followed: 169.254.170.2 is link-local (169.254.0.0/16)"),
        (1, "the redirect to `https://10.0.0.5/` is not followed: 10.0.0.5 is private (10.0.0.0/8)"),
        (2, "::ffff:169.254.170.2 is IPv4-mapped 169.254.170.2, which is link-local"),
        (3, "::ffff:10.0.0.5 is IPv4-mapped 10.0.0.5, which is private"),
        (4, "fe80::1 is link-local (fe80::/10)"),
        (5, "fd00::1 is unique-local (fc00::/7)"),
        (6, "`metadata.example.test` resolves only to refused addresses: 169.254.170.2 is link-local"),
        (7, "`internal.example.test` resolves only to refused addresses: 10.0.0.5 is private"),
        (8, "is not followed: redirects are followed only to https"),
        (10, "more than 5 redirects"),
    ] {
        let e = http
            .get(format!("{base}/to/{n}"))
            .send()
            .await
            .expect_err(&format!("redirect {n} was followed"));
        let refused = g
            .take_refusal()
            .unwrap_or_else(|| panic!("redirect {n}: no refusal recorded ({e})"));
        let got = refused.to_string();
        assert!(got.contains(reason), "redirect {n}: `{reason}` not in `{got}`");
    }
    // https to an allowed destination is followed.
    let followed = http
        .get(format!("{base}/to/9"))
        .send()
        .await
        .expect("followed");
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.text().await.ok().as_deref(), Some("ok"));

    // Without the setting, the same server is refused before a byte is sent.
    let before = hits.load(Ordering::SeqCst);
    let closed = egress("");
    let e = client(&closed)
        .get(format!("{base}/ok"))
        .send()
        .await
        .expect_err("refused");
    assert!(
        matches!(closed.take_refusal(), Some(Refused::Resolved { .. })),
        "{e}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), before);
    let described = closed.describe("GET x", &Refused::TooManyRedirects);
    assert_eq!(
        described,
        "GET x: refused: more than 5 redirects (TRE_DATASOURCE_ALLOWED_NETWORKS is empty)"
    );
}

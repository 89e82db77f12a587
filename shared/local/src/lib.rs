//! The whole TRE on one machine: the embedded adapters (SQLite, filesystem), the development
//! OIDC issuer and the API, served together on one loopback port. `tre dev` and the end-to-end
//! tests both start it through [`DevStack::start`], so the tests exercise what users run.

mod snapshot;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tre_api::{ApiState, JwtAuthenticator};
use tre_auth::{DevIssuer, DevIssuerConfig, DevUser, Validator, ValidatorConfig};
use tre_core::app::App;
use tre_core::domain::TreRole;

pub use store::StoreSnapshot;

/// The audience of the API's tokens on the local stack.
pub const DEV_AUDIENCE: &str = "tre-api";

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("embedded store: {0}")]
    Store(String),
    #[error("development issuer: {0}")]
    Issuer(String),
    #[error("unknown sample user `{0}` (admin, owner, researcher, airlock-manager)")]
    UnknownUser(String),
}

#[derive(Clone, Debug)]
pub struct DevOptions {
    pub data_dir: PathBuf,
    /// Port 0 picks a free port (tests).
    pub api_addr: SocketAddr,
    /// Redirect URIs the issuer's sign-in page accepts (the console's).
    pub redirect_uris: Vec<String>,
}

impl DevOptions {
    pub fn new(data_dir: impl Into<PathBuf>, api_addr: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_addr,
            redirect_uris: Vec::new(),
        }
    }

    /// A private stack on a free loopback port.
    pub fn for_tests(data_dir: &Path) -> Self {
        Self::new(data_dir, SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

pub struct DevStack {
    /// e.g. `http://127.0.0.1:8080`
    pub api_url: String,
    /// e.g. `http://127.0.0.1:8080/oidc`
    pub issuer_url: String,
    pub app: App,
    pub issuer: DevIssuer,
    pub data_dir: PathBuf,
    store: store::EmbeddedStore,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl DevStack {
    pub async fn start(opts: DevOptions) -> Result<Self, DevError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|source| DevError::DataDir {
            path: opts.data_dir.clone(),
            source,
        })?;
        let listener =
            TcpListener::bind(opts.api_addr)
                .await
                .map_err(|source| DevError::Listen {
                    addr: opts.api_addr,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| DevError::Listen {
            addr: opts.api_addr,
            source,
        })?;
        let api_url = format!("http://{addr}");
        let issuer_url = format!("{api_url}/oidc");

        let store = store::EmbeddedStore::open(&opts.data_dir)?;
        let app = store.app();

        let mut issuer_cfg = DevIssuerConfig::new(&issuer_url, DEV_AUDIENCE, &opts.data_dir);
        issuer_cfg.redirect_uris = opts.redirect_uris.clone();
        let issuer = DevIssuer::open(issuer_cfg).map_err(|e| DevError::Issuer(e.to_string()))?;
        let mut vcfg = ValidatorConfig::new(&issuer_url, DEV_AUDIENCE);
        vcfg.jwks_url = Some(format!("{issuer_url}/jwks.json"));
        let validator = Validator::new(vcfg).map_err(|e| DevError::Issuer(e.to_string()))?;

        let state = ApiState::new(app.clone(), Arc::new(JwtAuthenticator::new(validator)));
        let router = tre_api::router(state)
            .nest("/oidc", issuer.router())
            .merge(store.object_routes());

        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the local API server stopped");
            }
        });
        tracing::info!(%api_url, data_dir = %opts.data_dir.display(), "local TRE started");
        Ok(Self {
            api_url,
            issuer_url,
            app,
            issuer,
            data_dir: opts.data_dir,
            store,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// A token for a sample user (`admin`, `owner`, `researcher`, `airlock-manager`), or for
    /// `norole`, a signed-in user without any TRE role (for tests of deny-by-default).
    pub fn token_for(&self, user: &str) -> Result<String, DevError> {
        let user = match user {
            "norole" => DevUser {
                id: "dev-norole".into(),
                username: "norole".into(),
                name: "Dev User Without Roles".into(),
                email: "norole@tre.localhost".into(),
                roles: Vec::<TreRole>::new(),
            },
            other => DevUser::find(other).ok_or_else(|| DevError::UnknownUser(other.into()))?,
        };
        self.issuer
            .mint(&user, Duration::from_secs(8 * 3600))
            .map_err(|e| DevError::Issuer(e.to_string()))
    }

    /// Every stored item, for tests that prove a rejected request changed nothing.
    pub async fn store_snapshot(&self) -> Result<StoreSnapshot, DevError> {
        self.store.snapshot().await
    }

    /// Stop serving and wait for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

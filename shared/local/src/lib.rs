//! The whole TRE on one machine: the embedded adapters (SQLite, filesystem), the development
//! OIDC issuer and the API, served together on one loopback port. `tre dev` and the end-to-end
//! tests both start it through [`DevStack::start`], so the tests exercise what users run.

mod background;
mod consumer;
mod snapshot;
mod store;
mod workflows;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tre_api::{ApiState, JwtAuthenticator};
use tre_auth::{DevIssuer, DevIssuerConfig, DevUser, Validator, ValidatorConfig};
use tre_core::app::App;
use tre_core::domain::TreRole;

pub use consumer::{MAX_RECEIVES, STATUS_DEAD_LETTERS, STATUS_QUEUE};
pub use store::StoreSnapshot;
pub use workflows::{load_state_machines, RunnerCommand, RunningTask, STATE_MACHINES};

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
    #[error("workflows: {0}")]
    Workflows(String),
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
    /// How long a status message that could not be applied waits before it is retried.
    pub status_retry_after: Duration,
    /// How to start a bundle runner; without one, operations fail with a clear message.
    pub runner: Option<RunnerCommand>,
    /// How to start an airlock runner; without one, submitted requests fail with a clear message.
    pub airlock_runner: Option<RunnerCommand>,
    /// Where bundles create their local artefacts (default: `<data_dir>/storage`).
    pub storage_root: Option<PathBuf>,
    /// Address of the OCI registry (port 0 picks a free port).
    pub registry_addr: SocketAddr,
    /// Networks beyond globally routable addresses that data sources may reach: the API checks
    /// registrations against them and the import runners get them as
    /// `TRE_DATASOURCE_ALLOWED_NETWORKS`. None by default; tests whose sources are servers on
    /// loopback allow loopback here, and `tre dev` allows it by its own default.
    pub datasource_allowed_networks: tre_core::domain::datasource::AllowedNetworks,
    /// Most runner processes at once (Fargate's task quota in AWS); more tasks wait for a
    /// slot in the order they came. A burst of operations then runs at the machine's pace
    /// instead of starting a thousand processes that fight for its cores and memory.
    pub max_running_tasks: usize,
    /// Trust an external OpenID provider instead of the development issuer: the API validates
    /// tokens with the settings a deployment reads from its environment (`TRE_OIDC_ISSUER`,
    /// `TRE_OIDC_AUDIENCE`, `TRE_OIDC_JWKS_URL`, `TRE_OIDC_ROLES_CLAIM`, ...), and the console
    /// and `/api/.metadata` send users to that provider. The development issuer still runs but
    /// its tokens are refused.
    pub external_oidc: Option<ExternalOidc>,
    /// How often review environments whose request left review are looked for and removed
    /// (AWS runs the same sweep on a schedule); also once at start.
    pub review_sweep_every: Duration,
    /// Where notification email goes (`TRE_SMTP_URL`, `TRE_MAIL_FROM` for `tre dev`); without
    /// it notifications are only listed (`GET /api/notifications`, the console).
    pub smtp: Option<tre_embedded::SmtpSettings>,
}

/// Plain SMTP settings for notification email (see [`DevOptions::smtp`]).
pub use tre_embedded::SmtpSettings;

/// An external provider, configured through the same keys as a deployment.
#[derive(Clone, Debug, Default)]
pub struct ExternalOidc {
    /// `TRE_OIDC_*` settings, as a deployment's environment would hold them.
    pub settings: HashMap<String, String>,
    /// The console's (public) client at that provider.
    pub console_client_id: String,
}

impl DevOptions {
    pub fn new(data_dir: impl Into<PathBuf>, api_addr: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_addr,
            redirect_uris: Vec::new(),
            status_retry_after: Duration::from_secs(10),
            runner: None,
            airlock_runner: None,
            storage_root: None,
            registry_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            datasource_allowed_networks: Default::default(),
            max_running_tasks: default_max_running_tasks(),
            external_oidc: None,
            review_sweep_every: Duration::from_secs(10),
            smtp: None,
        }
    }

    /// A private stack on a free loopback port.
    pub fn for_tests(data_dir: &Path) -> Self {
        let mut o = Self::new(data_dir, SocketAddr::from(([127, 0, 0, 1], 0)));
        o.status_retry_after = Duration::from_secs(1);
        o.review_sweep_every = Duration::from_secs(1);
        o
    }
}

/// Four runner processes per core: a runner mostly waits on process start and I/O, so a few
/// per core keep every core busy, and no more than that are held in memory.
fn default_max_running_tasks() -> usize {
    4 * std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
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
    stop_workers: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    /// Signs the registry tokens the API issues (kept in `<data_dir>/registry-token.key`).
    pub registry_tokens: tre_auth::registry_token::RegistryTokenKey,
    /// The OCI registry (`tre bundle push` and the runners use it with TRE tokens).
    pub registry_url: String,
    registry: Option<JoinHandle<()>>,
    /// Last: shut down once everything running on it has been told to stop.
    _background: background::Background,
}

/// Remove review environments whose request left review, now and then every `every`, until
/// told to stop.
async fn sweep_review_environments(app: App, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = app.sweep_review_environments().await {
            tracing::warn!(error = %e, "the review environment sweep failed; trying again later");
        }
        // Also the retry of notification deliveries that failed or were never asked for.
        if let Err(e) = app.deliver_notifications().await {
            tracing::warn!(error = %e, "notifications could not be delivered; trying again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
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

        // Child processes get absolute paths: they may not share our working directory.
        let data_dir = std::path::absolute(&opts.data_dir).map_err(|source| DevError::DataDir {
            path: opts.data_dir.clone(),
            source,
        })?;
        let storage_root = opts
            .storage_root
            .clone()
            .unwrap_or_else(|| data_dir.join("storage"));
        let mut runners = HashMap::new();
        if let Some(r) = &opts.runner {
            runners.insert("bundle-runner".to_string(), r.clone());
        }
        if let Some(r) = &opts.airlock_runner {
            runners.insert("airlock-runner".to_string(), r.clone());
        }
        let registry_tokens = registry_token_key(&data_dir)?;
        let background = background::Background::start()?;
        let store = store::EmbeddedStore::open(
            &data_dir,
            runners,
            &storage_root,
            &api_url,
            registry_tokens.clone(),
            &opts.datasource_allowed_networks,
            opts.max_running_tasks,
            background.handle(),
        )?;
        // What runners reported before a restart lands first; then executions that were
        // running when the stack stopped are failed, so no operation waits forever.
        let status_queue = store.status_queue()?;
        // A change that causes a notification asks for its delivery on the status queue.
        let mut app = store.app().with_notify_queue(status_queue.clone());
        if let Some(smtp) = &opts.smtp {
            app = app.with_mailer(
                Arc::new(tre_embedded::SmtpMailer::new(smtp.clone())),
                &format!("{api_url}{}", tre_console::MOUNT),
            );
        }
        consumer::drain(&app, &status_queue, opts.status_retry_after).await;
        let recovered = store
            .workflows()
            .recover()
            .await
            .map_err(|e| DevError::Workflows(e.to_string()))?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "failed executions left running by a previous run"
            );
        }

        let mut issuer_cfg = DevIssuerConfig::new(&issuer_url, DEV_AUDIENCE, &opts.data_dir);
        issuer_cfg.redirect_uris = opts.redirect_uris.clone();
        // The console signs in through the dev issuer like any OIDC client.
        let mut console = tre_console::ConsoleConfig::for_local_stack(&api_url);
        issuer_cfg.redirect_uris.push(console.redirect_uri.clone());
        let issuer = DevIssuer::open(issuer_cfg).map_err(|e| DevError::Issuer(e.to_string()))?;
        let (vcfg, sign_in) = match &opts.external_oidc {
            None => {
                let mut vcfg = ValidatorConfig::new(&issuer_url, DEV_AUDIENCE);
                vcfg.jwks_url = Some(format!("{issuer_url}/jwks.json"));
                (vcfg, tre_api::SignIn::new(&issuer_url, DEV_AUDIENCE))
            }
            Some(ext) => {
                let vcfg = ValidatorConfig::from_lookup(|k| ext.settings.get(k).cloned())
                    .map_err(|e| DevError::Issuer(e.to_string()))?;
                console.issuer = vcfg.issuer.clone();
                console.client_id = ext.console_client_id.clone();
                let sign_in = tre_api::SignIn::new(&vcfg.issuer, &ext.console_client_id);
                (vcfg, sign_in)
            }
        };
        let validator = Validator::new(vcfg).map_err(|e| DevError::Issuer(e.to_string()))?;

        let state = ApiState::new(app.clone(), Arc::new(JwtAuthenticator::new(validator)))
            .with_registry_tokens(registry_tokens.clone())
            .with_sign_in(sign_in);
        let router = tre_api::router(state)
            .nest("/oidc", issuer.router())
            .merge(store.object_routes())
            .merge(tre_console::router(console));

        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            // With the peer's address, which the audit trail records as the request's source.
            let serve = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the local API server stopped");
            }
        });
        // The OCI registry, on its own port, storing under <data_dir>/registry; tokens from the
        // API's realm.
        let registry_listener = TcpListener::bind(opts.registry_addr)
            .await
            .map_err(|source| DevError::Listen {
                addr: opts.registry_addr,
                source,
            })?;
        let registry_addr = registry_listener
            .local_addr()
            .map_err(|source| DevError::Listen {
                addr: opts.registry_addr,
                source,
            })?;
        let registry_url = format!("http://{registry_addr}");
        let registry_store: Arc<dyn tre_core::ports::ObjectStore> = Arc::new(
            tre_embedded::FsObjectStore::open(
                data_dir.join("registry"),
                &registry_url,
                vec![0u8; 32],
            )
            .map_err(|e| DevError::Store(e.to_string()))?,
        );
        let registry_router = tre_registry::router(
            tre_registry::Storage::new(registry_store),
            tre_registry::RegistryAuth::Tokens {
                key: registry_tokens.clone(),
                realm: format!("{api_url}/api/registry/token"),
            },
        );
        let registry = tokio::spawn(async move {
            if let Err(e) = axum::serve(registry_listener, registry_router).await {
                tracing::error!(error = %e, "the local registry stopped");
            }
        });
        let (stop_workers, stop_rx) = watch::channel(false);
        let consumer = background.spawn(consumer::run(
            app.clone(),
            status_queue,
            opts.status_retry_after,
            stop_rx,
        ));
        let sweeper = background.spawn(sweep_review_environments(
            app.clone(),
            opts.review_sweep_every,
            stop_workers.subscribe(),
        ));
        tracing::info!(%api_url, data_dir = %opts.data_dir.display(), "local TRE started");
        Ok(Self {
            api_url,
            issuer_url,
            registry_url,
            registry: Some(registry),
            registry_tokens,
            app,
            issuer,
            data_dir,
            store,
            shutdown: Some(tx),
            server: Some(server),
            stop_workers,
            workers: vec![consumer, sweeper],
            _background: background,
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

    /// The queue runners report to (tests send to it directly).
    pub fn status_queue(&self) -> Result<Arc<dyn tre_core::ports::Queue>, DevError> {
        self.store.status_queue()
    }

    /// Bundle runner processes running now.
    pub fn running_tasks(&self) -> Vec<RunningTask> {
        self.store.running_tasks()
    }

    /// The recorded history of the workflow of an operation (oldest event first).
    pub async fn execution_history(
        &self,
        operation_id: &str,
    ) -> Result<Vec<serde_json::Value>, DevError> {
        let id = tre_stepfunctions::execution_arn(
            tre_core::app::RESOURCE_ACTION_STATE_MACHINE,
            operation_id,
        );
        self.store
            .workflows()
            .history(&id)
            .await
            .map_err(|e| DevError::Workflows(e.to_string()))
    }

    /// Stop serving, wait for in-flight requests, and stop the background workers. Running
    /// executions stop with their runner processes; the next start fails them explicitly.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(r) = self.registry.take() {
            r.abort();
        }
        self.store.workflows().abort_all();
        let _ = self.stop_workers.send(true);
        for w in std::mem::take(&mut self.workers) {
            let _ = w.await;
        }
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(r) = self.registry.take() {
            r.abort();
        }
        self.store.workflows().abort_all();
        let _ = self.stop_workers.send(true);
    }
}

/// The name the local registry's tokens are issued for.
pub const REGISTRY_SERVICE: &str = tre_auth::registry_token::DEFAULT_SERVICE;

/// The key of list page tokens, kept in the data directory (made on first use) so the
/// tokens a client holds survive a restart.
pub(crate) fn page_tokens(data_dir: &Path) -> Result<tre_core::app::PageTokens, DevError> {
    let path = data_dir.join("page-token.key");
    let key = match std::fs::read(&path) {
        Ok(k) if k.len() >= tre_core::app::PAGE_TOKEN_KEY_MIN_BYTES => k,
        _ => {
            let k: Vec<u8> = (0..3)
                .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
                .collect();
            std::fs::write(&path, &k).map_err(|source| DevError::DataDir {
                path: path.clone(),
                source,
            })?;
            k
        }
    };
    tre_core::app::PageTokens::new(key).map_err(DevError::Store)
}

/// The registry token key of a data directory, made on first use.
fn registry_token_key(
    data_dir: &Path,
) -> Result<tre_auth::registry_token::RegistryTokenKey, DevError> {
    let path = data_dir.join("registry-token.key");
    let key = match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => k,
        _ => {
            let k: Vec<u8> = (0..2)
                .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
                .collect();
            std::fs::write(&path, &k).map_err(|source| DevError::DataDir {
                path: path.clone(),
                source,
            })?;
            k
        }
    };
    tre_auth::registry_token::RegistryTokenKey::new(key, REGISTRY_SERVICE).map_err(DevError::Store)
}

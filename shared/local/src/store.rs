//! The embedded adapters of the local stack, opened on one data directory, and the local
//! workflow engine on top of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tre_core::app::App;
use tre_core::ports::Queue;
use tre_embedded::{Embedded, RedrivePolicy};
use tre_stepfunctions::{Engine, LocalWorkflows, SqsSendMessage};

use crate::snapshot::{self, StoreSnapshot as Snapshot};
use crate::workflows::{
    EcsRunTask, FailUnfinishedOperation, LambdaInvoke, RunnerCommand, RunningTask,
};
use crate::DevError;

pub type StoreSnapshot = Snapshot;

pub(crate) struct EmbeddedStore {
    embedded: Embedded,
    workflows: LocalWorkflows,
    tasks: Arc<Mutex<HashMap<String, RunningTask>>>,
    app: App,
    db_path: PathBuf,
    /// Every stage of the airlock, as prefixes; its pre-signed links are served by the stack.
    objects: Arc<tre_embedded::FsObjectStore>,
}

impl EmbeddedStore {
    /// `runtime`: where workflow executions run.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        data_dir: &Path,
        runners: HashMap<String, RunnerCommand>,
        storage_root: &Path,
        api_url: &str,
        registry_tokens: tre_auth::registry_token::RegistryTokenKey,
        datasource_networks: &tre_core::domain::datasource::AllowedNetworks,
        max_running_tasks: usize,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, DevError> {
        let embedded = Embedded::open(data_dir).map_err(|e| DevError::Store(e.to_string()))?;
        let table = Arc::new(embedded.table());
        let tasks = Arc::new(Mutex::new(HashMap::new()));
        let ecs = Arc::new(EcsRunTask {
            runners,
            base_env: vec![
                ("TRE_DATA_DIR".into(), data_dir.display().to_string()),
                (
                    "TRE_STATUS_QUEUE".into(),
                    crate::consumer::STATUS_QUEUE.into(),
                ),
                (
                    "TRE_STORAGE_ROOT".into(),
                    storage_root.display().to_string(),
                ),
                // Always set (empty: none), so imports enforce the stack's setting and never one
                // inherited from this process's environment.
                (
                    "TRE_DATASOURCE_ALLOWED_NETWORKS".into(),
                    datasource_networks.to_string(),
                ),
            ],
            tasks: tasks.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(max_running_tasks.max(1))),
        });
        let queues = embedded.clone();
        let sqs = Arc::new(SqsSendMessage::new(Arc::new(move |name: &str| {
            queues
                .queue(name, None)
                .map(|q| Arc::new(q) as Arc<dyn Queue>)
                .map_err(|e| e.to_string())
        })));
        let integrations =
            crate::workflows::integrations(ecs, sqs, Arc::new(LambdaInvoke::default()));
        let machines = crate::workflows::load_state_machines(crate::consumer::STATUS_QUEUE)?;
        let listener = Arc::new(FailUnfinishedOperation {
            app: OnceLock::new(),
        });
        let workflows = LocalWorkflows::with_engine(
            table.clone(),
            Engine::new(integrations),
            machines,
            Some(listener.clone()),
        )
        .on_runtime(runtime);
        let secret = embedded
            .presign_secret()
            .map_err(|e| DevError::Store(e.to_string()))?;
        let objects = Arc::new(
            embedded
                .object_store(api_url, secret)
                .map_err(|e| DevError::Store(e.to_string()))?,
        );
        let app = App::new(table.clone(), Arc::new(workflows.clone()))
            .with_airlock(tre_embedded::airlock_stages(objects.clone()))
            // The same path as in AWS: each step's input carries a pull token for its bundle.
            .with_bundle_tokens(Arc::new(tre_bundle::RegistryPullTokens::new(
                registry_tokens,
            )))
            .with_datasource_networks(datasource_networks.clone())
            .with_page_tokens(crate::page_tokens(data_dir)?);
        let _ = listener.app.set(app.clone());
        Ok(Self {
            db_path: embedded.db().path().to_path_buf(),
            workflows,
            tasks,
            app,
            embedded,
            objects,
        })
    }

    /// The status queue, dead-lettering after `MAX_RECEIVES` receives.
    pub fn status_queue(&self) -> Result<Arc<dyn Queue>, DevError> {
        let q = self
            .embedded
            .queue(
                crate::consumer::STATUS_QUEUE,
                Some(RedrivePolicy {
                    max_receives: crate::consumer::MAX_RECEIVES,
                    dead_letter_queue: crate::consumer::STATUS_DEAD_LETTERS.into(),
                }),
            )
            .map_err(|e| DevError::Store(e.to_string()))?;
        Ok(Arc::new(q))
    }

    pub fn app(&self) -> App {
        self.app.clone()
    }

    pub fn workflows(&self) -> &LocalWorkflows {
        &self.workflows
    }

    pub fn running_tasks(&self) -> Vec<RunningTask> {
        self.tasks
            .lock()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Routes the local stack serves besides the API: the pre-signed object links.
    pub fn object_routes(&self) -> axum::Router {
        tre_embedded::presigned_router(self.objects.clone())
    }

    pub async fn snapshot(&self) -> Result<StoreSnapshot, DevError> {
        let path = self.db_path.clone();
        tokio::task::spawn_blocking(move || snapshot::dump(&path))
            .await
            .map_err(|e| DevError::Store(e.to_string()))?
            .map_err(|e| DevError::Store(e.to_string()))
    }
}

//! The embedded adapters of the local stack, opened on one data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tre_core::app::App;
use tre_core::ports::Queue;
use tre_embedded::{Embedded, RecordedWorkflows, RedrivePolicy, SqliteTable};

use crate::snapshot::{self, StoreSnapshot as Snapshot};
use crate::DevError;

pub type StoreSnapshot = Snapshot;

pub(crate) struct EmbeddedStore {
    embedded: Embedded,
    table: Arc<SqliteTable>,
    workflows: Arc<RecordedWorkflows>,
    db_path: PathBuf,
}

impl EmbeddedStore {
    pub fn open(data_dir: &Path) -> Result<Self, DevError> {
        let embedded = Embedded::open(data_dir).map_err(|e| DevError::Store(e.to_string()))?;
        Ok(Self {
            db_path: embedded.db().path().to_path_buf(),
            table: Arc::new(embedded.table()),
            workflows: Arc::new(embedded.workflows()),
            embedded,
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
        App::new(self.table.clone(), self.workflows.clone())
    }

    /// Routes the local stack serves besides the API (pre-signed object URLs, later).
    pub fn object_routes(&self) -> axum::Router {
        axum::Router::new()
    }

    pub async fn snapshot(&self) -> Result<StoreSnapshot, DevError> {
        let path = self.db_path.clone();
        tokio::task::spawn_blocking(move || snapshot::dump(&path))
            .await
            .map_err(|e| DevError::Store(e.to_string()))?
            .map_err(|e| DevError::Store(e.to_string()))
    }
}

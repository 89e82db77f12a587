//! The embedded adapters of the local stack, opened on one data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tre_core::app::App;
use tre_embedded::{Db, RecordedWorkflows, SqliteTable};

use crate::snapshot::{self, StoreSnapshot as Snapshot};
use crate::DevError;

pub type StoreSnapshot = Snapshot;

pub(crate) struct EmbeddedStore {
    table: Arc<SqliteTable>,
    workflows: Arc<RecordedWorkflows>,
    db_path: PathBuf,
}

impl EmbeddedStore {
    pub fn open(data_dir: &Path) -> Result<Self, DevError> {
        let db = Db::open(data_dir).map_err(|e| DevError::Store(e.to_string()))?;
        Ok(Self {
            db_path: db.path().to_path_buf(),
            table: Arc::new(SqliteTable::new(db.clone())),
            workflows: Arc::new(RecordedWorkflows::new(db)),
        })
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

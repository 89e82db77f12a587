//! Embedded adapters for the ports, for running the TRE on one machine without AWS: the table,
//! the queues and the workflow record share one SQLite file; objects live on the filesystem.

mod db;
mod objects;
mod queue;
mod secrets;
mod smtp;
mod table;
mod workflows;

use std::path::{Path, PathBuf};

use tre_core::PortResult;

pub use db::{Db, DB_FILE};
/// The object store's on-disk layout and file format, for stores that write the same files
/// their own way (the registry's).
pub use objects::layout as fs_layout;
pub use objects::{presigned_router, FsObjectStore};
pub use queue::{RedrivePolicy, SqliteQueue};
pub use secrets::{FileSecrets, SECRETS_FILE};
pub use smtp::{SmtpMailer, SmtpSettings};
pub use table::SqliteTable;
pub use workflows::{RecordedWorkflows, TaskOutcome};

/// The embedded backends of one data directory: `tre.sqlite3` and `objects/...` inside it.
#[derive(Clone)]
pub struct Embedded {
    db: Db,
    data_dir: PathBuf,
}

impl Embedded {
    /// Open (creating if needed) the data directory and its database.
    pub fn open(data_dir: impl AsRef<Path>) -> PortResult<Self> {
        let data_dir = data_dir.as_ref().to_path_buf();
        let db = Db::open(&data_dir)?;
        Ok(Self { db, data_dir })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn table(&self) -> SqliteTable {
        SqliteTable::new(self.db.clone())
    }

    /// The queue `name`; with a redrive policy, messages received too often move to its DLQ.
    pub fn queue(&self, name: &str, redrive: Option<RedrivePolicy>) -> PortResult<SqliteQueue> {
        SqliteQueue::new(self.db.clone(), name, redrive)
    }

    pub fn workflows(&self) -> RecordedWorkflows {
        RecordedWorkflows::new(self.db.clone())
    }

    /// The object store in `<data_dir>/objects`; pre-signed URLs point at `base_url`.
    pub fn object_store(
        &self,
        base_url: &str,
        presign_secret: impl Into<Vec<u8>>,
    ) -> PortResult<FsObjectStore> {
        FsObjectStore::open(self.data_dir.join("objects"), base_url, presign_secret)
    }
}

impl Embedded {
    /// The secret pre-signed links of this data directory are signed with (made once, kept in
    /// `<data_dir>/presign.key`, so links survive a restart).
    pub fn presign_secret(&self) -> PortResult<Vec<u8>> {
        let path = self.data_dir.join("presign.key");
        match std::fs::read(&path) {
            Ok(s) if s.len() >= 32 => Ok(s),
            _ => {
                let secret: Vec<u8> = (0..2)
                    .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
                    .collect();
                std::fs::write(&path, &secret).map_err(|e| {
                    tre_core::PortError::Backend(format!("writing {}: {e}", path.display()))
                })?;
                Ok(secret)
            }
        }
    }

    /// The airlock's stores on this directory's object store (links point at `base_url`).
    pub fn airlock_storage(&self, base_url: &str) -> PortResult<tre_core::app::AirlockStorage> {
        let store = std::sync::Arc::new(self.object_store(base_url, self.presign_secret()?)?);
        Ok(airlock_stages(store))
    }
}

/// The airlock's stages as prefixes of one object store, so one route serves every stage's
/// pre-signed links.
pub fn airlock_stages(
    store: std::sync::Arc<dyn tre_core::ports::ObjectStore>,
) -> tre_core::app::AirlockStorage {
    tre_core::app::AirlockStorage::new(
        tre_core::domain::airlock::Stage::ALL
            .into_iter()
            .map(|stage| {
                let s: std::sync::Arc<dyn tre_core::ports::ObjectStore> =
                    std::sync::Arc::new(tre_core::ports::PrefixedStore::new(
                        store.clone(),
                        &format!("airlock/{}", stage.as_str()),
                    ));
                (stage, s)
            })
            .collect(),
    )
}

//! One SQLite file shared by the table, the queues and the workflow recorder.
//!
//! Connections are pooled (WAL lets readers run beside the single writer) and every call runs
//! on tokio's blocking pool, so SQLite never blocks the async runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;
use tre_core::{PortError, PortResult};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "tre.sqlite3";

/// Idle connections kept for reuse; more may be open while many calls are in flight.
const MAX_IDLE: usize = 8;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    ipk TEXT,
    isk TEXT,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (ipk, isk, pk, sk) WHERE ipk IS NOT NULL;

CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at, seq);
CREATE UNIQUE INDEX IF NOT EXISTS queue_messages_receipt ON queue_messages (receipt)
    WHERE receipt IS NOT NULL;

CREATE TABLE IF NOT EXISTS recorded_executions (
    id TEXT PRIMARY KEY,
    state_machine TEXT NOT NULL,
    name TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    started_at INTEGER NOT NULL,
    UNIQUE (state_machine, name)
);
CREATE TABLE IF NOT EXISTS recorded_task_tokens (
    token TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    outcome TEXT,
    output TEXT,
    error TEXT,
    cause TEXT
);
"#;

/// Handle on the embedded SQLite database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Woken whenever a queue message is sent, so long polls return early.
    sent: Notify,
}

impl Db {
    /// Open (creating if needed) `data_dir/tre.sqlite3` and its schema.
    pub fn open(data_dir: &Path) -> PortResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| io_err("creating data directory", e))?;
        let path = data_dir.join(DB_FILE);
        let conn = connect(&path)?;
        conn.execute_batch(SCHEMA).map_err(sql_err)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(vec![conn]),
                sent: Notify::new(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` with a connection on the blocking pool.
    pub(crate) async fn call<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> PortResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.take()?;
            let out = f(&mut conn);
            inner.give(conn);
            out
        })
        .await
        .map_err(|e| PortError::Backend(format!("database task failed: {e}")))?
    }

    pub(crate) fn sent_notify(&self) -> &Notify {
        &self.inner.sent
    }
}

impl Inner {
    fn take(&self) -> PortResult<Connection> {
        let pooled = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            // A panic while holding the lock only loses pooled connections: open a new one.
            Err(_) => None,
        };
        match pooled {
            Some(c) => Ok(c),
            None => connect(&self.path),
        }
    }

    fn give(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

fn connect(path: &Path) -> PortResult<Connection> {
    let conn = Connection::open(path).map_err(sql_err)?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sql_err)?;
    // WAL: readers do not block the writer; NORMAL sync is durable across process crashes.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_err)?;
    Ok(conn)
}

pub(crate) fn sql_err(e: rusqlite::Error) -> PortError {
    PortError::Backend(format!("sqlite: {e}"))
}

pub(crate) fn io_err(what: &str, e: std::io::Error) -> PortError {
    PortError::Backend(format!("{what}: {e}"))
}

/// Milliseconds since the Unix epoch (queue timestamps).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

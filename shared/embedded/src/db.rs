//! One SQLite file shared by the table, the queues and the workflow recorder.
//!
//! Writes go to one writer thread per process that owns one connection: writers queue on a
//! channel instead of on SQLite's file lock, whose busy handler sleeps (up to 100 ms a try
//! with the stock `busy_timeout`) while the lock is long free, which made the tail of
//! concurrent writes. The writer runs what is queued together in one `BEGIN IMMEDIATE`
//! transaction (group commit), each call inside its own savepoint, so a call that fails
//! (a condition that does not hold) undoes only its own changes; callers learn their result
//! only after the commit. Reads run on pooled connections on tokio's blocking pool; WAL lets
//! them run beside the writer. Other processes (the runners) have their own writer; between
//! processes the file lock still decides, with a busy handler that retries quickly.
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit is durable once it returns as far
//! as a crash of any process goes; the WAL is synced at checkpoints, not at every commit, so
//! a power cut or OS crash can lose the last commits made since the last checkpoint (never
//! corrupt the file). That is SQLite's documented trade-off for WAL, and right for a store
//! on one machine (`tre dev`, the tests): a full sync per commit would bound writes by the
//! disk's flush rate.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{oneshot, Notify};
use tre_core::{PortError, PortResult};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "tre.sqlite3";

/// Idle connections kept for reuse; more may be open while many calls are in flight.
const MAX_IDLE: usize = 8;
/// Most calls one group commit takes, so one transaction never grows without bound.
const MAX_BATCH: usize = 64;

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
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at, seq);
-- Receipts name their row (queue.rs), so no index on them: one page less per receive and
-- delete. Without AUTOINCREMENT no sqlite_sequence row is written per send; a new message
-- still sorts after every message present (rowids above the largest).
DROP INDEX IF EXISTS queue_messages_receipt;

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

/// Hands a call's result to its caller once the batch's commit is known (`Some` if it failed).
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

/// One queued write.
trait Job: Send {
    /// Run on the writer's connection inside a savepoint; says whether its changes are kept.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Deliver);
    /// Answer `why` without running (the transaction could not start).
    fn refuse(self: Box<Self>, why: &str);
}

struct WriteJob<T, F> {
    f: F,
    tx: oneshot::Sender<PortResult<T>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Deliver) {
        let WriteJob { f, tx } = *self;
        let out = f(conn);
        let keep = out.is_ok();
        let deliver: Deliver = Box::new(move |commit_failed| {
            let out = match (commit_failed, out) {
                (Some(why), Ok(_)) => Err(PortError::Backend(format!("sqlite: {why}"))),
                (_, out) => out,
            };
            let _ = tx.send(out);
        });
        (keep, deliver)
    }

    fn refuse(self: Box<Self>, why: &str) {
        let _ = self
            .tx
            .send(Err(PortError::Backend(format!("sqlite: {why}"))));
    }
}

/// Handle on the embedded SQLite database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The writer thread's queue; the thread ends when the last handle is dropped.
    writer: mpsc::Sender<Box<dyn Job>>,
    /// Woken whenever a queue message is sent or made visible, so long polls return early.
    sent: Arc<Notify>,
    bell: bell::Bell,
}

impl Db {
    /// Open (creating if needed) `data_dir/tre.sqlite3` and its schema.
    pub fn open(data_dir: &Path) -> PortResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| io_err("creating data directory", e))?;
        let path = data_dir.join(DB_FILE);
        let conn = connect(&path)?;
        conn.execute_batch(SCHEMA).map_err(sql_err)?;
        let writer_conn = connect(&path)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("tre-sqlite-writer".into())
            .spawn(move || write_loop(writer_conn, rx))
            .map_err(|e| io_err("starting the database writer", e))?;
        let sent = Arc::new(Notify::new());
        Ok(Self {
            inner: Arc::new(Inner {
                bell: bell::Bell::new(data_dir, sent.clone()),
                path,
                idle: Mutex::new(vec![conn]),
                writer: tx,
                sent,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` (a read) with a pooled connection on the blocking pool.
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

    /// Run `f` (a write) on the writer's connection, inside a write transaction it must not
    /// end itself. An `Err` undoes what `f` changed; an `Ok` is answered once committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<PortResult<T>>();
        let job: Box<dyn Job> = Box::new(WriteJob { f, tx });
        if self.inner.writer.send(job).is_err() {
            return Err(PortError::Backend("the database writer has stopped".into()));
        }
        rx.await.map_err(|_| {
            PortError::Backend("the database writer dropped a write (it panicked)".into())
        })?
    }

    pub(crate) fn sent_notify(&self) -> &Notify {
        &self.inner.sent
    }

    /// Wake long polls here and, through the data directory's doorbell, in other processes.
    pub(crate) fn ring(&self) {
        self.inner.sent.notify_waiters();
        self.inner.bell.ring();
    }

    /// Listen for other processes' sends (once per handle); true if this process hears them.
    pub(crate) fn listen(&self) -> bool {
        self.inner.bell.listen()
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

/// The writer thread: take what is queued (at least one call) and commit it as one batch.
fn write_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
    }
}

fn run_batch(conn: &Connection, batch: Vec<Box<dyn Job>>) {
    let mut done: Vec<Deliver> = Vec::with_capacity(batch.len());
    let mut open = false;
    for job in batch {
        if !open {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                // Most likely another process held the lock past the busy handler's patience.
                job.refuse(&e.to_string());
                continue;
            }
            open = true;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            job.refuse(&e.to_string());
            continue;
        }
        let (keep, deliver) = match std::panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok(r) => r,
            // The caller's channel went with the panic: it hears that the write was dropped.
            Err(_) => (false, Box::new(|_: Option<&str>| {}) as Deliver),
        };
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (an I/O error, a full disk): what the
            // batch did so far is lost, so those calls fail too.
            let why = "the transaction was rolled back by an error";
            for d in done.drain(..) {
                d(Some(why));
            }
            deliver(Some(why));
            open = false;
            continue;
        }
        let end = if keep {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        match conn.execute_batch(end) {
            Ok(()) => done.push(deliver),
            Err(e) => {
                let why = e.to_string();
                let _ = conn.execute_batch("ROLLBACK");
                for d in done.drain(..) {
                    d(Some(&why));
                }
                deliver(Some(&why));
                open = false;
            }
        }
    }
    if open {
        let failed = match conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Some(e.to_string())
            }
        };
        for d in done {
            d(failed.as_deref());
        }
    }
}

/// Retry a locked database quickly: another process holds the write lock for a fraction of
/// a millisecond, so short naps, then 1 ms naps, for about 10 s in all.
fn busy(count: i32) -> bool {
    if count < 50 {
        std::thread::sleep(Duration::from_micros(100));
        true
    } else if count < 50 + 10_000 {
        std::thread::sleep(Duration::from_millis(1));
        true
    } else {
        false
    }
}

fn connect(path: &Path) -> PortResult<Connection> {
    let conn = Connection::open(path).map_err(sql_err)?;
    conn.busy_handler(Some(busy)).map_err(sql_err)?;
    // WAL: readers do not block the writer. NORMAL: see the module docs for what it risks.
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

/// The data directory's doorbell: a Unix datagram socket (`tre.bell`) that the process which
/// long-polls the queues listens on, and every send in any process rings, so a message from
/// a runner process wakes the consumer at once instead of at its next poll.
mod bell {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, OnceLock};

    use tokio::sync::Notify;

    /// File name of the doorbell inside the data directory.
    pub const BELL_FILE: &str = "tre.bell";

    pub struct Bell {
        path: PathBuf,
        notify: Arc<Notify>,
        /// Whether this handle listens (decided on first use, by the first receive).
        listening: OnceLock<Option<tokio::task::JoinHandle<()>>>,
        #[cfg(unix)]
        ringer: OnceLock<Option<std::os::unix::net::UnixDatagram>>,
    }

    impl Bell {
        pub fn new(data_dir: &Path, notify: Arc<Notify>) -> Self {
            Self {
                path: data_dir.join(BELL_FILE),
                notify,
                listening: OnceLock::new(),
                #[cfg(unix)]
                ringer: OnceLock::new(),
            }
        }

        /// Tell the listener, if there is one (never blocks, never fails: a missed ring only
        /// costs the listener a poll interval).
        pub fn ring(&self) {
            #[cfg(unix)]
            {
                let ringer = self.ringer.get_or_init(|| {
                    let s = std::os::unix::net::UnixDatagram::unbound().ok()?;
                    s.set_nonblocking(true).ok()?;
                    Some(s)
                });
                if let Some(s) = ringer {
                    let _ = s.send_to(&[1], &self.path);
                }
            }
        }

        /// Start listening unless another live process does; true if this handle listens.
        /// Needs a tokio runtime (called from `receive`).
        pub fn listen(&self) -> bool {
            self.listening.get_or_init(|| self.bind()).is_some()
        }

        #[cfg(unix)]
        fn bind(&self) -> Option<tokio::task::JoinHandle<()>> {
            use std::os::unix::net::UnixDatagram;
            let sock = match UnixDatagram::bind(&self.path) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    // A live listener answers; a file left by a process that died refuses.
                    let probe = UnixDatagram::unbound().ok()?;
                    probe.set_nonblocking(true).ok()?;
                    match probe.send_to(&[0], &self.path) {
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            std::fs::remove_file(&self.path).ok()?;
                            UnixDatagram::bind(&self.path).ok()?
                        }
                        _ => return None,
                    }
                }
                // E.g. a data directory path too long for a socket address: poll instead.
                Err(_) => return None,
            };
            sock.set_nonblocking(true).ok()?;
            let sock = tokio::net::UnixDatagram::from_std(sock).ok()?;
            let notify = self.notify.clone();
            Some(tokio::spawn(async move {
                let mut buf = [0u8; 16];
                while sock.recv(&mut buf).await.is_ok() {
                    notify.notify_waiters();
                }
            }))
        }

        #[cfg(not(unix))]
        fn bind(&self) -> Option<tokio::task::JoinHandle<()>> {
            None
        }
    }

    impl Drop for Bell {
        fn drop(&mut self) {
            if let Some(Some(task)) = self.listening.get() {
                task.abort();
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls queued together share a transaction: one that wrote and then failed must leave
    /// nothing behind, and the others must all be kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_that_fails_after_writing_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut calls = Vec::new();
        for i in 0..40i64 {
            let db = db.clone();
            calls.push(tokio::spawn(async move {
                db.write(move |conn| {
                    conn.execute(
                        "INSERT INTO queue_messages (queue, id, body, visible_at, sent_at)
                         VALUES ('t', ?1, 'b', 0, 0)",
                        [i.to_string()],
                    )
                    .map_err(sql_err)?;
                    if i % 3 == 0 {
                        return Err(PortError::Invalid(format!("call {i} changes its mind")));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        for (i, c) in calls.into_iter().enumerate() {
            let r = c.await.unwrap();
            assert_eq!(r.is_err(), i % 3 == 0, "call {i}: {r:?}");
        }
        let ids: Vec<i64> = db
            .call(|conn| {
                let mut s = conn
                    .prepare("SELECT id FROM queue_messages WHERE queue = 't'")
                    .map_err(sql_err)?;
                let rows = s
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(sql_err)?;
                Ok(rows.map(|r| r.unwrap().parse::<i64>().unwrap()).collect())
            })
            .await
            .unwrap();
        let mut ids = ids;
        ids.sort();
        let kept: Vec<i64> = (0..40).filter(|i| i % 3 != 0).collect();
        assert_eq!(ids, kept);
    }

    /// A panicking call loses only itself; the writer goes on.
    #[tokio::test]
    async fn a_panicking_call_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let r: PortResult<()> = db.write(|_| panic!("a bug in a call")).await;
        assert!(matches!(r, Err(PortError::Backend(_))), "{r:?}");
        assert_eq!(db.write(|_| Ok(7)).await.unwrap(), 7);
    }
}

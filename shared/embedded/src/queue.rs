//! `Queue` on SQLite: named queues as rows of one table, SQS-like visibility timeouts, delays,
//! long polling and a redrive policy (dead-letter queue after `max_receives` receives).
//!
//! Receipts: every receive issues a fresh receipt and forgets the previous one. Deleting or
//! changing visibility with a receipt that is no longer current is therefore a no-op for
//! `delete` (so a slow consumer whose visibility expired cannot delete a message someone else
//! is now processing; delivery stays at-least-once) and `Invalid` for `change_visibility`
//! (SQS answers `ReceiptHandleIsInvalid`/`MessageNotInflight` there).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use tre_core::ports::{Queue, QueueMessage};
use tre_core::{PortError, PortResult};

use crate::db::{now_ms, sql_err, Db};

/// SQS limits, kept locally so code tested here works against SQS.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
const MAX_WAIT: Duration = Duration::from_secs(20);
const MAX_BODY: usize = 256 * 1024;
/// How often a long poll looks again when nothing woke it. A send in this process, or in
/// another process while this one listens on the data directory's doorbell, wakes it at
/// once, and it sleeps exactly until the next delayed or in-flight message becomes visible;
/// the poll is only a safety net (a lost ring). Without the doorbell (another process holds
/// it, or no Unix sockets) sends from other processes are seen at the short interval.
const FALLBACK_POLL: Duration = Duration::from_secs(1);
const POLL_WITHOUT_BELL: Duration = Duration::from_millis(100);

/// The message a receipt was issued for: receipts are `<seq>.<random>`, so deleting or
/// changing visibility finds the row by its key and needs no index on receipts. A receipt
/// of another shape (one issued before receipts named their row) is looked up by value.
fn receipt_seq(receipt: &str) -> Option<i64> {
    receipt.split_once('.')?.0.parse().ok()
}

/// Where messages go after too many receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// A message may be received this many times; the next receive moves it to the DLQ.
    pub max_receives: u32,
    pub dead_letter_queue: String,
}

#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    name: String,
    redrive: Option<RedrivePolicy>,
}

impl SqliteQueue {
    pub fn new(
        db: Db,
        name: impl Into<String>,
        redrive: Option<RedrivePolicy>,
    ) -> PortResult<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(PortError::Invalid("queue name must not be empty".into()));
        }
        if let Some(r) = &redrive {
            if r.max_receives == 0 || r.dead_letter_queue.is_empty() {
                return Err(PortError::Invalid(
                    "redrive policy needs max_receives >= 1 and a dead-letter queue".into(),
                ));
            }
            if r.dead_letter_queue == name {
                return Err(PortError::Invalid("a queue cannot be its own DLQ".into()));
            }
        }
        Ok(Self { db, name, redrive })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receive what is visible now; with nothing, also when the next message becomes visible
    /// (ms since the epoch).
    async fn try_receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> PortResult<(Vec<QueueMessage>, Option<i64>)> {
        let name = self.name.clone();
        let redrive = self.redrive.clone();
        let visibility_ms = visibility.as_millis() as i64;
        let (out, next, dead_lettered) = self
            .db
            .write(move |tx| {
                let now = now_ms();
                let mut dead_lettered = false;
                let mut out = Vec::new();
                // Loop because messages moved to the DLQ leave room for others.
                while out.len() < max {
                    let candidates: Vec<(i64, String, String, i64)> = {
                        let mut stmt = tx
                            .prepare_cached(
                                "SELECT seq, id, body, receive_count FROM queue_messages
                                 WHERE queue = ?1 AND visible_at <= ?2 ORDER BY seq LIMIT ?3",
                            )
                            .map_err(sql_err)?;
                        let rows = stmt
                            .query_map(params![name, now, (max - out.len()) as i64], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                            })
                            .map_err(sql_err)?;
                        rows.collect::<Result<_, _>>().map_err(sql_err)?
                    };
                    if candidates.is_empty() {
                        break;
                    }
                    for (seq, id, body, count) in candidates {
                        let count = count as u32;
                        if let Some(r) = redrive.as_ref().filter(|r| count >= r.max_receives) {
                            // Re-insert so it gets a new position at the DLQ's tail.
                            tx.execute(
                                "INSERT INTO queue_messages (queue, id, body, visible_at, sent_at)
                                 SELECT ?1, id, body, ?2, sent_at FROM queue_messages WHERE seq = ?3",
                                params![r.dead_letter_queue, now, seq],
                            )
                            .map_err(sql_err)?;
                            tx.execute("DELETE FROM queue_messages WHERE seq = ?1", params![seq])
                                .map_err(sql_err)?;
                            dead_lettered = true;
                            continue;
                        }
                        let receipt = format!("{seq}.{}", uuid::Uuid::new_v4().simple());
                        tx.execute(
                            "UPDATE queue_messages SET receive_count = ?1, receipt = ?2,
                                 visible_at = ?3 WHERE seq = ?4",
                            params![count + 1, receipt, now + visibility_ms, seq],
                        )
                        .map_err(sql_err)?;
                        out.push(QueueMessage {
                            id,
                            receipt,
                            body,
                            receive_count: count + 1,
                        });
                    }
                }
                let next = if out.is_empty() {
                    tx.prepare_cached(
                        "SELECT MIN(visible_at) FROM queue_messages
                         WHERE queue = ?1 AND visible_at > ?2",
                    )
                    .map_err(sql_err)?
                    .query_row(params![name, now], |r| r.get::<_, Option<i64>>(0))
                    .map_err(sql_err)?
                } else {
                    None
                };
                Ok((out, next, dead_lettered))
            })
            .await?;
        if dead_lettered {
            self.db.ring();
        }
        Ok((out, next))
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str, delay: Option<Duration>) -> PortResult<String> {
        if body.is_empty() || body.len() > MAX_BODY {
            return Err(PortError::Invalid(format!(
                "message body must be 1..={MAX_BODY} bytes"
            )));
        }
        let delay = delay.unwrap_or_default();
        if delay > MAX_DELAY {
            return Err(PortError::Invalid("delay is at most 15 minutes".into()));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (name, body, msg_id) = (self.name.clone(), body.to_string(), id.clone());
        self.db
            .write(move |conn| {
                let now = now_ms();
                conn.prepare_cached(
                    "INSERT INTO queue_messages (queue, id, body, visible_at, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sql_err)?
                .execute(params![
                    name,
                    msg_id,
                    body,
                    now + delay.as_millis() as i64,
                    now
                ])
                .map_err(sql_err)
            })
            .await?;
        // Woken polls look again; for a delayed message they learn when it is due.
        self.db.ring();
        Ok(id)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> PortResult<Vec<QueueMessage>> {
        if !(1..=10).contains(&max) {
            return Err(PortError::Invalid("receive at most 1..=10 messages".into()));
        }
        if visibility > MAX_VISIBILITY || wait > MAX_WAIT {
            return Err(PortError::Invalid(
                "visibility is at most 12 hours and wait at most 20 seconds".into(),
            ));
        }
        let deadline = Instant::now() + wait;
        let poll = if !wait.is_zero() && self.db.listen() {
            FALLBACK_POLL
        } else {
            POLL_WITHOUT_BELL
        };
        loop {
            // Register interest before looking, so a send in between is not missed.
            let woken = self.db.sent_notify().notified();
            let (got, next_visible) = self.try_receive(max, visibility).await?;
            let now = Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let mut nap = (deadline - now).min(poll);
            if let Some(at) = next_visible {
                // +1 ms: visibility is compared in whole milliseconds.
                let due = Duration::from_millis((at - now_ms()).max(0) as u64 + 1);
                nap = nap.min(due);
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt: &str) -> PortResult<()> {
        if receipt.is_empty() {
            return Err(PortError::Invalid("empty receipt".into()));
        }
        let (name, receipt) = (self.name.clone(), receipt.to_string());
        self.db
            .write(move |conn| {
                // A stale or unknown receipt matches nothing: a no-op (see the module docs).
                let deleted = match receipt_seq(&receipt) {
                    Some(seq) => conn
                        .prepare_cached(
                            "DELETE FROM queue_messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                        )
                        .map_err(sql_err)?
                        .execute(params![seq, name, receipt]),
                    None => conn
                        .prepare_cached(
                            "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                        )
                        .map_err(sql_err)?
                        .execute(params![name, receipt]),
                };
                deleted.map_err(sql_err).map(|_| ())
            })
            .await
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> PortResult<()> {
        if visibility > MAX_VISIBILITY {
            return Err(PortError::Invalid("visibility is at most 12 hours".into()));
        }
        let (name, receipt_s) = (self.name.clone(), receipt.to_string());
        let changed = self
            .db
            .write(move |conn| {
                let now = now_ms();
                let seq: Option<i64> = match receipt_seq(&receipt_s) {
                    Some(seq) => conn.query_row(
                        "SELECT seq FROM queue_messages
                         WHERE seq = ?1 AND queue = ?2 AND receipt = ?3 AND visible_at > ?4",
                        params![seq, name, receipt_s, now],
                        |r| r.get(0),
                    ),
                    None => conn.query_row(
                        "SELECT seq FROM queue_messages
                         WHERE queue = ?1 AND receipt = ?2 AND visible_at > ?3",
                        params![name, receipt_s, now],
                        |r| r.get(0),
                    ),
                }
                .optional()
                .map_err(sql_err)?;
                let Some(seq) = seq else { return Ok(false) };
                conn.execute(
                    "UPDATE queue_messages SET visible_at = ?1 WHERE seq = ?2",
                    params![now + visibility.as_millis() as i64, seq],
                )
                .map_err(sql_err)?;
                Ok(true)
            })
            .await?;
        if !changed {
            return Err(PortError::Invalid(format!(
                "receipt {receipt} is not the current receipt of an in-flight message"
            )));
        }
        if visibility.is_zero() {
            self.db.ring();
        }
        Ok(())
    }

    async fn approximate_len(&self) -> PortResult<u64> {
        let name = self.name.clone();
        self.db
            .call(move |conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                    params![name],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n as u64)
                .map_err(sql_err)
            })
            .await
    }
}

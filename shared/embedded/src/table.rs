//! `Table` on SQLite: one row per item, versions kept by the store, the `gsi1` index as two
//! nullable columns with a partial index.

use std::collections::HashSet;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tre_core::ports::{Condition, Item, Key, Page, Query, Table, WriteOp, INDEX_GSI1};
use tre_core::{PortError, PortResult};

use crate::db::{sql_err, Db};

/// Most ops in one `transact` (the port's limit).
const MAX_TRANSACT_OPS: usize = 32;
/// Page size when the query gives no limit (DynamoDB also pages by itself).
const DEFAULT_PAGE: usize = 1000;

#[derive(Clone)]
pub struct SqliteTable {
    db: Db,
}

impl SqliteTable {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn validate_key(what: &str, key: &Key) -> PortResult<()> {
    // DynamoDB rejects empty key strings; refuse them here too so behaviour matches.
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(PortError::Invalid(format!("{what}: empty key attribute")));
    }
    Ok(())
}

fn validate_put(key: &Key, index: Option<&Key>, body: &Value) -> PortResult<()> {
    validate_key("key", key)?;
    if let Some(ix) = index {
        validate_key("index key", ix)?;
    }
    if !body.is_object() {
        return Err(PortError::Invalid("item body must be a JSON object".into()));
    }
    Ok(())
}

/// What the store holds under a key: its version and index key (a write that keeps the index
/// key leaves the index alone, which spares the transaction a page).
struct Stored {
    version: u64,
    index: Option<(String, String)>,
}

fn stored(tx: &Connection, key: &Key) -> PortResult<Option<Stored>> {
    tx.prepare_cached("SELECT version, ipk, isk FROM items WHERE pk = ?1 AND sk = ?2")
        .map_err(sql_err)?
        .query_row(params![key.pk, key.sk], |r| {
            let ipk: Option<String> = r.get(1)?;
            let isk: Option<String> = r.get(2)?;
            Ok(Stored {
                version: r.get::<_, i64>(0)? as u64,
                index: ipk.zip(isk),
            })
        })
        .optional()
        .map_err(sql_err)
}

fn holds(condition: Condition, current: Option<u64>) -> bool {
    match condition {
        Condition::Absent => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Version(v) => current == Some(v),
    }
}

fn describe(condition: Condition, current: Option<u64>) -> String {
    let now = match current {
        None => "absent".to_string(),
        Some(v) => format!("version {v}"),
    };
    format!("required {condition:?}, item is {now}")
}

/// The body as stored. Serialised by the caller, not on the writer: the one writer thread
/// then only runs SQL, and the body is not deep-copied to get there.
fn body_text(body: &Value) -> PortResult<String> {
    serde_json::to_string(body).map_err(|e| PortError::Invalid(format!("item body: {e}")))
}

fn write_put(
    tx: &Connection,
    key: &Key,
    index: Option<&Key>,
    text: &str,
    current: Option<&Stored>,
) -> PortResult<u64> {
    let version = current.map_or(1, |c| c.version + 1);
    let sql = match current {
        None => {
            "INSERT INTO items (pk, sk, ipk, isk, body, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        }
        // Setting the index columns, even to the values they hold, makes SQLite rewrite the
        // index entry: a page more in the WAL for every update of an indexed item.
        Some(c)
            if c.index.as_ref().map(|(pk, sk)| (pk.as_str(), sk.as_str()))
                == index.map(|k| (k.pk.as_str(), k.sk.as_str())) =>
        {
            "UPDATE items SET body = ?5, version = ?6 WHERE pk = ?1 AND sk = ?2"
        }
        Some(_) => {
            "UPDATE items SET ipk = ?3, isk = ?4, body = ?5, version = ?6 WHERE pk = ?1 AND sk = ?2"
        }
    };
    tx.prepare_cached(sql)
        .map_err(sql_err)?
        .execute(params![
            key.pk,
            key.sk,
            index.map(|k| k.pk.as_str()),
            index.map(|k| k.sk.as_str()),
            text,
            version as i64
        ])
        .map_err(sql_err)?;
    Ok(version)
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Key, Option<Key>, String, i64)> {
    let key = Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?);
    let ipk: Option<String> = row.get(2)?;
    let isk: Option<String> = row.get(3)?;
    let index = match (ipk, isk) {
        (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
        _ => None,
    };
    Ok((key, index, row.get(4)?, row.get(5)?))
}

fn to_item((key, index, body, version): (Key, Option<Key>, String, i64)) -> PortResult<Item> {
    let body = serde_json::from_str(&body)
        .map_err(|e| PortError::Backend(format!("stored body of {key:?} is not JSON: {e}")))?;
    Ok(Item {
        key,
        index,
        body,
        version: version as u64,
    })
}

/// The cursor is the last returned item's position in the scanned order, base64url-encoded
/// JSON: `["p", sk]` on the primary key, `["i", isk, pk, sk]` on the index (pk and sk break
/// ties between equal index sort keys).
fn encode_cursor(parts: &[&str]) -> String {
    let json = serde_json::to_vec(parts).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str, kind: &str, len: usize) -> PortResult<Vec<String>> {
    let bad = || PortError::Invalid("malformed query cursor".into());
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let parts: Vec<String> = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if parts.len() != len || parts[0] != kind {
        return Err(bad());
    }
    Ok(parts[1..].to_vec())
}

fn run_query(conn: &mut rusqlite::Connection, q: &Query) -> PortResult<Page> {
    let on_index = match q.index.as_deref() {
        None => false,
        Some(INDEX_GSI1) => true,
        Some(other) => return Err(PortError::Invalid(format!("unknown index `{other}`"))),
    };
    let limit = match q.limit {
        Some(0) => return Err(PortError::Invalid("query limit must be at least 1".into())),
        Some(n) => n.min(DEFAULT_PAGE),
        None => DEFAULT_PAGE,
    };
    let (pk_col, sk_col) = if on_index {
        ("ipk", "isk")
    } else {
        ("pk", "sk")
    };
    let mut sql = format!("SELECT pk, sk, ipk, isk, body, version FROM items WHERE {pk_col} = ?");
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(q.pk.clone())];
    if let Some(prefix) = q.sk_prefix.as_deref().filter(|p| !p.is_empty()) {
        // `>=` lets SQLite range-scan the index; substr (in characters) checks the prefix.
        sql.push_str(&format!(
            " AND {sk_col} >= ? AND substr({sk_col}, 1, ?) = ?"
        ));
        args.push(SqlValue::Text(prefix.to_string()));
        args.push(SqlValue::Integer(prefix.chars().count() as i64));
        args.push(SqlValue::Text(prefix.to_string()));
    }
    let cmp = if q.descending { "<" } else { ">" };
    if let Some(cursor) = &q.cursor {
        if on_index {
            let c = decode_cursor(cursor, "i", 4)?;
            sql.push_str(&format!(" AND (isk, pk, sk) {cmp} (?, ?, ?)"));
            args.extend(c.into_iter().map(SqlValue::Text));
        } else {
            let c = decode_cursor(cursor, "p", 2)?;
            sql.push_str(&format!(" AND sk {cmp} ?"));
            args.extend(c.into_iter().map(SqlValue::Text));
        }
    }
    let dir = if q.descending { "DESC" } else { "ASC" };
    if on_index {
        sql.push_str(&format!(" ORDER BY isk {dir}, pk {dir}, sk {dir}"));
    } else {
        sql.push_str(&format!(" ORDER BY sk {dir}"));
    }
    // One extra row tells whether another page exists, so the last page has no cursor.
    sql.push_str(" LIMIT ?");
    args.push(SqlValue::Integer(limit as i64 + 1));

    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), row_to_item)
        .map_err(sql_err)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(to_item(row.map_err(sql_err)?)?);
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| {
            if on_index {
                let isk = last.index.as_ref().map(|k| k.sk.as_str()).unwrap_or("");
                encode_cursor(&["i", isk, &last.key.pk, &last.key.sk])
            } else {
                encode_cursor(&["p", &last.key.sk])
            }
        })
    } else {
        None
    };
    Ok(Page { items, next })
}

/// A `WriteOp` with its body already serialised.
enum Op {
    Put {
        key: Key,
        index: Option<Key>,
        text: String,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    Check {
        key: Key,
        condition: Condition,
    },
}

fn prepare_ops(ops: &[WriteOp]) -> PortResult<Vec<Op>> {
    ops.iter()
        .map(|op| {
            Ok(match op {
                WriteOp::Put {
                    key,
                    index,
                    body,
                    condition,
                } => Op::Put {
                    key: key.clone(),
                    index: index.clone(),
                    text: body_text(body)?,
                    condition: *condition,
                },
                WriteOp::Delete { key, condition } => Op::Delete {
                    key: key.clone(),
                    condition: *condition,
                },
                WriteOp::Check { key, condition } => Op::Check {
                    key: key.clone(),
                    condition: *condition,
                },
            })
        })
        .collect()
}

/// Runs inside the writer's transaction (see `Db::write`): an error undoes every op.
fn run_transact(tx: &Connection, ops: &[Op]) -> PortResult<Vec<u64>> {
    // Check every condition against the state before the transaction, then apply.
    let mut current = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let (key, condition) = match op {
            Op::Put { key, condition, .. }
            | Op::Delete { key, condition }
            | Op::Check { key, condition } => (key, *condition),
        };
        let cur = stored(tx, key)?;
        let version = cur.as_ref().map(|c| c.version);
        if !holds(condition, version) {
            return Err(PortError::ConditionFailed(format!(
                "transaction op {i} ({}/{}): {}",
                key.pk,
                key.sk,
                describe(condition, version)
            )));
        }
        current.push(cur);
    }
    let mut out = Vec::with_capacity(ops.len());
    for (op, cur) in ops.iter().zip(current) {
        match op {
            Op::Put {
                key, index, text, ..
            } => out.push(write_put(tx, key, index.as_ref(), text, cur.as_ref())?),
            Op::Delete { key, .. } => {
                tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                    .map_err(sql_err)?
                    .execute(params![key.pk, key.sk])
                    .map_err(sql_err)?;
                out.push(0);
            }
            Op::Check { .. } => out.push(0),
        }
    }
    Ok(out)
}

fn validate_ops(ops: &[WriteOp]) -> PortResult<()> {
    if ops.is_empty() || ops.len() > MAX_TRANSACT_OPS {
        return Err(PortError::Invalid(format!(
            "a transaction has 1..={MAX_TRANSACT_OPS} ops, got {}",
            ops.len()
        )));
    }
    let mut seen = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        let key = match op {
            WriteOp::Put {
                key, index, body, ..
            } => {
                validate_put(key, index.as_ref(), body)
                    .map_err(|e| PortError::Invalid(format!("transaction op {i}: {e}")))?;
                key
            }
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => {
                validate_key("key", key)?;
                key
            }
        };
        if !seen.insert(key.clone()) {
            return Err(PortError::Invalid(format!(
                "transaction op {i}: key {}/{} appears twice",
                key.pk, key.sk
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>> {
        validate_key("key", key)?;
        let key = key.clone();
        self.db
            .call(move |conn| {
                let row = conn
                    .prepare_cached(
                        "SELECT pk, sk, ipk, isk, body, version FROM items
                         WHERE pk = ?1 AND sk = ?2",
                    )
                    .map_err(sql_err)?
                    .query_row(params![key.pk, key.sk], row_to_item)
                    .optional()
                    .map_err(sql_err)?;
                row.map(to_item).transpose()
            })
            .await
    }

    async fn put(
        &self,
        key: &Key,
        index: Option<&Key>,
        body: &Value,
        condition: Condition,
    ) -> PortResult<u64> {
        validate_put(key, index, body)?;
        let (key, index, text) = (key.clone(), index.cloned(), body_text(body)?);
        self.db
            .write(move |tx| {
                let cur = stored(tx, &key)?;
                let version = cur.as_ref().map(|c| c.version);
                if !holds(condition, version) {
                    return Err(PortError::ConditionFailed(format!(
                        "put {}/{}: {}",
                        key.pk,
                        key.sk,
                        describe(condition, version)
                    )));
                }
                write_put(tx, &key, index.as_ref(), &text, cur.as_ref())
            })
            .await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> PortResult<()> {
        validate_key("key", key)?;
        let key = key.clone();
        self.db
            .write(move |tx| {
                let cur = stored(tx, &key)?.map(|c| c.version);
                if !holds(condition, cur) {
                    return Err(PortError::ConditionFailed(format!(
                        "delete {}/{}: {}",
                        key.pk,
                        key.sk,
                        describe(condition, cur)
                    )));
                }
                tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                    .map_err(sql_err)?
                    .execute(params![key.pk, key.sk])
                    .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        if query.pk.is_empty() {
            return Err(PortError::Invalid("query: empty partition key".into()));
        }
        let query = query.clone();
        self.db.call(move |conn| run_query(conn, &query)).await
    }

    async fn transact(&self, ops: &[WriteOp]) -> PortResult<Vec<u64>> {
        validate_ops(ops)?;
        let ops = prepare_ops(ops)?;
        self.db.write(move |tx| run_transact(tx, &ops)).await
    }
}

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PortError, PortResult};

/// Most keys one [`Table::get_many`] takes (DynamoDB's `BatchGetItem` limit).
pub const MAX_GET_MANY: usize = 100;

/// Name of the one secondary index every `Table` offers (DynamoDB GSI `gsi1` on `gsi1pk`/`gsi1sk`).
pub const INDEX_GSI1: &str = "gsi1";

/// Primary key of an item: partition key and sort key (both strings).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A stored item. `version` is managed by the store: 1 after the first put, +1 on every put.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Key under the secondary index `gsi1`, if the item is indexed.
    pub index: Option<Key>,
    /// The item's payload: always a JSON object.
    pub body: Value,
    pub version: u64,
}

/// The condition a write requires. There is deliberately no unconditional write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The item must not exist (create).
    Absent,
    /// The item must exist with exactly this version (optimistic concurrency).
    Version(u64),
    /// The item must exist, whatever its version.
    Exists,
}

/// One write of a transaction (or a single write).
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Write `body` under `key`; the stored version becomes previous+1 (or 1).
    Put {
        key: Key,
        index: Option<Key>,
        body: Value,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Write nothing, but fail the transaction unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

/// A query: all items with partition key `pk` (on the primary key or on `index`), optionally
/// with sort keys starting with `sk_prefix`, in sort-key order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// `None` for the primary key, `Some(INDEX_GSI1)` for the secondary index.
    pub index: Option<String>,
    pub pk: String,
    pub sk_prefix: Option<String>,
    /// Maximum items in one page (the store may return fewer).
    pub limit: Option<usize>,
    /// Opaque cursor from a previous page's `next`.
    pub cursor: Option<String>,
    pub descending: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Cursor for the next page; `None` when this was the last one.
    pub next: Option<String>,
}

/// Versioned item store with conditional writes (DynamoDB; SQLite locally).
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>>;

    /// Several gets at once (DynamoDB `BatchGetItem`): one answer per key, in the keys' order,
    /// `None` for a missing item; a key given twice is answered twice. At most
    /// [`MAX_GET_MANY`] keys. Each item is read as `get` reads it (strongly consistent), but
    /// the items are not read at one instant. The default reads one key after another, which
    /// suits a local store where a get is cheap.
    async fn get_many(&self, keys: &[Key]) -> PortResult<Vec<Option<Item>>> {
        if keys.len() > MAX_GET_MANY {
            return Err(PortError::Invalid(format!(
                "at most {MAX_GET_MANY} keys in one get_many, not {}",
                keys.len()
            )));
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Conditional put; returns the new version. `ConditionFailed` if the condition does not hold.
    async fn put(
        &self,
        key: &Key,
        index: Option<&Key>,
        body: &Value,
        condition: Condition,
    ) -> PortResult<u64>;

    /// Conditional delete. `ConditionFailed` if the condition does not hold.
    async fn delete(&self, key: &Key, condition: Condition) -> PortResult<()>;

    async fn query(&self, query: &Query) -> PortResult<Page>;

    /// All-or-nothing: either every op's condition holds and all are applied, or nothing changes
    /// and `ConditionFailed` names the first op that failed. Returns, per op, the new version of
    /// a `Put` (0 for `Delete`/`Check`). At most 32 ops (DynamoDB's limit would be 100; we keep
    /// headroom): a use case writes at most 25 and its audit event adds up to 2. Each key at
    /// most once.
    async fn transact(&self, ops: &[WriteOp]) -> PortResult<Vec<u64>>;
}

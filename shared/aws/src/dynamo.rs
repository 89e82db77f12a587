//! `Table` on DynamoDB: one table (`pk`/`sk`), a store-managed `version` number, the body as a
//! JSON string attribute (keeps any JSON faithful), and the `gsi1` index on `gsi1pk`/`gsi1sk`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use tre_core::ports::{
    Condition, Item, Key, Page, PortError, PortResult, Query, Table, WriteOp, INDEX_GSI1,
    MAX_GET_MANY,
};

use crate::errors::{backend, code};

type Attrs = HashMap<String, AttributeValue>;

const MAX_TRANSACTION_OPS: usize = 32;

/// How often a batch get asks again for keys DynamoDB left unprocessed before giving up.
const MAX_BATCH_GET_ROUNDS: u32 = 8;

#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([
        ("pk".to_string(), s(&key.pk)),
        ("sk".to_string(), s(&key.sk)),
    ])
}

/// Expression and values for a condition; `None` expression for none needed.
fn condition_expr(c: Condition) -> (&'static str, Option<(String, AttributeValue)>) {
    match c {
        Condition::Absent => ("attribute_not_exists(pk)", None),
        Condition::Exists => ("attribute_exists(pk)", None),
        Condition::Version(v) => (
            "#v = :v",
            Some((":v".into(), AttributeValue::N(v.to_string()))),
        ),
    }
}

fn check_key(key: &Key) -> PortResult<()> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(PortError::Invalid("pk and sk must not be empty".into()));
    }
    Ok(())
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_conf(conf: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(conf), table)
    }

    fn item_attrs(key: &Key, index: Option<&Key>, body: &Value, version: u64) -> PortResult<Attrs> {
        if !body.is_object() {
            return Err(PortError::Invalid(
                "an item body must be a JSON object".into(),
            ));
        }
        let mut attrs = key_attrs(key);
        attrs.insert("version".into(), AttributeValue::N(version.to_string()));
        attrs.insert("body".into(), AttributeValue::S(body.to_string()));
        if let Some(ix) = index {
            attrs.insert("gsi1pk".into(), s(&ix.pk));
            attrs.insert("gsi1sk".into(), s(&ix.sk));
        }
        Ok(attrs)
    }

    fn decode(attrs: &Attrs) -> PortResult<Item> {
        let get = |k: &str| match attrs.get(k) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            _ => Err(PortError::Backend(format!("stored item lacks `{k}`"))),
        };
        let version = match attrs.get("version") {
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|_| PortError::Backend("bad version".into()))?,
            _ => return Err(PortError::Backend("stored item lacks `version`".into())),
        };
        let index = match (attrs.get("gsi1pk"), attrs.get("gsi1sk")) {
            (Some(AttributeValue::S(p)), Some(AttributeValue::S(s))) => Some(Key::new(p, s)),
            _ => None,
        };
        Ok(Item {
            key: Key::new(get("pk")?, get("sk")?),
            index,
            body: serde_json::from_str(&get("body")?)
                .map_err(|e| PortError::Backend(format!("stored body: {e}")))?,
            version,
        })
    }

    /// The version a put will write, given its condition (reads the item for `Exists`).
    async fn next_version(&self, key: &Key, condition: Condition) -> PortResult<u64> {
        Ok(match condition {
            Condition::Absent => 1,
            Condition::Version(v) => v + 1,
            Condition::Exists => match self.get(key).await? {
                Some(item) => item.version + 1,
                None => {
                    return Err(PortError::ConditionFailed(format!(
                        "{}/{} does not exist",
                        key.pk, key.sk
                    )))
                }
            },
        })
    }
}

/// Create the table (on demand, with `gsi1`) unless it exists: for tests and `tre dev --aws`.
pub async fn create_table_if_missing(client: &Client, table: &str) -> PortResult<()> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| PortError::Invalid(e.to_string()))
    };
    let ks = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(|e| PortError::Invalid(e.to_string()))
    };
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(INDEX_GSI1)
        .key_schema(ks("gsi1pk", KeyType::Hash)?)
        .key_schema(ks("gsi1sk", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| PortError::Invalid(e.to_string()))?;
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .key_schema(ks("pk", KeyType::Hash)?)
        .key_schema(ks("sk", KeyType::Range)?)
        .global_secondary_indexes(gsi)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(backend("create table", e)),
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>> {
        check_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("get", e))?;
        out.item().map(Self::decode).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> PortResult<Vec<Option<Item>>> {
        if keys.len() > MAX_GET_MANY {
            return Err(PortError::Invalid(format!(
                "at most {MAX_GET_MANY} keys in one get_many, not {}",
                keys.len()
            )));
        }
        for key in keys {
            check_key(key)?;
        }
        if let [key] = keys {
            return Ok(vec![self.get(key).await?]);
        }
        // BatchGetItem refuses a key listed twice: ask for each once, answer each as given.
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(unique.len());
        let mut pending: Vec<Attrs> = unique.into_iter().map(key_attrs).collect();
        let mut round = 0u32;
        while !pending.is_empty() {
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                // As consistent as `get`: a read after a write sees it.
                .consistent_read(true)
                .build()
                .map_err(|e| PortError::Invalid(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(|e| backend("batch get", e))?;
            for attrs in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let item = Self::decode(attrs)?;
                found.insert(item.key.clone(), item);
            }
            // Keys DynamoDB did not get to (throughput, or 16 MB of answers) come back
            // unprocessed: ask again, backing off, until none are left.
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if !pending.is_empty() {
                round += 1;
                if round > MAX_BATCH_GET_ROUNDS {
                    return Err(PortError::Backend(format!(
                        "batch get: {} keys still unprocessed after {MAX_BATCH_GET_ROUNDS} retries",
                        pending.len()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10u64 << round.min(6))).await;
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn put(
        &self,
        key: &Key,
        index: Option<&Key>,
        body: &Value,
        condition: Condition,
    ) -> PortResult<u64> {
        check_key(key)?;
        let version = self.next_version(key, condition).await?;
        let (expr, value) = condition_expr(condition);
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item_attrs(key, index, body, version)?))
            .condition_expression(expr);
        if let Some((k, v)) = value {
            req = req
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(version),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Err(PortError::ConditionFailed(format!(
                    "{}/{}: {condition:?} does not hold",
                    key.pk, key.sk
                )))
            }
            Err(e) => Err(backend("put", e)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> PortResult<()> {
        check_key(key)?;
        let (expr, value) = condition_expr(condition);
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .condition_expression(expr);
        if let Some((k, v)) = value {
            req = req
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Err(PortError::ConditionFailed(format!(
                    "{}/{}: {condition:?} does not hold",
                    key.pk, key.sk
                )))
            }
            Err(e) => Err(backend("delete", e)),
        }
    }

    async fn query(&self, q: &Query) -> PortResult<Page> {
        let (pk_attr, sk_attr) = match q.index.as_deref() {
            None => ("pk", "sk"),
            Some(INDEX_GSI1) => ("gsi1pk", "gsi1sk"),
            Some(other) => return Err(PortError::Invalid(format!("unknown index `{other}`"))),
        };
        if q.pk.is_empty() {
            return Err(PortError::Invalid(
                "the partition key must not be empty".into(),
            ));
        }
        let mut expr = "#pk = :pk".to_string();
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", s(&q.pk))
            .scan_index_forward(!q.descending);
        if let Some(prefix) = q.sk_prefix.as_deref().filter(|p| !p.is_empty()) {
            expr.push_str(" AND begins_with(#sk, :prefix)");
            req = req
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":prefix", s(prefix));
        }
        req = req.key_condition_expression(expr);
        if q.index.is_some() {
            req = req.index_name(INDEX_GSI1);
        } else {
            req = req.consistent_read(true);
        }
        if let Some(limit) = q.limit {
            let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
            req = req.limit(limit);
        }
        if let Some(cursor) = &q.cursor {
            req = req.set_exclusive_start_key(Some(decode_cursor(cursor)?));
        }
        let out = req.send().await.map_err(|e| backend("query", e))?;
        let items = out
            .items()
            .iter()
            .map(Self::decode)
            .collect::<PortResult<Vec<_>>>()?;
        let next = out.last_evaluated_key().map(encode_cursor).transpose()?;
        Ok(Page { items, next })
    }

    async fn transact(&self, ops: &[WriteOp]) -> PortResult<Vec<u64>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(PortError::Invalid(format!(
                "at most {MAX_TRANSACTION_OPS} operations per transaction"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::with_capacity(ops.len());
        let mut versions = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let key = match op {
                WriteOp::Put { key, .. }
                | WriteOp::Delete { key, .. }
                | WriteOp::Check { key, .. } => key,
            };
            check_key(key)?;
            if !seen.insert(key.clone()) {
                return Err(PortError::Invalid(format!(
                    "transaction op {i}: key {}/{} appears twice",
                    key.pk, key.sk
                )));
            }
            let invalid =
                |e: aws_sdk_dynamodb::error::BuildError| PortError::Invalid(e.to_string());
            let item = match op {
                WriteOp::Put {
                    key,
                    index,
                    body,
                    condition,
                } => {
                    let version = self.next_version(key, *condition).await?;
                    versions.push(version);
                    let (expr, value) = condition_expr(*condition);
                    let mut put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(Self::item_attrs(key, index.as_ref(), body, version)?))
                        .condition_expression(expr);
                    if let Some((k, v)) = value {
                        put = put
                            .expression_attribute_names("#v", "version")
                            .expression_attribute_values(k, v);
                    }
                    TransactWriteItem::builder()
                        .put(put.build().map_err(invalid)?)
                        .build()
                }
                WriteOp::Delete { key, condition } => {
                    versions.push(0);
                    let (expr, value) = condition_expr(*condition);
                    let mut del = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)))
                        .condition_expression(expr);
                    if let Some((k, v)) = value {
                        del = del
                            .expression_attribute_names("#v", "version")
                            .expression_attribute_values(k, v);
                    }
                    TransactWriteItem::builder()
                        .delete(del.build().map_err(invalid)?)
                        .build()
                }
                WriteOp::Check { key, condition } => {
                    versions.push(0);
                    let (expr, value) = condition_expr(*condition);
                    let mut chk = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)))
                        .condition_expression(expr);
                    if let Some((k, v)) = value {
                        chk = chk
                            .expression_attribute_names("#v", "version")
                            .expression_attribute_values(k, v);
                    }
                    TransactWriteItem::builder()
                        .condition_check(chk.build().map_err(invalid)?)
                        .build()
                }
            };
            items.push(item);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(versions),
            Err(e) if code(&e) == Some("TransactionCanceledException") => {
                // Name the first op whose condition failed, like the embedded adapter.
                let failed = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                            t.cancellation_reasons().iter().position(|r| r.code() == Some("ConditionalCheckFailed"))
                        }
                        _ => None,
                    });
                match failed {
                    Some(i) => Err(PortError::ConditionFailed(format!(
                        "transaction op {i}: condition does not hold"
                    ))),
                    None => Err(backend("transact", e)),
                }
            }
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Err(
                PortError::ConditionFailed("transaction: a condition does not hold".into()),
            ),
            Err(e) => Err(backend("transact", e)),
        }
    }
}

fn encode_cursor(key: &Attrs) -> PortResult<String> {
    let mut map = serde_json::Map::new();
    for (k, v) in key {
        match v {
            AttributeValue::S(s) => {
                map.insert(k.clone(), Value::String(s.clone()));
            }
            _ => {
                return Err(PortError::Backend(
                    "unexpected non-string key attribute".into(),
                ))
            }
        }
    }
    Ok(URL_SAFE_NO_PAD.encode(Value::Object(map).to_string()))
}

fn decode_cursor(cursor: &str) -> PortResult<Attrs> {
    let bad = || PortError::Invalid("the cursor is not one this table issued".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let allowed = ["pk", "sk", "gsi1pk", "gsi1sk"];
    map.into_iter()
        .map(|(k, v)| match (allowed.contains(&k.as_str()), v) {
            (true, Value::String(s)) => Ok((k, AttributeValue::S(s))),
            _ => Err(bad()),
        })
        .collect()
}

//! Contract suite for the `Table` port. Every case works under a random partition-key prefix,
//! so several runs can share one table.

use std::sync::Arc;

use serde_json::{json, Value};
use tre_core::ports::{Condition, Key, Query, Table, WriteOp, INDEX_GSI1, MAX_GET_MANY};
use tre_core::PortError;

fn fail(case: &str, msg: impl std::fmt::Display) -> ! {
    panic!("table contract, case `{case}`: {msg}")
}

fn expect_condition_failed<T: std::fmt::Debug>(case: &str, r: Result<T, PortError>) {
    match r {
        Err(PortError::ConditionFailed(_)) => {}
        other => fail(case, format!("expected ConditionFailed, got {other:?}")),
    }
}

/// Run every case against `table`.
pub async fn run(table: Arc<dyn Table>) {
    let p = format!("tk-{}", uuid::Uuid::new_v4().simple());
    let t = table.as_ref();
    get_missing(t, &p).await;
    put_conditions(t, &p).await;
    delete_conditions(t, &p).await;
    non_object_body(t, &p).await;
    query_order_and_prefix(t, &p).await;
    query_pagination(t, &p).await;
    index_with_tied_sort_keys(t, &p).await;
    transact_success(t, &p).await;
    transact_rollback(t, &p).await;
    get_many(t, &p).await;
}

async fn get_missing(t: &dyn Table, p: &str) {
    let r = t.get(&Key::new(format!("{p}#missing"), "x")).await;
    match r {
        Ok(None) => {}
        other => fail("get missing", format!("expected Ok(None), got {other:?}")),
    }
}

async fn put_conditions(t: &dyn Table, p: &str) {
    let key = Key::new(format!("{p}#put"), "a");
    let ix = Key::new(format!("{p}#putix"), "s");
    let v = t
        .put(&key, Some(&ix), &json!({"n": 1}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail("put absent", e));
    if v != 1 {
        fail("put absent", format!("first version must be 1, got {v}"));
    }
    expect_condition_failed(
        "put absent on existing item",
        t.put(&key, None, &json!({"n": 2}), Condition::Absent).await,
    );
    expect_condition_failed(
        "put with wrong version",
        t.put(&key, None, &json!({"n": 2}), Condition::Version(7))
            .await,
    );
    let v = t
        .put(&key, Some(&ix), &json!({"n": 2}), Condition::Version(1))
        .await
        .unwrap_or_else(|e| fail("put with matching version", e));
    if v != 2 {
        fail(
            "put with matching version",
            format!("expected version 2, got {v}"),
        );
    }
    let v = t
        .put(&key, Some(&ix), &json!({"n": 3}), Condition::Exists)
        .await
        .unwrap_or_else(|e| fail("put exists", e));
    if v != 3 {
        fail("put exists", format!("expected version 3, got {v}"));
    }
    expect_condition_failed(
        "put exists on missing item",
        t.put(
            &Key::new(format!("{p}#put"), "nope"),
            None,
            &json!({}),
            Condition::Exists,
        )
        .await,
    );
    let item = t
        .get(&key)
        .await
        .unwrap_or_else(|e| fail("get after puts", e))
        .unwrap_or_else(|| fail("get after puts", "item is missing"));
    if item.version != 3 || item.body != json!({"n": 3}) || item.index != Some(ix) {
        fail("get after puts", format!("unexpected item {item:?}"));
    }
}

async fn delete_conditions(t: &dyn Table, p: &str) {
    let key = Key::new(format!("{p}#del"), "a");
    t.put(&key, None, &json!({}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail("delete: setup", e));
    expect_condition_failed(
        "delete with wrong version",
        t.delete(&key, Condition::Version(2)).await,
    );
    expect_condition_failed(
        "delete absent on existing",
        t.delete(&key, Condition::Absent).await,
    );
    t.delete(&key, Condition::Version(1))
        .await
        .unwrap_or_else(|e| fail("delete with matching version", e));
    if t.get(&key).await.ok().flatten().is_some() {
        fail("delete with matching version", "item still there");
    }
    expect_condition_failed(
        "delete exists on missing",
        t.delete(&key, Condition::Exists).await,
    );
    t.put(&key, None, &json!({}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail("re-create after delete", e));
    t.delete(&key, Condition::Exists)
        .await
        .unwrap_or_else(|e| fail("delete exists", e));
}

async fn non_object_body(t: &dyn Table, p: &str) {
    let key = Key::new(format!("{p}#bad"), "a");
    for body in [json!([1, 2]), json!("text"), json!(3), Value::Null] {
        match t.put(&key, None, &body, Condition::Absent).await {
            Err(PortError::Invalid(_)) => {}
            other => fail(
                "non-object body",
                format!("{body} gave {other:?}, want Invalid"),
            ),
        }
    }
}

/// Every page of `q`, following cursors; returns the sort keys (or pk/sk for the index).
async fn all_pages(t: &dyn Table, mut q: Query, case: &str) -> (Vec<Key>, usize) {
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let page = t.query(&q).await.unwrap_or_else(|e| fail(case, e));
        pages += 1;
        if let Some(limit) = q.limit {
            if page.items.len() > limit {
                fail(
                    case,
                    format!("page of {} items exceeds limit {limit}", page.items.len()),
                );
            }
        }
        keys.extend(page.items.into_iter().map(|i| i.key));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
        if pages > 100 {
            fail(case, "pagination does not terminate");
        }
    }
    (keys, pages)
}

async fn query_order_and_prefix(t: &dyn Table, p: &str) {
    let pk = format!("{p}#q");
    for sk in ["b#2", "a#1", "b#1", "c#1", "b#3"] {
        t.put(
            &Key::new(&pk, sk),
            None,
            &json!({"sk": sk}),
            Condition::Absent,
        )
        .await
        .unwrap_or_else(|e| fail("query: setup", e));
    }
    let sks = |keys: Vec<Key>| keys.into_iter().map(|k| k.sk).collect::<Vec<_>>();
    let q = Query {
        pk: pk.clone(),
        ..Query::default()
    };
    let (keys, _) = all_pages(t, q.clone(), "query all in order").await;
    if sks(keys) != ["a#1", "b#1", "b#2", "b#3", "c#1"] {
        fail("query all in order", "items are not in sort-key order");
    }
    let q = Query {
        sk_prefix: Some("b#".into()),
        ..q
    };
    let (keys, _) = all_pages(t, q.clone(), "query prefix").await;
    if sks(keys) != ["b#1", "b#2", "b#3"] {
        fail("query prefix", "wrong items for prefix b#");
    }
    let q = Query {
        descending: true,
        ..q
    };
    let (keys, _) = all_pages(t, q, "query prefix descending").await;
    if sks(keys) != ["b#3", "b#2", "b#1"] {
        fail("query prefix descending", "wrong order");
    }
}

async fn query_pagination(t: &dyn Table, p: &str) {
    let pk = format!("{p}#page");
    let mut want: Vec<String> = (0..7).map(|i| format!("s{i:02}")).collect();
    for sk in &want {
        t.put(&Key::new(&pk, sk), None, &json!({}), Condition::Absent)
            .await
            .unwrap_or_else(|e| fail("pagination: setup", e));
    }
    let q = Query {
        pk: pk.clone(),
        limit: Some(3),
        ..Query::default()
    };
    let (keys, pages) = all_pages(t, q.clone(), "pagination ascending").await;
    let got: Vec<String> = keys.into_iter().map(|k| k.sk).collect();
    if got != want || pages < 3 {
        fail(
            "pagination ascending",
            format!("got {got:?} in {pages} pages, want {want:?} in >= 3 pages"),
        );
    }
    let (keys, pages) = all_pages(
        t,
        Query {
            descending: true,
            ..q
        },
        "pagination descending",
    )
    .await;
    want.reverse();
    let got: Vec<String> = keys.into_iter().map(|k| k.sk).collect();
    if got != want || pages < 3 {
        fail(
            "pagination descending",
            format!("got {got:?} in {pages} pages"),
        );
    }
}

async fn index_with_tied_sort_keys(t: &dyn Table, p: &str) {
    let ipk = format!("{p}#ix");
    let mut expected = Vec::new();
    for (i, isk) in ["same", "same", "same", "same", "same", "a", "z"]
        .iter()
        .enumerate()
    {
        let key = Key::new(format!("{p}#ixitem{i}"), "item");
        t.put(
            &key,
            Some(&Key::new(&ipk, *isk)),
            &json!({"i": i}),
            Condition::Absent,
        )
        .await
        .unwrap_or_else(|e| fail("index: setup", e));
        expected.push((isk.to_string(), key));
    }
    // An item without an index key never shows up in index queries.
    t.put(
        &Key::new(format!("{p}#ixnone"), "item"),
        None,
        &json!({}),
        Condition::Absent,
    )
    .await
    .unwrap_or_else(|e| fail("index: setup", e));
    for descending in [false, true] {
        let case = if descending {
            "index query with tied sort keys, descending"
        } else {
            "index query with tied sort keys"
        };
        let mut q = Query {
            index: Some(INDEX_GSI1.to_string()),
            pk: ipk.clone(),
            limit: Some(2),
            descending,
            ..Query::default()
        };
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            let page = t.query(&q).await.unwrap_or_else(|e| fail(case, e));
            pages += 1;
            for item in page.items {
                let isk = item
                    .index
                    .clone()
                    .unwrap_or_else(|| fail(case, "index item returned without its index key"))
                    .sk;
                got.push((isk, item.key));
            }
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
            if pages > 50 {
                fail(case, "pagination does not terminate");
            }
        }
        let isks: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
        let mut sorted = isks.clone();
        sorted.sort();
        if descending {
            sorted.reverse();
        }
        if isks != sorted {
            fail(case, format!("index sort keys out of order: {isks:?}"));
        }
        let mut a = got.clone();
        let mut b = expected.clone();
        a.sort();
        b.sort();
        if a != b || pages < 3 {
            fail(
                case,
                format!("got {got:?} in {pages} pages; every item exactly once wanted"),
            );
        }
    }
    let sub = Query {
        index: Some(INDEX_GSI1.to_string()),
        pk: ipk.clone(),
        sk_prefix: Some("sa".into()),
        ..Query::default()
    };
    let (keys, _) = all_pages(t, sub, "index query with prefix").await;
    if keys.len() != 5 {
        fail(
            "index query with prefix",
            format!("want 5 items, got {}", keys.len()),
        );
    }
}

async fn transact_success(t: &dyn Table, p: &str) {
    let a = Key::new(format!("{p}#tx"), "a");
    let b = Key::new(format!("{p}#tx"), "b");
    let c = Key::new(format!("{p}#tx"), "c");
    t.put(&b, None, &json!({"b": 1}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail("transact: setup", e));
    t.put(&c, None, &json!({"c": 1}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail("transact: setup", e));
    let ops = vec![
        WriteOp::Put {
            key: a.clone(),
            index: None,
            body: json!({"a": 1}),
            condition: Condition::Absent,
        },
        WriteOp::Put {
            key: b.clone(),
            index: None,
            body: json!({"b": 2}),
            condition: Condition::Version(1),
        },
        WriteOp::Check {
            key: c.clone(),
            condition: Condition::Exists,
        },
    ];
    let versions = t
        .transact(&ops)
        .await
        .unwrap_or_else(|e| fail("transact success", e));
    if versions != [1, 2, 0] {
        fail(
            "transact success",
            format!("versions {versions:?}, want [1, 2, 0]"),
        );
    }
    let ops = vec![
        WriteOp::Delete {
            key: a.clone(),
            condition: Condition::Version(1),
        },
        WriteOp::Check {
            key: b.clone(),
            condition: Condition::Version(2),
        },
    ];
    t.transact(&ops)
        .await
        .unwrap_or_else(|e| fail("transact delete + check", e));
    if t.get(&a).await.ok().flatten().is_some() {
        fail("transact delete + check", "deleted item still there");
    }
}

async fn transact_rollback(t: &dyn Table, p: &str) {
    let a = Key::new(format!("{p}#rb"), "a");
    let b = Key::new(format!("{p}#rb"), "b");
    let c = Key::new(format!("{p}#rb"), "c");
    t.put(&b, None, &json!({"b": 1}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail("rollback: setup", e));
    let put_a = WriteOp::Put {
        key: a.clone(),
        index: None,
        body: json!({"a": 1}),
        condition: Condition::Absent,
    };
    let delete_b = WriteOp::Delete {
        key: b.clone(),
        condition: Condition::Version(1),
    };
    // One failed Put condition (b exists) ...
    let ops = vec![
        put_a.clone(),
        delete_b.clone(),
        WriteOp::Put {
            key: c.clone(),
            index: None,
            body: json!({}),
            condition: Condition::Version(4),
        },
    ];
    expect_condition_failed("transact rollback on failed put", t.transact(&ops).await);
    // ... and one failed Check.
    let ops = vec![
        put_a,
        delete_b,
        WriteOp::Check {
            key: c.clone(),
            condition: Condition::Exists,
        },
    ];
    expect_condition_failed("transact rollback on failed check", t.transact(&ops).await);
    if t.get(&a).await.ok().flatten().is_some() {
        fail(
            "transact rollback",
            "a put of a failed transaction was applied",
        );
    }
    match t.get(&b).await {
        Ok(Some(item)) if item.version == 1 => {}
        other => fail(
            "transact rollback",
            format!("a delete of a failed transaction was applied: {other:?}"),
        ),
    }
}

/// A batch read answers each key in order, as `get` would, missing ones included.
async fn get_many(t: &dyn Table, p: &str) {
    let case = "get many";
    match t.get_many(&[]).await {
        Ok(v) if v.is_empty() => {}
        other => fail(case, format!("no keys: expected no answers, got {other:?}")),
    }
    let a = Key::new(format!("{p}#many"), "a");
    let b = Key::new(format!("{p}#many"), "b");
    let c = Key::new(format!("{p}#many2"), "c");
    let missing = Key::new(format!("{p}#many"), "zz");
    let ix = Key::new(format!("{p}#manyix"), "s");
    t.put(&a, Some(&ix), &json!({"n": "a"}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail(case, e));
    t.put(&b, None, &json!({"n": "b"}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail(case, e));
    t.put(&b, None, &json!({"n": "b2"}), Condition::Version(1))
        .await
        .unwrap_or_else(|e| fail(case, e));
    t.put(&c, None, &json!({"n": "c"}), Condition::Absent)
        .await
        .unwrap_or_else(|e| fail(case, e));
    // Out of key order, with a missing key and a key given twice.
    let asked = [c.clone(), missing.clone(), b.clone(), a.clone(), c.clone()];
    let got = t.get_many(&asked).await.unwrap_or_else(|e| fail(case, e));
    if got.len() != asked.len() {
        fail(case, format!("{} keys, {} answers", asked.len(), got.len()));
    }
    for (key, answer) in asked.iter().zip(&got) {
        let single = t.get(key).await.unwrap_or_else(|e| fail(case, e));
        if answer != &single {
            fail(
                case,
                format!(
                    "{}/{}: batch read {answer:?}, get {single:?}",
                    key.pk, key.sk
                ),
            );
        }
    }
    let body = |i: usize| got[i].as_ref().map(|it| it.body["n"].clone());
    if body(0) != Some(json!("c")) || body(1).is_some() || body(2) != Some(json!("b2")) {
        fail(case, format!("answers out of order or wrong: {got:?}"));
    }
    if got[2].as_ref().map(|it| it.version) != Some(2) {
        fail(
            case,
            format!("the latest version must be read: {:?}", got[2]),
        );
    }
    if got[3].as_ref().and_then(|it| it.index.clone()) != Some(ix) {
        fail(case, format!("the index key must be read: {:?}", got[3]));
    }
    // A write just made is seen (the reads are as consistent as `get`).
    t.delete(&a, Condition::Exists)
        .await
        .unwrap_or_else(|e| fail(case, e));
    match t.get_many(std::slice::from_ref(&a)).await {
        Ok(v) if v == vec![None] => {}
        other => fail(
            case,
            format!("a deleted item must read as missing, got {other:?}"),
        ),
    }
    // The most keys at once, and one more is refused.
    let most: Vec<Key> = (0..MAX_GET_MANY)
        .map(|i| Key::new(format!("{p}#manymax"), format!("{i:03}")))
        .collect();
    match t.get_many(&most).await {
        Ok(v) if v.len() == MAX_GET_MANY && v.iter().all(Option::is_none) => {}
        other => fail(case, format!("{MAX_GET_MANY} missing keys: got {other:?}")),
    }
    let mut too_many = most;
    too_many.push(b);
    match t.get_many(&too_many).await {
        Err(PortError::Invalid(_)) => {}
        other => fail(
            case,
            format!("{} keys: expected Invalid, got {other:?}", MAX_GET_MANY + 1),
        ),
    }
}

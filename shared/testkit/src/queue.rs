//! Contract suite for the `Queue` port. `make` returns a fresh (queue, dead-letter queue) pair
//! whose redrive policy moves a message to the DLQ after 3 receives.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tre_core::ports::{Queue, QueueMessage};

const LONG: Duration = Duration::from_secs(60);

fn fail(case: &str, msg: impl std::fmt::Display) -> ! {
    panic!("queue contract, case `{case}`: {msg}")
}

/// Run every case, each on a fresh pair from `make`.
pub async fn run<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = (Arc<dyn Queue>, Arc<dyn Queue>)>,
{
    send_receive_delete(make().await).await;
    visibility_timeout(make().await).await;
    change_visibility(make().await).await;
    delay(make().await).await;
    dead_letter(make().await).await;
    stale_receipt(make().await).await;
    approximate_len(make().await).await;
}

async fn receive_one(
    q: &dyn Queue,
    case: &str,
    visibility: Duration,
    wait: Duration,
) -> QueueMessage {
    let mut got = q
        .receive(1, visibility, wait)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if got.len() != 1 {
        fail(case, format!("expected one message, got {}", got.len()));
    }
    got.remove(0)
}

async fn expect_empty(q: &dyn Queue, case: &str, wait: Duration) {
    let got = q
        .receive(10, LONG, wait)
        .await
        .unwrap_or_else(|e| fail(case, e));
    if !got.is_empty() {
        fail(case, format!("expected no message, got {got:?}"));
    }
}

async fn send_receive_delete((q, _): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "send, receive, delete";
    let id = q
        .send("hello", None)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let m = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
    if m.id != id || m.body != "hello" || m.receive_count != 1 || m.receipt.is_empty() {
        fail(case, format!("unexpected message {m:?}"));
    }
    expect_empty(q.as_ref(), "in-flight message is invisible", Duration::ZERO).await;
    q.delete(&m.receipt).await.unwrap_or_else(|e| fail(case, e));
    let n = q.approximate_len().await.unwrap_or_else(|e| fail(case, e));
    if n != 0 {
        fail(case, format!("approximate_len {n} after delete"));
    }
    expect_empty(q.as_ref(), case, Duration::ZERO).await;
    q.delete(&m.receipt)
        .await
        .unwrap_or_else(|e| fail("delete twice", format!("second delete failed: {e}")));
}

async fn visibility_timeout((q, _): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "visibility timeout re-delivery";
    let id = q
        .send("again", None)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let first = receive_one(
        q.as_ref(),
        case,
        Duration::from_secs(1),
        Duration::from_secs(5),
    )
    .await;
    expect_empty(q.as_ref(), case, Duration::ZERO).await;
    let second = receive_one(q.as_ref(), case, LONG, Duration::from_secs(10)).await;
    if second.id != id || second.receive_count != 2 || second.receipt == first.receipt {
        fail(case, format!("first {first:?}, second {second:?}"));
    }
    q.delete(&second.receipt)
        .await
        .unwrap_or_else(|e| fail(case, e));
}

async fn change_visibility((q, _): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "change_visibility";
    q.send("cv", None).await.unwrap_or_else(|e| fail(case, e));
    let m = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
    q.change_visibility(&m.receipt, Duration::ZERO)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let again = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
    if again.id != m.id || again.receive_count != 2 {
        fail(case, format!("after making it visible again got {again:?}"));
    }
    q.delete(&again.receipt)
        .await
        .unwrap_or_else(|e| fail(case, e));
}

async fn delay((q, _): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "delayed send";
    let start = Instant::now();
    q.send("later", Some(Duration::from_secs(2)))
        .await
        .unwrap_or_else(|e| fail(case, e));
    expect_empty(q.as_ref(), case, Duration::ZERO).await;
    let m = receive_one(q.as_ref(), case, LONG, Duration::from_secs(10)).await;
    if start.elapsed() < Duration::from_millis(1500) || m.body != "later" {
        fail(
            case,
            format!("delivered after {:?}: {m:?}", start.elapsed()),
        );
    }
    q.delete(&m.receipt).await.unwrap_or_else(|e| fail(case, e));
}

async fn dead_letter((q, dlq): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "dead-letter after 3 receives";
    let id = q
        .send("poison", None)
        .await
        .unwrap_or_else(|e| fail(case, e));
    for n in 1..=3 {
        let m = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
        if m.id != id || m.receive_count != n {
            fail(case, format!("receive {n} got {m:?}"));
        }
        q.change_visibility(&m.receipt, Duration::ZERO)
            .await
            .unwrap_or_else(|e| fail(case, e));
    }
    expect_empty(q.as_ref(), case, Duration::from_secs(2)).await;
    let dead = receive_one(dlq.as_ref(), case, LONG, Duration::from_secs(10)).await;
    if dead.body != "poison" {
        fail(case, format!("DLQ holds {dead:?}"));
    }
    dlq.delete(&dead.receipt)
        .await
        .unwrap_or_else(|e| fail(case, e));
}

/// A receipt from an earlier receive must not fail. Whether it deletes the message (SQS
/// usually does) or not (the embedded queue does not) is left to the adapter; once the current
/// receipt deletes it, the message is gone and stale receipts stay harmless.
async fn stale_receipt((q, _): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "stale receipt";
    q.send("stale", None)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let first = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
    q.change_visibility(&first.receipt, Duration::ZERO)
        .await
        .unwrap_or_else(|e| fail(case, e));
    let second = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
    if second.receipt == first.receipt {
        fail(case, "a second receive returned the same receipt");
    }
    q.delete(&first.receipt)
        .await
        .unwrap_or_else(|e| fail(case, format!("delete with stale receipt: {e}")));
    q.delete(&second.receipt)
        .await
        .unwrap_or_else(|e| fail(case, format!("delete with current receipt: {e}")));
    q.delete(&first.receipt)
        .await
        .unwrap_or_else(|e| fail(case, format!("stale receipt of a deleted message: {e}")));
    let n = q.approximate_len().await.unwrap_or_else(|e| fail(case, e));
    if n != 0 {
        fail(case, format!("approximate_len {n} after deleting"));
    }
}

async fn approximate_len((q, _): (Arc<dyn Queue>, Arc<dyn Queue>)) {
    let case = "approximate_len";
    for body in ["1", "2", "3"] {
        q.send(body, None).await.unwrap_or_else(|e| fail(case, e));
    }
    let n = q.approximate_len().await.unwrap_or_else(|e| fail(case, e));
    if n != 3 {
        fail(case, format!("{n} after three sends"));
    }
    let m = receive_one(q.as_ref(), case, LONG, Duration::from_secs(5)).await;
    let n = q.approximate_len().await.unwrap_or_else(|e| fail(case, e));
    if n != 3 {
        fail(case, format!("{n} with one message in flight, want 3"));
    }
    q.delete(&m.receipt).await.unwrap_or_else(|e| fail(case, e));
}

//! Optimistic concurrency: of 20 PATCHes sent at once with the same etag, exactly one wins.

use futures::future::join_all;
use http::Method;
use serde_json::json;
use tre_e2e::{create, register_sample_templates, TestStack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_patches_one_winner() {
    let t = TestStack::start().await.expect("stack");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;
    let ws = create(&t, "/api/workspaces", &admin, "ws-base", "ws").await;
    let path = format!("/api/workspaces/{ws}");
    let etag = t.get(&path, &admin).await.etag.expect("etag");

    let calls = (0..20).map(|i| {
        let body = json!({"properties": {"display_name": format!("name {i}")}});
        let (t, path, admin, etag) = (&t, &path, &admin, &etag);
        async move {
            t.call(Method::PATCH, path, Some(admin), Some(&body), Some(etag))
                .await
        }
    });
    let replies = join_all(calls).await;
    let won: Vec<_> = replies.iter().filter(|r| r.status == 202).collect();
    let lost = replies.iter().filter(|r| r.status == 412).count();
    assert_eq!(
        won.len(),
        1,
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(lost, 19);

    // The store holds exactly the winner's change: no loser's name anywhere in the history,
    // and one upgrade operation besides the install.
    let now = t.settled(&path, &admin).await;
    assert_eq!(
        now.item()["properties"]["display_name"],
        won[0].body["workspace"]["properties"]["display_name"]
    );
    assert_ne!(now.etag, Some(etag));
    let history = t.get(&format!("{path}/history"), &admin).await;
    let names: std::collections::BTreeSet<String> = history.body["resource_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            h["properties"]["display_name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let winner = won[0].body["workspace"]["properties"]["display_name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let allowed: std::collections::BTreeSet<String> = ["ws".to_string(), winner].into();
    assert!(names.is_subset(&allowed), "history names {names:?}");
    let ops = t.get(&format!("{path}/operations"), &admin).await;
    assert_eq!(ops.body["operations"].as_array().map(Vec::len), Some(2));
}

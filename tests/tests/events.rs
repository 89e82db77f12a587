//! Every sample event in `events/` goes through its function's handler (the same router the
//! Lambda serves, with API Gateway's verified claims) and gets the status recorded for it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use tower::ServiceExt;
use tre_api::RouteGroup;
use tre_e2e::TestStack;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_gets_its_recorded_status() {
    let t = TestStack::start().await.expect("stack");
    replay_api_events(t.stack.app.clone()).await;
}

/// The same events through the Lambda routers on the AWS backend (DynamoDB and Step Functions
/// on moto): the API behaves the same on both adapter sets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_gets_its_recorded_status_on_the_aws_backend() {
    let moto = tre_testkit::moto::MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    tre_aws::create_table_if_missing(&ddb, "tre")
        .await
        .expect("table");
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let definition =
        serde_json::json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
    let created = sfn
        .create_state_machine()
        .name("tre-resource-action")
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/tre-states")
        .send()
        .await
        .expect("state machine");
    let prefix = created
        .state_machine_arn()
        .trim_end_matches("resource-action")
        .to_string();
    let app = tre_core::app::App::new(
        std::sync::Arc::new(tre_aws::DynamoTable::new(ddb, "tre")),
        std::sync::Arc::new(tre_aws::SfnWorkflows::new(sfn, prefix)),
    );
    replay_api_events(app).await;
}

async fn replay_api_events(app: tre_core::app::App) {
    let seq: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("api-sequence.json"))
            .expect("api-sequence.json"),
    )
    .expect("valid JSON");
    let entries = seq["events"].as_array().expect("events array");

    // Every API event file is listed, so none is silently skipped.
    let mut on_disk = BTreeSet::new();
    for group in RouteGroup::ALL {
        let dir = events_dir().join(group.function_name());
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .to_string();
            on_disk.insert(format!("{}/{name}", group.function_name()));
        }
    }
    let listed: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["function"].as_str().unwrap_or(""),
                e["event"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        on_disk, listed,
        "events/api-sequence.json must list every API event file"
    );

    for e in entries {
        let function = e["function"].as_str().expect("function");
        let file = e["event"].as_str().expect("event");
        let want = e["status"].as_u64().expect("status") as u16;
        let group = RouteGroup::from_function_name(function).expect("known function");
        let text =
            std::fs::read_to_string(events_dir().join(function).join(file)).expect("event file");
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|err| panic!("{function}/{file}: {err}"));
        let req = req.map(|b| axum_body(b.to_vec()));
        let router =
            tre_api::lambda::lambda_router(group, app.clone(), tre_auth::ClaimMapping::default());
        let resp = router.oneshot(req).await.expect("infallible");
        assert_eq!(resp.status().as_u16(), want, "{function}/{file}");
    }
}

fn axum_body(bytes: Vec<u8>) -> tre_api::Body {
    tre_api::Body::from(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_consumer_sample_events_report_the_recorded_failures() {
    let t = TestStack::start().await.expect("stack");
    let dir = events_dir().join("status-consumer");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let listed = expected["events"].as_array().expect("events");
    let on_disk = std::fs::read_dir(&dir).expect("dir").count() - 1; // minus expected.json
    assert_eq!(
        on_disk,
        listed.len(),
        "events/status-consumer/expected.json must list every event"
    );
    for e in listed {
        let file = e["event"].as_str().expect("event");
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).expect("file"))
                .expect(file);
        let resp = tre_lambda::status::handle_batch(&t.stack.app, event).await;
        let got: Vec<String> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let want: Vec<String> = e["batchItemFailures"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        assert_eq!(got, want, "{file}");
    }
}

//! Every SDK call in the adapters' source appears in `IAM_ACTIONS`, so the table the
//! infrastructure test relies on cannot fall behind the code.

use std::path::PathBuf;

#[test]
fn every_sdk_call_has_an_iam_action() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = [
        ("dynamo.rs", "DynamoTable"),
        ("s3.rs", "S3ObjectStore"),
        ("sqs.rs", "SqsQueue"),
        ("ses.rs", "SesMailer"),
        ("sfn.rs", "SfnWorkflows"),
        ("secrets.rs", "SecretsManagerSecrets"),
    ];
    let mut missing = Vec::new();
    let mut found = 0;
    for (file, adapter) in files {
        let text = std::fs::read_to_string(src.join(file)).expect(file);
        // Calls look like `client\n    .get_item()` or `self.client.get_item()`.
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join("");
        for part in flat.split("client.").skip(1) {
            let op: String = part
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if op.is_empty() || !part[op.len()..].starts_with("()") {
                continue;
            }
            found += 1;
            if tre_aws::iam_actions_for(adapter, &op).is_empty() {
                missing.push(format!("{adapter}::{op} ({file})"));
            }
        }
    }
    assert!(
        found >= 20,
        "only {found} SDK calls found: the scan is broken"
    );
    assert!(
        missing.is_empty(),
        "SDK calls without an IAM action in IAM_ACTIONS: {missing:?}"
    );
}

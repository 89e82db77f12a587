//! `terraform` steps, run by the runner process against moto server with the state in an S3
//! bucket there: apply reports progress and outputs (sensitive ones kept out), a sensitive
//! parameter reaches Terraform and no message, custom actions' variables are remembered, a
//! failing apply names its resource and reason, a lock left by a killed attempt is lifted, and
//! destroy converges when run again. What was deployed is read back through the S3 API.

mod common;

use std::path::PathBuf;

use serde_json::{json, Value};
use tre_core::ports::{Condition, Key, Table};
use tre_testkit::moto::MotoServer;

const STATE_BUCKET: &str = "tre-bundle-state";

fn probe_bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tre-terraform-probe")
}

struct Setup {
    dir: tempfile::TempDir,
    embedded: tre_embedded::Embedded,
    moto: MotoServer,
    s3: aws_sdk_s3::Client,
    env: Vec<(String, String)>,
    bundle: String,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let embedded = tre_embedded::Embedded::open(dir.path().join("data")).expect("open");
        let moto = MotoServer::start().await.expect("moto");
        let conf = moto.sdk_config().await;
        let s3 = tre_aws::S3ObjectStore::client(&conf, true);
        moto.create_bucket(STATE_BUCKET)
            .await
            .expect("state bucket");
        let env = tre_testkit::terraform::runner_env(&moto, dir.path(), STATE_BUCKET)
            .expect("a Terraform provider mirror (TRE_TERRAFORM_PLUGIN_DIR)");
        let layout = dir.path().join("layout");
        let a = tre_bundle::build(&probe_bundle()).expect("build");
        tre_bundle::write_layout(&layout, &a, "probe").expect("layout");
        let bundle = format!("oci:{}@{}", layout.display(), a.digest);
        Self {
            dir,
            embedded,
            moto,
            s3,
            env,
            bundle,
        }
    }

    /// A workspace resource as the API stores it, with its sensitive parameter apart.
    async fn resource(&self, id: &str, properties: Value) {
        let table = self.embedded.table();
        let meta = Key::new(format!("RES#{id}"), "META");
        let body = json!({"id": id, "kind": "workspace", "templateName": "tre-terraform-probe", "properties": properties});
        let current = table.get(&meta).await.expect("get");
        let condition = match current {
            Some(item) => Condition::Version(item.version),
            None => Condition::Absent,
        };
        table.put(&meta, None, &body, condition).await.expect("put");
        let secrets = Key::new(format!("RES#{id}"), "SECRETS");
        if table.get(&secrets).await.expect("get").is_none() {
            table
                .put(
                    &secrets,
                    None,
                    &json!({"token": "tok-SENSITIVE-42"}),
                    Condition::Absent,
                )
                .await
                .expect("secrets");
        }
    }

    fn run(&self, action: &str, resource: &str, params: Value) -> (i32, String) {
        let data = self.dir.path().join("data").display().to_string();
        let job = common::Job {
            bundle: &self.bundle,
            action,
            resource,
            params: &params,
        };
        let env = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("TRE_DATA_DIR", data.as_str())]);
        common::run(job, env)
    }

    async fn messages(&self) -> Vec<Value> {
        common::drain_status(&self.embedded).await
    }

    async fn object(&self, bucket: &str, key: &str) -> Option<String> {
        let got = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        let bytes = got.body.collect().await.ok()?.into_bytes();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn bucket_exists(&self, bucket: &str) -> bool {
        self.s3.head_bucket().bucket(bucket).send().await.is_ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_steps_apply_remember_fail_clearly_and_destroy() {
    let s = Setup::new().await;
    let id = "ws-tf-1";
    let bucket = format!("tre-probe-{id}");
    s.resource(id, json!({"label": "cohort"})).await;

    // Install: applied, outputs reported, the sensitive output kept out, progress counted.
    let (code, stderr) = s.run("install", id, json!({"label": "cohort"}));
    assert_eq!(code, 0, "{stderr}");
    let msgs = s.messages().await;
    let last = msgs.last().expect("messages");
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["outputs"]["bucket"], bucket.as_str());
    assert_eq!(last["outputs"]["state_text"], "cohort:running");
    // A sensitive output travels apart, for the status consumer to keep with the secrets.
    assert!(last["outputs"].get("token_echo").is_none(), "{last}");
    assert_eq!(last["sensitiveOutputs"]["token_echo"], "tok-SENSITIVE-42");
    let texts: Vec<&str> = msgs.iter().filter_map(|m| m["message"].as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("probe: 3 resources to change")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("probe: 3/3 resources changed")),
        "{texts:?}"
    );
    // Read back through S3: the bucket carries the TRE's tags; the secret reached Terraform
    // through its environment and appears in no message and no log line.
    let tags =
        s.s3.get_bucket_tagging()
            .bucket(&bucket)
            .send()
            .await
            .expect("tags");
    let tag = |k: &str| {
        tags.tag_set()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    assert_eq!(tag("tre:resource-id").as_deref(), Some(id));
    assert_eq!(tag("tre:workspace-id").as_deref(), Some(id));
    assert_eq!(tag("tre:template").as_deref(), Some("tre-terraform-probe"));
    assert_eq!(
        s.object(&bucket, "token.txt").await.as_deref(),
        Some("tok-SENSITIVE-42")
    );
    assert!(!msgs
        .iter()
        .any(|m| m["message"].to_string().contains("SENSITIVE")
            || m["outputs"].to_string().contains("SENSITIVE")));
    assert!(!stderr.contains("SENSITIVE"), "{stderr}");
    // The state lives in the bundle state bucket under <resource>/<step>.tfstate.
    assert!(s
        .object(STATE_BUCKET, &bundle_runner::state_key(id, "probe"))
        .await
        .is_some_and(|t| t.contains("aws_s3_bucket")));

    // A custom action applies with its variables, and says so for the resource to remember.
    let (code, stderr) = s.run("pause", id, json!({"label": "cohort"}));
    assert_eq!(code, 0, "{stderr}");
    let last = s.messages().await.pop().expect("messages");
    assert_eq!(last["outputs"]["state_text"], "cohort:paused", "{last}");
    let remembered = last["outputs"][bundle_runner::ACTION_VARS_PROPERTY].clone();
    assert_eq!(remembered, json!({"probe": {"mode": "paused"}}));
    // The status consumer merges outputs into the properties; an upgrade then keeps the mode.
    s.resource(
        id,
        json!({"label": "renamed", bundle_runner::ACTION_VARS_PROPERTY: remembered}),
    )
    .await;
    let (code, stderr) = s.run("upgrade", id, json!({"label": "renamed"}));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        s.object(&bucket, "state.txt").await.as_deref(),
        Some("renamed:paused")
    );
    s.messages().await;

    // A failing apply ends the step failed, naming the resource and Terraform's reason.
    let (code, stderr) = s.run("upgrade", id, json!({"label": "renamed", "break_it": true}));
    assert_eq!(code, 1, "{stderr}");
    let last = s.messages().await.pop().expect("messages");
    assert_eq!(last["status"], "failed");
    let why = last["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("terraform apply failed at aws_iam_role_policy_attachment.broken[0]: ")
            && why.contains("TreProbeDoesNotExist"),
        "{why}"
    );
    assert!(!why.contains("SENSITIVE"), "{why}");

    // A lock left behind by an attempt that was killed is lifted; the apply converges.
    let lock_key = format!("{}.tflock", bundle_runner::state_key(id, "probe"));
    let lock = json!({"ID": "7c0ffee0-0000-4000-8000-00000000dead", "Operation": "OperationTypeApply",
        "Info": "", "Who": "runner@killed-task", "Version": "1.11.4",
        "Created": "2026-01-01T00:00:00Z", "Path": format!("{STATE_BUCKET}/{}", bundle_runner::state_key(id, "probe"))});
    s.s3.put_object()
        .bucket(STATE_BUCKET)
        .key(&lock_key)
        .body(lock.to_string().into_bytes().into())
        .send()
        .await
        .expect("lock");
    let (code, stderr) = s.run("upgrade", id, json!({"label": "unlocked"}));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("lifting the state lock") && stderr.contains("7c0ffee0"),
        "the lock was not met: {stderr}"
    );
    assert_eq!(
        s.object(&bucket, "state.txt").await.as_deref(),
        Some("unlocked:paused")
    );
    assert!(s.object(STATE_BUCKET, &lock_key).await.is_none());
    s.messages().await;

    // Uninstall destroys; destroying again (a retried step) succeeds and changes nothing.
    for _ in 0..2 {
        let (code, stderr) = s.run("uninstall", id, json!({"label": "unlocked"}));
        assert_eq!(code, 0, "{stderr}");
        let last = s.messages().await.pop().expect("messages");
        assert_eq!(last["status"], "succeeded", "{last}");
        assert!(!s.bucket_exists(&bucket).await);
    }
    drop(s.moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terraform_step_without_a_state_bucket_says_what_is_missing() {
    let mut s = Setup::new().await;
    s.env.retain(|(k, _)| k != "TRE_BUNDLE_STATE_BUCKET");
    s.resource("ws-tf-2", json!({"label": "x"})).await;
    let (code, _) = s.run("install", "ws-tf-2", json!({"label": "x"}));
    assert_eq!(code, 1);
    let last = s.messages().await.pop().expect("messages");
    let why = last["message"].as_str().unwrap_or_default();
    assert!(why.contains("TRE_BUNDLE_STATE_BUCKET"), "{why}");
}

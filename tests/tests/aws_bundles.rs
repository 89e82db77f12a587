//! The AWS bundles deployed through the TRE: the local stack (API, engine, consumer) with its
//! bundle runner pointed at moto server, so every `terraform` step really applies against an
//! AWS API. What was deployed is read back through the AWS APIs (tests/clients/aws_inventory.py,
//! boto3), never from our own records: the workspace network has no way out, nothing has a
//! public address, security groups allow only what they must, the bucket is private, TLS-only
//! and endpoint-only, the notebook and the VM are locked down, and the researcher role reaches
//! only its own workspace's airlock locations. Then an in-place upgrade, stop and start, a
//! failing apply, a runner killed mid-apply, and deletion leaving nothing tagged behind.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use tre_e2e::{register_bundle, sample_bundle, test_options, TestStack};
use tre_testkit::moto::MotoServer;

const STATE_BUCKET: &str = "tre-e2e-bundle-state";
const AIRLOCK_PREFIX: &str = "tre-e2e";
const CIDR: &str = "10.31.0.0/16";
/// Terraform against an emulator takes seconds to minutes per step.
const LIMIT: Duration = Duration::from_secs(600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with boto3 that `scripts/test` installs (beside moto).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRE_PYTHON") {
        return p.into();
    }
    let venv = root().join(".venv/bin/python3");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test (it installs moto and boto3 there) or set TRE_PYTHON",
        venv.display()
    );
    venv
}

struct AwsStack {
    t: TestStack,
    admin: String,
    moto: MotoServer,
    _dir: tempfile::TempDir,
}

impl AwsStack {
    async fn start() -> Self {
        // moto 5.2.5 lacks a few SageMaker and EC2 calls the bundles make (see moto_gaps.py).
        let moto = MotoServer::start_with_gaps_filled().await.expect("moto");
        moto.create_bucket(STATE_BUCKET)
            .await
            .expect("the bundle state bucket");
        let dir = tempfile::tempdir().expect("tmp");
        let mut opts = test_options(&dir.path().join("stack"));
        let mut env = tre_testkit::terraform::runner_env(&moto, dir.path(), STATE_BUCKET)
            .expect("a Terraform provider mirror (TRE_TERRAFORM_PLUGIN_DIR)");
        env.push(("TRE_AIRLOCK_BUCKET_PREFIX".into(), AIRLOCK_PREFIX.into()));
        // The notebook's start and stop call the AWS CLI (the runner image carries it).
        let venv_bin = root().join(".venv/bin");
        let path = std::env::var("PATH").unwrap_or_default();
        env.push(("PATH".into(), format!("{}:{path}", venv_bin.display())));
        if let Some(runner) = opts.runner.as_mut() {
            runner.env = env;
        }
        let stack = tre_local::DevStack::start(opts).await.expect("stack");
        let t = TestStack::wrap(stack);
        let admin = t.token("admin");
        for b in [
            "aws-workspace",
            "aws-notebooks",
            "aws-notebook",
            "aws-vms",
            "aws-linux-vm",
        ] {
            register_bundle(&t, &admin, &sample_bundle(b)).await;
        }
        Self {
            t,
            admin,
            moto,
            _dir: dir,
        }
    }

    /// POST a create and wait for its end; (path, settled resource).
    async fn create(&self, base: &str, body: Value) -> (String, Value) {
        let created = self.t.post_ok(base, &self.admin, &body, 202).await;
        let id = created["operation"]["resourceId"].as_str().expect("id");
        let path = format!("{base}/{id}");
        let r = self.t.settled_within(&path, &self.admin, LIMIT).await;
        (path, r.item().clone())
    }

    /// `create` that must end `deployed`; says the operation's message when not.
    async fn deploy(&self, base: &str, body: Value) -> (String, Value) {
        let (path, r) = self.create(base, body).await;
        if status(&r) != "deployed" {
            let op = self.last_operation(&path).await;
            panic!("{path} ended {}: {}", status(&r), op["message"]);
        }
        (path, r)
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        let etag = self.t.get(path, &self.admin).await.etag.expect("etag");
        let r = self
            .t
            .call(
                Method::PATCH,
                path,
                Some(&self.admin),
                Some(&body),
                Some(&etag),
            )
            .await;
        assert_eq!(r.status, 202, "PATCH {path}: {}", r.body);
        self.t
            .settled_within(path, &self.admin, LIMIT)
            .await
            .item()
            .clone()
    }

    async fn action(&self, path: &str, action: &str) -> Value {
        let r = self
            .t
            .call(
                Method::POST,
                &format!("{path}/invoke-action?action={action}"),
                Some(&self.admin),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 202, "{action} {path}: {}", r.body);
        self.t
            .settled_within(path, &self.admin, LIMIT)
            .await
            .item()
            .clone()
    }

    /// Disable, delete, and wait until the API no longer has it.
    async fn remove(&self, path: &str) {
        let r = self.patch(path, json!({"isEnabled": false})).await;
        assert_eq!(r["isEnabled"], false, "{r}");
        let d = self
            .t
            .call(Method::DELETE, path, Some(&self.admin), None, None)
            .await;
        assert_eq!(d.status, 200, "DELETE {path}: {}", d.body);
        let gone = self.t.settled_within(path, &self.admin, LIMIT).await;
        assert_eq!(gone.status, 404, "{path} after delete: {}", gone.body);
    }

    async fn last_operation(&self, path: &str) -> Value {
        let ops = self
            .t
            .get(&format!("{path}/operations"), &self.admin)
            .await
            .body;
        ops["operations"][0].clone()
    }

    /// What the account holds for `workspace`, read through the AWS APIs.
    fn inventory(&self, workspace: &str) -> Value {
        let out = std::process::Command::new(python())
            .arg(root().join("tests/clients/aws_inventory.py"))
            .args(["--endpoint", &self.moto.endpoint(), "--region", "eu-west-2"])
            .args(["--workspace-id", workspace])
            .envs(self.moto.sdk_env())
            .output()
            .expect("aws_inventory.py");
        assert!(
            out.status.success(),
            "aws_inventory.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("inventory JSON")
    }
}

fn status(r: &Value) -> &str {
    r["deploymentStatus"].as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Every (S3 resource, its statement) an identity policy document names.
fn s3_resources(doc: &Value) -> Vec<(String, Value)> {
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    statements
        .iter()
        .filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("s3:")))
        .flat_map(|s| strings(&s["Resource"]).into_iter().map(|r| (r, s.clone())))
        .collect()
}

/// Pids of the processes whose parent is `pid` and whose name is `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after its `)`.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm == name && ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_bundles_deploy_isolated_environments_and_leave_nothing_behind() {
    let s = AwsStack::start().await;

    // A workspace, a notebook service with a notebook, a VM service with a VM.
    let (ws, w) = s
        .deploy(
            "/api/workspaces",
            json!({"templateName": "aws-workspace", "properties": {"display_name": "Cohort study", "address_space": CIDR}}),
        )
        .await;
    let ws_id = w["id"].as_str().expect("id").to_string();
    let props = &w["properties"];
    let key_arn = props["kms_key_arn"]
        .as_str()
        .expect("kms_key_arn")
        .to_string();
    let bucket = props["bucket_name"]
        .as_str()
        .expect("bucket_name")
        .to_string();
    let (nbs, _) = s
        .deploy(
            &format!("{ws}/workspace-services"),
            json!({"templateName": "aws-notebooks", "properties": {}}),
        )
        .await;
    let (nb, notebook) = s
        .deploy(
            &format!("{nbs}/user-resources"),
            json!({"templateName": "aws-notebook", "properties": {}}),
        )
        .await;
    assert!(
        notebook["properties"]["open_command"]
            .as_str()
            .unwrap_or_default()
            .contains("create-presigned-notebook-instance-url"),
        "{notebook}"
    );
    let (vms, _) = s
        .deploy(
            &format!("{ws}/workspace-services"),
            json!({"templateName": "aws-vms", "properties": {}}),
        )
        .await;
    let (vm, machine) = s
        .deploy(
            &format!("{vms}/user-resources"),
            json!({"templateName": "aws-linux-vm", "properties": {"instance_type": "t3.medium"}}),
        )
        .await;
    let instance_id = machine["properties"]["instance_id"]
        .as_str()
        .expect("instance_id")
        .to_string();
    assert!(
        machine["properties"]["connect_command"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("aws ssm start-session --target {instance_id}")),
        "{machine}"
    );

    // Read back through the AWS APIs.
    let inv = s.inventory(&ws_id);
    let vpcs = inv["vpcs"].as_array().expect("vpcs");
    assert_eq!(vpcs.len(), 1, "one VPC for the workspace: {vpcs:?}");
    let vpc = &vpcs[0];
    assert_eq!(vpc["cidr"], CIDR);
    assert_eq!(vpc["internet_gateways"], json!([]), "no internet gateway");
    assert_eq!(vpc["nat_gateways"], json!([]), "no NAT gateway");
    for rt in vpc["route_tables"].as_array().expect("route tables") {
        for route in rt["routes"].as_array().expect("routes") {
            let dest = route["destination"].as_str().unwrap_or_default();
            let target = route["target"].as_str().unwrap_or_default();
            assert!(
                dest != "0.0.0.0/0" && !target.starts_with("igw-") && !target.starts_with("nat-"),
                "a route out of the workspace: {route}"
            );
        }
    }
    let subnets = vpc["subnets"].as_array().expect("subnets");
    assert_eq!(subnets.len(), 2, "{subnets:?}");
    let zones: BTreeSet<&str> = subnets
        .iter()
        .filter_map(|s| s["availability_zone"].as_str())
        .collect();
    assert_eq!(zones.len(), 2, "two zones: {zones:?}");
    assert!(subnets
        .iter()
        .all(|s| s["map_public_ip_on_launch"] == false));
    let subnet_ids: BTreeSet<&str> = subnets.iter().filter_map(|s| s["id"].as_str()).collect();
    let services: BTreeSet<String> = vpc["vpc_endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["service_name"].as_str())
        .map(|n| n.rsplit('.').next().unwrap_or(n).to_string())
        .collect();
    for needed in [
        "ssm",
        "ssmmessages",
        "ec2messages",
        "kms",
        "logs",
        "sts",
        "api",
        "runtime",
        "notebook",
        "s3",
    ] {
        assert!(services.contains(needed), "endpoint {needed}: {services:?}");
    }
    assert!(
        vpc["flow_logs"]
            .as_array()
            .expect("flow logs")
            .iter()
            .any(|f| f["traffic_type"] == "ALL"),
        "flow logs of all traffic: {}",
        vpc["flow_logs"]
    );
    // Security groups: egress HTTPS inside the VPC (or to S3's prefix list) only; inbound only
    // HTTPS from the VPC (the endpoints'), never from anywhere.
    for sg in inv["security_groups"].as_array().expect("security groups") {
        if sg["name"] == "default" {
            assert_eq!(
                sg["ingress"],
                json!([]),
                "the default group allows nothing: {sg}"
            );
            assert_eq!(
                sg["egress"],
                json!([]),
                "the default group allows nothing: {sg}"
            );
            continue;
        }
        for rule in sg["egress"].as_array().expect("egress") {
            assert_eq!(rule["protocol"], "tcp", "{sg}");
            assert_eq!(
                (rule["from_port"].clone(), rule["to_port"].clone()),
                (json!(443), json!(443)),
                "{sg}"
            );
            assert!(strings(&rule["cidrs"]).iter().all(|c| c == CIDR), "{sg}");
        }
        for rule in sg["ingress"].as_array().expect("ingress") {
            assert_eq!(rule["from_port"], 443, "{sg}");
            assert!(strings(&rule["cidrs"]).iter().all(|c| c == CIDR), "{sg}");
        }
    }
    // The VM: no public address, IMDSv2, every volume encrypted with the workspace key, no key
    // pair, the researcher's instance profile.
    let instances = inv["instances"].as_array().expect("instances");
    let instance = instances
        .iter()
        .find(|i| i["id"] == instance_id.as_str())
        .expect("the VM");
    assert_eq!(instance["state"], "running");
    assert_eq!(instance["public_ip"], Value::Null, "{instance}");
    assert!(instance["network_interfaces"]
        .as_array()
        .expect("enis")
        .iter()
        .all(|n| n["public_ip"].is_null()));
    assert_eq!(instance["metadata_options"]["http_tokens"], "required");
    assert_eq!(instance["key_name"], Value::Null);
    assert!(subnet_ids.contains(instance["subnet_id"].as_str().unwrap_or_default()));
    let volumes = instance["volumes"].as_array().expect("volumes");
    assert!(!volumes.is_empty());
    for v in volumes {
        assert_eq!(v["encrypted"], true, "{v}");
        assert_eq!(v["kms_key_id"], key_arn.as_str(), "{v}");
    }
    assert!(instance["instance_profile_arn"]
        .as_str()
        .unwrap_or_default()
        .contains(
            props["researcher_instance_profile_name"]
                .as_str()
                .unwrap_or("?")
        ));
    // The notebook: in the workspace's subnet, no direct internet, no root, the workspace key.
    let notebooks = inv["notebook_instances"].as_array().expect("notebooks");
    assert_eq!(notebooks.len(), 1, "{notebooks:?}");
    let nbi = &notebooks[0];
    assert!(
        subnet_ids.contains(nbi["subnet_id"].as_str().unwrap_or_default()),
        "{nbi}"
    );
    assert_eq!(nbi["direct_internet_access"], "Disabled");
    assert_eq!(nbi["root_access"], "Disabled");
    assert!(
        key_arn.ends_with(nbi["kms_key_id"].as_str().unwrap_or("?")),
        "{nbi} vs {key_arn}"
    );
    assert_eq!(nbi["minimum_imds_version"], "2");
    // The bucket: private, versioned, the workspace key, TLS-only and endpoint-only.
    let b = inv["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .find(|b| b["name"] == bucket.as_str())
        .expect("the workspace bucket")
        .clone();
    for flag in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["public_access_block"][flag], true, "{flag}: {b}");
    }
    assert_eq!(b["versioning"], "Enabled");
    assert_eq!(b["encryption"][0]["sse_algorithm"], "aws:kms");
    let policy = b["policy"].to_string();
    assert!(policy.contains("aws:SecureTransport"), "TLS only: {policy}");
    assert!(policy.contains("aws:SourceVpce"), "endpoint only: {policy}");
    // The researcher role: a permission boundary, and S3 reaching only this workspace.
    let roles = inv["iam_roles"].as_array().expect("roles");
    let researcher = roles
        .iter()
        .find(|r| {
            Some(r["arn"].as_str().unwrap_or_default()) == props["researcher_role_arn"].as_str()
        })
        .expect("the researcher role");
    assert!(
        researcher["permissions_boundary_arn"].is_string(),
        "{researcher}"
    );
    let mut reached = Vec::new();
    for doc in researcher["inline_policies"]
        .as_object()
        .into_iter()
        .chain(researcher["attached_policies"].as_object())
        .flat_map(|m| m.values())
    {
        reached.extend(s3_resources(doc));
    }
    assert!(!reached.is_empty(), "{researcher}");
    let allowed = [
        format!("arn:aws:s3:::{bucket}"),
        format!("arn:aws:s3:::{AIRLOCK_PREFIX}-workspace-data/{ws_id}/"),
        format!("arn:aws:s3:::{AIRLOCK_PREFIX}-export-staging/{ws_id}/"),
    ];
    for (r, statement) in &reached {
        // Listing an airlock bucket names the bucket; its condition must keep it to this
        // workspace's prefix.
        let listing_own_prefix =
            r.starts_with(&format!("arn:aws:s3:::{AIRLOCK_PREFIX}-")) && !r.contains('/') && {
                let prefixes = strings(&statement["Condition"]["StringLike"]["s3:prefix"]);
                !prefixes.is_empty() && prefixes.iter().all(|p| p.starts_with(&format!("{ws_id}/")))
            };
        assert!(
            listing_own_prefix || allowed.iter().any(|a| r.starts_with(a.as_str())),
            "the researcher role reaches {r}, outside its workspace: {statement}"
        );
    }
    for needed in [&allowed[1], &allowed[2]] {
        assert!(
            reached.iter().any(|(r, _)| r.starts_with(needed.as_str())),
            "the researcher role should reach {needed}: {reached:?}"
        );
    }

    // An instance-type change applies in place (same instance).
    let up = s
        .patch(&vm, json!({"properties": {"instance_type": "t3.large"}}))
        .await;
    assert_eq!(status(&up), "updated", "{up}");
    let inv = s.inventory(&ws_id);
    let instance = inv["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .find(|i| i["id"] == instance_id.as_str())
        .cloned()
        .expect("the same instance after the upgrade");
    assert_eq!(instance["instance_type"], "t3.large");

    // Stop and start change the instance's state; an upgrade keeps a stopped VM stopped.
    let stopped = s.action(&vm, "stop").await;
    assert_eq!(status(&stopped), "action_succeeded", "{stopped}");
    let state = |inv: &Value| {
        inv["instances"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["id"] == instance_id.as_str()))
            .map(|i| i["state"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(state(&s.inventory(&ws_id)), "stopped");
    let renamed = s
        .patch(&vm, json!({"properties": {"display_name": "Stopped VM"}}))
        .await;
    assert_eq!(status(&renamed), "updated", "{renamed}");
    assert_eq!(state(&s.inventory(&ws_id)), "stopped");
    let started = s.action(&vm, "start").await;
    assert_eq!(status(&started), "action_succeeded", "{started}");
    assert_eq!(state(&s.inventory(&ws_id)), "running");
    // The notebook too (through the AWS CLI, which Terraform cannot do).
    let nb_stopped = s.action(&nb, "stop").await;
    assert_eq!(status(&nb_stopped), "action_succeeded", "{nb_stopped}");
    let nb_status = |inv: &Value| inv["notebook_instances"][0]["status"].clone();
    assert_eq!(nb_status(&s.inventory(&ws_id)), "Stopped");
    let nb_started = s.action(&nb, "start").await;
    assert_eq!(status(&nb_started), "action_succeeded", "{nb_started}");
    assert_eq!(nb_status(&s.inventory(&ws_id)), "InService");

    // A failing apply: the operation ends failed, naming the resource and the reason.
    let (bad, failed) = s
        .create(
            &format!("{vms}/user-resources"),
            json!({"templateName": "aws-linux-vm", "properties": {"ami_id": "ami-0badbadbadbadbad0"}}),
        )
        .await;
    assert_eq!(status(&failed), "deployment_failed", "{failed}");
    let op = s.last_operation(&bad).await;
    let why = op["message"].as_str().unwrap_or_default();
    // The provider looks the image up first; Terraform's reason is what it says then.
    assert!(
        why.contains("step `vm`: terraform apply failed at aws_instance.vm: ")
            && why.contains("couldn't find resource"),
        "{op}"
    );

    // A runner killed mid-apply: the step fails saying so; the retry converges.
    let etag = s.t.get(&vm, &s.admin).await.etag.expect("etag");
    let r =
        s.t.call(
            Method::PATCH,
            &vm,
            Some(&s.admin),
            Some(&json!({"properties": {"instance_type": "t3.xlarge"}})),
            Some(&etag),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let op_id = r.body["operation"]["id"]
        .as_str()
        .expect("operation")
        .to_string();
    let mut killed = false;
    for _ in 0..3000 {
        let runner =
            s.t.stack
                .running_tasks()
                .into_iter()
                .find(|k| k.operation_id == op_id);
        if let Some(task) = runner {
            let applying = s.last_operation(&vm).await["steps"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("resources to change");
            if applying && !children_named(task.pid, "terraform").is_empty() {
                let done = std::process::Command::new("kill")
                    .args(["-9", &task.pid.to_string()])
                    .status()
                    .expect("kill");
                assert!(done.success());
                killed = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(killed, "never caught the runner applying");
    let after =
        s.t.settled_within(&vm, &s.admin, LIMIT)
            .await
            .item()
            .clone();
    assert_eq!(status(&after), "updating_failed", "{after}");
    let op = s.last_operation(&vm).await;
    assert!(
        op["message"]
            .as_str()
            .unwrap_or_default()
            .contains("killed by signal 9"),
        "{op}"
    );
    let retried = s
        .patch(&vm, json!({"properties": {"instance_type": "t3.xlarge"}}))
        .await;
    assert_eq!(status(&retried), "updated", "{retried}");
    let inv = s.inventory(&ws_id);
    let instance = inv["instances"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == instance_id.as_str()))
        .cloned()
        .expect("the same instance after the retry");
    assert_eq!(instance["instance_type"], "t3.xlarge");
    assert_eq!(instance["state"], "running");

    // Deleting user resources, services and the workspace leaves nothing carrying its tag; the
    // key waits out its deletion window.
    for path in [&bad, &vm, &vms, &nb, &nbs] {
        s.remove(path).await;
    }
    // The workspace bucket keeps its data unless the owner says otherwise before uninstalling.
    let w = s
        .patch(
            &ws,
            json!({"properties": {"delete_data_on_uninstall": true}}),
        )
        .await;
    assert_eq!(status(&w), "updated", "{w}");
    s.remove(&ws).await;
    let inv = s.inventory(&ws_id);
    assert_eq!(inv["tagged"], json!([]), "left behind: {}", inv["tagged"]);
    assert!(inv["kms_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .all(|k| k["state"] == "PendingDeletion"));
    assert!(
        !inv["tagged_pending_deletion"]
            .as_array()
            .expect("pending")
            .is_empty(),
        "the workspace key is pending deletion"
    );
}

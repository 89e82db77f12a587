//! The AWS bundles deployed through the TRE: the local stack (API, engine, consumer) with its
//! bundle runner pointed at moto server, so every `terraform` step really applies against an
//! AWS API. What was deployed is read back through the AWS APIs (tests/clients/aws_inventory.py,
//! boto3), never from our own records: the workspace network has no way out, nothing has a
//! public address, security groups allow only what they must, the bucket is private, TLS-only
//! and endpoint-only, the notebook and the VM are locked down, and the researcher role reaches
//! only its own workspace's airlock locations. Then an in-place upgrade, stop and start, a
//! failing apply, a runner killed mid-apply, an airlock reviewer's notebook (aws-airlock-review)
//! whose role reads only the request's in-review files and which goes with the decision, and
//! deletion leaving nothing tagged behind.

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
            "aws-airlock-review",
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
        self.inventory_with(workspace, &[])
    }

    /// `inventory` with more of aws_inventory.py's arguments.
    fn inventory_with(&self, workspace: &str, extra: &[&str]) -> Value {
        let out = std::process::Command::new(python())
            .arg(root().join("tests/clients/aws_inventory.py"))
            .args(["--endpoint", &self.moto.endpoint(), "--region", "eu-west-2"])
            .args(["--workspace-id", workspace])
            .args(extra)
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

/// The statements of a policy document (one or a list).
fn statements(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

/// Every statement of every policy of a role, as the inventory read them back: inline,
/// attached and its permission boundary.
fn role_statements(role: &Value) -> Vec<Value> {
    let mut docs: Vec<&Value> = role["inline_policies"]
        .as_object()
        .into_iter()
        .chain(role["attached_policies"].as_object())
        .flat_map(|m| m.values())
        .collect();
    docs.push(&role["permissions_boundary"]);
    docs.into_iter().flat_map(statements).collect()
}

/// The S3 gateway endpoint's policy statements of a VPC from the inventory.
fn s3_endpoint_statements(vpc: &Value) -> Vec<Value> {
    let endpoint = vpc["vpc_endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| {
            e["type"] == "Gateway" && e["service_name"].as_str().unwrap_or("").ends_with(".s3")
        })
        .unwrap_or_else(|| panic!("no S3 gateway endpoint: {vpc}"));
    statements(&endpoint["policy"])
}

/// What the statements naming `bucket` (its ARN or its objects) allow: (actions, resources).
fn grants_on(statements: &[Value], bucket: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let arn = format!("arn:aws:s3:::{bucket}");
    let mut actions = BTreeSet::new();
    let mut resources = BTreeSet::new();
    for st in statements {
        let named: Vec<String> = strings(&st["Resource"])
            .into_iter()
            .filter(|r| r == &arn || r.starts_with(&format!("{arn}/")))
            .collect();
        if !named.is_empty() {
            actions.extend(strings(&st["Action"]));
            resources.extend(named);
        }
    }
    (actions, resources)
}

/// Whether an IAM action (maybe a wildcard) could be an S3 write.
fn may_write_s3(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    let Some(name) = a.strip_prefix("s3:") else {
        return a == "*";
    };
    // A wildcard may stand for a write.
    name.contains('*')
        || [
            "put",
            "delete",
            "create",
            "abort",
            "restore",
            "replicate",
            "bypass",
            "update",
        ]
        .iter()
        .any(|w| name.starts_with(w))
}

/// GET an airlock request until its status is none of `passing` (the airlock runner moves it).
async fn request_leaving(s: &AwsStack, path: &str, token: &str, passing: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = s.t.get(path, token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let request = r.body["airlockRequest"].clone();
        if !passing.contains(&request["status"].as_str().unwrap_or_default()) {
            return request;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} stayed: {request}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET the caller's review environment until its status is none of `passing`.
async fn review_environment_leaving(
    s: &AwsStack,
    path: &str,
    token: &str,
    passing: &[&str],
) -> Value {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let r = s.t.get(path, token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let status = r.body["userResource"]["deploymentStatus"]
            .as_str()
            .unwrap_or_default();
        if !passing.contains(&status) {
            return r.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} stayed {status}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until the caller's review environment is deleted (404, or its status says so).
async fn review_environment_gone(s: &AwsStack, path: &str, token: &str) {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let r = s.t.get(path, token).await;
        let status = r.body["userResource"]["deploymentStatus"]
            .as_str()
            .unwrap_or_default();
        if r.status == 404 || status == "deleted" {
            return;
        }
        // A failed deletion is retried by the control plane: only the deadline ends the wait.
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            std::time::Instant::now() < deadline,
            "{path} stayed {status}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    // Nothing in review is the researchers' to read.
    for stage in ["export-in-review", "import-in-review"] {
        let (actions, _) = grants_on(
            &role_statements(researcher),
            &format!("{AIRLOCK_PREFIX}-{stage}"),
        );
        assert!(
            actions.is_empty(),
            "the researcher role reaches {stage}: {actions:?}"
        );
    }
    let researcher_policies = researcher["inline_policies"].clone();
    // The S3 endpoint lets review environments of this workspace read its exports in review
    // (their own roles narrow it to one request), read only; imports in review stay out of a
    // workspace that is not an import review workspace.
    let endpoint = s3_endpoint_statements(vpc);
    let (actions, resources) = grants_on(&endpoint, &format!("{AIRLOCK_PREFIX}-export-in-review"));
    assert_eq!(
        actions,
        BTreeSet::from(["s3:GetObject".to_string(), "s3:ListBucket".to_string()]),
        "{endpoint:?}"
    );
    assert_eq!(
        resources,
        BTreeSet::from([
            format!("arn:aws:s3:::{AIRLOCK_PREFIX}-export-in-review"),
            format!("arn:aws:s3:::{AIRLOCK_PREFIX}-export-in-review/{ws_id}/*"),
        ]),
        "{endpoint:?}"
    );
    let (actions, _) = grants_on(&endpoint, &format!("{AIRLOCK_PREFIX}-import-in-review"));
    assert!(actions.is_empty(), "{endpoint:?}");

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

    // Airlock review in a notebook: the workspace says exports are reviewed in aws-airlock-review
    // notebooks of its notebook service (an updateable parameter; the same upgrade makes it an
    // import review workspace too, whose endpoint then lets the imports in review through). The
    // workspace bucket keeps its data unless the owner says otherwise before uninstalling: this
    // upgrade says so too, for the deletion at the end (a workspace upgrade costs a minute).
    let nbs_id = nbs.rsplit('/').next().expect("service id").to_string();
    let w = s
        .patch(
            &ws,
            json!({"properties": {
                "airlock_review_config": {"export": {
                    "export_vm_workspace_service_id": nbs_id,
                    "export_vm_user_resource_template_name": "aws-airlock-review"}},
                "airlock_import_review": true,
                "delete_data_on_uninstall": true}}),
        )
        .await;
    assert_eq!(status(&w), "updated", "{w}");
    assert_eq!(
        w["properties"]["airlock_review_config"]["export"]["export_vm_workspace_service_id"],
        nbs_id.as_str(),
        "{w}"
    );

    // A researcher's export, in review; its reviewer is another user.
    for (user, role) in [
        ("dev-researcher", "WorkspaceResearcher"),
        ("dev-airlock-manager", "AirlockManager"),
    ] {
        s.t.post_ok(
            &format!("{ws}/role-assignments"),
            &s.admin,
            &json!({"principalId": user, "role": role}),
            201,
        )
        .await;
    }
    let researcher = s.t.token("researcher");
    let manager = s.t.token("airlock-manager");
    let created = s
        .t
        .post_ok(
            &format!("{ws}/requests"),
            &researcher,
            &json!({"type": "export", "title": "Summary table", "businessJustification": "for the paper"}),
            201,
        )
        .await;
    let rid = created["airlockRequest"]["id"]
        .as_str()
        .expect("request id")
        .to_string();
    let rp = format!("{ws}/requests/{rid}");
    let link =
        s.t.post_ok(
            &format!("{rp}/files"),
            &researcher,
            &json!({"name": "summary.csv"}),
            200,
        )
        .await;
    let put =
        s.t.http
            .put(link["url"].as_str().expect("upload url"))
            .body(b"group,n\na,12\nb,15\n".to_vec())
            .send()
            .await
            .expect("upload");
    assert!(put.status().is_success(), "upload: {}", put.status());
    s.t.post_ok(&format!("{rp}/submit"), &researcher, &json!({}), 200)
        .await;
    let request = request_leaving(&s, &rp, &researcher, &["submitted"]).await;
    assert_eq!(request["status"], "in_review", "{request}");

    // The airlock manager asks for a review environment; asking again gives the same one.
    let review_path = format!("{rp}/review-user-resource");
    let asked = s.t.post_ok(&review_path, &manager, &json!({}), 202).await;
    let ur_id = asked["userResource"]["id"]
        .as_str()
        .expect("user resource id")
        .to_string();
    let again = s.t.post_ok(&review_path, &manager, &json!({}), 200).await;
    assert_eq!(again["userResource"]["id"], ur_id.as_str(), "{again}");
    let own = s.t.post(&review_path, &researcher, &json!({})).await;
    assert_eq!(
        own.status, 403,
        "the requester reviews nothing: {}",
        own.body
    );
    let env = review_environment_leaving(
        &s,
        &review_path,
        &manager,
        &["awaiting_deployment", "deploying"],
    )
    .await;
    assert_eq!(env["userResource"]["deploymentStatus"], "deployed", "{env}");
    let out = &env["userResource"]["properties"];
    let in_review = format!("{AIRLOCK_PREFIX}-export-in-review");
    let prefix = format!("{ws_id}/{rid}/");
    assert_eq!(
        out["review_files"],
        format!("s3://{in_review}/{prefix}").as_str(),
        "{out}"
    );
    let nb_name = format!("tre-nb-{ur_id}");
    let lifecycle_name = format!("tre-nbs-{ur_id}");
    assert!(
        out["open_command"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!(
                "create-presigned-notebook-instance-url --notebook-instance-name {nb_name}"
            )),
        "{out}"
    );
    assert!(
        out["connection_uri"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://"),
        "{out}"
    );

    // Read back: a notebook locked down like the researchers', but acting as its own role.
    let lifecycle = ["--lifecycle-config", lifecycle_name.as_str()];
    let inv = s.inventory_with(&ws_id, &lifecycle);
    // The upgrade let the imports in review through the endpoint, and left the researcher role
    // as it was.
    let endpoint = s3_endpoint_statements(&inv["vpcs"][0]);
    let (actions, resources) = grants_on(&endpoint, &format!("{AIRLOCK_PREFIX}-import-in-review"));
    assert_eq!(
        (actions, resources),
        (
            BTreeSet::from(["s3:GetObject".to_string(), "s3:ListBucket".to_string()]),
            BTreeSet::from([
                format!("arn:aws:s3:::{AIRLOCK_PREFIX}-import-in-review"),
                format!("arn:aws:s3:::{AIRLOCK_PREFIX}-import-in-review/*"),
            ])
        ),
        "{endpoint:?}"
    );
    let researcher_role = inv["iam_roles"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["arn"] == props["researcher_role_arn"]))
        .expect("the researcher role");
    assert_eq!(
        researcher_role["inline_policies"], researcher_policies,
        "the researcher role does not change"
    );
    let rnb = inv["notebook_instances"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == nb_name.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("no notebook {nb_name}: {}", inv["notebook_instances"]));
    assert!(
        subnet_ids.contains(rnb["subnet_id"].as_str().unwrap_or_default()),
        "{rnb}"
    );
    assert_eq!(
        (
            &rnb["direct_internet_access"],
            &rnb["root_access"],
            &rnb["minimum_imds_version"]
        ),
        (&json!("Disabled"), &json!("Disabled"), &json!("2")),
        "{rnb}"
    );
    assert!(
        key_arn.ends_with(rnb["kms_key_id"].as_str().unwrap_or("?")),
        "{rnb}"
    );
    assert_eq!(
        rnb["lifecycle_config_name"],
        lifecycle_name.as_str(),
        "{rnb}"
    );
    // Its start-up copies the request's files, and only those, into the notebook.
    let on_start = strings(&inv["lifecycle_configs"][&lifecycle_name]["on_start"]).concat();
    assert!(
        on_start.contains(&format!(
            "aws s3 sync --region eu-west-2 s3://{in_review}/{prefix} "
        )),
        "{on_start}"
    );
    assert_ne!(rnb["role_arn"], props["researcher_role_arn"], "{rnb}");
    let role = inv["iam_roles"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["arn"] == rnb["role_arn"]))
        .cloned()
        .unwrap_or_else(|| panic!("the notebook's role {}", rnb["role_arn"]));
    assert!(role["permissions_boundary_arn"].is_string(), "{role}");
    assert_eq!(
        role["permissions_boundary"], role["inline_policies"]["read-request-in-review"],
        "the boundary holds the role to its grants: {role}"
    );
    let assumed_by: Vec<String> = statements(&role["assume_role_policy"])
        .iter()
        .flat_map(|st| strings(&st["Principal"]["Service"]))
        .collect();
    assert_eq!(assumed_by, ["sagemaker.amazonaws.com"], "{role}");
    let granted = role_statements(&role);
    let bucket_arn = format!("arn:aws:s3:::{in_review}");
    for st in &granted {
        assert_eq!(st["Effect"], "Allow", "{st}");
        let actions = strings(&st["Action"]);
        assert!(
            !actions.iter().any(|a| may_write_s3(a)),
            "an S3 write: {st}"
        );
        let resources = strings(&st["Resource"]);
        // S3: read the request's prefix, list the bucket only with that prefix; nothing else.
        if actions.iter().any(|a| a.starts_with("s3:")) {
            if actions == ["s3:GetObject"] {
                assert_eq!(resources, [format!("{bucket_arn}/{prefix}*")], "{st}");
            } else {
                assert_eq!(actions, ["s3:ListBucket"], "{st}");
                assert_eq!(resources, [bucket_arn.as_str()], "{st}");
                assert_eq!(
                    strings(&st["Condition"]["StringLike"]["s3:prefix"]),
                    [format!("{prefix}*")],
                    "{st}"
                );
            }
        }
        // KMS: decrypt only, only through S3, only for that bucket and prefix.
        if actions.iter().any(|a| a.starts_with("kms:")) {
            assert_eq!(actions, ["kms:Decrypt"], "{st}");
            assert_eq!(
                strings(&st["Condition"]["StringEquals"]["kms:ViaService"]),
                ["s3.eu-west-2.amazonaws.com"],
                "{st}"
            );
            let contexts =
                strings(&st["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]);
            assert!(!contexts.is_empty(), "{st}");
            for c in contexts {
                assert!(
                    c == bucket_arn || c == format!("{bucket_arn}/{prefix}*"),
                    "{st}"
                );
            }
        }
        assert!(
            actions
                .iter()
                .all(|a| a.starts_with("s3:") || a.starts_with("kms:") || a.starts_with("logs:")),
            "{st}"
        );
        // Nothing of the workspace's own data or of any other airlock stage.
        for r in &resources {
            assert!(
                !r.contains(&bucket)
                    && (!r.starts_with("arn:aws:s3:::") || r.starts_with(&bucket_arn)),
                "{r}: {st}"
            );
        }
    }
    let (actions, resources) = grants_on(&granted, &in_review);
    assert_eq!(
        (actions, resources),
        (
            BTreeSet::from(["s3:GetObject".to_string(), "s3:ListBucket".to_string()]),
            BTreeSet::from([bucket_arn.clone(), format!("{bucket_arn}/{prefix}*")])
        )
    );

    // The decision removes the review environment: the notebook, its role and its start-up
    // configuration are gone from the account.
    s.t.post_ok(
        &format!("{rp}/review"),
        &manager,
        &json!({"approval": true, "decisionExplanation": "aggregate counts only"}),
        200,
    )
    .await;
    let decided =
        request_leaving(&s, &rp, &researcher, &["in_review", "approval_in_progress"]).await;
    assert_eq!(decided["status"], "approved", "{decided}");
    review_environment_gone(&s, &review_path, &manager).await;
    let inv = s.inventory_with(&ws_id, &lifecycle);
    assert!(
        !inv["notebook_instances"]
            .as_array()
            .expect("notebooks")
            .iter()
            .any(|n| n["name"] == nb_name.as_str()),
        "{}",
        inv["notebook_instances"]
    );
    assert!(
        !inv["iam_roles"]
            .as_array()
            .expect("roles")
            .iter()
            .any(|r| r["arn"] == rnb["role_arn"]),
        "the review role is left: {}",
        inv["iam_roles"]
    );
    assert_eq!(
        inv["lifecycle_configs"][&lifecycle_name],
        Value::Null,
        "{}",
        inv["lifecycle_configs"]
    );

    // Deleting user resources, services and the workspace leaves nothing carrying its tag; the
    // key waits out its deletion window.
    for path in [&bad, &vm, &vms, &nb, &nbs] {
        s.remove(path).await;
    }
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

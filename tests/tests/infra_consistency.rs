//! The Terraform in infra/ agrees with the code: every function crate has a Lambda and every
//! Lambda a crate; each function's IAM actions are exactly what its adapters call; every
//! environment variable the code reads in AWS is set. (Routes: `tre-api`'s infra_routes test.)

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn parse(file: &str) -> hcl::Body {
    let text = std::fs::read_to_string(root().join("infra").join(file)).expect(file);
    hcl::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The object expression of `locals { <name> = { ... } }` in a body.
fn local<'a>(body: &'a hcl::Body, name: &str) -> &'a hcl::Expression {
    body.blocks()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == name)
        .map(|a| a.expr())
        .unwrap_or_else(|| panic!("no local `{name}`"))
}

fn object(e: &hcl::Expression) -> &hcl::Object<hcl::ObjectKey, hcl::Expression> {
    match e {
        hcl::Expression::Object(o) => o,
        other => panic!("expected an object, got {other:?}"),
    }
}

fn key_name(k: &hcl::ObjectKey) -> String {
    match k {
        hcl::ObjectKey::Identifier(i) => i.to_string(),
        hcl::ObjectKey::Expression(hcl::Expression::String(s)) => s.clone(),
        other => format!("{other}"),
    }
}

fn strings(e: &hcl::Expression) -> BTreeSet<String> {
    match e {
        hcl::Expression::Array(items) => items
            .iter()
            .map(|i| match i {
                hcl::Expression::String(s) => s.clone(),
                other => panic!("expected a string, got {other:?}"),
            })
            .collect(),
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn every_function_crate_has_a_lambda_and_back() {
    let lambda = parse("lambda.tf");
    let declared: BTreeSet<String> = object(local(&lambda, "functions"))
        .keys()
        .map(key_name)
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        declared, crates,
        "infra/lambda.tf `local.functions` must list exactly the crates in functions/"
    );
    let in_code: BTreeSet<String> = tre_lambda::FUNCTION_SDK_CALLS
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(
        in_code, crates,
        "tre_lambda::FUNCTION_SDK_CALLS must cover every function crate"
    );
}

#[test]
fn each_function_may_do_exactly_what_its_code_calls() {
    let lambda = parse("lambda.tf");
    let functions = object(local(&lambda, "functions"));
    for (key, spec) in functions {
        let name = key_name(key);
        let granted = strings(
            object(spec)
                .iter()
                .find(|(k, _)| key_name(k) == "iam_actions")
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("{name} has no iam_actions")),
        );
        let calls = tre_lambda::FUNCTION_SDK_CALLS
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, c)| *c)
            .unwrap_or_else(|| panic!("{name} missing from FUNCTION_SDK_CALLS"));
        let mut needed = BTreeSet::new();
        for (adapter, op) in calls {
            let actions = tre_aws::iam_actions_for(adapter, op);
            assert!(
                !actions.is_empty(),
                "{adapter}::{op} has no IAM action in tre_aws::IAM_ACTIONS"
            );
            needed.extend(actions.into_iter().map(str::to_string));
        }
        let missing: Vec<_> = needed.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&needed).collect();
        assert!(
            missing.is_empty(),
            "{name}: its code calls what its role does not allow: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "{name}: its role allows what its code never calls: {extra:?}"
        );
    }
}

#[test]
fn every_environment_variable_the_code_reads_is_set() {
    let lambda = parse("lambda.tf");
    let env: BTreeSet<String> = object(local(&lambda, "common_env"))
        .keys()
        .map(key_name)
        .collect();
    for var in tre_lambda::AWS_ENV_VARS {
        assert!(
            env.contains(*var),
            "infra/lambda.tf common_env does not set {var}"
        );
    }
}

#[test]
fn the_api_gateway_routes_come_from_the_generated_file() {
    let api = std::fs::read_to_string(root().join("infra/api_gateway.tf")).expect("api_gateway.tf");
    assert!(api.contains("jsondecode(file(\"${path.module}/api-routes.json\"))"));
    assert!(api.contains("for_each           = local.api_routes"));
}

/// `${name}` placeholders of a template file.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("unclosed ${");
        out.insert(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

fn attribute<'a>(
    o: &'a hcl::Object<hcl::ObjectKey, hcl::Expression>,
    name: &str,
) -> &'a hcl::Expression {
    o.iter()
        .find(|(k, _)| key_name(k) == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no `{name}`"))
}

/// Every `resource "type" "name"` declared in infra/.
fn declared_resources() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("infra")).expect("infra") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "tf") {
            let file = path.file_name().and_then(|f| f.to_str()).expect("name");
            for b in parse(file).blocks() {
                if b.identifier() == "resource" && b.labels().len() == 2 {
                    out.insert(format!(
                        "{}.{}",
                        b.labels()[0].as_str(),
                        b.labels()[1].as_str()
                    ));
                }
            }
        }
    }
    out
}

/// Resource references (`aws_x.name`) inside an expression.
fn references(e: &hcl::Expression) -> Vec<String> {
    let text = format!("{e}");
    let mut out = Vec::new();
    for (i, _) in text.match_indices("aws_") {
        if i > 0 && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let r: String = text[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let mut parts = r.split('.');
        if let (Some(t), Some(n)) = (parts.next(), parts.next()) {
            out.push(format!("{t}.{n}"));
        }
    }
    out
}

fn asl_files() -> Vec<(String, serde_json::Value, String)> {
    let dir = root().join("statemachines");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("statemachines")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(".asl.json"))
                .expect("name")
                .to_string();
            let text = std::fs::read_to_string(&p).expect("read");
            // Valid JSON as committed (a JSON-valued placeholder is the whole string
            // "${name_json}"), so editors, linters and AWS tools read the files as they are.
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("statemachines/{name}.asl.json is not JSON: {e}"));
            for ph in placeholders(&text).iter().filter(|p| p.ends_with("_json")) {
                assert!(
                    text.matches(&format!("${{{ph}}}")).count()
                        == text.matches(&format!("\"${{{ph}}}\"")).count(),
                    "{name}: `${{{ph}}}` stands for a JSON value, so it is always a whole string"
                );
            }
            (name, json, text)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn task_resources(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("Type").and_then(|t| t.as_str()) == Some("Task") {
                if let Some(r) = m.get("Resource").and_then(|r| r.as_str()) {
                    out.insert(r.to_string());
                }
            }
            m.values().for_each(|x| task_resources(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| task_resources(x, out)),
        _ => {}
    }
}

#[test]
fn every_state_machine_file_is_deployed_with_exactly_its_placeholders() {
    let body = parse("provisioning.tf");
    let machines = object(local(&body, "state_machines"));
    let declared = declared_resources();
    let files = asl_files();
    let deployed: BTreeSet<String> = machines.keys().map(key_name).collect();
    let on_disk: BTreeSet<String> = files.iter().map(|(n, _, _)| n.clone()).collect();
    assert_eq!(
        deployed, on_disk,
        "infra/provisioning.tf local.state_machines must deploy every statemachines/*.asl.json"
    );
    for (name, _, text) in &files {
        let spec = object(
            machines
                .iter()
                .find(|(k, _)| key_name(k) == *name)
                .map(|(_, v)| v)
                .expect("deployed"),
        );
        let file = format!("{}", attribute(spec, "file"));
        assert!(
            file.contains(&format!("statemachines/{name}.asl.json")),
            "{name}: deploys {file}"
        );
        let vars = object(attribute(spec, "vars"));
        let given: BTreeSet<String> = vars.keys().map(key_name).collect();
        assert_eq!(
            given,
            placeholders(text),
            "{name}: templatefile vars must be exactly the file's placeholders"
        );
        for (k, v) in vars {
            let refs = references(v);
            assert!(
                !refs.is_empty(),
                "{name}: `{}` references no resource",
                key_name(k)
            );
            for r in refs {
                assert!(
                    declared.contains(&r),
                    "{name}: `{}` uses {r}, which infra/ does not create",
                    key_name(k)
                );
            }
        }
    }
}

#[test]
fn the_state_machines_role_allows_every_integration_they_use() {
    let body = parse("provisioning.tf");
    let table = object(local(&body, "integration_actions"));
    let policy: BTreeSet<String> = body
        .blocks()
        .find(|b| {
            b.identifier() == "data"
                && b.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>()
                    == ["aws_iam_policy_document", "states"]
        })
        .expect("data.aws_iam_policy_document.states")
        .body()
        .blocks()
        .filter(|b| b.identifier() == "statement")
        .flat_map(|b| {
            b.body()
                .attributes()
                .filter(|a| a.key() == "actions")
                .flat_map(|a| strings(a.expr()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (name, json, _) in asl_files() {
        let mut resources = BTreeSet::new();
        task_resources(&json, &mut resources);
        assert!(!resources.is_empty(), "{name} has no Task");
        for r in resources {
            let actions = table
                .iter()
                .find(|(k, _)| key_name(k) == r)
                .map(|(_, v)| strings(v))
                .unwrap_or_else(|| panic!("{name}: {r} is not in local.integration_actions"));
            for a in actions {
                assert!(
                    policy.contains(&a),
                    "{name}: {r} needs {a}, which the states role does not allow"
                );
            }
        }
    }
}

#[test]
fn the_bundle_runner_task_gets_what_its_code_needs() {
    let ecs = parse("ecs.tf");
    let granted = strings(local(&ecs, "bundle_runner_iam_actions"));
    let mut needed = BTreeSet::new();
    for (adapter, op) in bundle_runner::SDK_CALLS {
        let actions = tre_aws::iam_actions_for(adapter, op);
        assert!(!actions.is_empty(), "{adapter}::{op} has no IAM action");
        needed.extend(actions.into_iter().map(str::to_string));
    }
    assert_eq!(granted, needed, "infra/ecs.tf bundle_runner_iam_actions");

    let text = std::fs::read_to_string(root().join("infra/ecs.tf")).expect("ecs.tf");
    for var in bundle_runner::AWS_ENV_VARS {
        assert!(
            text.contains(&format!("name = \"{var}\"")),
            "the bundle-runner task definition does not set {var}"
        );
    }
    let asl = std::fs::read_to_string(root().join("statemachines/resource-action.asl.json"))
        .expect("asl");
    for var in bundle_runner::JOB_ENV_VARS {
        assert!(
            asl.contains(&format!("\"Name\": \"{var}\"")),
            "resource-action.asl.json does not pass {var} to the bundle-runner container"
        );
    }
}

/// Run by `scripts/test` after `cargo lambda build --output-format zip` (ignored in
/// a plain `cargo test`, which builds no zips): every zip Terraform deploys was produced.
#[test]
#[ignore = "needs `cargo lambda build --output-format zip` first (scripts/test runs it)"]
fn every_lambda_zip_terraform_deploys_was_built() {
    let lambda = std::fs::read_to_string(root().join("infra/lambda.tf")).expect("lambda.tf");
    assert!(
        lambda.contains(
            "filename         = \"${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip\""
        ),
        "infra/lambda.tf deploys <lambda_artifacts_dir>/<function>/bootstrap.zip"
    );
    let variables = std::fs::read_to_string(root().join("infra/variables.tf")).expect("variables");
    assert!(variables.contains("default     = \"../target/lambda\""));
    let functions = object(local(&parse("lambda.tf"), "functions"))
        .keys()
        .map(key_name)
        .collect::<Vec<_>>();
    for f in functions {
        let zip = root().join("target/lambda").join(&f).join("bootstrap.zip");
        let meta = std::fs::metadata(&zip)
            .unwrap_or_else(|e| panic!("{}: {e} (run cargo lambda build first)", zip.display()));
        assert!(
            meta.len() > 1024,
            "{} is too small to hold a binary",
            zip.display()
        );
        let bytes = std::fs::read(&zip).expect("zip");
        assert_eq!(&bytes[..4], b"PK\x03\x04", "{} is not a zip", zip.display());
        // A Lambda on provided.al2023 runs the archive's `bootstrap`.
        assert!(
            bytes.windows(9).any(|w| w == b"bootstrap"),
            "{} holds no bootstrap",
            zip.display()
        );
    }
}

#[test]
fn the_airlock_runner_task_gets_what_its_code_needs() {
    let airlock = parse("airlock.tf");
    let granted = strings(local(&airlock, "airlock_runner_iam_actions"));
    let mut needed = BTreeSet::new();
    for (adapter, op) in airlock_runner::process::SDK_CALLS {
        let actions = tre_aws::iam_actions_for(adapter, op);
        assert!(!actions.is_empty(), "{adapter}::{op} has no IAM action");
        needed.extend(actions.into_iter().map(str::to_string));
    }
    assert_eq!(
        granted, needed,
        "infra/airlock.tf airlock_runner_iam_actions"
    );
    let text = std::fs::read_to_string(root().join("infra/airlock.tf")).expect("airlock.tf");
    for var in airlock_runner::process::AWS_ENV_VARS {
        assert!(
            text.contains(&format!("name = \"{var}\"")),
            "the airlock-runner task definition does not set {var}"
        );
    }
    let asl =
        std::fs::read_to_string(root().join("statemachines/airlock-review.asl.json")).expect("asl");
    for var in airlock_runner::JOB_ENV_VARS {
        assert!(
            asl.contains(&format!("\"Name\": \"{var}\"")),
            "airlock-review.asl.json does not pass {var} to the airlock-runner container"
        );
    }
    let asl = std::fs::read_to_string(root().join("statemachines/datasource-import.asl.json"))
        .expect("asl");
    for var in airlock_runner::datasource::JOB_ENV_VARS {
        assert!(
            asl.contains(&format!("\"Name\": \"{var}\"")),
            "datasource-import.asl.json does not pass {var} to the airlock-runner container"
        );
    }
    // The Lambdas that sign the airlock's links find its buckets.
    let lambda = parse("lambda.tf");
    let env: BTreeSet<String> = object(local(&lambda, "common_env"))
        .keys()
        .map(key_name)
        .collect();
    assert!(env.contains(tre_aws::ENV_AIRLOCK_BUCKET_PREFIX));
}

/// The console in AWS gets the same `config.json` fields the local stack serves, and every file
/// of console/static is uploaded with a content type.
#[test]
fn the_console_is_deployed_with_its_files_and_configuration() {
    let console = parse("console.tf");
    let content = console
        .blocks()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>()
                    == ["aws_s3_object", "console_config"]
        })
        .and_then(|b| b.body().attributes().find(|a| a.key() == "content"))
        .map(|a| a.expr().clone())
        .expect("aws_s3_object.console_config with a content");
    let hcl::Expression::FuncCall(call) = content else {
        panic!("config.json content must be jsonencode({{...}})");
    };
    assert_eq!(call.name.to_string(), "jsonencode");
    let deployed: BTreeSet<String> = object(&call.args[0]).keys().map(key_name).collect();
    let on_local_stack = tre_console::ConsoleConfig::for_local_stack("http://127.0.0.1:8080");
    let served: BTreeSet<String> = serde_json::to_value(on_local_stack)
        .expect("config")
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        deployed, served,
        "console.tf config.json vs tre_console::ConsoleConfig"
    );

    let types: BTreeSet<String> = object(local(&console, "console_content_types"))
        .keys()
        .map(key_name)
        .collect();
    for (name, _, _) in tre_console::FILES {
        let ext = name.rsplit('.').next().unwrap_or_default();
        assert!(
            types.contains(ext),
            "no content type for console/static/{name}"
        );
    }
}

/// The registry's task role allows exactly the S3 calls its code makes, and its task definition
/// sets every variable it reads.
#[test]
fn the_registry_service_gets_what_its_code_needs() {
    let registry = parse("registry.tf");
    let granted = strings(local(&registry, "registry_iam_actions"));
    let mut needed = BTreeSet::new();
    for (adapter, op) in tre_registry::SDK_CALLS {
        let actions = tre_aws::iam_actions_for(adapter, op);
        assert!(!actions.is_empty(), "{adapter}::{op} has no IAM action");
        needed.extend(actions.into_iter().map(str::to_string));
    }
    assert_eq!(granted, needed, "infra/registry.tf registry_iam_actions");
    let text = std::fs::read_to_string(root().join("infra/registry.tf")).expect("registry.tf");
    for var in tre_registry::AWS_ENV_VARS {
        assert!(
            text.contains(&format!("name = \"{var}\"")),
            "the registry task definition does not set {var}"
        );
    }
    // The realm it names is the API's token route.
    assert!(text.contains("/api/registry/token"));
    assert!(tre_api::routes::route_table()
        .iter()
        .any(|r| r.path == "/api/registry/token"));
}

// ---------- the AWS bundles' permissions (infra/bundle_permissions.tf) ----------

/// What each AWS resource and data source type of the AWS bundles (bundles/aws-*/terraform) needs
/// from the bundle-runner task role: the IAM actions of its create, read (the provider's refresh),
/// update and destroy calls, enough to cover each step (the policy may grant them by wildcard).
/// Empty: the provider makes no call that needs a permission. A bundle using a type missing here
/// fails `the_bundle_runner_task_may_do_what_the_aws_bundles_need`: add it after reviewing what
/// the type calls, and grant that in infra/bundle_permissions.tf.
#[rustfmt::skip]
const BUNDLE_TYPE_NEEDS: &[(&str, &[&str])] = &[
    // aws-workspace: the network.
    ("data.aws_availability_zones", &["ec2:DescribeAvailabilityZones"]),
    ("resource.aws_vpc", &["ec2:CreateVpc", "ec2:CreateTags", "ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:ModifyVpcAttribute", "ec2:DeleteVpc"]),
    ("resource.aws_default_security_group", &["ec2:DescribeSecurityGroups", "ec2:CreateTags", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"]),
    ("resource.aws_subnet", &["ec2:CreateSubnet", "ec2:DescribeSubnets", "ec2:ModifySubnetAttribute", "ec2:DeleteSubnet"]),
    ("resource.aws_route_table", &["ec2:CreateRouteTable", "ec2:DescribeRouteTables", "ec2:DeleteRouteTable"]),
    ("resource.aws_route_table_association", &["ec2:AssociateRouteTable", "ec2:DescribeRouteTables", "ec2:DisassociateRouteTable"]),
    ("resource.aws_security_group", &["ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:DescribeSecurityGroups", "ec2:DeleteSecurityGroup"]),
    // Private DNS associates the VPC with the service's hosted zone.
    ("resource.aws_vpc_endpoint", &["ec2:CreateVpcEndpoint", "route53:AssociateVPCWithHostedZone", "ec2:DescribeVpcEndpoints", "ec2:DescribePrefixLists", "ec2:ModifyVpcEndpoint", "ec2:DeleteVpcEndpoints"]),
    ("resource.aws_ec2_tag", &["ec2:CreateTags", "ec2:DescribeTags", "ec2:DeleteTags"]),
    // The flow log publishes as a role of its own, which it is handed.
    ("resource.aws_flow_log", &["ec2:CreateFlowLogs", "iam:PassRole", "ec2:DescribeFlowLogs", "ec2:DeleteFlowLogs"]),
    ("resource.aws_cloudwatch_log_group", &["logs:CreateLogGroup", "logs:TagResource", "logs:PutRetentionPolicy", "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:DeleteLogGroup"]),
    // aws-workspace: keys, storage, roles.
    ("resource.aws_kms_key", &["kms:CreateKey", "kms:TagResource", "kms:EnableKeyRotation", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]),
    ("resource.aws_kms_alias", &["kms:CreateAlias", "kms:ListAliases", "kms:UpdateAlias", "kms:DeleteAlias"]),
    ("resource.aws_s3_bucket", &[
        "s3:CreateBucket", "s3:PutBucketTagging", "s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
        "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment", "s3:GetBucketLogging", "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging",
        // force_destroy empties the bucket first.
        "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket",
    ]),
    ("resource.aws_s3_bucket_ownership_controls", &["s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"]),
    ("resource.aws_s3_bucket_public_access_block", &["s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"]),
    ("resource.aws_s3_bucket_versioning", &["s3:PutBucketVersioning", "s3:GetBucketVersioning"]),
    ("resource.aws_s3_bucket_server_side_encryption_configuration", &["s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"]),
    ("resource.aws_s3_bucket_lifecycle_configuration", &["s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"]),
    ("resource.aws_s3_bucket_policy", &["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"]),
    ("resource.aws_iam_role", &["iam:CreateRole", "iam:TagRole", "iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:UpdateAssumeRolePolicy", "iam:ListInstanceProfilesForRole", "iam:DeleteRole"]),
    ("resource.aws_iam_role_policy", &["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"]),
    ("resource.aws_iam_policy", &["iam:CreatePolicy", "iam:TagPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:DeletePolicy"]),
    // Adding a role to a profile passes it.
    ("resource.aws_iam_instance_profile", &["iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:PassRole", "iam:GetInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"]),
    // Looks up the role behind the caller's session.
    ("data.aws_iam_session_context", &["iam:GetRole"]),
    // sts:GetCallerIdentity needs no permission; the others make no call.
    ("data.aws_caller_identity", &[]),
    ("data.aws_partition", &[]),
    ("data.aws_region", &[]),
    ("data.aws_iam_policy_document", &[]),
    // aws-notebooks, aws-notebook: SageMaker uses the workspace key and makes the notebook's
    // network interface in the workspace subnet as the caller.
    ("resource.aws_sagemaker_notebook_instance_lifecycle_configuration", &["sagemaker:CreateNotebookInstanceLifecycleConfig", "sagemaker:DescribeNotebookInstanceLifecycleConfig", "sagemaker:UpdateNotebookInstanceLifecycleConfig", "sagemaker:DeleteNotebookInstanceLifecycleConfig"]),
    ("resource.aws_sagemaker_notebook_instance", &[
        "sagemaker:CreateNotebookInstance", "sagemaker:AddTags", "iam:PassRole", "kms:CreateGrant", "ec2:CreateNetworkInterface", "sagemaker:DescribeNotebookInstance",
        "sagemaker:ListTags", "sagemaker:StopNotebookInstance", "sagemaker:UpdateNotebookInstance", "sagemaker:StartNotebookInstance", "sagemaker:DeleteNotebookInstance",
    ]),
    // aws-vms, aws-linux-vm: the VM's root volume is encrypted with the workspace key (EC2 makes
    // a grant as the caller at launch and at each start).
    ("resource.aws_ssm_document", &["ssm:CreateDocument", "ssm:AddTagsToResource", "ssm:DescribeDocument", "ssm:GetDocument", "ssm:DescribeDocumentPermission", "ssm:ListTagsForResource", "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion", "ssm:DeleteDocument"]),
    ("data.aws_ssm_parameter", &["ssm:GetParameter"]),
    ("resource.aws_instance", &[
        "ec2:RunInstances", "ec2:CreateTags", "iam:PassRole", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext", "ec2:DescribeInstances", "ec2:DescribeInstanceAttribute",
        "ec2:DescribeVolumes", "ec2:DescribeInstanceCreditSpecifications", "ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:ModifyVolume", "ec2:StartInstances", "ec2:TerminateInstances",
    ]),
    ("resource.aws_ec2_instance_state", &["ec2:DescribeInstances", "ec2:StopInstances", "ec2:StartInstances", "kms:CreateGrant"]),
    // aws-package-mirror: CodeArtifact encrypts the domain with the mirror's key through a grant.
    ("resource.aws_codeartifact_domain", &["codeartifact:CreateDomain", "codeartifact:TagResource", "kms:CreateGrant", "kms:DescribeKey", "codeartifact:DescribeDomain", "codeartifact:ListTagsForResource", "codeartifact:DeleteDomain"]),
    ("resource.aws_codeartifact_repository", &["codeartifact:CreateRepository", "codeartifact:DescribeRepository", "codeartifact:AssociateExternalConnection", "codeartifact:UpdateRepository", "codeartifact:DeleteRepository"]),
    ("resource.aws_codeartifact_domain_permissions_policy", &["codeartifact:PutDomainPermissionsPolicy", "codeartifact:GetDomainPermissionsPolicy", "codeartifact:DeleteDomainPermissionsPolicy"]),
    ("resource.aws_codeartifact_repository_permissions_policy", &["codeartifact:PutRepositoryPermissionsPolicy", "codeartifact:GetRepositoryPermissionsPolicy", "codeartifact:DeleteRepositoryPermissionsPolicy"]),
    ("data.aws_codeartifact_repository_endpoint", &["codeartifact:GetRepositoryEndpoint"]),
];

/// Services whose writes must name their resources (no bare "*").
const NAMED_RESOURCE_SERVICES: &[&str] = &[
    "iam",
    "s3",
    "kms",
    "logs",
    "sagemaker",
    "ssm",
    "codeartifact",
];
/// Writes that take no resource: CreateKey, and TagResource with CreateKey's tags ("on no
/// particular key", AWS KMS says); allowed on "*" only with a condition on the request's tags.
const RESOURCELESS_WRITES: &[&str] = &["kms:CreateKey", "kms:TagResource"];
/// Services whose writes must be held by a tag (their resources' names are AWS's ids).
const TAGGED_SERVICES: &[&str] = &["ec2", "kms"];
/// Resources a bundle never owns or cannot tag, which EC2 and KMS requests name beside a
/// resource that is tag-checked: a statement naming only these may go without a tag condition
/// when each of its writes is also granted under one (or only AWS services acting for the runner
/// may make them, aws:ViaAWSService).
const UNTAGGED_PARTS: &[&str] = &[
    ":network-interface/",    // made at launch, or by SageMaker, in a tagged subnet
    ":security-group-rule/",  // rules of a tagged group
    "::image/",               // the AMI (AWS's)
    "::snapshot/",            // the AMI's snapshot
    ":vpc-endpoint-service/", // the AWS service an endpoint reaches
    ":prefix-list/",          // the S3 prefix list (AWS's)
    ":alias/",                // KMS aliases carry no tags; CreateAlias also names the key
];

/// `*`/`?` wildcard match, case-insensitive (IAM action names).
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn is_write(action: &str) -> bool {
    let name = action.split_once(':').map(|(_, n)| n).unwrap_or(action);
    !["Describe", "List", "Get"]
        .iter()
        .any(|p| name.starts_with(p))
}

struct PolicyStatement {
    document: String,
    sid: String,
    allow: bool,
    actions: Vec<String>,
    /// Each resource as written: a plain string or a template (`${...}`).
    resources: Vec<hcl::Expression>,
    /// (test, variable, values as written)
    conditions: Vec<(String, String, String)>,
}

impl PolicyStatement {
    fn label(&self) -> String {
        format!(
            "data.aws_iam_policy_document.{} statement {}",
            self.document, self.sid
        )
    }
    fn bare_star(&self) -> bool {
        self.resources
            .iter()
            .any(|r| matches!(r, hcl::Expression::String(s) if s == "*"))
    }
    fn has_condition(&self, variable_prefix: &str) -> bool {
        self.conditions
            .iter()
            .any(|(_, v, _)| v.starts_with(variable_prefix))
    }
    fn has_tag_condition(&self) -> bool {
        ["aws:RequestTag/tre:", "aws:ResourceTag/tre:", "aws:TagKeys"]
            .iter()
            .any(|p| self.has_condition(p))
    }
}

fn string_attr(body: &hcl::Body, key: &str) -> Option<String> {
    body.attributes()
        .find(|a| a.key() == key)
        .map(|a| match a.expr() {
            hcl::Expression::String(s) => s.clone(),
            other => format!("{other}"),
        })
}

/// Every statement of every `data "aws_iam_policy_document"` in an infra file.
fn policy_statements(body: &hcl::Body) -> Vec<PolicyStatement> {
    let mut out = Vec::new();
    for doc in body.blocks().filter(|b| {
        b.identifier() == "data"
            && b.labels().first().map(|l| l.as_str()) == Some("aws_iam_policy_document")
    }) {
        let document = doc.labels()[1].as_str().to_string();
        for (i, st) in doc
            .body()
            .blocks()
            .filter(|b| b.identifier() == "statement")
            .enumerate()
        {
            let b = st.body();
            let sid = string_attr(b, "sid").unwrap_or_else(|| format!("#{i}"));
            let actions = b
                .attributes()
                .find(|a| a.key() == "actions")
                .map(|a| strings(a.expr()).into_iter().collect())
                .unwrap_or_else(|| panic!("{document} {sid}: no literal `actions` list"));
            let resources = match b
                .attributes()
                .find(|a| a.key() == "resources")
                .map(|a| a.expr())
            {
                Some(hcl::Expression::Array(items)) => items.clone(),
                other => {
                    panic!("{document} {sid}: `resources` must be a literal list, got {other:?}")
                }
            };
            let conditions = b
                .blocks()
                .filter(|c| c.identifier() == "condition")
                .map(|c| {
                    let body = c.body();
                    (
                        string_attr(body, "test").expect("condition test"),
                        string_attr(body, "variable").expect("condition variable"),
                        string_attr(body, "values").expect("condition values"),
                    )
                })
                .collect();
            out.push(PolicyStatement {
                document: document.clone(),
                sid,
                allow: string_attr(b, "effect").is_none_or(|e| e == "Allow"),
                actions,
                resources,
                conditions,
            });
        }
    }
    out
}

/// Every `resource "aws_*"` and `data "aws_*"` type of bundles/aws-*/terraform/*.tf, as
/// `resource.<type>` / `data.<type>`, with the bundles using it.
fn aws_bundle_types() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut out = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
    let bundles = root().join("bundles");
    let mut found = 0;
    for entry in std::fs::read_dir(&bundles).expect("bundles/") {
        let bundle = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        let dir = bundles.join(&bundle).join("terraform");
        if !bundle.starts_with("aws-") || !dir.is_dir() {
            continue;
        }
        found += 1;
        for file in std::fs::read_dir(&dir).expect("terraform/") {
            let path = file.expect("entry").path();
            if path.extension().is_none_or(|e| e != "tf") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let body: hcl::Body =
                hcl::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for b in body.blocks() {
                let kind = b.identifier();
                if (kind == "resource" || kind == "data") && !b.labels().is_empty() {
                    let t = b.labels()[0].as_str();
                    if t.starts_with("aws_") {
                        out.entry(format!("{kind}.{t}"))
                            .or_default()
                            .insert(bundle.clone());
                    }
                }
            }
        }
    }
    assert!(
        found >= 6,
        "expected the AWS bundles under bundles/aws-*/terraform, found {found}"
    );
    out
}

/// The bundle-runner task role may do what the AWS bundles' modules need and no more: every
/// resource and data source type they use is in `BUNDLE_TYPE_NEEDS` (reviewed), every action
/// listed there is granted by infra/bundle_permissions.tf, which grants no other service; writes
/// name their resources (IAM, S3, KMS, Logs, SageMaker, SSM, CodeArtifact) and are held by a tag
/// where they cannot (EC2, KMS keys); roles are passed only by name to named services; and those
/// policies are the bundle-runner task role's.
#[test]
fn the_bundle_runner_task_may_do_what_the_aws_bundles_need() {
    let used = aws_bundle_types();
    let table: std::collections::BTreeMap<&str, &[&str]> =
        BUNDLE_TYPE_NEEDS.iter().copied().collect();
    let unreviewed: Vec<String> = used
        .iter()
        .filter(|(t, _)| !table.contains_key(t.as_str()))
        .map(|(t, b)| {
            format!(
                "{t} (in {})",
                b.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        unreviewed.is_empty(),
        "AWS bundles use types no one reviewed for the bundle runner's permissions: {unreviewed:?}. \
         Add each to BUNDLE_TYPE_NEEDS in tests/tests/infra_consistency.rs with the IAM actions its \
         create/read/update/delete need, and grant them in infra/bundle_permissions.tf."
    );
    let stale: Vec<&&str> = table.keys().filter(|t| !used.contains_key(**t)).collect();
    assert!(
        stale.is_empty(),
        "BUNDLE_TYPE_NEEDS lists types no AWS bundle uses: {stale:?}"
    );

    let body = parse("bundle_permissions.tf");
    let statements = policy_statements(&body);
    assert!(
        !statements.is_empty(),
        "infra/bundle_permissions.tf has no policy statements"
    );
    let allowed: Vec<&PolicyStatement> = statements.iter().filter(|s| s.allow).collect();
    let granted = |action: &str| {
        allowed
            .iter()
            .any(|s| s.actions.iter().any(|a| wildcard(a, action)))
    };

    // (b) Every need of every used type is granted; every service granted is needed.
    let mut needed_services = BTreeSet::new();
    let mut missing = Vec::new();
    for t in used.keys() {
        for action in table[t.as_str()] {
            needed_services.insert(action.split(':').next().expect("service").to_string());
            if !granted(action) {
                missing.push(format!("{t}: {action}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "infra/bundle_permissions.tf does not allow what the AWS bundles need: {missing:?}"
    );
    let granted_services: BTreeSet<String> = allowed
        .iter()
        .flat_map(|s| s.actions.iter())
        .map(|a| a.split(':').next().expect("service").to_string())
        .collect();
    let extra: Vec<_> = granted_services.difference(&needed_services).collect();
    assert!(
        extra.is_empty(),
        "infra/bundle_permissions.tf allows services no AWS bundle type needs: {extra:?}"
    );

    // (c) How the writes are scoped.
    for s in &allowed {
        let writes: Vec<&String> = s.actions.iter().filter(|a| is_write(a)).collect();
        let service_writes = |services: &[&str]| {
            writes
                .iter()
                .filter(|a| services.iter().any(|p| a.starts_with(&format!("{p}:"))))
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
        };
        let named = service_writes(NAMED_RESOURCE_SERVICES);
        if !named.is_empty() && s.bare_star() {
            assert!(
                named.iter().all(|a| RESOURCELESS_WRITES.contains(a))
                    && s.has_condition("aws:RequestTag/tre:"),
                "{}: {named:?} on \"*\": name the resources (only {RESOURCELESS_WRITES:?} may go on \"*\", \
                 with a condition on the request's tre: tags)",
                s.label()
            );
        }
        let tagged = service_writes(TAGGED_SERVICES);
        if !tagged.is_empty() && !s.has_tag_condition() {
            let parts_only = s.resources.iter().all(|r| {
                let text = format!("{r}");
                UNTAGGED_PARTS.iter().any(|p| text.contains(p))
            });
            let through_services = s.conditions.iter().any(|(t, v, vals)| {
                t == "Bool" && v == "aws:ViaAWSService" && vals.contains("true")
            });
            let checked_elsewhere = tagged.iter().all(|a| {
                allowed
                    .iter()
                    .any(|o| o.has_tag_condition() && o.actions.iter().any(|x| wildcard(x, a)))
            });
            assert!(
                parts_only && (through_services || checked_elsewhere),
                "{}: {tagged:?} without a condition on the tre: tags (aws:RequestTag/tre:..., \
                 aws:ResourceTag/tre:..., aws:TagKeys); only parts a bundle cannot tag ({UNTAGGED_PARTS:?}) \
                 may go without one, for writes also granted under one or made only through AWS services",
                s.label()
            );
        }
        if s.actions.iter().any(|a| wildcard(a, "iam:PassRole")) {
            assert!(
                !s.bare_star()
                    && s.resources
                        .iter()
                        .all(|r| format!("{r}").contains(":role/")),
                "{}: iam:PassRole only for named roles",
                s.label()
            );
            assert!(
                s.has_condition("iam:PassedToService"),
                "{}: iam:PassRole only to named services (iam:PassedToService)",
                s.label()
            );
        }
    }

    // Every document is one of the policies attached to the bundle-runner task role.
    let documents: BTreeSet<String> = statements.iter().map(|s| s.document.clone()).collect();
    let attached: BTreeSet<String> = object(local(&body, "bundle_policies"))
        .values()
        .map(|v| {
            let text = format!("{v}");
            text.strip_prefix("data.aws_iam_policy_document.")
                .and_then(|t| t.strip_suffix(".json"))
                .unwrap_or_else(|| {
                    panic!("local.bundle_policies: {text} is not a policy document's json")
                })
                .to_string()
        })
        .collect();
    assert_eq!(
        documents, attached,
        "infra/bundle_permissions.tf: local.bundle_policies must hold every policy document of the file"
    );
    let resource = |t: &str, n: &str| {
        body.blocks()
            .find(|b| {
                b.identifier() == "resource"
                    && b.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>() == [t, n]
            })
            .unwrap_or_else(|| panic!("infra/bundle_permissions.tf has no {t}.{n}"))
            .body()
            .clone()
    };
    let policy = resource("aws_iam_policy", "bundle_permissions");
    assert_eq!(
        string_attr(&policy, "for_each").as_deref(),
        Some("local.bundle_policies")
    );
    assert_eq!(
        string_attr(&policy, "policy").as_deref(),
        Some("each.value")
    );
    let attachment = resource("aws_iam_role_policy_attachment", "bundle_permissions");
    assert_eq!(
        string_attr(&attachment, "for_each").as_deref(),
        Some("aws_iam_policy.bundle_permissions")
    );
    assert_eq!(
        string_attr(&attachment, "role").as_deref(),
        Some("aws_iam_role.bundle_runner_task.name"),
        "the bundle permissions belong to the bundle-runner task role"
    );
    assert_eq!(
        string_attr(&attachment, "policy_arn").as_deref(),
        Some("each.value.arn")
    );

    // The runner hands workspace bundles the airlock's buckets (tre_airlock).
    let ecs = std::fs::read_to_string(root().join("infra/ecs.tf")).expect("ecs.tf");
    assert!(
        ecs.contains(&format!(
            "{{ name = \"{}\", value = local.airlock_bucket_prefix }}",
            tre_aws::ENV_AIRLOCK_BUCKET_PREFIX
        )),
        "the bundle-runner task definition sets TRE_AIRLOCK_BUCKET_PREFIX to the airlock's bucket prefix"
    );
    assert!(bundle_runner::AWS_ENV_VARS.contains(&tre_aws::ENV_AIRLOCK_BUCKET_PREFIX));
}

/// Browsers reach the airlock buckets through the API's links: every stage a link points at has
/// a CORS rule (uploads to staging, reads elsewhere), and no other stage has one. What a
/// deployment really answers is read back by the infra rehearsal (GetBucketCors).
#[test]
fn every_airlock_stage_with_links_answers_the_console() {
    let airlock = parse("airlock.tf");
    let linked = strings(local(&airlock, "airlock_link_stages"));
    let cors = object(local(&airlock, "airlock_cors_methods"));
    let with_cors: BTreeSet<String> = cors.keys().map(key_name).collect();
    assert_eq!(
        with_cors, linked,
        "airlock_cors_methods vs airlock_link_stages"
    );
    for (stage, methods) in cors {
        let stage = key_name(stage);
        let want: BTreeSet<String> = if stage.ends_with("-staging") {
            ["PUT", "POST"]
        } else {
            ["GET", "HEAD"]
        }
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(strings(methods), want, "CORS methods of {stage}");
    }
}

// ---------- the audit trail: the archive, CloudTrail, GuardDuty (infra/audit.tf) ----------

/// The body of `resource "<kind>" "<name>"` in an infra file.
fn resource_body(file: &str, kind: &str, name: &str) -> hcl::Body {
    parse(file)
        .blocks()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>() == [kind, name]
        })
        .map(|b| b.body().clone())
        .unwrap_or_else(|| panic!("infra/{file} has no resource {kind}.{name}"))
}

/// An expression as HCL text on one line (`var.x`, `true`, `"NEW_IMAGE"`, `["a", "b"]`).
fn one_line(e: &hcl::Expression) -> String {
    format!("{e}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("[ ", "[")
        .replace(" ]", "]")
        .replace(",]", "]")
}

/// An attribute as HCL text on one line.
fn attr_text(body: &hcl::Body, key: &str) -> String {
    body.attributes()
        .find(|a| a.key() == key)
        .map(|a| one_line(a.expr()))
        .unwrap_or_else(|| panic!("no attribute `{key}`"))
}

/// The single nested block `name` of a body.
fn block<'a>(body: &'a hcl::Body, name: &str) -> &'a hcl::Body {
    let found: Vec<&hcl::Block> = body.blocks().filter(|b| b.identifier() == name).collect();
    assert_eq!(found.len(), 1, "expected one `{name}` block");
    found[0].body()
}

/// The `content` of the dynamic statement with `sid` in data.aws_iam_policy_document.function.
fn function_policy_statement(sid: &str) -> (String, hcl::Body) {
    let iam = parse("iam.tf");
    let doc = iam
        .blocks()
        .find(|b| {
            b.identifier() == "data"
                && b.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>()
                    == ["aws_iam_policy_document", "function"]
        })
        .expect("data.aws_iam_policy_document.function");
    doc.body()
        .blocks()
        .filter(|b| b.identifier() == "dynamic")
        .find_map(|d| {
            let content = d.body().blocks().find(|b| b.identifier() == "content")?;
            (string_attr(content.body(), "sid").as_deref() == Some(sid))
                .then(|| (attr_text(d.body(), "for_each"), content.body().clone()))
        })
        .unwrap_or_else(|| panic!("infra/iam.tf: no dynamic statement `{sid}`"))
}

/// What a function reads besides the common environment is set on that function (and only on
/// it): `local.function_env` in lambda.tf is `tre_lambda::FUNCTION_ENV_VARS`, merged in.
#[test]
fn every_function_gets_the_variables_only_it_reads() {
    let lambda = parse("lambda.tf");
    let functions: BTreeSet<String> = object(local(&lambda, "functions"))
        .keys()
        .map(key_name)
        .collect();
    let env = object(local(&lambda, "function_env"));
    let in_tf: BTreeSet<String> = env.keys().map(key_name).collect();
    let in_code: BTreeSet<String> = tre_lambda::FUNCTION_ENV_VARS
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(in_tf, in_code, "local.function_env vs FUNCTION_ENV_VARS");
    for (function, vars) in tre_lambda::FUNCTION_ENV_VARS {
        assert!(functions.contains(*function), "{function} is not deployed");
        let set: BTreeSet<String> = object(attribute(env, function))
            .keys()
            .map(key_name)
            .collect();
        let want: BTreeSet<String> = vars.iter().map(|v| v.to_string()).collect();
        assert_eq!(set, want, "local.function_env[\"{function}\"]");
    }
    let text = std::fs::read_to_string(root().join("infra/lambda.tf")).expect("lambda.tf");
    assert!(
        text.contains("variables = merge(local.common_env, try(local.function_env[each.key], {}))"),
        "each Lambda's environment is common_env and its own function_env"
    );
    // The archive function finds the archive bucket.
    let archive_env = object(attribute(env, "audit-archive"));
    assert_eq!(
        format!(
            "{}",
            attribute(
                archive_env,
                tre_lambda::audit_archive::ENV_AUDIT_ARCHIVE_BUCKET
            )
        ),
        "aws_s3_bucket.audit_archive.id"
    );
}

/// The table streams every item as written, and the archive function gets only the inserts of
/// audit events (the key prefix its code archives), with partial batch failures reported and
/// what fails every retry kept in its failure queue.
#[test]
fn the_audit_archive_is_fed_the_inserts_of_audit_events() {
    let table = resource_body("dynamodb.tf", "aws_dynamodb_table", "tre");
    assert_eq!(attr_text(&table, "stream_enabled"), "true");
    assert_eq!(attr_text(&table, "stream_view_type"), "\"NEW_IMAGE\"");

    let lambda = parse("lambda.tf");
    let spec = object(attribute(
        object(local(&lambda, "functions")),
        "audit-archive",
    ));
    assert_eq!(format!("{}", attribute(spec, "kind")), "\"stream\"");
    let kinds: Vec<String> = object(local(&lambda, "functions"))
        .iter()
        .filter(|(_, v)| format!("{}", attribute(object(v), "kind")) == "\"stream\"")
        .map(|(k, _)| key_name(k))
        .collect();
    assert_eq!(kinds, ["audit-archive"], "the stream functions");

    let esm = resource_body(
        "lambda.tf",
        "aws_lambda_event_source_mapping",
        "audit_archive",
    );
    assert_eq!(
        attr_text(&esm, "event_source_arn"),
        "aws_dynamodb_table.tre.stream_arn"
    );
    assert_eq!(
        attr_text(&esm, "function_name"),
        "aws_lambda_function.function[\"audit-archive\"].arn"
    );
    assert_eq!(
        attr_text(&esm, "function_response_types"),
        "[\"ReportBatchItemFailures\"]"
    );
    assert_eq!(attr_text(&esm, "starting_position"), "\"TRIM_HORIZON\"");
    assert_eq!(
        attr_text(
            block(block(&esm, "destination_config"), "on_failure"),
            "destination_arn"
        ),
        "aws_sqs_queue.function_dlq[\"audit-archive\"].arn"
    );
    let pattern = block(block(&esm, "filter_criteria"), "filter")
        .attributes()
        .find(|a| a.key() == "pattern")
        .map(|a| a.expr().clone())
        .expect("filter pattern");
    let hcl::Expression::FuncCall(call) = pattern else {
        panic!("the filter pattern must be jsonencode({{...}})");
    };
    assert_eq!(call.name.to_string(), "jsonencode");
    let value = hcl::eval::Evaluate::evaluate(&call.args[0], &hcl::eval::Context::new())
        .expect("the pattern is a literal");
    let json = serde_json::to_value(value).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "eventName": ["INSERT"],
            "dynamodb": {"Keys": {"sk": {"S": [{"prefix": tre_lambda::audit_archive::AUDIT_SK_PREFIX}]}}}
        }),
        "the mapping's filter: inserts of items whose pk starts with the audit prefix"
    );
    // The failure queue is alarmed.
    let alarm = resource_body(
        "audit.tf",
        "aws_cloudwatch_metric_alarm",
        "audit_archive_failures",
    );
    assert!(attr_text(&alarm, "dimensions")
        .contains("aws_sqs_queue.function_dlq[\"audit-archive\"].name"));
}

/// The stream function's role reads the table's stream and writes under `audit/` of the archive
/// bucket, nothing else: its S3 actions never reach the airlock's buckets (those statements
/// take `objects`, which leaves stream functions out).
#[test]
fn the_audit_archive_may_read_the_stream_and_write_the_archive_only() {
    let audit = parse("audit.tf");
    assert_eq!(
        strings(local(&audit, "stream_read_actions")),
        [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams"
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        "what a DynamoDB stream event source mapping reads"
    );
    let (for_each, stream) = function_policy_statement("ReadTableStream");
    assert!(for_each.contains(".stream)"), "{for_each}");
    assert_eq!(
        attr_text(&stream, "actions"),
        "local.function_actions[each.key].stream"
    );
    assert_eq!(
        attr_text(&stream, "resources"),
        "[aws_dynamodb_table.tre.stream_arn]"
    );
    let (for_each, archive) = function_policy_statement("ArchiveAuditEvents");
    assert!(for_each.contains(".archive)"), "{for_each}");
    assert_eq!(
        attr_text(&archive, "resources"),
        format!(
            "[\"${{aws_s3_bucket.audit_archive.arn}}/{}*\"]",
            tre_lambda::audit_archive::KEY_PREFIX
        )
    );
    for sid in ["AirlockUploads", "AirlockReads"] {
        let (for_each, _) = function_policy_statement(sid);
        assert!(
            for_each.contains("local.function_actions[each.key].objects"),
            "{sid}: {for_each}"
        );
    }
    let iam = std::fs::read_to_string(root().join("infra/iam.tf")).expect("iam.tf");
    for line in [
        "stream  = f.kind == \"stream\" ? local.stream_read_actions : []",
        "objects = [for a in f.iam_actions : a if startswith(a, \"s3:\") && f.kind != \"stream\"]",
        "archive = [for a in f.iam_actions : a if startswith(a, \"s3:\") && f.kind == \"stream\"]",
    ] {
        assert!(iam.contains(line), "infra/iam.tf: `{line}`");
    }
}

/// The archive and the trail's buckets: Object Lock from creation, versioning, a default
/// retention in compliance mode of the variable's days, the deployment's KMS key, no public
/// access, TLS only.
#[test]
fn the_archive_and_trail_buckets_are_locked_encrypted_and_private() {
    for (name, days, gated) in [
        ("audit_archive", "var.audit_retention_days", false),
        ("trail", "var.cloudtrail_retention_days", true),
    ] {
        let index = if gated { "[0]" } else { "" };
        let bucket = resource_body("audit.tf", "aws_s3_bucket", name);
        assert_eq!(attr_text(&bucket, "object_lock_enabled"), "true", "{name}");
        assert_eq!(attr_text(&bucket, "force_destroy"), "false", "{name}");
        let parts = [
            "aws_s3_bucket_versioning",
            "aws_s3_bucket_object_lock_configuration",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_policy",
        ];
        for part in std::iter::once("aws_s3_bucket").chain(parts) {
            let body = resource_body("audit.tf", part, name);
            if gated {
                assert_eq!(
                    attr_text(&body, "count"),
                    "var.enable_cloudtrail ? 1 : 0",
                    "{part}.{name}"
                );
            } else {
                assert!(
                    body.attributes().all(|a| a.key() != "count"),
                    "{part}.{name}"
                );
            }
            if part != "aws_s3_bucket" {
                assert_eq!(
                    attr_text(&body, "bucket"),
                    format!("aws_s3_bucket.{name}{index}.id"),
                    "{part}.{name}"
                );
            }
        }
        let versioning = resource_body("audit.tf", "aws_s3_bucket_versioning", name);
        assert_eq!(
            attr_text(block(&versioning, "versioning_configuration"), "status"),
            "\"Enabled\""
        );
        let lock = resource_body("audit.tf", "aws_s3_bucket_object_lock_configuration", name);
        let retention = block(block(&lock, "rule"), "default_retention");
        assert_eq!(attr_text(retention, "mode"), "\"COMPLIANCE\"", "{name}");
        assert_eq!(attr_text(retention, "days"), days, "{name}");
        let sse = resource_body(
            "audit.tf",
            "aws_s3_bucket_server_side_encryption_configuration",
            name,
        );
        let default = block(
            block(&sse, "rule"),
            "apply_server_side_encryption_by_default",
        );
        assert_eq!(attr_text(default, "sse_algorithm"), "\"aws:kms\"");
        assert_eq!(
            attr_text(default, "kms_master_key_id"),
            "aws_kms_key.tre.arn"
        );
        let public = resource_body("audit.tf", "aws_s3_bucket_public_access_block", name);
        for k in [
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ] {
            assert_eq!(attr_text(&public, k), "true", "{name} {k}");
        }
    }
    // Both policies deny every request without TLS.
    let statements = policy_statements(&parse("audit.tf"));
    for doc in ["audit_archive_bucket", "trail_bucket"] {
        assert!(
            statements.iter().any(|s| s.document == doc
                && s.sid == "TlsOnly"
                && !s.allow
                && s.actions == ["s3:*"]
                && s.conditions.iter().any(|(t, v, vals)| t == "Bool"
                    && v == "aws:SecureTransport"
                    && vals.contains("false"))),
            "{doc} has no TLS-only statement"
        );
    }
}

/// The trail: every region, log file validation, the deployment's key; management events and
/// the object-level events of the airlock's buckets, the workspaces' (named as the aws-workspace
/// bundle names them) and the archive.
#[test]
fn the_trail_records_management_events_and_the_tres_buckets_objects() {
    let trail = resource_body("audit.tf", "aws_cloudtrail", "tre");
    assert_eq!(attr_text(&trail, "count"), "var.enable_cloudtrail ? 1 : 0");
    assert_eq!(attr_text(&trail, "is_multi_region_trail"), "true");
    assert_eq!(attr_text(&trail, "include_global_service_events"), "true");
    assert_eq!(attr_text(&trail, "enable_log_file_validation"), "true");
    assert_eq!(attr_text(&trail, "kms_key_id"), "aws_kms_key.tre.arn");
    assert_eq!(
        attr_text(&trail, "s3_bucket_name"),
        "aws_s3_bucket.trail[0].id"
    );
    let selectors: Vec<Vec<(String, String, String)>> = trail
        .blocks()
        .filter(|b| b.identifier() == "advanced_event_selector")
        .map(|s| {
            s.body()
                .blocks()
                .filter(|f| f.identifier() == "field_selector")
                .map(|f| {
                    let b = f.body();
                    let op = b
                        .attributes()
                        .find(|a| a.key() != "field")
                        .expect("an operator");
                    (
                        attr_text(b, "field"),
                        op.key().to_string(),
                        one_line(op.expr()),
                    )
                })
                .collect()
        })
        .collect();
    let t = |f: &str, o: &str, v: &str| (format!("\"{f}\""), o.to_string(), v.to_string());
    assert_eq!(
        selectors,
        vec![
            vec![t("eventCategory", "equals", "[\"Management\"]")],
            vec![
                t("eventCategory", "equals", "[\"Data\"]"),
                t("resources.type", "equals", "[\"AWS::S3::Object\"]"),
                t(
                    "resources.ARN",
                    "starts_with",
                    "local.trail_data_arn_prefixes"
                ),
            ],
        ]
    );
    let prefixes = format!("{}", local(&parse("audit.tf"), "trail_data_arn_prefixes"));
    for want in [
        "for stage in local.airlock_stages : \"${aws_s3_bucket.airlock[stage].arn}/\"",
        "\"arn:${data.aws_partition.current.partition}:s3:::tre-ws-\"",
        "\"${aws_s3_bucket.audit_archive.arn}/\"",
    ] {
        assert!(
            prefixes.contains(want),
            "trail_data_arn_prefixes lacks {want}: {prefixes}"
        );
    }
    // The workspaces' buckets are tre-ws-<workspace id>-<account> (bundles/aws-workspace).
    let bundle =
        std::fs::read_to_string(root().join("bundles/aws-workspace/terraform/versions.tf"))
            .expect("versions.tf");
    assert!(bundle.contains("name      = \"tre-ws-${var.tre_workspace_id}\""));
    let storage =
        std::fs::read_to_string(root().join("bundles/aws-workspace/terraform/storage.tf"))
            .expect("storage.tf");
    assert!(storage.contains("bucket_name = \"${local.name}-${local.account}\""));
    // The key policy lets CloudTrail encrypt for this trail only.
    let kms = policy_statements(&parse("kms.tf"));
    let encrypts = kms
        .iter()
        .find(|s| s.sid == "CloudTrailEncrypts")
        .expect("kms.tf: CloudTrailEncrypts");
    assert!(encrypts
        .conditions
        .iter()
        .any(|(_, v, vals)| v == "aws:SourceArn" && vals.contains("local.trail_arn")));
}

/// GuardDuty is an option (off: an account has one detector per region, usually its security
/// team's), and its S3 protection an option of it.
#[test]
fn guardduty_and_its_s3_protection_are_options() {
    let detector = resource_body("audit.tf", "aws_guardduty_detector", "tre");
    assert_eq!(
        attr_text(&detector, "count"),
        "var.enable_guardduty ? 1 : 0"
    );
    assert_eq!(attr_text(&detector, "enable"), "true");
    let s3 = resource_body("audit.tf", "aws_guardduty_detector_feature", "s3");
    assert_eq!(
        attr_text(&s3, "count"),
        "var.enable_guardduty && var.enable_guardduty_s3_protection ? 1 : 0"
    );
    assert_eq!(attr_text(&s3, "name"), "\"S3_DATA_EVENTS\"");
    assert_eq!(attr_text(&s3, "status"), "\"ENABLED\"");
    assert_eq!(
        attr_text(&s3, "detector_id"),
        "aws_guardduty_detector.tre[0].id"
    );
}

/// The audit trail's variables are described, have the documented defaults, refuse nonsense,
/// and appear in terraform.tfvars.example.
#[test]
fn the_audit_variables_are_described_defaulted_and_in_the_example() {
    let variables = parse("variables.tf");
    let example = std::fs::read_to_string(root().join("infra/terraform.tfvars.example"))
        .expect("terraform.tfvars.example");
    for (name, default, validated) in [
        ("audit_retention_days", "2555", true),
        ("cloudtrail_retention_days", "2555", true),
        ("enable_cloudtrail", "true", false),
        ("enable_guardduty", "false", false),
        ("enable_guardduty_s3_protection", "true", false),
    ] {
        let v = variables
            .blocks()
            .find(|b| {
                b.identifier() == "variable" && b.labels().first().map(|l| l.as_str()) == Some(name)
            })
            .unwrap_or_else(|| panic!("no variable {name}"))
            .body();
        assert!(
            string_attr(v, "description").is_some_and(|d| d.len() > 30),
            "{name} has no description"
        );
        assert_eq!(attr_text(v, "default"), default, "{name}");
        if validated {
            let rule = block(v, "validation");
            assert!(
                attr_text(rule, "condition").contains(&format!("var.{name} > 0")),
                "{name} must be above 0"
            );
        }
        assert!(
            example.contains(name),
            "terraform.tfvars.example does not mention {name}"
        );
    }
}

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
            // Fill the placeholders with JSON-neutral values to read the structure.
            let mut filled = text.clone();
            for ph in placeholders(&text) {
                let value = if ph.ends_with("_json") { "[]" } else { "x" };
                filled = filled.replace(&format!("${{{ph}}}"), value);
            }
            let json = serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{name}: {e}"));
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

/// Run by `scripts/test` after `cargo lambda build --release --output-format zip` (ignored in
/// a plain `cargo test`, which builds no zips): every zip Terraform deploys was produced.
#[test]
#[ignore = "needs `cargo lambda build --release --output-format zip` first (scripts/test runs it)"]
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

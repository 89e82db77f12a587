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

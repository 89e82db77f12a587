//! Every Terraform module a bundle ships is formatted and valid: `terraform fmt -check` and
//! `terraform validate` offline, with the providers from the mirror (checkov runs on them in
//! `scripts/test`). Found from the bundles' own manifests, so a new module is checked too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (bundle, module folder) of every `terraform` step of every bundle under `bundles/`.
fn modules() -> BTreeSet<(String, PathBuf)> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("bundles")).expect("bundles/") {
        let dir = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(dir.join("bundle.yaml")) else {
            continue;
        };
        let manifest = tre_bundle::BundleManifest::from_yaml(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for action in manifest.actions.values() {
            for step in &action.steps {
                if let Some(tf) = &step.terraform {
                    found.insert((manifest.name.clone(), dir.join(&tf.dir)));
                }
            }
        }
    }
    found
}

fn terraform(dir: &Path, rc: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", rc)
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .expect("terraform on PATH");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_bundle_module_is_formatted_and_valid_offline() {
    let modules = modules();
    let names: BTreeSet<&str> = modules.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "aws-workspace",
        "aws-notebooks",
        "aws-notebook",
        "aws-vms",
        "aws-linux-vm",
        "aws-package-mirror",
    ] {
        assert!(
            names.contains(expected),
            "{expected} has no terraform step: {names:?}"
        );
    }
    let scratch = tempfile::tempdir().expect("tmp");
    let rc = scratch.path().join("terraformrc");
    tre_testkit::terraform::write_cli_config(&rc).expect("a provider mirror");
    for (name, module) in &modules {
        // Validate a copy: init must not leave .terraform folders in the source tree.
        let copy = scratch.path().join(name);
        tre_testkit::terraform::copy_module(module, &copy).expect("copy");
        let (ok, out) = terraform(module, &rc, &["fmt", "-check", "-recursive", "-diff"]);
        assert!(ok, "{name}: terraform fmt -check:\n{out}");
        let (ok, out) = terraform(
            &copy,
            &rc,
            &["init", "-backend=false", "-input=false", "-no-color"],
        );
        assert!(ok, "{name}: terraform init:\n{out}");
        let (ok, out) = terraform(&copy, &rc, &["validate", "-no-color"]);
        assert!(ok, "{name}: terraform validate:\n{out}");
    }
}

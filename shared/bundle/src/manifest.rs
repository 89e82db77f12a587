//! `bundle.yaml`: what a bundle is, which parameters it takes, and which steps each action runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tre_core::domain::schema::ParameterSchema;
use tre_core::domain::template::{validate_template_name, validate_version};
use tre_core::domain::ResourceKind;

use crate::BundleError;

/// The standard actions every bundle must implement.
pub const STANDARD_ACTIONS: [&str; 3] = ["install", "upgrade", "uninstall"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleManifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type")]
    pub kind: ResourceKind,
    /// For user-resource bundles: the workspace-service template they extend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_service_template: Option<String>,
    /// JSON Schema (object) of the parameters, with `updateable` / `sensitive` markers.
    pub parameters: Value,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    /// install, upgrade, uninstall, and any custom actions.
    pub actions: BTreeMap<String, ActionSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionSpec {
    #[serde(default)]
    pub description: String,
    pub steps: Vec<StepSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepSpec {
    pub name: String,
    /// Command and arguments, run in the bundle directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// A Terraform module of the bundle, applied (install, upgrade, custom actions) or
    /// destroyed (uninstall) with its state in the bundle state bucket under
    /// `<resource id>/<step name>.tfstate`: give a module's steps the same name in every action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<TerraformStep>,
    /// Seconds before the step is killed and fails (default one hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerraformStep {
    /// The module's folder, relative to the bundle's root.
    pub dir: String,
    /// Variables this action sets (e.g. `instance_state: stopped` for a `stop` action). They
    /// are remembered: later applies of the resource keep them until another action sets them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub vars: serde_json::Map<String, Value>,
}

/// What a Terraform step does in an action: uninstall destroys, everything else applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerraformCommand {
    Apply,
    Destroy,
}

impl TerraformCommand {
    pub fn for_action(action: &str) -> Self {
        if action == "uninstall" {
            Self::Destroy
        } else {
            Self::Apply
        }
    }
}

/// A Terraform identifier: a letter or `_`, then letters, digits, `_` and `-`.
fn is_terraform_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl TerraformStep {
    fn validate(&self, step: &str, action: &str) -> Result<(), String> {
        let dir = std::path::Path::new(&self.dir);
        let safe = !self.dir.is_empty()
            && dir.is_relative()
            && dir
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(format!(
                "step `{step}` of `{action}`: `terraform.dir` must be a folder inside the bundle \
                 (relative, no `..`), not `{}`",
                self.dir
            ));
        }
        if action == "uninstall" && !self.vars.is_empty() {
            return Err(format!(
                "step `{step}` of `uninstall`: a destroy takes no `vars`"
            ));
        }
        if let Some(bad) = self.vars.keys().find(|k| !is_terraform_identifier(k)) {
            return Err(format!(
                "step `{step}` of `{action}`: `{bad}` is not a Terraform variable name"
            ));
        }
        Ok(())
    }
}

impl BundleManifest {
    pub fn from_yaml(text: &str) -> Result<Self, BundleError> {
        let m: Self =
            serde_yaml::from_str(text).map_err(|e| BundleError::Manifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Every rule a bundle must meet before it is packaged or run.
    pub fn validate(&self) -> Result<(), BundleError> {
        let bad = |m: String| Err(BundleError::Manifest(m));
        validate_template_name(&self.name).map_err(BundleError::Manifest)?;
        validate_version(&self.version).map_err(BundleError::Manifest)?;
        ParameterSchema::compile(&self.parameters).map_err(BundleError::Manifest)?;
        match (self.kind, &self.parent_service_template) {
            (ResourceKind::UserResource, None) => {
                return bad("user-resource bundles need `parentServiceTemplate`".into())
            }
            (ResourceKind::UserResource, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return bad("`parentServiceTemplate` applies to user-resource bundles only".into())
            }
        }
        for action in STANDARD_ACTIONS {
            if !self.actions.contains_key(action) {
                return bad(format!("the `{action}` action is missing"));
            }
        }
        for (name, action) in &self.actions {
            validate_template_name(name)
                .map_err(|e| BundleError::Manifest(format!("action: {e}")))?;
            if action.steps.is_empty() {
                return bad(format!("action `{name}` has no steps"));
            }
            let mut seen = std::collections::BTreeSet::new();
            for step in &action.steps {
                if !seen.insert(step.name.as_str()) {
                    return bad(format!(
                        "action `{name}` has two steps named `{}`",
                        step.name
                    ));
                }
                match (&step.exec, &step.terraform) {
                    (Some(cmd), None) if !cmd.is_empty() && !cmd[0].is_empty() => {}
                    (None, Some(tf)) => tf.validate(&step.name, name).map_err(BundleError::Manifest)?,
                    (Some(_), Some(_)) => {
                        return bad(format!(
                            "step `{}` of `{name}` has both `exec` and `terraform`: give it one",
                            step.name
                        ))
                    }
                    _ => {
                        return bad(format!(
                            "step `{}` of `{name}` needs a non-empty `exec` command or a `terraform` module",
                            step.name
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Actions besides install/upgrade/uninstall.
    pub fn custom_actions(&self) -> impl Iterator<Item = (&String, &ActionSpec)> {
        self.actions
            .iter()
            .filter(|(n, _)| !STANDARD_ACTIONS.contains(&n.as_str()))
    }

    /// Where the template is registered: its kind's collection, user resources under their
    /// workspace-service template (Azure TRE's route).
    pub fn registration_path(&self) -> String {
        match (self.kind, &self.parent_service_template) {
            (ResourceKind::UserResource, Some(parent)) => {
                format!("/api/workspace-service-templates/{parent}/user-resource-templates")
            }
            (ResourceKind::Workspace, _) => "/api/workspace-templates".into(),
            (ResourceKind::WorkspaceService, _) => "/api/workspace-service-templates".into(),
            (ResourceKind::SharedService, _) => "/api/shared-service-templates".into(),
            // Validation makes user-resource bundles name their parent.
            (ResourceKind::UserResource, None) => "/api/user-resource-templates".into(),
        }
    }

    /// The template registration body for this bundle (`bundle` = its OCI reference), in our
    /// shape: the parameters schema as the bundle declares it. (Azure TRE's shape would add
    /// its base properties and require `description`, which our bundles do not declare.)
    pub fn template_registration(&self, bundle_reference: &str) -> Value {
        let custom: Vec<Value> = self
            .custom_actions()
            .map(|(n, a)| serde_json::json!({"name": n, "description": a.description}))
            .collect();
        let mut body = serde_json::json!({
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "parameters": self.parameters,
            "customActions": custom,
            "bundle": bundle_reference,
        });
        if let Some(p) = &self.parent_service_template {
            body["parentServiceTemplate"] = Value::String(p.clone());
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: tre-workspace-base
version: 1.0.0
description: Base workspace
type: workspace
parameters:
  type: object
  properties:
    display_name: {type: string, updateable: true}
actions:
  install: {steps: [{name: create, exec: [sh, install.sh]}]}
  upgrade: {steps: [{name: update, exec: [sh, upgrade.sh]}]}
  uninstall: {steps: [{name: remove, exec: [sh, uninstall.sh]}]}
  restart: {description: Restart it, steps: [{name: restart, exec: [sh, restart.sh]}]}
"#;

    #[test]
    fn parses_validates_and_lists_custom_actions() {
        let m = BundleManifest::from_yaml(GOOD).expect("valid");
        assert_eq!(m.custom_actions().count(), 1);
        let reg = m.template_registration("reg/x@sha256:00");
        assert_eq!(reg["customActions"][0]["name"], "restart");
        assert_eq!(m.registration_path(), "/api/workspace-templates");
        let ur = BundleManifest::from_yaml(&GOOD.replace(
            "type: workspace",
            "type: user_resource\nparentServiceTemplate: svc-notebook",
        ))
        .expect("valid");
        assert_eq!(
            ur.registration_path(),
            "/api/workspace-service-templates/svc-notebook/user-resource-templates"
        );
        assert_eq!(
            ur.template_registration("r@sha256:00")["parentServiceTemplate"],
            "svc-notebook"
        );
    }

    #[test]
    fn terraform_steps_apply_except_on_uninstall() {
        let m = BundleManifest::from_yaml(&GOOD.replace(
            "exec: [sh, restart.sh]",
            "terraform: {dir: terraform, vars: {instance_state: stopped}}",
        ))
        .expect("valid");
        let tf = m.actions["restart"].steps[0]
            .terraform
            .as_ref()
            .expect("a terraform step");
        assert_eq!(tf.dir, "terraform");
        assert_eq!(tf.vars["instance_state"], "stopped");
        assert_eq!(
            TerraformCommand::for_action("restart"),
            TerraformCommand::Apply
        );
        assert_eq!(
            TerraformCommand::for_action("uninstall"),
            TerraformCommand::Destroy
        );
    }

    #[test]
    fn rejects_broken_manifests() {
        for (broken, why) in [
            (
                GOOD.replace(
                    "  uninstall: {steps: [{name: remove, exec: [sh, uninstall.sh]}]}\n",
                    "",
                ),
                "uninstall",
            ),
            (GOOD.replace("exec: [sh, install.sh]", "exec: []"), "exec"),
            (
                GOOD.replace("exec: [sh, install.sh]", "terraform: {dir: ../elsewhere}"),
                "inside the bundle",
            ),
            (
                GOOD.replace("exec: [sh, install.sh]", "terraform: {dir: /abs}"),
                "inside the bundle",
            ),
            (
                GOOD.replace(
                    "exec: [sh, install.sh]",
                    "exec: [sh, install.sh], terraform: {dir: tf}",
                ),
                "both",
            ),
            (
                GOOD.replace(
                    "exec: [sh, uninstall.sh]",
                    "terraform: {dir: tf, vars: {a: 1}}",
                ),
                "takes no `vars`",
            ),
            (
                GOOD.replace(
                    "exec: [sh, restart.sh]",
                    "terraform: {dir: tf, vars: {a b: 1}}",
                ),
                "not a Terraform variable name",
            ),
            (
                GOOD.replace(
                    "exec: [sh, restart.sh]",
                    "terraform: {dir: tf, surprise: 1}",
                ),
                "surprise",
            ),
            (GOOD.replace("version: 1.0.0", "version: one"), "semantic"),
            (GOOD.replace("type: object", "type: string"), "object"),
            (
                GOOD.replace("type: workspace", "type: user_resource"),
                "parentServiceTemplate",
            ),
            (
                GOOD.replace("description: Base workspace", "surprise: 1"),
                "surprise",
            ),
        ] {
            let err = BundleManifest::from_yaml(&broken)
                .expect_err(why)
                .to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}

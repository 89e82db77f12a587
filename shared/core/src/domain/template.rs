use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::resource::ResourceKind;

/// A custom action a template's bundle offers besides install/upgrade/uninstall.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomAction {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A registered template: one version of a bundle, with the JSON Schema of its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub id: String,
    pub name: String,
    pub version: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: ResourceKind,
    /// JSON Schema (an object schema) of the parameters. Properties may carry
    /// `"updateable": true` (may change after install) and `"sensitive": true` (never returned).
    #[schema(value_type = Object)]
    pub parameters: Value,
    #[serde(default)]
    pub custom_actions: Vec<CustomAction>,
    /// For user-resource templates: the workspace-service template they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_service_template: Option<String>,
    /// OCI reference of the bundle (`registry/repo@sha256:...`), when built from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The version new resources get when they do not ask for one.
    pub current: bool,
    pub registered_at: DateTime<Utc>,
    pub registered_by: String,
    /// Roles that may use the template (Azure TRE's `authorizedRoles`: TRE or workspace role
    /// names); empty: whoever the route allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_roles: Vec<String>,
    /// Form hints for clients (an RJSF `uiSchema`); kept and returned, never interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ui_schema: Option<Value>,
    /// Azure TRE's `pipeline` (steps on other resources per action); kept and returned, not run
    /// here (our own cascades cover disable and delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pipeline: Option<Value>,
}

impl Template {
    pub fn has_custom_action(&self, name: &str) -> bool {
        self.custom_actions.iter().any(|a| a.name == name)
    }

    /// Whether a caller holding `roles` (TRE and workspace role names) may use the template.
    pub fn allows_roles<'a>(&self, mut roles: impl Iterator<Item = &'a str>) -> bool {
        self.authorized_roles.is_empty()
            || roles.any(|r| self.authorized_roles.iter().any(|a| a == r))
    }
}

/// Template names are used in keys and URLs: keep them to a safe alphabet.
pub fn validate_template_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        })
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "template name `{name}` must be 1-128 characters of a-z, 0-9, `-`, `_`, `.`, starting with a letter or digit"
        ))
    }
}

/// Versions are semantic versions (`MAJOR.MINOR.PATCH`, optional `-pre`).
pub fn validate_version(version: &str) -> Result<(), String> {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let ok = version.len() <= 64
        && parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "version `{version}` is not a semantic version (MAJOR.MINOR.PATCH)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(validate_template_name("tre-workspace-base").is_ok());
        assert!(validate_template_name("../etc").is_err());
        assert!(validate_template_name("").is_err());
        assert!(validate_template_name("Upper").is_err());
        assert!(validate_version("1.2.3").is_ok());
        assert!(validate_version("1.2.3-rc.1").is_ok());
        assert!(validate_version("1.2").is_err());
        assert!(validate_version("1.2.x").is_err());
    }
}

//! Where a workspace's airlock requests are reviewed: its `airlock_review_config` parameter
//! (Azure TRE's shape). Exports are reviewed in a service of the workspace itself; imports in a
//! service of a dedicated review workspace, so unreviewed data never enters the research one.

use serde_json::{Map, Value};

use super::airlock::RequestType;

/// The workspace parameter that says how its requests are reviewed.
pub const REVIEW_CONFIG_PROPERTY: &str = "airlock_review_config";

/// Where review environments of one kind of request are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewPlace {
    pub workspace_id: String,
    pub service_id: String,
    pub user_resource_template: String,
}

/// The review place for `kind` from a workspace's properties: `Ok(None)` when the workspace
/// has none for that kind (its reviewers use the files' links), `Err` saying what is wrong
/// with a configuration that is there but incomplete.
pub fn review_place(
    workspace_id: &str,
    properties: &Map<String, Value>,
    kind: RequestType,
) -> Result<Option<ReviewPlace>, String> {
    let Some(config) = properties.get(REVIEW_CONFIG_PROPERTY) else {
        return Ok(None);
    };
    let half = match config.get(kind.as_str()) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(format!(
                "`{REVIEW_CONFIG_PROPERTY}.{}` is not an object",
                kind.as_str()
            ))
        }
    };
    let field = |name: &str| -> Result<String, String> {
        half.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "`{REVIEW_CONFIG_PROPERTY}.{}.{name}` is not set",
                    kind.as_str()
                )
            })
    };
    Ok(Some(match kind {
        RequestType::Import => ReviewPlace {
            workspace_id: field("import_vm_workspace_id")?,
            service_id: field("import_vm_workspace_service_id")?,
            user_resource_template: field("import_vm_user_resource_template_name")?,
        },
        RequestType::Export => ReviewPlace {
            workspace_id: workspace_id.to_string(),
            service_id: field("export_vm_workspace_service_id")?,
            user_resource_template: field("export_vm_user_resource_template_name")?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn exports_stay_in_the_workspace_and_imports_go_to_the_review_workspace() {
        let p = props(json!({REVIEW_CONFIG_PROPERTY: {
            "import": {"import_vm_workspace_id": "rw", "import_vm_workspace_service_id": "rs",
                       "import_vm_user_resource_template_name": "t-import"},
            "export": {"export_vm_workspace_service_id": "s", "export_vm_user_resource_template_name": "t-export"}
        }}));
        let export = review_place("w", &p, RequestType::Export).unwrap().unwrap();
        assert_eq!(
            (
                export.workspace_id.as_str(),
                export.service_id.as_str(),
                export.user_resource_template.as_str()
            ),
            ("w", "s", "t-export")
        );
        let import = review_place("w", &p, RequestType::Import).unwrap().unwrap();
        assert_eq!(
            (
                import.workspace_id.as_str(),
                import.service_id.as_str(),
                import.user_resource_template.as_str()
            ),
            ("rw", "rs", "t-import")
        );
    }

    #[test]
    fn absent_halves_mean_link_review_and_incomplete_ones_say_what_is_missing() {
        assert_eq!(
            review_place("w", &Map::new(), RequestType::Import),
            Ok(None)
        );
        let p = props(
            json!({REVIEW_CONFIG_PROPERTY: {"export": {"export_vm_workspace_service_id": "s"}}}),
        );
        assert_eq!(review_place("w", &p, RequestType::Import), Ok(None));
        let err = review_place("w", &p, RequestType::Export).unwrap_err();
        assert!(
            err.contains("export_vm_user_resource_template_name"),
            "{err}"
        );
        let p = props(json!({REVIEW_CONFIG_PROPERTY: {"import": "rw"}}));
        assert!(review_place("w", &p, RequestType::Import).is_err());
    }
}

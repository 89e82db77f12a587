//! Templates as Azure TRE's clients read them: the parameters' JSON Schema spread at the top
//! level (`type`, `required`, `properties`, ...), so that a client can hand the whole object to a
//! form library, beside the template's identity, roles and actions.

use serde::Serialize;
use serde_json::{json, Map, Value};
use tre_core::domain::{CustomAction, ResourceKind, Template as DomainTemplate};
use utoipa::ToSchema;

use super::resource::ResourceType;
use super::when;

/// A JSON Schema keyword whose value is a schema or a boolean (`additionalProperties: false`).
fn json_schema_or_bool() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Object))
            .build(),
    )
}

/// One template version (`GET /api/<kind>-templates/{name}`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// `name:version` (stable; Azure TRE uses a random UUID).
    pub id: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub version: String,
    pub resource_type: ResourceType,
    /// The version new resources get when they name none.
    pub current: bool,
    /// Always `object`: the template is the schema of a resource's `properties`.
    #[serde(rename = "type")]
    pub schema_type: String,
    pub required: Vec<String>,
    /// Roles that may use the template (TRE or workspace roles); empty: anyone the route allows.
    pub authorized_roles: Vec<String>,
    /// The parameters, each a JSON Schema with `updateable` / `sensitive` markers; with
    /// `?is_update=true`, those that cannot change carry `readOnly: true`.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    /// Conditional parameters, when the template has them.
    #[serde(rename = "allOf", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub all_of: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = json_schema_or_bool)]
    pub additional_properties: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = json_schema_or_bool)]
    pub unevaluated_properties: Option<Value>,
    /// What the TRE itself gives the bundle's steps besides the parameters.
    #[serde(rename = "system_properties")]
    #[schema(value_type = Object)]
    pub system_properties: Map<String, Value>,
    /// Always empty (Azure TRE keeps the field; the actions a resource offers are
    /// `customActions` besides install, upgrade and uninstall).
    pub actions: Vec<CustomAction>,
    pub custom_actions: Vec<CustomAction>,
    /// Azure TRE's multi-resource steps per action: kept and returned, not run here.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pipeline: Option<Value>,
    /// Form hints (RJSF `uiSchema`); `{}` when the template has none.
    #[schema(value_type = Object)]
    pub ui_schema: Value,
    /// User-resource templates: the workspace-service template they belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_workspace_service: Option<String>,
    /// OCI reference of the bundle (`registry/repo@sha256:...`), when built from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// POSIX seconds of the registration.
    pub registered_when: f64,
    /// Subject id of the admin who registered it.
    pub registered_by: String,
}

/// One entry of a template list (`{"templates": [...]}`): the current version of each.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInfo {
    pub name: String,
    pub title: String,
    pub description: String,
    pub authorized_roles: Vec<String>,
    pub version: String,
    pub resource_type: ResourceType,
    pub custom_actions: Vec<CustomAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_workspace_service: Option<String>,
}

impl From<&DomainTemplate> for TemplateInfo {
    fn from(t: &DomainTemplate) -> Self {
        Self {
            name: t.name.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            authorized_roles: t.authorized_roles.clone(),
            version: t.version.clone(),
            resource_type: t.kind.into(),
            custom_actions: t.custom_actions.clone(),
            parent_workspace_service: t.parent_service_template.clone(),
        }
    }
}

impl Template {
    /// The response for a template; `is_update` marks what an update may not change.
    pub fn new(t: &DomainTemplate, is_update: bool) -> Self {
        let schema = t.parameters.as_object().cloned().unwrap_or_default();
        let get = |k: &str| schema.get(k).cloned();
        let mut properties = get("properties")
            .and_then(|p| p.as_object().cloned())
            .unwrap_or_default();
        let mut all_of = get("allOf").and_then(|a| a.as_array().cloned());
        if is_update {
            mark_read_only(&mut properties);
            for branch in all_of.iter_mut().flatten() {
                for key in ["then", "else"] {
                    if let Some(p) = branch
                        .get_mut(key)
                        .and_then(|b| b.get_mut("properties"))
                        .and_then(Value::as_object_mut)
                    {
                        mark_read_only(p);
                    }
                }
            }
        }
        let required = get("required")
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            version: t.version.clone(),
            resource_type: t.kind.into(),
            current: t.current,
            schema_type: "object".into(),
            required,
            authorized_roles: t.authorized_roles.clone(),
            properties,
            all_of,
            additional_properties: get("additionalProperties"),
            unevaluated_properties: get("unevaluatedProperties"),
            system_properties: system_properties(t.kind),
            actions: Vec::new(),
            custom_actions: t.custom_actions.clone(),
            pipeline: t.pipeline.clone(),
            ui_schema: t.ui_schema.clone().unwrap_or_else(|| json!({})),
            parent_workspace_service: t.parent_service_template.clone(),
            bundle: t.bundle.clone(),
            registered_when: when(t.registered_at),
            registered_by: t.registered_by.clone(),
        }
    }
}

/// Every property that is not `updateable` becomes `readOnly` (what a client's update form
/// must not let change; the API refuses such a change anyway).
fn mark_read_only(properties: &mut Map<String, Value>) {
    for prop in properties.values_mut() {
        let updateable = prop.get("updateable").and_then(Value::as_bool) == Some(true);
        if let (false, Some(p)) = (updateable, prop.as_object_mut()) {
            p.insert("readOnly".into(), Value::Bool(true));
        }
    }
}

/// What the bundle runner gives a resource's steps besides its parameters (Terraform
/// variables; `tre_datasources` also reaches `exec` steps as a parameter).
fn system_properties(kind: ResourceKind) -> Map<String, Value> {
    let mut m = Map::new();
    let mut add = |name: &str, ty: &str, description: &str| {
        m.insert(name.into(), json!({"type": ty, "description": description}));
    };
    add("tre_resource_id", "string", "The resource's id");
    add("tre_template_name", "string", "The template's name");
    add(
        "tre_tags",
        "object",
        "Tags for every cloud resource made (tre:resource-id, tre:template, tre:workspace-id)",
    );
    if kind != ResourceKind::SharedService {
        add("tre_workspace_id", "string", "The workspace's id");
        add(
            "tre_datasources",
            "array",
            "The data sources bound to the workspace (read-only locations)",
        );
        add(
            "tre_airlock",
            "object",
            "The workspace's airlock locations (workspace_data, export_staging)",
        );
    }
    if matches!(
        kind,
        ResourceKind::WorkspaceService | ResourceKind::UserResource
    ) {
        add(
            "tre_workspace",
            "object",
            "The workspace's properties, outputs included",
        );
    }
    if kind == ResourceKind::UserResource {
        add(
            "tre_parent_service_id",
            "string",
            "The workspace service's id",
        );
        add(
            "tre_workspace_service",
            "object",
            "The workspace service's properties, outputs included",
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> DomainTemplate {
        serde_json::from_value(json!({
            "id": "svc:1.0.0", "name": "svc", "version": "1.0.0", "title": "Svc",
            "description": "d", "type": "workspace_service", "current": true,
            "registeredAt": "2024-01-01T00:00:00Z", "registeredBy": "admin",
            "parameters": {
                "type": "object", "required": ["display_name"],
                "properties": {
                    "display_name": {"type": "string", "updateable": true},
                    "size": {"type": "integer"}
                },
                "allOf": [{"if": {}, "then": {"properties": {"vault": {"type": "string"}}}}],
                "unevaluatedProperties": false
            }
        }))
        .unwrap_or_else(|e| panic!("a stored template from before the new fields: {e}"))
    }

    #[test]
    fn the_schema_is_at_the_top_level() {
        let v = serde_json::to_value(Template::new(&template(), false)).unwrap_or_default();
        assert_eq!(v["type"], "object");
        assert_eq!(v["resourceType"], "workspace-service");
        assert_eq!(v["required"], json!(["display_name"]));
        assert_eq!(v["properties"]["size"]["type"], "integer");
        assert_eq!(v["unevaluatedProperties"], json!(false));
        assert_eq!(v["uiSchema"], json!({}));
        assert_eq!(v["authorizedRoles"], json!([]));
        assert!(v["system_properties"]["tre_workspace_id"].is_object());
        assert!(v.get("pipeline").is_none() && v.get("parentWorkspaceService").is_none());
        assert!(v["properties"]["size"].get("readOnly").is_none());
        assert_eq!(v["registeredWhen"], json!(1_704_067_200.0));
    }

    #[test]
    fn is_update_marks_what_cannot_change() {
        let v = serde_json::to_value(Template::new(&template(), true)).unwrap_or_default();
        assert_eq!(v["properties"]["size"]["readOnly"], true);
        assert!(v["properties"]["display_name"].get("readOnly").is_none());
        assert_eq!(
            v["allOf"][0]["then"]["properties"]["vault"]["readOnly"],
            true
        );
    }
}

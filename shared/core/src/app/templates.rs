//! Template registration and lookup.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{keys, App, AppError, AppResult, Caller};
use crate::domain::schema::ParameterSchema;
use crate::domain::template::{validate_template_name, validate_version};
use crate::domain::{CustomAction, ResourceKind, Template, WorkspaceRole};
use crate::ports::{Condition, Item, Key, Query, WriteOp, INDEX_GSI1};

/// Body of `POST /api/<kind>-templates`: Azure TRE's registration body (recognised by its
/// `json_schema`), or ours (`parameters`).
#[derive(Clone, Debug, ToSchema)]
#[serde(untagged)]
pub enum RegisterTemplate {
    Azure(RegisterAzureTemplate),
    Own(RegisterOwnTemplate),
}

impl<'de> Deserialize<'de> for RegisterTemplate {
    // Chosen by a key rather than `untagged`, so a mistake is reported against the shape the
    // caller meant instead of as "matches no variant".
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let parsed = if v.get("json_schema").is_some() {
            serde_json::from_value(v).map(Self::Azure)
        } else {
            serde_json::from_value(v).map(Self::Own)
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// Our registration body: the parameters' JSON Schema as is.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterOwnTemplate {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    /// JSON Schema (object) of the parameters.
    #[schema(value_type = Object)]
    pub parameters: Value,
    #[serde(default)]
    pub custom_actions: Vec<CustomAction>,
    /// User-resource templates registered at `/api/user-resource-templates`: the
    /// workspace-service template they extend.
    #[serde(default)]
    pub parent_service_template: Option<String>,
    #[serde(default)]
    pub bundle: Option<String>,
    /// Make this the version new resources get (default true; the first version always is).
    #[serde(default)]
    pub current: Option<bool>,
}

/// Azure TRE's registration body (its `TemplateInCreate`). Other top-level keys are ignored, as
/// Azure TRE ignores them: its registration script sends `porter explain` output beside these.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAzureTemplate {
    pub name: String,
    pub version: String,
    /// `true` (or `"true"`) makes this the current version; the first version always is.
    #[serde(default, deserialize_with = "lax_bool")]
    #[schema(schema_with = lax_bool_schema)]
    pub current: Option<bool>,
    #[serde(rename = "json_schema")]
    pub json_schema: TemplateJsonSchema,
    #[serde(default)]
    pub custom_actions: Vec<CustomAction>,
    /// Ignored by Azure TRE; here, when given, it must be the route's kind.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// Ours: the OCI reference of the bundle, pinned by digest.
    #[serde(default)]
    pub bundle: Option<String>,
    /// Ours, for `/api/user-resource-templates`: the workspace-service template extended
    /// (the nested route takes it from the path).
    #[serde(default)]
    pub parent_workspace_service: Option<String>,
}

/// The `json_schema` of Azure TRE's registration body: only these keys are used (`$schema`,
/// `$id`, `type` and the rest are dropped, as Azure TRE drops them).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateJsonSchema {
    pub title: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub authorized_roles: Vec<String>,
    /// Form hints (RJSF `uiSchema`): an object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub ui_schema: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub pipeline: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub all_of: Option<Vec<Value>>,
}

/// A boolean, or its spelling as a string (any case): Azure TRE's clients send
/// `"current": "true"`.
fn lax_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(serde::de::Error::custom(
            "`current` must be true or false (or the string \"true\" or \"false\")",
        )),
    }
}

fn lax_bool_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$")),
            )
            .build(),
    )
}

/// What a registration comes to, whichever shape it arrived in.
struct NewTemplate {
    name: String,
    version: String,
    title: Option<String>,
    description: String,
    parameters: Value,
    custom_actions: Vec<CustomAction>,
    parent: Option<String>,
    bundle: Option<String>,
    current: bool,
    authorized_roles: Vec<String>,
    ui_schema: Option<Value>,
    pipeline: Option<Value>,
}

/// A kind as Azure TRE names it in `resourceType`.
pub fn resource_type_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Workspace => "workspace",
        ResourceKind::WorkspaceService => "workspace-service",
        ResourceKind::UserResource => "user-resource",
        ResourceKind::SharedService => "shared-service",
    }
}

/// Properties every resource has in Azure TRE, added to templates registered in its shape
/// (the template's own declarations win). `display_name` and `description` are required.
fn base_properties(kind: ResourceKind) -> Map<String, Value> {
    let noun = resource_type_name(kind).replace('-', " ");
    let mut heading = noun.clone();
    if let Some(first) = heading.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let prop = |title: String, description: String| json!({"type": "string", "title": title, "description": description, "updateable": true});
    let mut m = Map::new();
    m.insert(
        "display_name".into(),
        prop(
            format!("Name for the {noun}"),
            format!("The name of the {noun} to be displayed to users."),
        ),
    );
    m.insert(
        "description".into(),
        prop(
            format!("Description of the {noun}"),
            format!("Description of the {noun}."),
        ),
    );
    m.insert(
        "overview".into(),
        prop(
            format!("{heading} Overview"),
            format!("Long form description of the {noun}, in markdown syntax."),
        ),
    );
    m
}
const BASE_REQUIRED: [&str; 2] = ["display_name", "description"];

/// The parameters schema of a template registered in Azure TRE's shape: its properties over the
/// base ones, and no property beyond those declared (Azure TRE validates so).
fn azure_parameters(kind: ResourceKind, s: &TemplateJsonSchema) -> Value {
    let mut properties = base_properties(kind);
    properties.extend(s.properties.clone());
    let mut required: Vec<String> = BASE_REQUIRED.iter().map(|r| r.to_string()).collect();
    for r in &s.required {
        if !required.contains(r) {
            required.push(r.clone());
        }
    }
    let mut schema = json!({
        "type": "object",
        "required": required,
        "properties": properties,
        "unevaluatedProperties": false,
    });
    // An empty `allOf` (which JSON Schema refuses) is what Azure TRE's clients send for none.
    if let Some(all_of) = s.all_of.as_ref().filter(|a| !a.is_empty()) {
        schema["allOf"] = Value::Array(all_of.clone());
    }
    schema
}

/// A pipeline is an object of actions, each a list of steps with distinct `stepId`s.
fn check_pipeline(pipeline: &Value) -> Result<(), String> {
    let actions = pipeline
        .as_object()
        .ok_or("`pipeline` must be an object of actions")?;
    for (action, steps) in actions {
        if steps.is_null() {
            continue;
        }
        let steps = steps
            .as_array()
            .ok_or_else(|| format!("pipeline `{action}` must be a list of steps"))?;
        let mut seen = BTreeSet::new();
        for step in steps {
            let id = step
                .get("stepId")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("every step of pipeline `{action}` needs a `stepId`"))?;
            if !seen.insert(id) {
                return Err(format!(
                    "pipeline `{action}`: duplicate stepId `{id}` (stepIds are unique, one `main`)"
                ));
            }
        }
    }
    Ok(())
}

impl RegisterTemplate {
    fn into_new(self, kind: ResourceKind) -> AppResult<NewTemplate> {
        match self {
            Self::Own(r) => Ok(NewTemplate {
                name: r.name,
                version: r.version,
                title: r.title,
                description: r.description,
                parameters: r.parameters,
                custom_actions: r.custom_actions,
                parent: r.parent_service_template,
                bundle: r.bundle,
                current: r.current.unwrap_or(true),
                authorized_roles: Vec::new(),
                ui_schema: None,
                pipeline: None,
            }),
            Self::Azure(r) => {
                if let Some(t) = r.resource_type.as_deref() {
                    if t != resource_type_name(kind) {
                        return Err(AppError::validation(format!(
                            "`resourceType` is `{t}` but this route registers {} templates",
                            resource_type_name(kind)
                        )));
                    }
                }
                if let Some(p) = &r.json_schema.pipeline {
                    check_pipeline(p).map_err(AppError::validation)?;
                }
                let parameters = azure_parameters(kind, &r.json_schema);
                let s = r.json_schema;
                Ok(NewTemplate {
                    name: r.name,
                    version: r.version,
                    title: Some(s.title),
                    description: s.description,
                    parameters,
                    custom_actions: r.custom_actions,
                    parent: r.parent_workspace_service,
                    bundle: r.bundle,
                    // Azure TRE's default.
                    current: r.current.unwrap_or(false),
                    authorized_roles: s.authorized_roles,
                    ui_schema: s.ui_schema.map(Value::Object),
                    pipeline: s.pipeline.filter(|p| !p.is_null()),
                })
            }
        }
    }
}

/// Where a copy of a template's current version is kept (beside its versions, outside their
/// `V#` prefix), so that one read of a known key finds it.
pub(super) fn current_key(kind: ResourceKind, name: &str) -> Key {
    Key::new(keys::template_versions_pk(kind, name), "CURRENT")
}

/// The field of the current copy that lists every registered version, so that a resource's
/// `availableUpgrades` come from the copy read in a change's batch instead of a query.
const REGISTERED_VERSIONS: &str = "registeredVersions";

/// The current copy's body: the template, with every registered version.
fn current_copy_body(template: &Template, versions: &[String]) -> AppResult<Value> {
    let mut body = serde_json::to_value(template)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert(REGISTERED_VERSIONS.into(), json!(versions));
    }
    Ok(body)
}

/// The newer versions of a resource's template, from the current copy of that template; `None`
/// when the copy predates the list (or is missing), and the versions must be queried.
pub(super) fn upgrades_from_copy(
    copy: Option<&Item>,
    from: &str,
) -> Option<Vec<crate::domain::version::AvailableUpgrade>> {
    let versions = copy?.body.get(REGISTERED_VERSIONS)?.as_array()?;
    Some(crate::domain::version::available_upgrades(
        from,
        versions.iter().filter_map(Value::as_str),
    ))
}

/// The key that holds the template a create names: the version asked for, or the copy of the
/// current one.
pub(super) fn template_key(kind: ResourceKind, name: &str, version: Option<&str>) -> Key {
    match version {
        Some(v) => keys::template(kind, name, v),
        None => current_key(kind, name),
    }
}

fn role_names<'a>(
    caller: &'a Caller,
    ws_roles: &'a [WorkspaceRole],
) -> impl Iterator<Item = &'a str> {
    caller
        .principal
        .roles
        .iter()
        .map(|r| r.as_str())
        .chain(ws_roles.iter().map(|r| r.as_str()))
}

/// A template with `authorizedRoles` is for callers holding one of them (TRE roles, or roles
/// in the workspace concerned).
pub(super) fn check_template_roles(
    caller: &Caller,
    ws_roles: &[WorkspaceRole],
    template: &Template,
) -> AppResult<()> {
    if template.allows_roles(role_names(caller, ws_roles)) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "template `{}` is only for callers with one of the roles {}",
            template.name,
            template.authorized_roles.join(", ")
        )))
    }
}

impl App {
    /// Register a template version at a kind's route (user resources: the flat route, with
    /// the parent named in the body).
    pub async fn register_template(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        req: RegisterTemplate,
    ) -> AppResult<Template> {
        caller.require_admin("register templates")?;
        let new = req.into_new(kind)?;
        match (kind, &new.parent) {
            (ResourceKind::UserResource, None) => {
                return Err(AppError::validation(
                    "user-resource templates need `parentServiceTemplate` (or register them at /api/workspace-service-templates/{name}/user-resource-templates)",
                ))
            }
            (ResourceKind::UserResource, Some(parent)) => {
                if self
                    .current_template(ResourceKind::WorkspaceService, parent)
                    .await?
                    .is_none()
                {
                    return Err(AppError::validation(format!(
                        "parentServiceTemplate `{parent}` is not a registered workspace-service template"
                    )));
                }
            }
            (_, Some(_)) => {
                return Err(AppError::validation(
                    "`parentServiceTemplate` applies to user-resource templates only",
                ))
            }
            (_, None) => {}
        }
        self.store_template(caller, kind, new).await
    }

    /// Register a user-resource template under the workspace-service template named in the
    /// path (Azure TRE's route).
    pub async fn register_user_resource_template(
        &self,
        caller: &Caller,
        service_template: &str,
        req: RegisterTemplate,
    ) -> AppResult<Template> {
        caller.require_admin("register templates")?;
        let mut new = req.into_new(ResourceKind::UserResource)?;
        if let Some(named) = new.parent.as_deref().filter(|p| *p != service_template) {
            return Err(AppError::validation(format!(
                "the body names parent `{named}` but the path names `{service_template}`"
            )));
        }
        if self
            .current_template(ResourceKind::WorkspaceService, service_template)
            .await?
            .is_none()
        {
            return Err(AppError::NotFound(format!(
                "workspace-service template `{service_template}` not found"
            )));
        }
        new.parent = Some(service_template.to_string());
        self.store_template(caller, ResourceKind::UserResource, new)
            .await
    }

    async fn store_template(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        req: NewTemplate,
    ) -> AppResult<Template> {
        validate_template_name(&req.name).map_err(AppError::validation)?;
        validate_version(&req.version).map_err(AppError::validation)?;
        ParameterSchema::compile(&req.parameters).map_err(AppError::validation)?;
        for action in &req.custom_actions {
            validate_template_name(&action.name)
                .map_err(|e| AppError::validation(format!("custom action: {e}")))?;
            if ["install", "upgrade", "uninstall"].contains(&action.name.as_str()) {
                return Err(AppError::validation(format!(
                    "custom action `{}` would shadow a standard action",
                    action.name
                )));
            }
        }
        if let Some(bundle) = &req.bundle {
            let pinned = bundle.rsplit_once("@sha256:").is_some_and(|(name, hex)| {
                !name.is_empty()
                    && hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !pinned {
                return Err(AppError::validation(format!(
                    "bundle `{bundle}` must be pinned by digest (…@sha256:<64 hex>)"
                )));
            }
        }
        let key = keys::template(kind, &req.name, &req.version);
        let pointer_key = current_key(kind, &req.name);
        let mut got = self
            .table
            .get_many(&[key.clone(), pointer_key.clone()])
            .await?;
        let pointer = got.pop().flatten();
        if got.pop().flatten().is_some() {
            return Err(AppError::Conflict(format!(
                "template `{}` version {} is already registered",
                req.name, req.version
            )));
        }
        let others = self.template_versions_items(kind, &req.name).await?;
        let mut previous = Vec::with_capacity(others.len());
        for item in others {
            let t: Template = serde_json::from_value(item.body.clone())?;
            previous.push((item, t));
        }
        // A template always has a current version: the first one is, whatever it asked.
        let make_current = req.current || !previous.iter().any(|(_, t)| t.current);
        let template = Template {
            id: format!("{}:{}", req.name, req.version),
            title: req.title.unwrap_or_else(|| req.name.clone()),
            name: req.name,
            version: req.version,
            description: req.description,
            kind,
            parameters: req.parameters,
            custom_actions: req.custom_actions,
            parent_service_template: req.parent,
            bundle: req.bundle,
            current: make_current,
            registered_at: self.clock.now(),
            registered_by: caller.id().to_string(),
            authorized_roles: req.authorized_roles,
            ui_schema: req.ui_schema,
            pipeline: req.pipeline,
        };

        let mut ops = vec![WriteOp::Put {
            key: keys::template(kind, &template.name, &template.version),
            index: Some(keys::template_index(
                kind,
                &template.name,
                &template.version,
            )),
            body: serde_json::to_value(&template)?,
            condition: Condition::Absent,
        }];
        let mut versions: Vec<String> = previous.iter().map(|(_, t)| t.version.clone()).collect();
        versions.push(template.version.clone());
        if make_current {
            // The copy of the current version moves with it, in the same transaction.
            ops.push(WriteOp::Put {
                key: pointer_key,
                index: None,
                body: current_copy_body(&template, &versions)?,
                condition: pointer
                    .as_ref()
                    .map_or(Condition::Absent, |p| Condition::Version(p.version)),
            });
            // Demote the previous current version in the same transaction, so there is never a
            // moment with two (or zero) current versions.
            for (item, mut old) in previous {
                if old.current && item.key != key {
                    old.current = false;
                    ops.push(WriteOp::Put {
                        key: item.key,
                        index: item.index,
                        body: serde_json::to_value(&old)?,
                        condition: Condition::Version(item.version),
                    });
                }
            }
        } else {
            // The copy's list of versions gains this one (a copy from before the list existed
            // is left alone: its readers query the versions).
            if let Some(p) = pointer
                .as_ref()
                .filter(|p| p.body.get(REGISTERED_VERSIONS).is_some())
            {
                let mut body = p.body.clone();
                if let Some(obj) = body.as_object_mut() {
                    obj.insert(REGISTERED_VERSIONS.into(), json!(versions));
                }
                ops.push(WriteOp::Put {
                    key: pointer_key,
                    index: None,
                    body,
                    condition: Condition::Version(p.version),
                });
            }
            // Not current: still fail if the current version changes meanwhile, so that a
            // concurrent first registration cannot leave none current.
            for (item, old) in &previous {
                if old.current {
                    ops.push(WriteOp::Check {
                        key: item.key.clone(),
                        condition: Condition::Version(item.version),
                    });
                }
            }
        }
        let audit = super::AuditEntry::by(caller, "template.register")
            .resource(&template.name)
            .versioned(key.clone())
            .detail("kind", kind.as_str())
            .detail("version", template.version.as_str());
        match self.transact_audited(&ops, &audit).await {
            Ok(_) => Ok(template),
            Err(crate::ports::PortError::ConditionFailed(_)) => {
                if self.table.get(&key).await?.is_some() {
                    Err(AppError::Conflict(format!(
                        "template `{}` version {} is already registered",
                        template.name, template.version
                    )))
                } else {
                    Err(AppError::Conflict(
                        "another version was registered at the same time; retry".into(),
                    ))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn template_versions_items(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> AppResult<Vec<Item>> {
        self.query_all(Query {
            pk: keys::template_versions_pk(kind, name),
            sk_prefix: Some("V#".into()),
            ..Default::default()
        })
        .await
    }

    /// All versions of a template, oldest registration first.
    pub async fn template_versions(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        name: &str,
    ) -> AppResult<Vec<Template>> {
        caller.require_user()?;
        let mut out = Vec::new();
        for item in self.template_versions_items(kind, name).await? {
            out.push(serde_json::from_value::<Template>(item.body)?);
        }
        if out.is_empty() {
            return Err(AppError::NotFound(format!("template `{name}` not found")));
        }
        out.sort_by_key(|t| t.registered_at);
        Ok(out)
    }

    pub(super) async fn current_template(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> AppResult<Option<Template>> {
        for item in self.template_versions_items(kind, name).await? {
            let t: Template = serde_json::from_value(item.body)?;
            if t.current {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// The template a create names: the version asked for, or the current one, from the item
    /// read at [`template_key`] (in the create's batch). A template whose current version was
    /// registered before the copy existed is looked up by its versions instead.
    pub(super) async fn template_from(
        &self,
        kind: ResourceKind,
        name: &str,
        version: Option<&str>,
        item: Option<Item>,
    ) -> AppResult<Option<Template>> {
        match (item, version) {
            (Some(item), _) => Ok(Some(serde_json::from_value(item.body)?)),
            (None, Some(_)) => Ok(None),
            (None, None) => self.current_template(kind, name).await,
        }
    }

    pub(super) async fn template_version(
        &self,
        kind: ResourceKind,
        name: &str,
        version: &str,
    ) -> AppResult<Option<Template>> {
        match self.table.get(&keys::template(kind, name, version)).await? {
            Some(item) => Ok(Some(serde_json::from_value(item.body)?)),
            None => Ok(None),
        }
    }

    /// The current version of each template of a kind.
    pub async fn list_templates(
        &self,
        caller: &Caller,
        kind: ResourceKind,
    ) -> AppResult<Vec<Template>> {
        caller.require_user()?;
        let items = self
            .query_all(Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::templates_index_pk(kind),
                ..Default::default()
            })
            .await?;
        let mut out = Vec::new();
        for item in items {
            let t: Template = serde_json::from_value(item.body)?;
            if t.current {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// One template: the current version, or the given one.
    pub async fn get_template(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        name: &str,
        version: Option<&str>,
    ) -> AppResult<Template> {
        caller.require_user()?;
        let found = match version {
            Some(v) => self.template_version(kind, name, v).await?,
            None => self.current_template(kind, name).await?,
        };
        found.ok_or_else(|| match version {
            Some(v) => AppError::NotFound(format!("template `{name}` version {v} not found")),
            None => AppError::NotFound(format!("template `{name}` not found")),
        })
    }

    /// The current user-resource templates under a workspace-service template.
    pub async fn list_user_resource_templates(
        &self,
        caller: &Caller,
        service_template: &str,
    ) -> AppResult<Vec<Template>> {
        Ok(self
            .list_templates(caller, ResourceKind::UserResource)
            .await?
            .into_iter()
            .filter(|t| t.parent_service_template.as_deref() == Some(service_template))
            .collect())
    }

    /// A user-resource template, found only under its own workspace-service template.
    pub async fn get_user_resource_template(
        &self,
        caller: &Caller,
        service_template: &str,
        name: &str,
        version: Option<&str>,
    ) -> AppResult<Template> {
        let t = self
            .get_template(caller, ResourceKind::UserResource, name, version)
            .await?;
        if t.parent_service_template.as_deref() == Some(service_template) {
            Ok(t)
        } else {
            Err(AppError::NotFound(format!(
                "template `{name}` is not a user-resource template of `{service_template}`"
            )))
        }
    }

    /// Every version of a user-resource template under its workspace-service template.
    pub async fn user_resource_template_versions(
        &self,
        caller: &Caller,
        service_template: &str,
        name: &str,
    ) -> AppResult<Vec<Template>> {
        let all = self
            .template_versions(caller, ResourceKind::UserResource, name)
            .await?;
        let mine: Vec<Template> = all
            .into_iter()
            .filter(|t| t.parent_service_template.as_deref() == Some(service_template))
            .collect();
        if mine.is_empty() {
            return Err(AppError::NotFound(format!(
                "template `{name}` is not a user-resource template of `{service_template}`"
            )));
        }
        Ok(mine)
    }

    /// The templates a workspace's people may use there: workspace-service templates, or the
    /// user-resource templates of one (`service_template`), without those whose
    /// `authorizedRoles` the caller holds none of (in the workspace or TRE-wide).
    pub async fn workspace_templates(
        &self,
        caller: &Caller,
        workspace_id: &str,
        service_template: Option<&str>,
    ) -> AppResult<Vec<Template>> {
        let loaded = self
            .load_resource(
                caller,
                &super::ResourceScope::Workspaces,
                workspace_id,
                super::authz::Intent::Read,
            )
            .await?;
        let templates = match service_template {
            Some(svc) => self.list_user_resource_templates(caller, svc).await?,
            None => {
                self.list_templates(caller, ResourceKind::WorkspaceService)
                    .await?
            }
        };
        Ok(templates
            .into_iter()
            .filter(|t| t.allows_roles(role_names(caller, &loaded.roles)))
            .collect())
    }

    /// Templates of a kind whose `authorizedRoles` allow the caller's TRE roles (Azure TRE's
    /// `authorized_only`).
    pub fn authorized_for(&self, caller: &Caller, templates: Vec<Template>) -> Vec<Template> {
        templates
            .into_iter()
            .filter(|t| t.allows_roles(role_names(caller, &[])))
            .collect()
    }

    /// Every item of a query, across pages.
    pub(super) async fn query_all(&self, mut query: Query) -> AppResult<Vec<Item>> {
        let mut out = Vec::new();
        loop {
            let page = self.table.query(&query).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<RegisterTemplate, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn azure_bodies_are_told_apart_by_json_schema() {
        let azure = parse(json!({
            "name": "svc", "version": "0.0.1", "current": "true", "resourceType": "workspace-service",
            "porterVersion": "ignored",
            "json_schema": {"$schema": "x", "type": "object", "title": "T", "description": "D",
                            "required": ["size"], "properties": {"size": {"type": "integer"}}}
        }))
        .expect("Azure shape");
        let RegisterTemplate::Azure(a) = &azure else {
            panic!("not read as Azure's shape: {azure:?}");
        };
        assert_eq!(a.current, Some(true));
        let new = azure
            .into_new(ResourceKind::WorkspaceService)
            .expect("valid");
        assert_eq!(
            new.parameters["required"],
            json!(["display_name", "description", "size"])
        );
        assert_eq!(new.parameters["unevaluatedProperties"], json!(false));
        assert_eq!(
            new.parameters["properties"]["display_name"]["title"],
            "Name for the workspace service"
        );
        assert_eq!(new.parameters["properties"]["size"]["type"], "integer");

        // Ours still refuses what it does not know.
        let err = parse(
            json!({"name": "x", "version": "1.0.0", "parameters": {"type": "object"},
                               "surprise": 1}),
        )
        .expect_err("unknown field");
        assert!(err.to_string().contains("surprise"), "{err}");
    }

    #[test]
    fn current_is_a_boolean_or_its_spelling() {
        let body = |c: Value| {
            json!({"name": "n", "version": "1.0.0", "current": c,
                   "json_schema": {"title": "t", "description": "d", "properties": {}}})
        };
        for (given, want) in [
            (json!(true), Some(true)),
            (json!("false"), Some(false)),
            (json!("True"), Some(true)),
            (Value::Null, None),
        ] {
            match parse(body(given.clone())) {
                Ok(RegisterTemplate::Azure(a)) => assert_eq!(a.current, want, "{given}"),
                other => panic!("{given}: {other:?}"),
            }
        }
        assert!(parse(body(json!("maybe"))).is_err());
    }

    #[test]
    fn a_wrong_resource_type_or_pipeline_is_refused() {
        let body = |extra: Value| {
            let mut b = json!({"name": "n", "version": "1.0.0",
                               "json_schema": {"title": "t", "description": "d", "properties": {}}});
            if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            parse(b).expect("parses")
        };
        let wrong = body(json!({"resourceType": "user-resource"}));
        assert!(wrong.into_new(ResourceKind::Workspace).is_err());
        let mut dup = body(json!({}));
        if let RegisterTemplate::Azure(a) = &mut dup {
            a.json_schema.pipeline =
                Some(json!({"install": [{"stepId": "main"}, {"stepId": "main"}]}));
        }
        let err = dup
            .into_new(ResourceKind::Workspace)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("duplicate stepId")));
    }
}

//! Resources: create, read, list, update, delete, custom actions, history. Every change writes
//! the resource, its history entry and its operation in one transaction, then starts a workflow.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::authz::{self, Intent};
use super::{keys, App, AppError, AppResult, Caller, ResourceScope, RESOURCE_ACTION_STATE_MACHINE};
use crate::domain::operation::{actions, initial_status};
use crate::domain::resource::{etag_for_version, version_from_etag};
use crate::domain::schema::ParameterSchema;
use crate::domain::{
    DeploymentStatus, Operation, OperationStep, Resource, ResourceKind, Template, WorkspaceRole,
};
use crate::ports::{Condition, Item, Query, WriteOp, INDEX_GSI1};

/// Body of a create request.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateResource {
    pub template_name: String,
    /// Defaults to the template's current version.
    #[serde(default)]
    pub template_version: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

/// Body of a PATCH request (sent with `If-Match`).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchResource {
    /// Only properties the template marks `updateable` may change.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
    /// Move to another registered version of the same template.
    #[serde(default)]
    pub template_version: Option<String>,
}

/// A loaded resource together with its store version and the caller's workspace roles.
pub(super) struct Loaded {
    pub resource: Resource,
    pub version: u64,
    pub roles: Vec<WorkspaceRole>,
}

pub(super) fn decode_resource(item: &Item) -> AppResult<Resource> {
    let mut r: Resource = serde_json::from_value(item.body.clone())?;
    r.etag = etag_for_version(item.version);
    Ok(r)
}

/// The step parameter that lists a workspace's bound data sources.
pub const DATA_SOURCES_PARAMETER: &str = "tre_datasources";

impl App {
    /// Load a resource the caller may `intent`, checking it sits where the URL says.
    pub(super) async fn load_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
        intent: Intent,
    ) -> AppResult<Loaded> {
        caller.require_user()?;
        // Check the path's parents first, so a stranger learns nothing about ids below them.
        let roles = self.scope_roles(caller, scope).await?;
        let item = self
            .table
            .get(&keys::resource(id))
            .await?
            .ok_or_else(|| authz::not_found_resource(scope.kind(), id))?;
        let resource = decode_resource(&item)?;
        if !scope.contains(&resource) || resource.deployment_status == DeploymentStatus::Deleted {
            return Err(authz::not_found_resource(scope.kind(), id));
        }
        // A workspace's own routes carry no parent in the URL: its roles come from itself.
        let roles = match (scope.workspace_id(), resource.governing_workspace()) {
            (None, Some(ws)) => self.workspace_roles(caller.id(), ws).await?,
            _ => roles,
        };
        authz::check_resource(caller, intent, &resource, &roles)?;
        Ok(Loaded {
            resource,
            version: item.version,
            roles,
        })
    }

    /// The caller's roles in the scope's workspace, after checking that the workspace (and the
    /// service, for user resources) exist and are visible to the caller.
    async fn scope_roles(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
    ) -> AppResult<Vec<WorkspaceRole>> {
        let Some(ws) = scope.workspace_id() else {
            return Ok(Vec::new());
        };
        let roles = self.workspace_roles(caller.id(), ws).await?;
        authz::check_workspace_visible(caller, ws, &roles)?;
        let ws_item = self
            .table
            .get(&keys::resource(ws))
            .await?
            .ok_or_else(|| authz::not_found_resource(ResourceKind::Workspace, ws))?;
        let workspace = decode_resource(&ws_item)?;
        if workspace.kind != ResourceKind::Workspace
            || workspace.deployment_status == DeploymentStatus::Deleted
        {
            return Err(authz::not_found_resource(ResourceKind::Workspace, ws));
        }
        if let ResourceScope::UserResources { service_id, .. } = scope {
            let parent = ResourceScope::WorkspaceServices {
                workspace_id: ws.to_string(),
            };
            let svc = self
                .table
                .get(&keys::resource(service_id))
                .await?
                .map(|i| decode_resource(&i))
                .transpose()?
                .filter(|s| parent.contains(s) && s.deployment_status != DeploymentStatus::Deleted)
                .ok_or_else(|| {
                    authz::not_found_resource(ResourceKind::WorkspaceService, service_id)
                })?;
            authz::check_resource(caller, Intent::Read, &svc, &roles)?;
        }
        Ok(roles)
    }

    /// The resource a new child hangs under (workspace or service), which must be enabled.
    async fn load_parent(&self, scope: &ResourceScope) -> AppResult<Option<Resource>> {
        let parent_id = match scope {
            ResourceScope::WorkspaceServices { workspace_id } => workspace_id,
            ResourceScope::UserResources { service_id, .. } => service_id,
            _ => return Ok(None),
        };
        let item = self
            .table
            .get(&keys::resource(parent_id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("parent `{parent_id}` not found")))?;
        let parent = decode_resource(&item)?;
        if !parent.deployment_status.is_deployed() {
            let status = serde_json::to_value(parent.deployment_status)?;
            return Err(AppError::Conflict(format!(
                "parent {} `{parent_id}` is not deployed (it is {}); wait until it is",
                parent.kind.as_str().replace('_', " "),
                status.as_str().unwrap_or("not ready")
            )));
        }
        if !parent.is_enabled {
            return Err(AppError::Conflict(format!(
                "parent {} `{parent_id}` is disabled; enable it before adding to it",
                parent.kind.as_str().replace('_', " ")
            )));
        }
        Ok(Some(parent))
    }

    pub async fn create_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        req: CreateResource,
    ) -> AppResult<(Resource, Operation)> {
        caller.require_user()?;
        let roles = self.scope_roles(caller, scope).await?;
        authz::check_create(caller, scope, &roles)?;
        let parent = self.load_parent(scope).await?;
        let kind = scope.kind();

        let template = match &req.template_version {
            Some(v) => self.template_version(kind, &req.template_name, v).await?,
            None => self.current_template(kind, &req.template_name).await?,
        }
        .ok_or_else(|| {
            AppError::validation(format!(
                "unknown {} template `{}`{}",
                kind.as_str().replace('_', "-"),
                req.template_name,
                req.template_version
                    .as_deref()
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default()
            ))
        })?;
        if let (ResourceKind::UserResource, Some(svc)) = (kind, &parent) {
            if template.parent_service_template.as_deref() != Some(svc.template_name.as_str()) {
                return Err(AppError::validation(format!(
                    "template `{}` is not for services of template `{}`",
                    template.name, svc.template_name
                )));
            }
        }
        super::templates::check_template_roles(caller, &roles, &template)?;

        let schema = compile(&template)?;
        let mut params = req.properties;
        schema.apply_defaults(&mut params);
        schema.validate(&params).map_err(invalid_parameters)?;
        let (public, secrets) = schema.split_sensitive(params);

        let now = self.clock.now();
        let id = self.ids.new_id();
        let resource = Resource {
            id: id.clone(),
            kind,
            template_name: template.name.clone(),
            template_version: template.version.clone(),
            properties: public,
            is_enabled: true,
            deployment_status: DeploymentStatus::AwaitingDeployment,
            etag: String::new(),
            workspace_id: scope.workspace_id().map(str::to_string),
            parent_service_id: match scope {
                ResourceScope::UserResources { service_id, .. } => Some(service_id.clone()),
                _ => None,
            },
            owner_id: caller.id().to_string(),
            created_at: now,
            updated_at: now,
            updated_by: caller.id().to_string(),
            updated_by_name: Some(caller.principal.name.clone()),
            resource_version: 0,
        };
        let operation = self.new_operation(caller, scope, &resource, actions::INSTALL);
        let mut ops = vec![WriteOp::Put {
            key: keys::resource(&id),
            index: Some(keys::resource_index(
                kind,
                scope.parent_id(),
                &now.to_rfc3339(),
                &id,
            )),
            body: serde_json::to_value(&resource)?,
            condition: Condition::Absent,
        }];
        if !secrets.is_empty() {
            ops.push(WriteOp::Put {
                key: keys::resource_secrets(&id),
                index: None,
                body: Value::Object(secrets),
                condition: Condition::Absent,
            });
        }
        ops.push(self.operation_put(&operation, Condition::Absent)?);
        let versions = self.table.transact(&ops).await?;
        let mut resource = resource;
        resource.etag = etag_for_version(versions.first().copied().unwrap_or(1));
        let operation = self
            .start_operation(&resource, &template, operation, &[])
            .await?;
        Ok((resource, operation))
    }

    pub async fn get_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
    ) -> AppResult<Resource> {
        Ok(self
            .load_resource(caller, scope, id, Intent::Read)
            .await?
            .resource)
    }

    /// The resources of a collection that the caller may see, oldest first.
    pub async fn list_resources(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
    ) -> AppResult<Vec<Resource>> {
        caller.require_user()?;
        let roles = self.scope_roles(caller, scope).await?;
        let candidates: Vec<Resource> = if *scope == ResourceScope::Workspaces && !caller.is_admin()
        {
            // Non-admins see the workspaces where they hold a role: ask the role index.
            let mut ids: Vec<String> = self
                .query_all(Query {
                    index: Some(INDEX_GSI1.into()),
                    pk: keys::principal_roles_pk(caller.id()),
                    ..Default::default()
                })
                .await?
                .iter()
                .filter_map(|i| {
                    i.body
                        .get("workspaceId")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            ids.dedup();
            let mut out = Vec::new();
            for id in ids {
                if let Some(item) = self.table.get(&keys::resource(&id)).await? {
                    out.push(decode_resource(&item)?);
                }
            }
            out.sort_by_key(|r| r.created_at);
            out
        } else {
            self.query_all(Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::resource_list_pk(scope.kind(), scope.parent_id()),
                ..Default::default()
            })
            .await?
            .iter()
            .map(decode_resource)
            .collect::<AppResult<_>>()?
        };
        let mut visible = Vec::new();
        for r in candidates {
            if r.deployment_status == DeploymentStatus::Deleted || !scope.contains(&r) {
                continue;
            }
            let roles_here = match (scope, r.governing_workspace()) {
                (ResourceScope::Workspaces, Some(ws)) if !caller.is_admin() => {
                    self.workspace_roles(caller.id(), ws).await?
                }
                _ => roles.clone(),
            };
            if authz::check_resource(caller, Intent::Read, &r, &roles_here).is_ok() {
                visible.push(r);
            }
        }
        Ok(visible)
    }

    pub(super) fn new_operation(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource: &Resource,
        action: &str,
    ) -> Operation {
        let now = self.clock.now();
        let status = initial_status(action);
        Operation {
            id: self.ids.new_id(),
            resource_id: resource.id.clone(),
            resource_kind: resource.kind,
            resource_path: scope.resource_path(&resource.id),
            action: action.to_string(),
            status,
            message: String::new(),
            steps: vec![OperationStep {
                id: "main".into(),
                resource_id: resource.id.clone(),
                template_name: resource.template_name.clone(),
                resource_kind: Some(resource.kind),
                action: action.to_string(),
                status,
                message: String::new(),
                sequence: 0,
                updated_at: now,
            }],
            created_by: caller.id().to_string(),
            created_by_name: Some(caller.principal.name.clone()),
            resource_version: resource.resource_version,
            created_at: now,
            updated_at: now,
        }
    }

    pub(super) fn operation_put(&self, op: &Operation, condition: Condition) -> AppResult<WriteOp> {
        Ok(WriteOp::Put {
            key: keys::operation(&op.resource_id, &op.id),
            index: Some(keys::operation_index(
                &op.resource_id,
                &op.created_at.to_rfc3339(),
                &op.id,
            )),
            body: serde_json::to_value(op)?,
            condition,
        })
    }

    /// Start the workflow that carries out an operation. The execution is named after the
    /// operation, so a retried start can never run it twice. Sensitive parameters are not in the
    /// input (execution histories are readable): the runner fetches them from the store.
    pub(super) async fn start_operation(
        &self,
        resource: &Resource,
        template: &Template,
        mut op: Operation,
        others: &[(Resource, Template)],
    ) -> AppResult<Operation> {
        // Each step carries what its runner needs: a pipeline's steps act on other resources,
        // with their own bundles and parameters.
        let mut steps = Vec::with_capacity(op.steps.len());
        for s in &op.steps {
            let (r, t) = if s.resource_id == resource.id {
                (resource, template)
            } else {
                others
                    .iter()
                    .find(|(r, _)| r.id == s.resource_id)
                    .map(|(r, t)| (r, t))
                    .ok_or_else(|| {
                        AppError::Internal(format!("step `{}` acts on an unknown resource", s.id))
                    })?
            };
            // Always present (empty when none is needed): the state machine passes it on as is.
            let registry_token = match (&self.bundle_tokens, &t.bundle) {
                (Some(tokens), Some(bundle)) => tokens
                    .pull_token(bundle)
                    .map_err(|e| AppError::Internal(format!("a pull token for `{bundle}`: {e}")))?
                    .unwrap_or_default(),
                _ => String::new(),
            };
            // A workspace's bundles learn where its bound data sources are (read-only).
            let mut parameters = r.properties.clone();
            if let Some(ws) = r.governing_workspace() {
                parameters.insert(
                    DATA_SOURCES_PARAMETER.into(),
                    self.data_source_parameter(ws).await?,
                );
            }
            steps.push(json!({
                "stepId": s.id, "resourceId": s.resource_id, "action": s.action,
                "operationResourceId": resource.id,
                "bundle": t.bundle, "templateName": t.name, "templateVersion": t.version,
                "parameters": parameters, "registryToken": registry_token,
            }));
        }
        let input = json!({
            "operationId": op.id,
            "resourceId": resource.id,
            "resourceKind": resource.kind,
            "resourcePath": op.resource_path,
            "workspaceId": resource.workspace_id,
            "parentServiceId": resource.parent_service_id,
            "action": op.action,
            "templateName": template.name,
            "templateVersion": template.version,
            "steps": steps,
        });
        match self
            .workflows
            .start_execution(RESOURCE_ACTION_STATE_MACHINE, &op.id, &input)
            .await
        {
            Ok(_) => Ok(op),
            Err(e) => {
                tracing::error!(operation_id = %op.id, error = %e, "could not start the workflow");
                // Record the failure rather than leave the operation waiting forever.
                let failed = failed_status(&op.action);
                if let Ok(Some(item)) = self
                    .table
                    .get(&keys::operation(&op.resource_id, &op.id))
                    .await
                {
                    op.status = failed;
                    op.message = format!("the workflow could not be started: {e}");
                    if let Ok(put) = self.operation_put(&op, Condition::Version(item.version)) {
                        let _ = self.table.transact(&[put]).await;
                    }
                }
                Err(AppError::Unavailable(
                    "the workflow service is unavailable; the operation was recorded as failed"
                        .into(),
                ))
            }
        }
    }

    /// A resource's earlier versions, newest first.
    pub async fn resource_history(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
    ) -> AppResult<Vec<Resource>> {
        self.load_resource(caller, scope, id, Intent::Read).await?;
        self.query_all(Query {
            pk: keys::resource(id).pk,
            sk_prefix: Some(keys::HISTORY_PREFIX.into()),
            descending: true,
            ..Default::default()
        })
        .await?
        .iter()
        .map(|i| Ok(serde_json::from_value::<Resource>(i.body.clone())?))
        .collect()
    }
}

pub(super) fn compile(template: &Template) -> AppResult<ParameterSchema> {
    ParameterSchema::compile(&template.parameters).map_err(|e| {
        AppError::Internal(format!(
            "stored template `{}` is broken: {e}",
            template.name
        ))
    })
}

pub(super) fn invalid_parameters(errors: Vec<String>) -> AppError {
    AppError::Validation {
        detail: format!(
            "parameters do not match the template's schema: {}",
            errors.join("; ")
        ),
        errors,
    }
}

pub(super) fn failed_status(action: &str) -> DeploymentStatus {
    match action {
        actions::INSTALL => DeploymentStatus::DeploymentFailed,
        actions::UPGRADE => DeploymentStatus::UpdatingFailed,
        actions::UNINSTALL => DeploymentStatus::DeletingFailed,
        _ => DeploymentStatus::ActionFailed,
    }
}

/// Which version of a resource a change was asked against, as the client said it: the HTTP
/// `If-Match` header (RFC 9110: a mismatch is 412) or Azure TRE's `etag` header (a mismatch is
/// 409, as its clients expect). Either may be `*`: any current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    IfMatch(String),
    Etag(String),
}

impl Precondition {
    fn header(&self) -> &'static str {
        match self {
            Self::IfMatch(_) => "If-Match",
            Self::Etag(_) => "etag",
        }
    }

    fn value(&self) -> &str {
        match self {
            Self::IfMatch(v) | Self::Etag(v) => v.trim(),
        }
    }

    fn mismatch(&self, detail: String) -> AppError {
        match self {
            Self::IfMatch(_) => AppError::PreconditionFailed(detail),
            Self::Etag(_) => AppError::Conflict(detail),
        }
    }
}

/// Check a change's precondition against the version just read; nothing is changed when it
/// fails. Called after the resource is loaded, so an unknown id is a 404 whatever was sent.
pub(super) fn check_precondition(
    precondition: Option<&Precondition>,
    resource: &Resource,
    version: u64,
) -> AppResult<()> {
    let p = precondition.ok_or_else(|| {
        AppError::PreconditionRequired(
            "send the resource's etag in `If-Match` (or Azure TRE's `etag` header) to change it"
                .into(),
        )
    })?;
    let value = p.value();
    if value == "*" {
        return Ok(());
    }
    // `If-Match` may list several etags; any one matching is enough.
    let matches = value
        .split(',')
        .filter_map(version_from_etag)
        .any(|v| v == version);
    if matches {
        return Ok(());
    }
    if value.split(',').all(|e| version_from_etag(e).is_none()) {
        return Err(p.mismatch(format!(
            "`{}` value {value} is not an etag of this resource",
            p.header()
        )));
    }
    Err(p.mismatch(format!(
        "`{}` was changed by someone else since the etag you sent; GET it again and retry",
        resource.id
    )))
}

//! Resources: create, read, list, update, delete, custom actions, history. Every change writes
//! the resource, its history entry and its operation in one transaction, then starts a workflow.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::authz::{self, Intent};
use super::paging::{PageRequest, Paged, Walk, MAX_PAGE_SIZE};
use super::{keys, App, AppError, AppResult, Caller, ResourceScope, RESOURCE_ACTION_STATE_MACHINE};
use crate::domain::operation::{actions, initial_status};
use crate::domain::resource::{etag_for_version, version_from_etag};
use crate::domain::schema::ParameterSchema;
use crate::domain::{
    DeploymentStatus, Operation, OperationStep, Resource, ResourceKind, Template, WorkspaceRole,
};
use crate::ports::{Condition, Item, Key, Query, WriteOp, INDEX_GSI1};

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
    /// The data-source parameter of the resource's workspace, from the path's batch.
    pub bindings: Option<(String, Value)>,
}

/// What [`App::read_path`] read, unchecked.
pub(super) struct PathRead {
    /// The workspace the path names (the resource itself on a workspace's own routes).
    pub workspace_id: Option<String>,
    pub workspace: Option<Item>,
    pub service: Option<Item>,
    pub resource: Option<Item>,
    /// The caller's roles in the path's workspace.
    pub roles: Vec<WorkspaceRole>,
    /// The path's workspace's data-source bindings summary, when the path names a workspace
    /// (`None` inside: a workspace from before the summary, or none bound yet there).
    pub bindings: Option<Option<Item>>,
    /// The extra keys' items, in their order.
    pub extra: Vec<Option<Item>>,
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
        Ok(self
            .load_resource_with(caller, scope, id, intent, &[])
            .await?
            .0)
    }

    /// [`Self::load_resource`], reading `extra` keys in the same batch as the path (answered in
    /// their order), so a use case that needs an item whose key the URL gives (an operation)
    /// pays no further call. The extra items are only returned once the caller passed the
    /// checks.
    pub(super) async fn load_resource_with(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
        intent: Intent,
        extra: &[Key],
    ) -> AppResult<(Loaded, Vec<Option<Item>>)> {
        caller.require_user()?;
        let mut path = self.read_path(caller, scope, Some(id), extra).await?;
        // Check the path's parents first, so a stranger learns nothing about ids below them.
        let (roles, _) = Self::check_scope(caller, scope, &mut path)?;
        let item = path
            .resource
            .take()
            .ok_or_else(|| authz::not_found_resource(scope.kind(), id))?;
        let resource = decode_resource(&item)?;
        if !scope.contains(&resource) || resource.deployment_status == DeploymentStatus::Deleted {
            return Err(authz::not_found_resource(scope.kind(), id));
        }
        // A workspace's own routes carry no parent in the URL: its roles come from itself
        // (read in the batch, under the resource's own id).
        let roles = match (scope.workspace_id(), resource.governing_workspace()) {
            (None, Some(ws)) if ws == id => path.roles.clone(),
            (None, Some(ws)) => self.workspace_roles(caller.id(), ws).await?,
            _ => roles,
        };
        authz::check_resource(caller, intent, &resource, &roles)?;
        // Only a change starts steps, which are told of the bindings.
        let bindings = match (path.bindings.take(), resource.governing_workspace()) {
            (Some(summary), Some(ws))
                if intent == Intent::Write && path.workspace_id.as_deref() == Some(ws) =>
            {
                Some((
                    ws.to_string(),
                    self.data_source_parameter_from(ws, summary).await?,
                ))
            }
            _ => None,
        };
        Ok((
            Loaded {
                resource,
                version: item.version,
                roles,
                bindings,
            },
            path.extra,
        ))
    }

    /// One batch read of what a request's path names: the workspace (from the scope, or the
    /// resource itself on a workspace's own routes), the service above user resources, the
    /// resource, the caller's role assignments in that workspace (their keys are known: one per
    /// role) and `extra`. Nothing is checked here.
    pub(super) async fn read_path(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: Option<&str>,
        extra: &[Key],
    ) -> AppResult<PathRead> {
        let ws = match (scope.workspace_id(), scope, id) {
            (Some(ws), _, _) => Some(ws),
            (None, ResourceScope::Workspaces, Some(id)) => Some(id),
            _ => None,
        };
        let mut keys = Vec::with_capacity(8 + extra.len());
        let ws_at = scope.workspace_id().map(|ws| {
            keys.push(keys::resource(ws));
            keys.len() - 1
        });
        let svc_at = match scope {
            ResourceScope::UserResources { service_id, .. } => {
                keys.push(keys::resource(service_id));
                Some(keys.len() - 1)
            }
            _ => None,
        };
        let res_at = id.map(|id| {
            keys.push(keys::resource(id));
            keys.len() - 1
        });
        // In sort-key order, as a query of the caller's assignments would list them.
        let mut roles = WorkspaceRole::ALL;
        roles.sort_by_key(|r| r.as_str());
        let roles_from = keys.len();
        if let Some(ws) = ws {
            keys.extend(
                roles
                    .iter()
                    .map(|r| keys::role(ws, caller.id(), r.as_str())),
            );
        }
        let roles_to = keys.len();
        let bindings_at = ws.map(|ws| {
            keys.push(keys::data_source_bindings_summary(ws));
            keys.len() - 1
        });
        let extra_from = keys.len();
        keys.extend_from_slice(extra);
        let mut got = self.table.get_many(&keys).await?;
        let mut take = |at: Option<usize>| at.and_then(|i| got.get_mut(i).and_then(Option::take));
        let workspace = take(ws_at);
        let service = take(svc_at);
        let resource = take(res_at);
        let bindings = bindings_at.map(|at| take(Some(at)));
        let mut held = Vec::new();
        for i in roles_from..roles_to {
            if let Some(role) = take(Some(i)).and_then(|item| {
                item.body
                    .get("role")
                    .and_then(|r| serde_json::from_value::<WorkspaceRole>(r.clone()).ok())
            }) {
                held.push(role);
            }
        }
        Ok(PathRead {
            workspace_id: ws.map(str::to_string),
            workspace,
            service,
            resource,
            roles: held,
            bindings,
            extra: got.split_off(extra_from),
        })
    }

    /// The caller's roles in the scope's workspace, after checking that the workspace (and the
    /// service, for user resources) exist and are visible to the caller.
    async fn scope_roles(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
    ) -> AppResult<Vec<WorkspaceRole>> {
        if scope.workspace_id().is_none() {
            return Ok(Vec::new());
        }
        let mut path = self.read_path(caller, scope, None, &[]).await?;
        Ok(Self::check_scope(caller, scope, &mut path)?.0)
    }

    /// The checks on a path's parents, in the order a stranger must meet them (the workspace's
    /// visibility first): the caller's roles in the scope's workspace and the resource the
    /// scope's items hang under (the workspace, or the service for user resources).
    fn check_scope(
        caller: &Caller,
        scope: &ResourceScope,
        path: &mut PathRead,
    ) -> AppResult<(Vec<WorkspaceRole>, Option<Resource>)> {
        let Some(ws) = scope.workspace_id() else {
            return Ok((Vec::new(), None));
        };
        let roles = path.roles.clone();
        authz::check_workspace_visible(caller, ws, &roles)?;
        let ws_item = path
            .workspace
            .take()
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
            let svc = path
                .service
                .take()
                .map(|i| decode_resource(&i))
                .transpose()?
                .filter(|s| parent.contains(s) && s.deployment_status != DeploymentStatus::Deleted)
                .ok_or_else(|| {
                    authz::not_found_resource(ResourceKind::WorkspaceService, service_id)
                })?;
            authz::check_resource(caller, Intent::Read, &svc, &roles)?;
            return Ok((roles, Some(svc)));
        }
        Ok((roles, Some(workspace)))
    }

    /// The resource a new child hangs under (workspace or service, as
    /// [`Self::check_scope`] read it), which must be deployed and enabled.
    fn check_parent(parent: Option<Resource>) -> AppResult<Option<Resource>> {
        let Some(parent) = parent else {
            return Ok(None);
        };
        let parent_id = &parent.id;
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
        let kind = scope.kind();
        let version = req.template_version.as_deref();
        // The parent path, the caller's roles and the template in one batch.
        let template_key = super::templates::template_key(kind, &req.template_name, version);
        let mut path = self
            .read_path(caller, scope, None, std::slice::from_ref(&template_key))
            .await?;
        let (roles, parent) = Self::check_scope(caller, scope, &mut path)?;
        authz::check_create(caller, scope, &roles)?;
        let parent = Self::check_parent(parent)?;
        let bindings = match (scope.workspace_id(), path.bindings.take()) {
            (Some(ws), Some(summary)) => Some((
                ws.to_string(),
                self.data_source_parameter_from(ws, summary).await?,
            )),
            _ => None,
        };

        let template_item = path.extra.pop().flatten();
        let template = self
            .template_from(kind, &req.template_name, version, template_item)
            .await?
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
        let id = self.ids.new_id();
        self.insert_resource(
            caller,
            scope,
            &template,
            req.properties,
            None,
            id,
            Vec::new(),
            bindings,
        )
        .await
    }

    /// Create a resource of `template` in `scope` owned by the caller (authorisation already
    /// done), with `extra` writes in the same transaction, and start its install.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn insert_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        template: &Template,
        properties: Map<String, Value>,
        airlock_review: Option<crate::domain::AirlockReviewOf>,
        id: String,
        extra: Vec<WriteOp>,
        bindings: Option<(String, Value)>,
    ) -> AppResult<(Resource, Operation)> {
        let kind = scope.kind();
        let schema = compile(template)?;
        let mut params = properties;
        schema.apply_defaults(&mut params);
        schema.validate(&params).map_err(invalid_parameters)?;
        let (public, secrets) = schema.split_sensitive(params);

        let now = self.clock.now();
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
            airlock_review,
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
        ops.extend(self.new_operation_puts(&operation)?);
        // A new workspace has nothing bound: its summary says so, read with its paths.
        let bindings = if kind == ResourceKind::Workspace {
            ops.push(WriteOp::Put {
                key: keys::data_source_bindings_summary(&id),
                index: None,
                body: json!({ "bound": [] }),
                condition: Condition::Absent,
            });
            Some((id.clone(), json!([])))
        } else {
            bindings
        };
        ops.extend(extra);
        let mut audit = super::AuditEntry::by(caller, format!("{}.create", kind.as_str()))
            .on_resource(&resource)
            .detail(
                "template",
                format!("{}@{}", template.name, template.version),
            );
        if kind == ResourceKind::Workspace {
            audit = audit.opening_chain();
        }
        if let Some(review) = &resource.airlock_review {
            // The request (in its own workspace's chain) now names its review environment.
            audit = audit.with_companion(
                super::AuditEntry::by(caller, "airlock.review-environment")
                    .workspace(Some(&review.workspace_id))
                    .resource(&review.request_id)
                    .detail("userResource", resource.id.as_str())
                    .detail(
                        "reviewWorkspace",
                        resource.workspace_id.as_deref().unwrap_or_default(),
                    ),
            );
        }
        let versions = self.transact_audited(&ops, &audit).await?;
        let mut resource = resource;
        resource.etag = etag_for_version(versions.first().copied().unwrap_or(1));
        let operation = self
            .start_operation(&resource, template, operation, &[], bindings)
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

    /// Every resource of a collection that the caller may see, page after page (for use cases
    /// that need them all; the API serves pages).
    pub async fn list_resources(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
    ) -> AppResult<Vec<Resource>> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(MAX_PAGE_SIZE);
        loop {
            let got = self.list_resources_page(caller, scope, &page).await?;
            out.extend(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One page of the resources of a collection that the caller may see, oldest first
    /// (a non-admin's workspaces: in workspace id order, from their role assignments).
    pub async fn list_resources_page(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        page: &PageRequest,
    ) -> AppResult<Paged<Resource>> {
        caller.require_user()?;
        let roles = self.scope_roles(caller, scope).await?;
        if *scope == ResourceScope::Workspaces && !caller.is_admin() {
            return self.my_workspaces_page(caller, page).await;
        }
        let mut walk = Walk::new(
            Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::resource_list_pk(scope.kind(), scope.parent_id()),
                ..Default::default()
            },
            page,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                let r = decode_resource(&item)?;
                if r.deployment_status == DeploymentStatus::Deleted || !scope.contains(&r) {
                    continue;
                }
                if authz::check_resource(caller, Intent::Read, &r, &roles).is_ok() && walk.push(r) {
                    break;
                }
            }
        }
        Ok(walk.finish())
    }

    /// The workspaces where a non-admin holds a role: a walk of their role index (one entry
    /// per workspace and role), so it costs their assignments and the page, never the number
    /// of workspaces.
    async fn my_workspaces_page(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<Resource>> {
        // Entries of one workspace (`WS#<id>#<role>`) share a position, so each counts once.
        fn workspace_position(_: &Query, item: &Item) -> Vec<String> {
            let isk = item
                .index
                .as_ref()
                .map(|k| k.sk.as_str())
                .unwrap_or_default();
            let ws = isk.rsplit_once('#').map_or(isk, |(ws, _)| ws);
            vec![ws.to_string()]
        }
        let mut walk = Walk::with_position(
            Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::principal_roles_pk(caller.id()),
                ..Default::default()
            },
            page,
            workspace_position,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                let Some(ws) = item.body.get("workspaceId").and_then(Value::as_str) else {
                    continue;
                };
                let Some(found) = self.table.get(&keys::resource(ws)).await? else {
                    continue;
                };
                let r = decode_resource(&found)?;
                // Holding a role is what makes a workspace visible to a non-admin.
                if r.kind == ResourceKind::Workspace
                    && r.deployment_status != DeploymentStatus::Deleted
                    && walk.push(r)
                {
                    break;
                }
            }
        }
        Ok(walk.finish())
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
            listed_open: true,
        }
    }

    /// The writes that record a new operation: the operation, and its entry among its
    /// creator's unfinished operations.
    pub(super) fn new_operation_puts(&self, op: &Operation) -> AppResult<[WriteOp; 2]> {
        Ok([
            self.operation_put(op, Condition::Absent)?,
            WriteOp::Put {
                key: keys::open_operation(&op.created_by, &op.created_at.to_rfc3339(), &op.id),
                index: None,
                body: json!({"resourceId": op.resource_id, "operationId": op.id, "resourcePath": op.resource_path}),
                condition: Condition::Absent,
            },
        ])
    }

    /// The write that takes an ended operation off its creator's unfinished operations.
    pub(super) fn close_operation(op: &Operation) -> Option<WriteOp> {
        op.listed_open.then(|| WriteOp::Delete {
            key: keys::open_operation(&op.created_by, &op.created_at.to_rfc3339(), &op.id),
            condition: Condition::Exists,
        })
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
        bindings: Option<(String, Value)>,
    ) -> AppResult<Operation> {
        // Each step carries what its runner needs: a pipeline's steps act on other resources,
        // with their own bundles and parameters.
        let mut steps = Vec::with_capacity(op.steps.len());
        // A pipeline's steps all sit in one workspace: its bindings are read once (or came
        // with the path's batch).
        let mut bindings = bindings;
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
                let bound = match &bindings {
                    Some((at, bound)) if at == ws => bound.clone(),
                    _ => {
                        let bound = self.data_source_parameter(ws).await?;
                        bindings = Some((ws.to_string(), bound.clone()));
                        bound
                    }
                };
                parameters.insert(DATA_SOURCES_PARAMETER.into(), bound);
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
                    let close = Self::close_operation(&op);
                    op.listed_open = false;
                    if let Ok(put) = self.operation_put(&op, Condition::Version(item.version)) {
                        let mut writes = vec![put];
                        writes.extend(close);
                        let _ = self.table.transact(&writes).await;
                    }
                }
                Err(AppError::Unavailable(
                    "the workflow service is unavailable; the operation was recorded as failed"
                        .into(),
                ))
            }
        }
    }

    /// A page of a resource's earlier versions, newest first.
    pub async fn resource_history(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
        page: &PageRequest,
    ) -> AppResult<Paged<Resource>> {
        self.load_resource(caller, scope, id, Intent::Read).await?;
        let mut walk = Walk::new(
            Query {
                pk: keys::resource(id).pk,
                sk_prefix: Some(keys::HISTORY_PREFIX.into()),
                descending: true,
                ..Default::default()
            },
            page,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if walk.fresh(&item) && walk.push(serde_json::from_value(item.body)?) {
                    break;
                }
            }
        }
        Ok(walk.finish())
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

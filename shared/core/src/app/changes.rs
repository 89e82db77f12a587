//! Changes to existing resources: update (PATCH), delete, custom actions.

use serde_json::{Map, Value};

use super::authz::Intent;
use super::resources::{check_precondition, compile, invalid_parameters, Loaded, Precondition};
use super::{keys, App, AppError, AppResult, Caller, PatchResource, ResourceScope};
use crate::domain::operation::{actions, initial_status};
use crate::domain::resource::etag_for_version;
use crate::domain::{DeploymentStatus, Operation, Resource};
use crate::ports::{Condition, PortError, WriteOp};

impl App {
    pub async fn patch_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
        precondition: Option<&Precondition>,
        req: PatchResource,
    ) -> AppResult<(Resource, Operation)> {
        let Loaded {
            resource, version, ..
        } = self.load_resource(caller, scope, id, Intent::Write).await?;
        check_precondition(precondition, &resource, version)?;
        if req.properties.is_none() && req.is_enabled.is_none() && req.template_version.is_none() {
            return Err(AppError::validation(
                "nothing to change: send `properties`, `isEnabled` or `templateVersion`",
            ));
        }
        if resource.deployment_status == DeploymentStatus::AwaitingDeletion
            || resource.deployment_status == DeploymentStatus::Deleting
        {
            return Err(AppError::Conflict(format!("`{id}` is being deleted")));
        }
        busy(&resource)?;

        let template = match &req.template_version {
            Some(v) if *v != resource.template_version => self
                .template_version(resource.kind, &resource.template_name, v)
                .await?
                .ok_or_else(|| {
                    AppError::validation(format!(
                        "template `{}` has no version {v}",
                        resource.template_name
                    ))
                })?,
            _ => self
                .template_version(
                    resource.kind,
                    &resource.template_name,
                    &resource.template_version,
                )
                .await?
                .ok_or_else(|| AppError::Internal("the resource's template is missing".into()))?,
        };
        let schema = compile(&template)?;

        let secrets_item = self.table.get(&keys::resource_secrets(id)).await?;
        let mut secrets: Map<String, Value> = secrets_item
            .as_ref()
            .and_then(|i| i.body.as_object().cloned())
            .unwrap_or_default();
        let mut updated = resource.clone();
        if let Some(props) = req.properties {
            for (name, value) in props {
                if !schema.is_declared(&name) {
                    return Err(AppError::validation(format!(
                        "`{name}` is not a parameter of template `{}`",
                        template.name
                    )));
                }
                let current = if schema.is_sensitive(&name) {
                    secrets.get(&name)
                } else {
                    updated.properties.get(&name)
                };
                if current == Some(&value) {
                    continue;
                }
                if !schema.is_updateable(&name) {
                    return Err(AppError::validation(format!(
                        "`{name}` cannot be changed after install (not updateable)"
                    )));
                }
                if schema.is_sensitive(&name) {
                    secrets.insert(name, value);
                } else {
                    updated.properties.insert(name, value);
                }
            }
        }
        // Validate the parameters as a whole (outputs merged into properties are not parameters).
        let mut params: Map<String, Value> = updated
            .properties
            .iter()
            .filter(|(k, _)| schema.is_declared(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.extend(secrets.clone());
        schema.apply_defaults(&mut params);
        schema.validate(&params).map_err(invalid_parameters)?;

        let now = self.clock.now();
        if let Some(enabled) = req.is_enabled {
            updated.is_enabled = enabled;
        }
        updated.template_version = template.version.clone();
        updated.deployment_status = initial_status(actions::UPGRADE);
        updated.updated_at = now;
        updated.updated_by = caller.id().to_string();
        updated.updated_by_name = Some(caller.principal.name.clone());
        updated.resource_version = resource.resource_version + 1;
        let mut operation = self.new_operation(caller, scope, &updated, actions::UPGRADE);
        // Disabling a parent disables what is under it, in the same operation.
        let (cascade_writes, others) = if resource.is_enabled && !updated.is_enabled {
            self.cascade_disable(&resource, &mut operation).await?
        } else {
            (Vec::new(), Vec::new())
        };
        if operation.steps.len() > 1 {
            updated.deployment_status = DeploymentStatus::PipelineRunning;
        }

        let mut ops = vec![
            self.resource_put(&updated, version)?,
            self.history_put(&resource, version)?,
        ];
        ops.extend(cascade_writes);
        if let Some(item) = &secrets_item {
            if item.body.as_object() != Some(&secrets) {
                ops.push(WriteOp::Put {
                    key: item.key.clone(),
                    index: None,
                    body: Value::Object(secrets),
                    condition: Condition::Version(item.version),
                });
            }
        } else if !secrets.is_empty() {
            ops.push(WriteOp::Put {
                key: keys::resource_secrets(id),
                index: None,
                body: Value::Object(secrets),
                condition: Condition::Absent,
            });
        }
        ops.push(self.operation_put(&operation, Condition::Absent)?);
        self.commit_change(&resource, &ops).await?;
        updated.etag = etag_for_version(version + 1);
        let operation = self
            .start_operation(&updated, &template, operation, &others)
            .await?;
        Ok((updated, operation))
    }

    /// Delete (uninstall) a resource. Only a disabled resource may be deleted, so nothing is
    /// removed by a single mistaken call.
    pub async fn delete_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
    ) -> AppResult<Operation> {
        let Loaded {
            resource, version, ..
        } = self.load_resource(caller, scope, id, Intent::Write).await?;
        if resource.is_enabled {
            return Err(AppError::Conflict(format!(
                "`{id}` is enabled: disable it (PATCH isEnabled=false) before deleting it"
            )));
        }
        if matches!(
            resource.deployment_status,
            DeploymentStatus::AwaitingDeletion | DeploymentStatus::Deleting
        ) {
            return Err(AppError::Conflict(format!(
                "`{id}` is already being deleted"
            )));
        }
        busy(&resource)?;
        // Deleting a disabled parent deletes what is under it, in the same operation.
        let mut operation = self.new_operation(caller, scope, &resource, actions::UNINSTALL);
        let (cascade_writes, others) = self.cascade_delete(&resource, &mut operation).await?;
        self.change_with_operation(
            caller,
            resource,
            version,
            operation,
            cascade_writes,
            &others,
        )
        .await
        .map(|(_, op)| op)
    }

    /// Run one of the template's custom actions on an enabled resource.
    pub async fn invoke_action(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
        action: &str,
    ) -> AppResult<(Resource, Operation)> {
        let Loaded {
            resource, version, ..
        } = self.load_resource(caller, scope, id, Intent::Write).await?;
        let template = self
            .template_version(
                resource.kind,
                &resource.template_name,
                &resource.template_version,
            )
            .await?
            .ok_or_else(|| AppError::Internal("the resource's template is missing".into()))?;
        if !template.has_custom_action(action) {
            let known: Vec<&str> = template
                .custom_actions
                .iter()
                .map(|a| a.name.as_str())
                .collect();
            return Err(AppError::validation(format!(
                "template `{}` has no custom action `{action}` (it has: {})",
                template.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        if !resource.is_enabled {
            return Err(AppError::Conflict(format!(
                "`{id}` is disabled; enable it to run actions"
            )));
        }
        busy(&resource)?;
        self.change_with_action(caller, scope, resource, version, action)
            .await
    }

    async fn change_with_action(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource: Resource,
        version: u64,
        action: &str,
    ) -> AppResult<(Resource, Operation)> {
        let operation = self.new_operation(caller, scope, &resource, action);
        self.change_with_operation(caller, resource, version, operation, Vec::new(), &[])
            .await
    }

    /// Record `operation` on `resource` (with the writes of any resources it also acts on) in
    /// one transaction, then start its workflow.
    async fn change_with_operation(
        &self,
        caller: &Caller,
        resource: Resource,
        version: u64,
        operation: Operation,
        other_writes: Vec<WriteOp>,
        others: &[(Resource, crate::domain::Template)],
    ) -> AppResult<(Resource, Operation)> {
        let template = self
            .template_version(
                resource.kind,
                &resource.template_name,
                &resource.template_version,
            )
            .await?
            .ok_or_else(|| AppError::Internal("the resource's template is missing".into()))?;
        let mut updated = resource.clone();
        updated.deployment_status = if operation.steps.len() > 1 {
            DeploymentStatus::PipelineRunning
        } else {
            initial_status(&operation.action)
        };
        updated.updated_at = self.clock.now();
        updated.updated_by = caller.id().to_string();
        updated.updated_by_name = Some(caller.principal.name.clone());
        let mut ops = vec![
            self.resource_put(&updated, version)?,
            self.history_put(&resource, version)?,
        ];
        ops.extend(other_writes);
        ops.push(self.operation_put(&operation, Condition::Absent)?);
        self.commit_change(&resource, &ops).await?;
        updated.etag = etag_for_version(version + 1);
        let operation = self
            .start_operation(&updated, &template, operation, others)
            .await?;
        Ok((updated, operation))
    }

    pub(super) fn resource_put(&self, r: &Resource, version: u64) -> AppResult<WriteOp> {
        let parent = r
            .parent_service_id
            .as_deref()
            .or(r.workspace_id.as_deref())
            .unwrap_or("-");
        Ok(WriteOp::Put {
            key: keys::resource(&r.id),
            index: Some(keys::resource_index(
                r.kind,
                parent,
                &r.created_at.to_rfc3339(),
                &r.id,
            )),
            body: serde_json::to_value(r)?,
            condition: Condition::Version(version),
        })
    }

    pub(super) fn history_put(&self, previous: &Resource, version: u64) -> AppResult<WriteOp> {
        let mut snapshot = previous.clone();
        snapshot.etag = etag_for_version(version);
        Ok(WriteOp::Put {
            key: keys::resource_history(&previous.id, version),
            index: None,
            body: serde_json::to_value(&snapshot)?,
            condition: Condition::Absent,
        })
    }

    async fn commit_change(&self, resource: &Resource, ops: &[WriteOp]) -> AppResult<()> {
        match self.table.transact(ops).await {
            Ok(_) => Ok(()),
            Err(PortError::ConditionFailed(_)) => Err(stale(resource)),
            Err(e) => Err(e.into()),
        }
    }
}

/// One operation at a time per resource: two runners acting on the same resource at once
/// could leave it in any state.
fn busy(resource: &Resource) -> AppResult<()> {
    if resource.deployment_status.is_in_progress() {
        let status = serde_json::to_value(resource.deployment_status)?;
        return Err(AppError::Conflict(format!(
            "`{}` has an operation in progress ({}); wait for it to end",
            resource.id,
            status.as_str().unwrap_or("busy")
        )));
    }
    Ok(())
}

fn stale(resource: &Resource) -> AppError {
    AppError::PreconditionFailed(format!(
        "`{}` was changed by someone else since the etag you sent; GET it again and retry",
        resource.id
    ))
}

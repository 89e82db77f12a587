//! Changes to existing resources: update (PATCH), delete, custom actions.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::authz::Intent;
use super::cascade::Descendant;
use super::resources::{check_precondition, compile, invalid_parameters, Loaded, Precondition};
use super::templates::{current_key, upgrades_from_copy};
use super::{keys, App, AppError, AppResult, AuditEntry, Caller, PatchResource, ResourceScope};
use crate::domain::operation::{actions, initial_status};
use crate::domain::resource::etag_for_version;
use crate::domain::version::AvailableUpgrade;
use crate::domain::{DeploymentStatus, Operation, Resource, ResourceKind, Template};
use crate::ports::{Condition, Item, Key, PortError, WriteOp, MAX_GET_MANY};

/// The templates a change reads in one batch (its resource's, a version it moves to, those of
/// the resources it cascades to), with the copy of the resource's template's current version,
/// which lists the registered versions its `availableUpgrades` come from.
pub(super) struct Templates {
    found: HashMap<(ResourceKind, String, String), Template>,
    current_copy: Option<Item>,
}

impl Templates {
    pub(super) fn get(&self, kind: ResourceKind, name: &str, version: &str) -> Option<Template> {
        self.found
            .get(&(kind, name.to_string(), version.to_string()))
            .cloned()
    }
}

/// A resource changed: as it now is, with its operation and its template's newer versions.
pub type Changed = (Resource, Operation, Vec<AvailableUpgrade>);

impl App {
    pub async fn patch_resource(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        id: &str,
        precondition: Option<&Precondition>,
        req: PatchResource,
    ) -> AppResult<Changed> {
        // The secrets' key is known from the URL: read in the path's batch.
        let secrets_key = keys::resource_secrets(id);
        let (
            Loaded {
                resource,
                version,
                bindings,
                ..
            },
            mut extra,
        ) = self
            .load_resource_with(
                caller,
                scope,
                id,
                Intent::Write,
                std::slice::from_ref(&secrets_key),
            )
            .await?;
        let secrets_item = extra.pop().flatten();
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

        // Disabling a parent disables what is under it: found first, so that their templates
        // are read in the same batch as the resource's.
        let disabling = resource.is_enabled && req.is_enabled == Some(false);
        let under = if disabling {
            self.disable_targets(&resource).await?
        } else {
            Vec::new()
        };
        let mut wanted = vec![resource.template_version.clone()];
        wanted.extend(req.template_version.clone());
        let templates = self
            .read_templates(&resource, &wanted, &under, true)
            .await?;
        let template = match &req.template_version {
            Some(v) if *v != resource.template_version => templates
                .get(resource.kind, &resource.template_name, v)
                .ok_or_else(|| {
                    AppError::validation(format!(
                        "template `{}` has no version {v}",
                        resource.template_name
                    ))
                })?,
            _ => templates
                .get(
                    resource.kind,
                    &resource.template_name,
                    &resource.template_version,
                )
                .ok_or_else(|| AppError::Internal("the resource's template is missing".into()))?,
        };
        let schema = compile(&template)?;

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
        let (cascade_writes, others) = if disabling {
            self.cascade_disable(&resource, &mut operation, under, &templates)?
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
        ops.extend(self.new_operation_puts(&operation)?);
        let audit = AuditEntry::by(caller, format!("{}.update", resource.kind.as_str()))
            .on_resource(&resource)
            .detail("operation", operation.id.as_str())
            .detail("templateVersion", updated.template_version.as_str())
            .detail("isEnabled", updated.is_enabled);
        self.commit_change(&resource, &ops, &audit).await?;
        updated.etag = etag_for_version(version + 1);
        let operation = self
            .start_operation(&updated, &template, operation, &others, bindings)
            .await?;
        let upgrades = self.upgrades(&templates, &updated).await?;
        Ok((updated, operation, upgrades))
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
            resource,
            version,
            bindings,
            ..
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
        // Deleting a disabled parent deletes what is under it, in the same operation; every
        // template involved is read in one batch.
        let under = self.delete_targets(&resource).await?;
        let templates = self
            .read_templates(
                &resource,
                std::slice::from_ref(&resource.template_version),
                &under,
                false,
            )
            .await?;
        let mut operation = self.new_operation(caller, scope, &resource, actions::UNINSTALL);
        let (cascade_writes, others) =
            self.cascade_delete(&resource, &mut operation, under, &templates)?;
        let template = own_template(&templates, &resource)?;
        self.change_with_operation(
            caller,
            resource,
            version,
            template,
            operation,
            cascade_writes,
            &others,
            bindings,
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
    ) -> AppResult<Changed> {
        let Loaded {
            resource,
            version,
            bindings,
            ..
        } = self.load_resource(caller, scope, id, Intent::Write).await?;
        let templates = self
            .read_templates(
                &resource,
                std::slice::from_ref(&resource.template_version),
                &[],
                true,
            )
            .await?;
        let template = own_template(&templates, &resource)?;
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
        let operation = self.new_operation(caller, scope, &resource, action);
        let (updated, operation) = self
            .change_with_operation(
                caller,
                resource,
                version,
                template,
                operation,
                Vec::new(),
                &[],
                bindings,
            )
            .await?;
        let upgrades = self.upgrades(&templates, &updated).await?;
        Ok((updated, operation, upgrades))
    }

    /// One batch read of the templates a change needs: `versions` of `resource`'s template,
    /// each template of `under`, and (`with_current`) the copy of the current version of
    /// `resource`'s template. Keys are asked for once each, in batches of the most one read
    /// takes.
    pub(super) async fn read_templates(
        &self,
        resource: &Resource,
        versions: &[String],
        under: &[Descendant],
        with_current: bool,
    ) -> AppResult<Templates> {
        let mut wanted: Vec<(ResourceKind, String, String)> = versions
            .iter()
            .map(|v| (resource.kind, resource.template_name.clone(), v.clone()))
            .collect();
        wanted.extend(under.iter().map(|d| {
            let r = &d.resource;
            (r.kind, r.template_name.clone(), r.template_version.clone())
        }));
        let mut seen = std::collections::HashSet::with_capacity(wanted.len());
        wanted.retain(|w| seen.insert(w.clone()));
        let mut keys: Vec<Key> = wanted
            .iter()
            .map(|(kind, name, version)| keys::template(*kind, name, version))
            .collect();
        if with_current {
            keys.push(current_key(resource.kind, &resource.template_name));
        }
        let mut got = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_GET_MANY) {
            got.extend(self.table.get_many(chunk).await?);
        }
        let current_copy = if with_current {
            got.pop().flatten()
        } else {
            None
        };
        let mut found = HashMap::with_capacity(wanted.len());
        for (at, item) in wanted.into_iter().zip(got) {
            if let Some(item) = item {
                found.insert(at, serde_json::from_value(item.body)?);
            }
        }
        Ok(Templates {
            found,
            current_copy,
        })
    }

    /// `resource`'s `availableUpgrades`: from the current copy read in the change's batch, or,
    /// for a copy from before it listed the versions, by querying them.
    async fn upgrades(
        &self,
        templates: &Templates,
        resource: &Resource,
    ) -> AppResult<Vec<AvailableUpgrade>> {
        match upgrades_from_copy(templates.current_copy.as_ref(), &resource.template_version) {
            Some(upgrades) => Ok(upgrades),
            None => self.available_upgrades(resource).await,
        }
    }

    /// Record `operation` on `resource` (with the writes of any resources it also acts on) in
    /// one transaction, then start its workflow.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn change_with_operation(
        &self,
        caller: &Caller,
        resource: Resource,
        version: u64,
        template: Template,
        operation: Operation,
        other_writes: Vec<WriteOp>,
        others: &[(Resource, Template)],
        bindings: Option<(String, Value)>,
    ) -> AppResult<(Resource, Operation)> {
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
        ops.extend(self.new_operation_puts(&operation)?);
        let what = match operation.action.as_str() {
            actions::UNINSTALL => "delete".to_string(),
            actions::INSTALL => "install".to_string(),
            other => format!("action.{other}"),
        };
        let audit = AuditEntry::by(caller, format!("{}.{what}", resource.kind.as_str()))
            .on_resource(&resource)
            .detail("operation", operation.id.as_str());
        self.commit_change(&resource, &ops, &audit).await?;
        updated.etag = etag_for_version(version + 1);
        let operation = self
            .start_operation(&updated, &template, operation, others, bindings)
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

    async fn commit_change(
        &self,
        resource: &Resource,
        ops: &[WriteOp],
        audit: &AuditEntry,
    ) -> AppResult<()> {
        match self.transact_audited(ops, audit).await {
            Ok(_) => Ok(()),
            Err(PortError::ConditionFailed(_)) => Err(stale(resource)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The template of the version `resource` is at, from a change's batch.
fn own_template(templates: &Templates, resource: &Resource) -> AppResult<Template> {
    templates
        .get(
            resource.kind,
            &resource.template_name,
            &resource.template_version,
        )
        .ok_or_else(|| AppError::Internal("the resource's template is missing".into()))
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

//! Rules between a resource and the resources under it: disabling a workspace (or a service)
//! disables everything under it in one pipeline operation, and deleting a disabled parent
//! deletes everything under it (all of which must be disabled) in one pipeline operation.

use super::changes::Templates;
use super::resources::decode_resource;
use super::{keys, App, AppError, AppResult};
use crate::domain::operation::{actions, initial_status};
use crate::domain::{DeploymentStatus, Operation, OperationStep, Resource, ResourceKind, Template};
use crate::ports::{Query, WriteOp, INDEX_GSI1};

/// What a cascade adds to a change: the writes that move the resources under the parent, and
/// each of them (as changed) with its template, for the workflow's steps.
pub(super) type Cascaded = (Vec<WriteOp>, Vec<(Resource, Template)>);

/// A resource under another, with the version it was read at.
pub(super) struct Descendant {
    pub resource: Resource,
    pub version: u64,
}

impl App {
    /// The resources directly under `parent` that are not deleted.
    async fn children(&self, parent: &Resource) -> AppResult<Vec<Descendant>> {
        let kind = match parent.kind {
            ResourceKind::Workspace => ResourceKind::WorkspaceService,
            ResourceKind::WorkspaceService => ResourceKind::UserResource,
            _ => return Ok(Vec::new()),
        };
        let items = self
            .query_all(Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::resource_list_pk(kind, &parent.id),
                ..Default::default()
            })
            .await?;
        let mut out = Vec::new();
        for item in items {
            let resource = decode_resource(&item)?;
            if resource.deployment_status != DeploymentStatus::Deleted {
                out.push(Descendant {
                    resource,
                    version: item.version,
                });
            }
        }
        Ok(out)
    }

    /// Everything under `parent`, deepest first (user resources before their service).
    pub(super) async fn descendants(&self, parent: &Resource) -> AppResult<Vec<Descendant>> {
        let mut out = Vec::new();
        for child in self.children(parent).await? {
            out.extend(Box::pin(self.descendants(&child.resource)).await?);
            out.push(child);
        }
        Ok(out)
    }

    /// What the deletion of a disabled `parent` deletes with it: everything under it, every one
    /// of which must be disabled already, so a single call cannot remove something in use.
    pub(super) async fn delete_targets(&self, parent: &Resource) -> AppResult<Vec<Descendant>> {
        let descendants = self.descendants(parent).await?;
        if let Some(enabled) = descendants.iter().find(|d| d.resource.is_enabled) {
            return Err(AppError::Conflict(format!(
                "`{}` under `{}` is enabled: disable `{}` (PATCH isEnabled=false disables what is under it) before deleting it",
                enabled.resource.id, parent.id, parent.id
            )));
        }
        Ok(descendants)
    }

    /// What a change that disables `parent` disables with it: every enabled resource under it.
    pub(super) async fn disable_targets(&self, parent: &Resource) -> AppResult<Vec<Descendant>> {
        Ok(self
            .descendants(parent)
            .await?
            .into_iter()
            .filter(|d| d.resource.is_enabled)
            .collect())
    }

    /// For the deletion of a disabled `parent`: delete `under` (its [`Self::delete_targets`])
    /// too, each by an uninstall step that runs before the parent's own (deepest first), as
    /// Azure TRE does.
    pub(super) fn cascade_delete(
        &self,
        parent: &Resource,
        op: &mut Operation,
        under: Vec<Descendant>,
        templates: &Templates,
    ) -> AppResult<Cascaded> {
        self.cascade(
            parent,
            op,
            under,
            templates,
            actions::UNINSTALL,
            "delete",
            |_| {},
        )
    }

    /// For a change that disables `parent`: disable `under` (its [`Self::disable_targets`])
    /// too, each by an upgrade step that runs before the parent's own (the operation becomes a
    /// pipeline). Returns the writes that disable them and their (resource, template) for the
    /// workflow.
    pub(super) fn cascade_disable(
        &self,
        parent: &Resource,
        op: &mut Operation,
        under: Vec<Descendant>,
        templates: &Templates,
    ) -> AppResult<Cascaded> {
        self.cascade(
            parent,
            op,
            under,
            templates,
            actions::UPGRADE,
            "disable",
            |r| {
                r.is_enabled = false;
                r.resource_version += 1;
            },
        )
    }

    /// Put one `action` step per resource of `under` (in their order) before `op`'s own steps,
    /// with the writes that move each resource to the action's first status after `change`.
    /// Their templates come from `templates`, read beforehand in the change's one batch.
    #[allow(clippy::too_many_arguments)]
    fn cascade(
        &self,
        parent: &Resource,
        op: &mut Operation,
        under: Vec<Descendant>,
        templates: &Templates,
        action: &str,
        step_prefix: &str,
        change: impl Fn(&mut Resource),
    ) -> AppResult<Cascaded> {
        let mut writes = Vec::new();
        let mut targets = Vec::new();
        let mut steps = Vec::new();
        let now = self.clock.now();
        for d in under {
            let child = d.resource;
            if child.deployment_status.is_in_progress() {
                return Err(AppError::Conflict(format!(
                    "`{}` under `{}` has an operation in progress ({}); wait for it to end",
                    child.id,
                    parent.id,
                    serde_json::to_value(child.deployment_status)?
                        .as_str()
                        .unwrap_or("busy")
                )));
            }
            let template = templates
                .get(child.kind, &child.template_name, &child.template_version)
                .ok_or_else(|| {
                    AppError::Internal(format!("the template of `{}` is missing", child.id))
                })?;
            let mut changed = child.clone();
            change(&mut changed);
            changed.deployment_status = initial_status(action);
            changed.updated_at = now;
            changed.updated_by = op.created_by.clone();
            changed.updated_by_name = op.created_by_name.clone();
            writes.push(self.resource_put(&changed, d.version)?);
            writes.push(self.history_put(&child, d.version)?);
            steps.push(OperationStep {
                id: format!("{step_prefix}-{}", child.id),
                resource_id: child.id.clone(),
                template_name: child.template_name.clone(),
                resource_kind: Some(child.kind),
                action: action.to_string(),
                status: initial_status(action),
                message: String::new(),
                sequence: 0,
                updated_at: now,
            });
            targets.push((changed, template));
        }
        if !steps.is_empty() {
            steps.append(&mut op.steps);
            op.steps = steps;
            op.status = DeploymentStatus::PipelineRunning;
        }
        Ok((writes, targets))
    }
}

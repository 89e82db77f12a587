//! Reading operations.

use super::authz::Intent;
use super::{keys, App, AppError, AppResult, Caller, ResourceScope};
use crate::domain::Operation;
use crate::ports::{Query, INDEX_GSI1};

impl App {
    /// A resource's operations, newest first.
    pub async fn list_operations(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource_id: &str,
    ) -> AppResult<Vec<Operation>> {
        self.load_resource(caller, scope, resource_id, Intent::Read)
            .await?;
        self.query_all(Query {
            index: Some(INDEX_GSI1.into()),
            pk: keys::operations_index_pk(resource_id),
            descending: true,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| Ok(serde_json::from_value(i.body)?))
        .collect()
    }

    pub async fn get_operation(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource_id: &str,
        operation_id: &str,
    ) -> AppResult<Operation> {
        self.load_resource(caller, scope, resource_id, Intent::Read)
            .await?;
        let item = self
            .table
            .get(&keys::operation(resource_id, operation_id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation `{operation_id}` not found")))?;
        Ok(serde_json::from_value(item.body)?)
    }
}

impl App {
    /// The caller's own operations that have not ended, oldest first, on every resource they
    /// may still see (Azure TRE's `GET /api/operations`, which its UI polls for notifications).
    /// Only resources with an operation in flight are read beyond the listing.
    pub async fn my_operations(&self, caller: &Caller) -> AppResult<Vec<Operation>> {
        caller.require_user()?;
        let mut busy = Vec::new();
        let mut scopes = vec![ResourceScope::Workspaces];
        if caller.is_admin() {
            scopes.push(ResourceScope::SharedServices);
        }
        while let Some(scope) = scopes.pop() {
            for r in self.list_resources(caller, &scope).await? {
                match scope {
                    ResourceScope::Workspaces => scopes.push(ResourceScope::WorkspaceServices {
                        workspace_id: r.id.clone(),
                    }),
                    ResourceScope::WorkspaceServices { ref workspace_id } => {
                        scopes.push(ResourceScope::UserResources {
                            workspace_id: workspace_id.clone(),
                            service_id: r.id.clone(),
                        })
                    }
                    _ => {}
                }
                if r.deployment_status.is_in_progress() {
                    busy.push(r.id);
                }
            }
        }
        let mut out = Vec::new();
        for id in busy {
            for item in self
                .query_all(Query {
                    index: Some(INDEX_GSI1.into()),
                    pk: keys::operations_index_pk(&id),
                    ..Default::default()
                })
                .await?
            {
                let op: Operation = serde_json::from_value(item.body)?;
                if op.created_by == caller.id() && op.status.is_in_progress() {
                    out.push(op);
                }
            }
        }
        out.sort_by_key(|o| o.created_at);
        Ok(out)
    }

    /// Newer registered versions of a resource's template (Azure TRE's `availableUpgrades`).
    pub async fn available_upgrades(
        &self,
        resource: &crate::domain::Resource,
    ) -> AppResult<Vec<crate::domain::version::AvailableUpgrade>> {
        let items = self
            .template_versions_items(resource.kind, &resource.template_name)
            .await?;
        let mut versions = Vec::with_capacity(items.len());
        for item in items {
            let t: crate::domain::Template = serde_json::from_value(item.body)?;
            versions.push(t.version);
        }
        Ok(crate::domain::version::available_upgrades(
            &resource.template_version,
            versions.iter().map(String::as_str),
        ))
    }
}

//! Reading operations.

use super::authz::Intent;
use super::paging::{page_of_computed, PageRequest, Paged, Walk};
use super::{keys, App, AppError, AppResult, Caller, ResourceScope};
use crate::domain::Operation;
use crate::ports::{Query, INDEX_GSI1};

impl App {
    /// A page of a resource's operations, newest first.
    pub async fn list_operations(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource_id: &str,
        page: &PageRequest,
    ) -> AppResult<Paged<Operation>> {
        self.load_resource(caller, scope, resource_id, Intent::Read)
            .await?;
        let mut walk = Walk::new(
            Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::operations_index_pk(resource_id),
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

    pub async fn get_operation(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource_id: &str,
        operation_id: &str,
    ) -> AppResult<Operation> {
        // The operation's key is in the URL: read it with the path, answer it only after the
        // checks.
        let (_, mut extra) = self
            .load_resource_with(
                caller,
                scope,
                resource_id,
                Intent::Read,
                &[keys::operation(resource_id, operation_id)],
            )
            .await?;
        let item = extra
            .pop()
            .flatten()
            .ok_or_else(|| AppError::NotFound(format!("operation `{operation_id}` not found")))?;
        Ok(serde_json::from_value(item.body)?)
    }
}

impl App {
    /// The caller's own operations that have not ended, oldest first, on every resource they
    /// may still see (Azure TRE's `GET /api/operations`, which its UI polls for notifications).
    /// Only resources with an operation in flight are read beyond the listing. The list is
    /// computed whole (there is no index of operations by creator) and served in pages.
    pub async fn my_operations(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<Operation>> {
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
        Ok(page_of_computed(
            out,
            |o| vec![o.created_at.to_rfc3339(), o.id.clone()],
            page,
        ))
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

//! Reading operations.

use super::authz::Intent;
use serde_json::Value;

use super::paging::{PageRequest, Paged, Walk};
use super::{keys, App, AppError, AppResult, Caller, ResourceScope};
use crate::domain::{Operation, WorkspaceRole};
use crate::ports::{Key, Query, INDEX_GSI1, MAX_GET_MANY};

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
    /// The caller's own operations that have not ended, oldest first, on resources they may
    /// still see (Azure TRE's `GET /api/operations`, which its UI polls for notifications).
    /// Read from the index of each creator's unfinished operations, a page at a time: one query,
    /// then one batch of the operations with the caller's roles in their workspaces.
    pub async fn my_operations(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<Operation>> {
        caller.require_user()?;
        let mut walk = Walk::new(
            Query {
                pk: keys::open_operations_pk(caller.id()),
                ..Default::default()
            },
            page,
        );
        let mut roles = WorkspaceRole::ALL;
        roles.sort_by_key(|r| r.as_str());
        while let Some(items) = walk.read(&*self.table).await? {
            // The operations and, for each workspace they sit in, the caller's role items.
            let mut wanted: Vec<Key> = Vec::with_capacity(items.len() * 2);
            let mut workspaces: Vec<String> = Vec::new();
            for item in &items {
                let text = |k: &str| item.body.get(k).and_then(Value::as_str).unwrap_or_default();
                wanted.push(keys::operation(text("resourceId"), text("operationId")));
                if let Some(ws) = workspace_of(text("resourcePath")) {
                    if !workspaces.iter().any(|w| w == ws) {
                        workspaces.push(ws.to_string());
                    }
                }
            }
            let ops_end = wanted.len();
            for ws in &workspaces {
                wanted.extend(
                    roles
                        .iter()
                        .map(|r| keys::role(ws, caller.id(), r.as_str())),
                );
            }
            // A page may need more keys than one batch takes.
            let mut got = Vec::with_capacity(wanted.len());
            for chunk in wanted.chunks(MAX_GET_MANY) {
                got.extend(self.table.get_many(chunk).await?);
            }
            let visible: Vec<&String> = workspaces
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    let from = ops_end + i * roles.len();
                    got[from..from + roles.len()].iter().any(Option::is_some)
                })
                .map(|(_, ws)| ws)
                .collect();
            for (item, op) in items.iter().zip(got.iter().take(ops_end)) {
                if !walk.fresh(item) {
                    continue;
                }
                let Some(op) = op else { continue };
                let op: Operation = serde_json::from_value(op.body.clone())?;
                let may_see = match workspace_of(&op.resource_path) {
                    Some(ws) => caller.is_admin() || visible.iter().any(|v| v.as_str() == ws),
                    None => caller.principal.is_user(),
                };
                if op.status.is_in_progress() && may_see && walk.push(op) {
                    break;
                }
            }
        }
        Ok(walk.finish())
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

/// The workspace a resource path is under (`.../workspaces/{id}/...`), if any.
fn workspace_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/');
    while let Some(s) = segments.next() {
        if s == "workspaces" {
            return segments.next().filter(|id| !id.is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::workspace_of;

    #[test]
    fn the_workspace_of_a_resource_path() {
        assert_eq!(workspace_of("/api/workspaces/w1"), Some("w1"));
        assert_eq!(
            workspace_of("/workspaces/w1/workspace-services/s/user-resources/u"),
            Some("w1")
        );
        assert_eq!(workspace_of("/api/shared-services/x"), None);
        assert_eq!(workspace_of("/api/workspaces/"), None);
    }
}

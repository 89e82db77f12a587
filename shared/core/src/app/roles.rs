//! Workspace role assignments: who may do what inside a workspace.

use serde::Deserialize;
use utoipa::ToSchema;

use super::authz::Intent;
use super::{keys, App, AppError, AppResult, Caller, ResourceScope};
use crate::domain::{RoleAssignment, WorkspaceRole};
use crate::ports::{Condition, PortError, Query, WriteOp};

/// Body of `POST /api/workspaces/{id}/role-assignments`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRole {
    /// Subject id (`sub`) of the principal.
    pub principal_id: String,
    pub role: WorkspaceRole,
}

impl App {
    /// Only TRE admins and the workspace's owners manage its role assignments.
    async fn check_manage_roles(&self, caller: &Caller, workspace_id: &str) -> AppResult<()> {
        let loaded = self
            .load_resource(
                caller,
                &ResourceScope::Workspaces,
                workspace_id,
                Intent::Read,
            )
            .await?;
        if caller.is_admin() || loaded.roles.contains(&WorkspaceRole::WorkspaceOwner) {
            return Ok(());
        }
        Err(AppError::Forbidden(
            "only a TREAdmin or the workspace's owner manages its role assignments".into(),
        ))
    }

    pub async fn list_role_assignments(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> AppResult<Vec<RoleAssignment>> {
        self.check_manage_roles(caller, workspace_id).await?;
        self.query_all(Query {
            pk: keys::roles_pk(workspace_id),
            sk_prefix: Some(keys::ROLE_PREFIX.into()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| Ok(serde_json::from_value(i.body)?))
        .collect()
    }

    pub async fn assign_role(
        &self,
        caller: &Caller,
        workspace_id: &str,
        req: AssignRole,
    ) -> AppResult<RoleAssignment> {
        self.check_manage_roles(caller, workspace_id).await?;
        let principal = req.principal_id.trim();
        if principal.is_empty() || principal.len() > 256 || principal.contains('#') {
            return Err(AppError::validation(
                "principalId must be 1-256 characters and must not contain `#`",
            ));
        }
        let assignment = RoleAssignment {
            workspace_id: workspace_id.to_string(),
            principal_id: principal.to_string(),
            role: req.role,
            assigned_by: caller.id().to_string(),
            assigned_at: self.clock.now(),
        };
        let role = req.role.as_str();
        let put = WriteOp::Put {
            key: keys::role(workspace_id, principal, role),
            index: Some(keys::role_index(principal, workspace_id, role)),
            body: serde_json::to_value(&assignment)?,
            condition: Condition::Absent,
        };
        match self.table.transact(&[put]).await {
            Ok(_) => Ok(assignment),
            Err(PortError::ConditionFailed(_)) => Err(AppError::Conflict(format!(
                "`{principal}` already holds {role} in workspace `{workspace_id}`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_role(
        &self,
        caller: &Caller,
        workspace_id: &str,
        principal_id: &str,
        role: WorkspaceRole,
    ) -> AppResult<()> {
        self.check_manage_roles(caller, workspace_id).await?;
        match self
            .table
            .delete(
                &keys::role(workspace_id, principal_id, role.as_str()),
                Condition::Exists,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(PortError::ConditionFailed(_)) => Err(AppError::NotFound(format!(
                "`{principal_id}` does not hold {} in workspace `{workspace_id}`",
                role.as_str()
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

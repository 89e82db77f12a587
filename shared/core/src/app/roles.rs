//! Workspace role assignments: who may do what inside a workspace.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::authz::Intent;
use super::paging::{PageRequest, Paged, Walk};
use super::{keys, App, AppError, AppResult, AuditEntry, Caller, ResourceScope};
use crate::domain::{RoleAssignment, TreRole, WorkspaceRole};
use crate::ports::{Condition, Item, PortError, Query, WriteOp};

/// Body of `POST /api/workspaces/{id}/role-assignments`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRole {
    /// Subject id (`sub`) of the principal.
    pub principal_id: String,
    pub role: WorkspaceRole,
}

/// Body of `GET /api/me`: who the caller is and which roles they hold, so a client (the
/// console) shows only what applies to them. It changes no rule: every call is still checked.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// Subject id (`sub`).
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub tre_roles: Vec<TreRole>,
    /// One entry per workspace where the caller holds a role, sorted by workspace id.
    pub workspace_roles: Vec<WorkspaceRoles>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRoles {
    pub workspace_id: String,
    pub roles: Vec<WorkspaceRole>,
}

impl App {
    pub async fn whoami(&self, caller: &Caller) -> AppResult<Me> {
        caller.require_user()?;
        // Signing in (the console asks this first) is when the TRE learns a person's address.
        self.remember_principal(&caller.principal).await;
        let mut workspace_roles: Vec<WorkspaceRoles> = Vec::new();
        for (ws, role) in self.principal_roles(caller.id()).await? {
            match workspace_roles.last_mut() {
                Some(last) if last.workspace_id == ws => last.roles.push(role),
                _ => workspace_roles.push(WorkspaceRoles {
                    workspace_id: ws,
                    roles: vec![role],
                }),
            }
        }
        let p = &caller.principal;
        Ok(Me {
            id: p.id.clone(),
            name: p.name.clone(),
            email: p.email.clone(),
            tre_roles: p.roles.clone(),
            workspace_roles,
        })
    }

    /// Every (workspace, role) a principal holds, sorted, from the principal's role index.
    async fn principal_roles(&self, principal: &str) -> AppResult<Vec<(String, WorkspaceRole)>> {
        let items = self
            .query_all(Query {
                index: Some(crate::ports::INDEX_GSI1.into()),
                pk: keys::principal_roles_pk(principal),
                ..Default::default()
            })
            .await?;
        let mut out: Vec<(String, WorkspaceRole)> = items
            .iter()
            .filter_map(|i| {
                let ws = i.body.get("workspaceId").and_then(Value::as_str)?;
                let role = serde_json::from_value(i.body.get("role")?.clone()).ok()?;
                Some((ws.to_string(), role))
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The workspaces where a principal holds a role.
    pub(crate) async fn workspaces_where(
        &self,
        principal: &str,
        role: WorkspaceRole,
    ) -> AppResult<Vec<String>> {
        Ok(self
            .principal_roles(principal)
            .await?
            .into_iter()
            .filter(|(_, r)| *r == role)
            .map(|(ws, _)| ws)
            .collect())
    }

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

    /// A page of a workspace's role assignments, by principal then role.
    pub async fn list_role_assignments(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: &PageRequest,
    ) -> AppResult<Paged<RoleAssignment>> {
        self.check_manage_roles(caller, workspace_id).await?;
        let mut walk = Walk::new(
            Query {
                pk: keys::roles_pk(workspace_id),
                sk_prefix: Some(keys::ROLE_PREFIX.into()),
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

    /// A page of the principals holding roles in a workspace (by id), each with all of its
    /// assignments there: a page never splits one principal's roles.
    pub async fn workspace_principals(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: &PageRequest,
    ) -> AppResult<Paged<(String, Vec<RoleAssignment>)>> {
        // `ROLE#<principal>#<role>`: one position per principal.
        fn principal_position(_: &Query, item: &Item) -> Vec<String> {
            let sk = item.key.sk.as_str();
            vec![sk.rsplit_once('#').map_or(sk, |(p, _)| p).to_string()]
        }
        self.check_manage_roles(caller, workspace_id).await?;
        let mut walk = Walk::with_position(
            Query {
                pk: keys::roles_pk(workspace_id),
                sk_prefix: Some(keys::ROLE_PREFIX.into()),
                ..Default::default()
            },
            page,
            principal_position,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                let Some(principal) = item.body.get("principalId").and_then(Value::as_str) else {
                    continue;
                };
                // At most one item per role: a principal's assignments are one short query.
                let roles = self
                    .table
                    .query(&Query {
                        pk: keys::roles_pk(workspace_id),
                        sk_prefix: Some(format!("{}{principal}#", keys::ROLE_PREFIX)),
                        ..Default::default()
                    })
                    .await?
                    .items
                    .into_iter()
                    .map(|i| Ok(serde_json::from_value(i.body)?))
                    .collect::<AppResult<Vec<RoleAssignment>>>()?;
                if !roles.is_empty() && walk.push((principal.to_string(), roles)) {
                    break;
                }
            }
        }
        Ok(walk.finish())
    }

    pub async fn assign_role(
        &self,
        caller: &Caller,
        workspace_id: &str,
        req: AssignRole,
    ) -> AppResult<RoleAssignment> {
        self.check_manage_roles(caller, workspace_id).await?;
        let principal = checked_principal(&req.principal_id)?;
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
        let audit = AuditEntry::by(caller, "role.assign")
            .workspace(Some(workspace_id))
            .resource(workspace_id)
            .detail("principalId", principal)
            .detail("role", role);
        match self.transact_audited(&[put], &audit).await {
            Ok(_) => Ok(assignment),
            Err(PortError::ConditionFailed(_)) => Err(AppError::Conflict(format!(
                "`{principal}` already holds {role} in workspace `{workspace_id}`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The roles that can be given in a workspace (who may manage them may ask).
    pub async fn assignable_roles(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> AppResult<Vec<WorkspaceRole>> {
        self.check_manage_roles(caller, workspace_id).await?;
        Ok(WorkspaceRole::ALL.to_vec())
    }

    /// Give one role to several principals at once (all or none). Principals who already hold
    /// it are left as they are: the outcome asked for is the same.
    pub async fn assign_role_to_all(
        &self,
        caller: &Caller,
        workspace_id: &str,
        role: WorkspaceRole,
        principals: &[String],
    ) -> AppResult<Vec<RoleAssignment>> {
        self.check_manage_roles(caller, workspace_id).await?;
        // One transaction: the store takes at most 25 writes.
        if principals.is_empty() || principals.len() > 25 {
            return Err(AppError::validation(
                "give between 1 and 25 principal ids at a time",
            ));
        }
        let mut ops = Vec::new();
        let mut assigned = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for p in principals {
            let principal = checked_principal(p)?;
            if !seen.insert(principal) {
                continue;
            }
            let key = keys::role(workspace_id, principal, role.as_str());
            if self.table.get(&key).await?.is_some() {
                continue;
            }
            let assignment = RoleAssignment {
                workspace_id: workspace_id.to_string(),
                principal_id: principal.to_string(),
                role,
                assigned_by: caller.id().to_string(),
                assigned_at: self.clock.now(),
            };
            ops.push(WriteOp::Put {
                key,
                index: Some(keys::role_index(principal, workspace_id, role.as_str())),
                body: serde_json::to_value(&assignment)?,
                condition: Condition::Absent,
            });
            assigned.push(assignment);
        }
        if ops.is_empty() {
            return Ok(assigned);
        }
        let audit = AuditEntry::by(caller, "role.assign")
            .workspace(Some(workspace_id))
            .resource(workspace_id)
            .detail(
                "principalIds",
                assigned
                    .iter()
                    .map(|a| Value::String(a.principal_id.clone()))
                    .collect::<Vec<_>>(),
            )
            .detail("role", role.as_str());
        match self.transact_audited(&ops, &audit).await {
            Ok(_) => Ok(assigned),
            Err(PortError::ConditionFailed(_)) => Err(AppError::Conflict(
                "the workspace's role assignments changed meanwhile; retry".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Principals the TRE knows that could be given a role here. There is no directory: they
    /// are the caller and whoever holds a role in a workspace the caller manages (every
    /// workspace, for a TREAdmin), whose id contains `filter` (ignoring case), at most `max`.
    pub async fn known_principals(
        &self,
        caller: &Caller,
        workspace_id: &str,
        filter: &str,
        max: usize,
    ) -> AppResult<Vec<String>> {
        self.check_manage_roles(caller, workspace_id).await?;
        let workspaces: Vec<String> = if caller.is_admin() {
            self.list_resources(caller, &ResourceScope::Workspaces)
                .await?
                .into_iter()
                .map(|w| w.id)
                .collect()
        } else {
            self.workspaces_where(caller.id(), WorkspaceRole::WorkspaceOwner)
                .await?
        };
        let mut found = std::collections::BTreeSet::new();
        found.insert(caller.id().to_string());
        for ws in workspaces {
            let items = self
                .query_all(Query {
                    pk: keys::roles_pk(&ws),
                    sk_prefix: Some(keys::ROLE_PREFIX.into()),
                    ..Default::default()
                })
                .await?;
            for i in items {
                if let Some(p) = i.body.get("principalId").and_then(Value::as_str) {
                    found.insert(p.to_string());
                }
            }
        }
        let needle = filter.to_lowercase();
        Ok(found
            .into_iter()
            .filter(|p| p.to_lowercase().contains(&needle))
            .take(max)
            .collect())
    }

    pub async fn remove_role(
        &self,
        caller: &Caller,
        workspace_id: &str,
        principal_id: &str,
        role: WorkspaceRole,
    ) -> AppResult<()> {
        self.check_manage_roles(caller, workspace_id).await?;
        let audit = AuditEntry::by(caller, "role.remove")
            .workspace(Some(workspace_id))
            .resource(workspace_id)
            .detail("principalId", principal_id)
            .detail("role", role.as_str());
        let delete = WriteOp::Delete {
            key: keys::role(workspace_id, principal_id, role.as_str()),
            condition: Condition::Exists,
        };
        match self.transact_audited(&[delete], &audit).await {
            Ok(_) => Ok(()),
            Err(PortError::ConditionFailed(_)) => Err(AppError::NotFound(format!(
                "`{principal_id}` does not hold {} in workspace `{workspace_id}`",
                role.as_str()
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

/// A principal id as keys hold it: trimmed, 1-256 characters, no `#` (the key separator).
fn checked_principal(id: &str) -> AppResult<&str> {
    let principal = id.trim();
    if principal.is_empty() || principal.len() > 256 || principal.contains('#') {
        return Err(AppError::validation(
            "principalId must be 1-256 characters and must not contain `#`",
        ));
    }
    Ok(principal)
}

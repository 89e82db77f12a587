//! A workspace's people and roles as Azure TRE's clients read them. There is no directory
//! behind them here: a user is a principal (token subject) holding role assignments, known by
//! its id; only the caller's own name and email are known (from their token).

use serde::{Deserialize, Serialize};
use tre_core::domain::{Principal, WorkspaceRole};
use utoipa::ToSchema;

/// A role of a workspace. Its `id` is the role's name (Azure TRE: the app role's GUID).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub id: String,
    pub display_name: String,
}

impl From<WorkspaceRole> for Role {
    fn from(r: WorkspaceRole) -> Self {
        Self {
            id: r.as_str().into(),
            display_name: r.display_name().into(),
        }
    }
}

/// A principal that may be given a role.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignableUser {
    /// The subject id (`sub`).
    pub id: String,
    /// The caller's name from their token; for anyone else the id.
    pub display_name: String,
    /// The subject id (there is no directory to give another).
    pub user_principal_name: String,
    /// The caller's email from their token; empty for anyone else.
    pub email: String,
}

impl AssignableUser {
    /// What is known of `id`: only the caller is known beyond the id.
    pub fn new(id: &str, caller: &Principal) -> Self {
        let me = caller.id == id;
        Self {
            id: id.into(),
            display_name: if me && !caller.name.is_empty() {
                caller.name.clone()
            } else {
                id.into()
            },
            user_principal_name: id.into(),
            email: if me {
                caller.email.clone().unwrap_or_default()
            } else {
                String::new()
            },
        }
    }
}

/// A principal holding roles in the workspace.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceUser {
    pub id: String,
    pub display_name: String,
    pub user_principal_name: String,
    pub email: String,
    pub roles: Vec<Role>,
}

/// Body of `POST /api/workspaces/{id}/users/assign`, and the answer of it and of `DELETE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersAssignment {
    /// Subject ids (1 to 25).
    pub user_ids: Vec<String>,
    /// A role's id: `WorkspaceOwner`, `WorkspaceResearcher` or `AirlockManager`.
    pub role_id: String,
}

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Roles a principal holds inside one workspace (kept in the store, managed through the API).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum WorkspaceRole {
    WorkspaceOwner,
    WorkspaceResearcher,
    AirlockManager,
}

impl WorkspaceRole {
    pub const ALL: [WorkspaceRole; 3] = [
        Self::WorkspaceOwner,
        Self::WorkspaceResearcher,
        Self::AirlockManager,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// How people read the role's name.
    pub fn display_name(&self) -> &'static str {
        match self {
            Self::WorkspaceOwner => "Workspace Owner",
            Self::WorkspaceResearcher => "Workspace Researcher",
            Self::AirlockManager => "Airlock Manager",
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::WorkspaceOwner => "WorkspaceOwner",
            Self::WorkspaceResearcher => "WorkspaceResearcher",
            Self::AirlockManager => "AirlockManager",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub workspace_id: String,
    /// The principal's subject id (`sub`).
    pub principal_id: String,
    pub role: WorkspaceRole,
    pub assigned_by: String,
    pub assigned_at: chrono::DateTime<chrono::Utc>,
}

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::resource::{DeploymentStatus, ResourceKind};

/// Operation status: the same vocabulary as the resource's deployment status.
pub type OperationStatus = DeploymentStatus;

/// One step of an operation: one bundle action run on one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStep {
    pub id: String,
    pub resource_id: String,
    pub template_name: String,
    pub action: String,
    pub status: OperationStatus,
    #[serde(default)]
    pub message: String,
    pub updated_at: DateTime<Utc>,
}

/// A change to a resource (install, upgrade, uninstall or a custom action) and its progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: String,
    pub resource_id: String,
    pub resource_kind: ResourceKind,
    /// API path of the resource (e.g. `/api/workspaces/{id}`).
    pub resource_path: String,
    pub action: String,
    pub status: OperationStatus,
    #[serde(default)]
    pub message: String,
    pub steps: Vec<OperationStep>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The standard bundle actions (custom actions use their own names).
pub mod actions {
    pub const INSTALL: &str = "install";
    pub const UPGRADE: &str = "upgrade";
    pub const UNINSTALL: &str = "uninstall";
}

/// The status an operation (and its resource) starts in, by action.
pub fn initial_status(action: &str) -> OperationStatus {
    match action {
        actions::INSTALL => DeploymentStatus::AwaitingDeployment,
        actions::UPGRADE => DeploymentStatus::AwaitingUpdate,
        actions::UNINSTALL => DeploymentStatus::AwaitingDeletion,
        _ => DeploymentStatus::AwaitingAction,
    }
}

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
    /// The kind of the step's resource (absent in older items: the operation's own kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_kind: Option<ResourceKind>,
    pub action: String,
    pub status: OperationStatus,
    #[serde(default)]
    pub message: String,
    /// Highest status-message sequence applied to this step; older or repeated messages are
    /// ignored, so duplicates and reordering cannot move a step backwards.
    #[serde(default)]
    pub sequence: u64,
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
    /// Display name of `created_by` at the time (absent in older items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_name: Option<String>,
    /// The `resourceVersion` the operation brings its resource to.
    #[serde(default)]
    pub resource_version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Listed among its creator's unfinished operations (an index item written with it and
    /// removed when it ends); false for operations from before that index.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schema(ignore)]
    pub listed_open: bool,
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

/// The status a step (and its resource) reaches, by action and runner outcome.
pub fn step_status(action: &str, outcome: StepOutcome) -> OperationStatus {
    use DeploymentStatus as D;
    match (action, outcome) {
        (actions::INSTALL, StepOutcome::Running) => D::Deploying,
        (actions::INSTALL, StepOutcome::Succeeded) => D::Deployed,
        (actions::INSTALL, StepOutcome::Failed) => D::DeploymentFailed,
        (actions::UPGRADE, StepOutcome::Running) => D::Updating,
        (actions::UPGRADE, StepOutcome::Succeeded) => D::Updated,
        (actions::UPGRADE, StepOutcome::Failed) => D::UpdatingFailed,
        (actions::UNINSTALL, StepOutcome::Running) => D::Deleting,
        (actions::UNINSTALL, StepOutcome::Succeeded) => D::Deleted,
        (actions::UNINSTALL, StepOutcome::Failed) => D::DeletingFailed,
        (_, StepOutcome::Running) => D::InvokingAction,
        (_, StepOutcome::Succeeded) => D::ActionSucceeded,
        (_, StepOutcome::Failed) => D::ActionFailed,
    }
}

/// What a runner reports about one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Running,
    Succeeded,
    Failed,
}

impl DeploymentStatus {
    /// Final: no later message changes a step in this status unless it is newer.
    pub fn is_final(&self) -> bool {
        !self.is_in_progress()
    }
}

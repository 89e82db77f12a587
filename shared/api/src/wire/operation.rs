//! Operations on the wire: Azure TRE's `Operation` and `OperationStep` models
//! (api_app/models/domain/operation.py).

use serde::Serialize;
use tre_core::domain::{DeploymentStatus, Operation as Domain, OperationStep};
use utoipa::ToSchema;

use super::resource::ResourceType;
use super::{client_path, when, User};

/// A change to a resource (install, upgrade, uninstall or a custom action) and its progress.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: String,
    pub resource_id: String,
    /// Path of the resource below `/api`.
    pub resource_path: String,
    /// The `resourceVersion` the operation brings its resource to.
    pub resource_version: u64,
    pub resource_type: ResourceType,
    pub status: DeploymentStatus,
    /// `install`, `upgrade`, `uninstall` or a custom action's name.
    pub action: String,
    pub message: String,
    pub created_when: f64,
    pub updated_when: f64,
    /// Who asked for it.
    pub user: User,
    /// The bundle actions it runs, in order (one `main` step, or a pipeline).
    pub steps: Vec<Step>,
}

/// One bundle action of an operation, on one resource.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    /// `main` for the operation's own resource; otherwise what the step does to which resource.
    pub template_step_id: String,
    pub step_title: String,
    pub resource_id: String,
    pub resource_template_name: String,
    pub resource_type: ResourceType,
    pub resource_action: String,
    pub status: DeploymentStatus,
    pub message: String,
    pub updated_when: f64,
    /// The resource whose operation this step is part of.
    pub source_template_resource_id: String,
    /// The highest status-message sequence applied to the step: older and repeated messages
    /// change nothing.
    pub sequence: u64,
}

impl From<Domain> for Operation {
    fn from(op: Domain) -> Self {
        let resource_type: ResourceType = op.resource_kind.into();
        let steps = op
            .steps
            .into_iter()
            .map(|s| step(s, &op.resource_id, resource_type))
            .collect();
        Self {
            user: User::new(&op.created_by, op.created_by_name.as_deref()),
            id: op.id,
            resource_path: client_path(&op.resource_path),
            resource_id: op.resource_id,
            resource_version: op.resource_version,
            resource_type,
            status: op.status,
            action: op.action,
            message: op.message,
            created_when: when(op.created_at),
            updated_when: when(op.updated_at),
            steps,
        }
    }
}

fn step(s: OperationStep, source: &str, source_type: ResourceType) -> Step {
    let title = if s.resource_id == source {
        format!("{} of {}", s.action, s.resource_id)
    } else {
        format!("{} of {} (under {source})", s.action, s.resource_id)
    };
    Step {
        template_step_id: s.id.clone(),
        id: s.id,
        step_title: title,
        resource_type: s.resource_kind.map(Into::into).unwrap_or(source_type),
        resource_id: s.resource_id,
        resource_template_name: s.template_name,
        resource_action: s.action,
        status: s.status,
        message: s.message,
        updated_when: when(s.updated_at),
        source_template_resource_id: source.to_string(),
        sequence: s.sequence,
    }
}

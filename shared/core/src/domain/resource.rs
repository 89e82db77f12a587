use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The four kinds of resource (and of template).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Workspace,
    WorkspaceService,
    UserResource,
    SharedService,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 4] = [
        Self::Workspace,
        Self::WorkspaceService,
        Self::UserResource,
        Self::SharedService,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Workspace => "workspace",
            Self::WorkspaceService => "workspace_service",
            Self::UserResource => "user_resource",
            Self::SharedService => "shared_service",
        }
    }
}

/// Deployment status, with Azure TRE's names, so its users recognise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    AwaitingDeployment,
    Deploying,
    Deployed,
    DeploymentFailed,
    AwaitingUpdate,
    Updating,
    Updated,
    UpdatingFailed,
    AwaitingDeletion,
    Deleting,
    Deleted,
    DeletingFailed,
    AwaitingAction,
    InvokingAction,
    ActionSucceeded,
    ActionFailed,
    PipelineRunning,
}

impl DeploymentStatus {
    /// True while an operation is in flight: a second change must wait for it.
    pub fn is_in_progress(&self) -> bool {
        matches!(
            self,
            Self::AwaitingDeployment
                | Self::Deploying
                | Self::AwaitingUpdate
                | Self::Updating
                | Self::AwaitingDeletion
                | Self::Deleting
                | Self::AwaitingAction
                | Self::InvokingAction
                | Self::PipelineRunning
        )
    }

    /// True once the resource exists in a usable form (children may be created under it).
    pub fn is_deployed(&self) -> bool {
        matches!(
            self,
            Self::Deployed
                | Self::Updated
                | Self::ActionSucceeded
                | Self::ActionFailed
                | Self::UpdatingFailed
        )
    }
}

/// A workspace, workspace service, user resource or shared service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    pub kind: ResourceKind,
    pub template_name: String,
    pub template_version: String,
    /// Parameters and outputs. Sensitive parameters are never stored here.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub is_enabled: bool,
    pub deployment_status: DeploymentStatus,
    /// Opaque version tag; send it back in `If-Match` to update.
    pub etag: String,
    /// The workspace this resource lives in (workspace services and user resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// The workspace service a user resource lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_service_id: Option<String>,
    /// Subject id of the principal that created it.
    pub owner_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// Display name of `updated_by` when the change was made (absent in older items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by_name: Option<String>,
    /// Counts the changes asked of the resource (create is 0, each update adds 1); status
    /// updates do not count, unlike the etag.
    #[serde(default)]
    pub resource_version: u64,
    /// Set (by the control plane only) on an airlock reviewer's environment: the request whose
    /// in-review files it may read. Removed with the request's review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airlock_review: Option<AirlockReviewOf>,
}

/// The airlock request a review environment was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockReviewOf {
    pub workspace_id: String,
    pub request_id: String,
    pub request_type: super::airlock::RequestType,
}

impl Resource {
    /// The workspace whose role assignments govern access to this resource.
    pub fn governing_workspace(&self) -> Option<&str> {
        match self.kind {
            ResourceKind::Workspace => Some(&self.id),
            ResourceKind::WorkspaceService | ResourceKind::UserResource => {
                self.workspace_id.as_deref()
            }
            ResourceKind::SharedService => None,
        }
    }
}

/// Etags are derived from the store's version so they can never disagree with it.
pub fn etag_for_version(version: u64) -> String {
    format!("\"{version}\"")
}

/// Accepts `"3"`, `3` and `W/"3"` (clients differ in how they echo etags).
pub fn version_from_etag(etag: &str) -> Option<u64> {
    etag_value(etag).parse().ok()
}

/// An etag without its weak marker and quotes (`W/"3"` and `"3"` give `3`).
pub fn etag_value(etag: &str) -> &str {
    let t = etag.trim();
    t.strip_prefix("W/").unwrap_or(t).trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(version_from_etag(&etag_for_version(7)), Some(7));
        assert_eq!(version_from_etag("W/\"7\""), Some(7));
        assert_eq!(version_from_etag("nonsense"), None);
    }
}

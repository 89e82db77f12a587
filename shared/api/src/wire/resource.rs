//! Workspaces, workspace services, user resources and shared services on the wire: Azure TRE's
//! `Resource` model and its per-kind additions (api_app/models/domain/resource.py,
//! workspace.py, workspace_service.py, user_resource.py, shared_service.py).

use serde::Serialize;
use serde_json::{Map, Value};
use tre_core::app::ResourceScope;
use tre_core::domain::version::AvailableUpgrade;
use tre_core::domain::{DeploymentStatus, Resource as Domain, ResourceKind};
use utoipa::ToSchema;

use super::{bare_etag, client_path, when, User};

/// `resourceType`: Azure TRE's kebab-case names of the four kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceType {
    Workspace,
    WorkspaceService,
    UserResource,
    SharedService,
}

impl From<ResourceKind> for ResourceType {
    fn from(k: ResourceKind) -> Self {
        match k {
            ResourceKind::Workspace => Self::Workspace,
            ResourceKind::WorkspaceService => Self::WorkspaceService,
            ResourceKind::UserResource => Self::UserResource,
            ResourceKind::SharedService => Self::SharedService,
        }
    }
}

/// A workspace, workspace service, user resource or shared service.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    pub template_name: String,
    pub template_version: String,
    /// Parameters and outputs. Sensitive parameters are never here.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    /// Newer registered versions of the template (minor and patch first, then major).
    pub available_upgrades: Vec<AvailableUpgrade>,
    pub is_enabled: bool,
    pub resource_type: ResourceType,
    pub deployment_status: DeploymentStatus,
    /// The version tag without quotes: send it back in the `etag` header (or quoted in
    /// `If-Match`) to update. It changes on every write, status updates included.
    #[serde(rename = "_etag")]
    pub etag: String,
    /// Path of the resource below `/api` (clients prepend `/api`).
    pub resource_path: String,
    /// Counts the updates asked of the resource (0 at creation).
    pub resource_version: u64,
    /// Who last changed it.
    pub user: User,
    /// POSIX seconds of the last change.
    pub updated_when: f64,
    /// POSIX seconds of the creation.
    pub created_when: f64,
    /// Subject id of the principal that created it.
    pub owner_id: String,
    /// Workspace services and user resources: the workspace they live in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// User resources: the workspace service they live in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_workspace_service_id: Option<String>,
    /// Workspaces: where researchers open it (empty: connect through its services).
    #[serde(rename = "workspaceURL", skip_serializing_if = "Option::is_none")]
    pub workspace_url: Option<String>,
    /// User resources: power state and the like, where the bundle reports it (Azure TRE's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub azure_status: Option<Map<String, Value>>,
    /// On an airlock reviewer's environment: the request it was made for (set by the TRE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub airlock_review: Option<tre_core::domain::AirlockReviewOf>,
}

impl Resource {
    /// The wire form of a stored resource. `scope_id` is what clients ask tokens for when they
    /// act in a workspace (Azure TRE's `properties.scope_id`); here one audience serves them all.
    pub fn new(r: Domain, upgrades: Vec<AvailableUpgrade>, scope_id: &str) -> Self {
        let path = resource_path(&r);
        let mut properties = r.properties;
        if r.kind == ResourceKind::Workspace && !scope_id.is_empty() {
            properties
                .entry("scope_id")
                .or_insert_with(|| Value::String(scope_id.to_string()));
        }
        Self {
            user: User::new(&r.updated_by, r.updated_by_name.as_deref()),
            id: r.id,
            template_name: r.template_name,
            template_version: r.template_version,
            properties,
            available_upgrades: upgrades,
            is_enabled: r.is_enabled,
            resource_type: r.kind.into(),
            deployment_status: r.deployment_status,
            etag: bare_etag(&r.etag),
            resource_path: path,
            resource_version: r.resource_version,
            updated_when: when(r.updated_at),
            created_when: when(r.created_at),
            owner_id: r.owner_id,
            workspace_url: (r.kind == ResourceKind::Workspace).then(String::new),
            azure_status: (r.kind == ResourceKind::UserResource).then(Map::new),
            workspace_id: r.workspace_id,
            parent_workspace_service_id: r.parent_service_id,
            airlock_review: r.airlock_review,
        }
    }
}

/// Where a stored resource sits, below `/api`.
pub fn resource_path(r: &Domain) -> String {
    match ResourceScope::of(r) {
        Some(scope) => client_path(&scope.resource_path(&r.id)),
        // Never stored so; the id alone still names it.
        None => format!("/{}", r.id),
    }
}

/// One earlier version of a resource (Azure TRE's `ResourceHistoryItem`, in `resource_history`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    /// Identifies this history entry (the resource id and the etag it had).
    pub id: String,
    pub resource_id: String,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub is_enabled: bool,
    pub resource_version: u64,
    pub updated_when: f64,
    pub user: User,
    pub template_version: String,
    pub deployment_status: DeploymentStatus,
    #[serde(rename = "_etag")]
    pub etag: String,
}

impl From<Domain> for HistoryItem {
    fn from(r: Domain) -> Self {
        let etag = bare_etag(&r.etag);
        Self {
            id: format!("{}-{etag}", r.id),
            user: User::new(&r.updated_by, r.updated_by_name.as_deref()),
            resource_id: r.id,
            properties: r.properties,
            is_enabled: r.is_enabled,
            resource_version: r.resource_version,
            updated_when: when(r.updated_at),
            template_version: r.template_version,
            deployment_status: r.deployment_status,
            etag,
        }
    }
}

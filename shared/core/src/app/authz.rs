//! Authorisation rules. Deny by default: every use case asks one of these
//! functions before it reads or writes anything, and a caller who may not even see a workspace
//! gets "not found" rather than a hint that it exists.

use super::{keys, App, AppError, AppResult};
use crate::domain::audit::RequestContext;
use crate::domain::{Principal, Resource, ResourceKind, WorkspaceRole};
use crate::ports::Query;

/// The authenticated caller of a use case.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The HTTP request being served, for the audit trail (absent for internal callers).
    pub context: Option<RequestContext>,
}

impl Caller {
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            context: None,
        }
    }

    pub fn with_context(mut self, context: RequestContext) -> Self {
        self.context = Some(context);
        self
    }

    pub fn id(&self) -> &str {
        &self.principal.id
    }

    pub fn is_admin(&self) -> bool {
        self.principal.is_admin()
    }

    /// Every route needs at least the TREUser role.
    pub fn require_user(&self) -> AppResult<()> {
        if self.principal.is_user() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "the caller has neither the TREUser nor the TREAdmin role".into(),
            ))
        }
    }

    pub fn require_admin(&self, what: &str) -> AppResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("only a TREAdmin may {what}")))
        }
    }
}

/// Where in the resource tree a request points (from the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceScope {
    Workspaces,
    WorkspaceServices {
        workspace_id: String,
    },
    UserResources {
        workspace_id: String,
        service_id: String,
    },
    SharedServices,
}

impl ResourceScope {
    /// Where a stored resource sits (`None` for a service or user resource stored without its
    /// parents, which the use cases never write).
    pub fn of(r: &Resource) -> Option<Self> {
        match (r.kind, &r.workspace_id, &r.parent_service_id) {
            (ResourceKind::Workspace, _, _) => Some(Self::Workspaces),
            (ResourceKind::SharedService, _, _) => Some(Self::SharedServices),
            (ResourceKind::WorkspaceService, Some(ws), _) => Some(Self::WorkspaceServices {
                workspace_id: ws.clone(),
            }),
            (ResourceKind::UserResource, Some(ws), Some(svc)) => Some(Self::UserResources {
                workspace_id: ws.clone(),
                service_id: svc.clone(),
            }),
            _ => None,
        }
    }

    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Workspaces => ResourceKind::Workspace,
            Self::WorkspaceServices { .. } => ResourceKind::WorkspaceService,
            Self::UserResources { .. } => ResourceKind::UserResource,
            Self::SharedServices => ResourceKind::SharedService,
        }
    }

    pub fn workspace_id(&self) -> Option<&str> {
        match self {
            Self::WorkspaceServices { workspace_id } | Self::UserResources { workspace_id, .. } => {
                Some(workspace_id)
            }
            _ => None,
        }
    }

    /// The id the collection hangs under in the list index (`-` for top-level collections).
    pub fn parent_id(&self) -> &str {
        match self {
            Self::Workspaces | Self::SharedServices => "-",
            Self::WorkspaceServices { workspace_id } => workspace_id,
            Self::UserResources { service_id, .. } => service_id,
        }
    }

    pub fn resource_path(&self, id: &str) -> String {
        match self {
            Self::Workspaces => format!("/api/workspaces/{id}"),
            Self::WorkspaceServices { workspace_id } => {
                format!("/api/workspaces/{workspace_id}/workspace-services/{id}")
            }
            Self::UserResources {
                workspace_id,
                service_id,
            } => format!(
                "/api/workspaces/{workspace_id}/workspace-services/{service_id}/user-resources/{id}"
            ),
            Self::SharedServices => format!("/api/shared-services/{id}"),
        }
    }

    /// Does a stored resource really sit at this place in the tree? A resource reached through
    /// the wrong workspace's URL must look missing.
    pub fn contains(&self, r: &Resource) -> bool {
        if r.kind != self.kind() {
            return false;
        }
        match self {
            Self::Workspaces | Self::SharedServices => true,
            Self::WorkspaceServices { workspace_id } => {
                r.workspace_id.as_deref() == Some(workspace_id.as_str())
            }
            Self::UserResources {
                workspace_id,
                service_id,
            } => {
                r.workspace_id.as_deref() == Some(workspace_id.as_str())
                    && r.parent_service_id.as_deref() == Some(service_id.as_str())
            }
        }
    }
}

/// What the caller wants to do with a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Read,
    Write,
}

impl App {
    /// The caller's roles in a workspace, from the stored assignments.
    pub async fn workspace_roles(
        &self,
        principal_id: &str,
        workspace_id: &str,
    ) -> AppResult<Vec<WorkspaceRole>> {
        let page = self
            .table
            .query(&Query {
                pk: keys::roles_pk(workspace_id),
                sk_prefix: Some(format!("{}{principal_id}#", keys::ROLE_PREFIX)),
                ..Default::default()
            })
            .await?;
        let mut roles = Vec::new();
        for item in page.items {
            if let Some(role) = item
                .body
                .get("role")
                .and_then(|r| serde_json::from_value(r.clone()).ok())
            {
                roles.push(role);
            }
        }
        Ok(roles)
    }
}

fn not_found(kind: ResourceKind, id: &str) -> AppError {
    AppError::NotFound(format!(
        "{} `{id}` not found",
        kind.as_str().replace('_', " ")
    ))
}

/// May the caller see the workspace at all? Admins and anyone with a role in it may.
pub(super) fn check_workspace_visible(
    caller: &Caller,
    workspace_id: &str,
    roles: &[WorkspaceRole],
) -> AppResult<()> {
    if caller.is_admin() || !roles.is_empty() {
        Ok(())
    } else {
        Err(hidden(ResourceKind::Workspace, workspace_id))
    }
}

/// Not found, to a caller who may not see it.
fn hidden(kind: ResourceKind, id: &str) -> AppError {
    match not_found(kind, id) {
        AppError::NotFound(d) => AppError::Hidden(d),
        other => other,
    }
}

/// The rule table for resources. `roles` are the caller's roles in the governing workspace.
pub(super) fn check_resource(
    caller: &Caller,
    intent: Intent,
    r: &Resource,
    roles: &[WorkspaceRole],
) -> AppResult<()> {
    let owner = roles.contains(&WorkspaceRole::WorkspaceOwner);
    let member = !roles.is_empty();
    let admin = caller.is_admin();
    let (visible, writable) = match r.kind {
        ResourceKind::Workspace => (admin || member, admin),
        ResourceKind::WorkspaceService => (admin || member, admin || owner),
        ResourceKind::UserResource => {
            let mine = r.owner_id == caller.id() && member;
            (admin || owner || mine, admin || owner || mine)
        }
        ResourceKind::SharedService => (caller.principal.is_user(), admin),
    };
    if !visible {
        return Err(hidden(r.kind, &r.id));
    }
    if intent == Intent::Write && !writable {
        return Err(AppError::Forbidden(format!(
            "the caller may read but not change {} `{}`",
            r.kind.as_str().replace('_', " "),
            r.id
        )));
    }
    Ok(())
}

/// May the caller create a resource in this scope? `roles`: roles in the scope's workspace.
pub(super) fn check_create(
    caller: &Caller,
    scope: &ResourceScope,
    roles: &[WorkspaceRole],
) -> AppResult<()> {
    let allowed = match scope {
        ResourceScope::Workspaces | ResourceScope::SharedServices => caller.is_admin(),
        ResourceScope::WorkspaceServices { .. } => {
            caller.is_admin() || roles.contains(&WorkspaceRole::WorkspaceOwner)
        }
        ResourceScope::UserResources { .. } => {
            caller.is_admin()
                || roles.contains(&WorkspaceRole::WorkspaceOwner)
                || roles.contains(&WorkspaceRole::WorkspaceResearcher)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "the caller may not create a {} here",
            scope.kind().as_str().replace('_', " ")
        )))
    }
}

pub(super) fn not_found_resource(kind: ResourceKind, id: &str) -> AppError {
    not_found(kind, id)
}

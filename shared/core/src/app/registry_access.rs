//! Who may do what in the registry (what the token endpoint grants): TRE admins push and delete
//! anywhere; every TRE user pulls the bundles (`tre/bundles/...`); a workspace's members pull its
//! repositories (`workspaces/<id>/...`) and its owners push there. Nothing else.

use super::{App, AppResult, Caller};
use crate::domain::WorkspaceRole;

impl App {
    /// The subset of `wanted` actions (`pull`, `push`, `delete`, `*`) the caller may do on a
    /// registry resource (`repository` with its name, or `registry` `catalog`).
    pub async fn registry_actions(
        &self,
        caller: &Caller,
        kind: &str,
        name: &str,
        wanted: &[String],
    ) -> AppResult<Vec<String>> {
        caller.require_user()?;
        let admin = caller.is_admin();
        let allowed: &[&str] = match kind {
            "registry" if name == "catalog" && admin => &["*"],
            "repository" => {
                if admin {
                    &["pull", "push", "delete"]
                } else if name.starts_with("tre/bundles/") {
                    &["pull"]
                } else if let Some(ws) = name
                    .strip_prefix("workspaces/")
                    .and_then(|rest| rest.split('/').next())
                    .filter(|ws| !ws.is_empty())
                {
                    let roles = self.workspace_roles(caller.id(), ws).await?;
                    if roles.contains(&WorkspaceRole::WorkspaceOwner) {
                        &["pull", "push"]
                    } else if !roles.is_empty() {
                        &["pull"]
                    } else {
                        &[]
                    }
                } else {
                    &[]
                }
            }
            _ => &[],
        };
        Ok(wanted
            .iter()
            .filter(|w| allowed.contains(&w.as_str()))
            .cloned()
            .collect())
    }
}

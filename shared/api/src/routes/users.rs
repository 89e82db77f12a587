//! A workspace's role assignments and people (served by the `api-workspaces` Lambda), and
//! their handlers: ours (`/role-assignments`) and Azure TRE's (`/users`, `/roles`,
//! `/assignable-users`, `/users/assign`) over the same stored assignments. Every one of them is
//! for TRE admins and the workspace's owners.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use tre_core::app::{AppError, AssignRole, Caller};
use tre_core::domain::WorkspaceRole;

use super::spec::{Reply, Route, RouteGroup, Routes};
use crate::body::JsonBody;
use crate::paging::{page_request, paged};
use crate::path::{ApiPath, RoleAssignmentPath, WorkspacePath};
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;
use crate::wire::users::{AssignableUser, Role, UsersAssignment, WorkspaceUser};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAction {
    ListAssignments,
    Assign,
    Remove,
    ListUsers,
    ListRoles,
    AssignableUsers,
    AssignUsers,
    UnassignUser,
}

/// Azure TRE answers at most this many assignable users unless asked for more.
const DEFAULT_MAX_RESULTS: usize = 5;
const MAX_RESULTS: usize = 100;

pub(crate) fn routes() -> Vec<Route<UserAction>> {
    use UserAction as U;
    let mut r = Routes::new(RouteGroup::Workspaces, "users");
    let ws = "/api/workspaces/{workspaceId}";
    let assignments = format!("{ws}/role-assignments");
    let assigned = Reply::Schema("UsersAssignment");
    r.get(assignments.clone(), U::ListAssignments)
        .id("listRoleAssignments")
        .summary("Role assignments in a workspace (TREAdmin or WorkspaceOwner)")
        .tag("role-assignments")
        .answers(200, Reply::ListOf("roleAssignments", "RoleAssignment"))
        .paged();
    r.post(assignments.clone(), U::Assign)
        .id("assignRole")
        .summary("Give a principal a role in a workspace")
        .tag("role-assignments")
        .body("AssignRole")
        .answers(201, Reply::Schema("RoleAssignment"));
    r.delete(format!("{assignments}/{{principalId}}/{{role}}"), U::Remove)
        .id("removeRole")
        .summary("Take a role away")
        .tag("role-assignments")
        .answers(204, Reply::Empty);
    r.get(format!("{ws}/users"), U::ListUsers)
        .id("listWorkspaceUsers")
        .summary("The principals holding roles in a workspace, with their roles (TREAdmin or WorkspaceOwner)")
        .answers(200, Reply::ListOf("users", "WorkspaceUser"))
        .paged();
    r.get(format!("{ws}/roles"), U::ListRoles)
        .id("listWorkspaceRoles")
        .summary("The roles that can be given in a workspace (TREAdmin or WorkspaceOwner)")
        .answers(200, Reply::ListOf("roles", "Role"));
    r.get(format!("{ws}/assignable-users"), U::AssignableUsers)
        .id("listAssignableUsers")
        .summary("Principals the TRE knows (the caller, and those holding a role in a workspace the caller manages) whose id contains `filter` (TREAdmin or WorkspaceOwner)")
        .answers(200, Reply::ListOf("assignable_users", "AssignableUser"))
        .query([
            ("filter", false, "Part of the principal id to look for (any case)"),
            ("maxResultCount", false, "At most this many (1-100, default 5)"),
        ]);
    r.post(format!("{ws}/users/assign"), U::AssignUsers)
        .id("assignWorkspaceUsers")
        .summary("Give one role to several principals (all or none; those holding it already are left as they are)")
        .body("UsersAssignment")
        .answers(202, assigned.clone());
    r.delete(format!("{ws}/users/assign"), U::UnassignUser)
        .id("unassignWorkspaceUser")
        .summary("Take a role away from a principal")
        .answers(202, assigned)
        .query([
            ("user_id", true, "The principal's subject id"),
            ("role_id", true, "The role's id (its name)"),
        ]);
    r.into_routes()
}

type S = State<ApiState>;
type C = Extension<Caller>;
type Q<T> = Result<Query<T>, QueryRejection>;

pub(crate) fn method_router(action: UserAction, filter: MethodFilter) -> MethodRouter<ApiState> {
    match action {
        UserAction::ListAssignments => on(filter, list_assignments),
        UserAction::Assign => on(filter, assign),
        UserAction::Remove => on(filter, remove),
        UserAction::ListUsers => on(filter, list_users),
        UserAction::ListRoles => on(filter, list_roles),
        UserAction::AssignableUsers => on(filter, assignable_users),
        UserAction::AssignUsers => on(filter, assign_users),
        UserAction::UnassignUser => on(filter, unassign_user),
    }
}

fn role(name: &str) -> Result<WorkspaceRole, AppError> {
    WorkspaceRole::parse(name).ok_or_else(|| {
        AppError::validation(format!(
            "`{name}` is not a role: use WorkspaceOwner, WorkspaceResearcher or AirlockManager"
        ))
    })
}

fn query<T>(q: Q<T>) -> Result<T, Problem> {
    q.map(|Query(q)| q)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("query: {e}")))
}

async fn list_assignments(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    uri: Uri,
) -> ApiResult {
    let page = page_request(&s, &c, &uri)?;
    let got = s
        .app
        .list_role_assignments(&c, &p.workspace_id, &page)
        .await?;
    Ok(paged(
        &s,
        &c,
        &uri,
        "roleAssignments",
        got.items,
        got.next.as_ref(),
    ))
}

async fn assign(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    JsonBody(body): JsonBody<AssignRole>,
) -> ApiResult {
    let a = s.app.assign_role(&c, &p.workspace_id, body).await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn remove(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<RoleAssignmentPath>,
) -> ApiResult {
    let role = role(&p.role)?;
    s.app
        .remove_role(&c, &p.workspace_id, &p.principal_id, role)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_users(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    uri: Uri,
) -> ApiResult {
    let page = page_request(&s, &c, &uri)?;
    let got = s
        .app
        .workspace_principals(&c, &p.workspace_id, &page)
        .await?;
    let users: Vec<WorkspaceUser> = got
        .items
        .into_iter()
        .map(|(id, assignments)| {
            let mut roles: Vec<WorkspaceRole> = assignments.into_iter().map(|a| a.role).collect();
            roles.sort();
            let known = AssignableUser::new(&id, &c.principal);
            WorkspaceUser {
                id: known.id,
                display_name: known.display_name,
                user_principal_name: known.user_principal_name,
                email: known.email,
                roles: roles.into_iter().map(Role::from).collect(),
            }
        })
        .collect();
    Ok(paged(&s, &c, &uri, "users", users, got.next.as_ref()))
}

async fn list_roles(State(s): S, Extension(c): C, ApiPath(p): ApiPath<WorkspacePath>) -> ApiResult {
    let roles: Vec<Role> = s
        .app
        .assignable_roles(&c, &p.workspace_id)
        .await?
        .into_iter()
        .map(Role::from)
        .collect();
    Ok(Json(json!({ "roles": roles })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignableQuery {
    #[serde(default)]
    filter: String,
    max_result_count: Option<usize>,
}

async fn assignable_users(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    q: Q<AssignableQuery>,
) -> ApiResult {
    let q = query(q)?;
    let max = q.max_result_count.unwrap_or(DEFAULT_MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("query: `maxResultCount` must be 1 to {MAX_RESULTS}"),
        )
        .into());
    }
    let ids = s
        .app
        .known_principals(&c, &p.workspace_id, &q.filter, max)
        .await?;
    let users: Vec<AssignableUser> = ids
        .iter()
        .map(|id| AssignableUser::new(id, &c.principal))
        .collect();
    Ok(Json(json!({ "assignable_users": users })).into_response())
}

async fn assign_users(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    JsonBody(body): JsonBody<UsersAssignment>,
) -> ApiResult {
    let role = role(&body.role_id)?;
    s.app
        .assign_role_to_all(&c, &p.workspace_id, role, &body.user_ids)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Deserialize)]
struct UnassignQuery {
    user_id: String,
    role_id: String,
}

async fn unassign_user(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    q: Q<UnassignQuery>,
) -> ApiResult {
    let q = query(q)?;
    let role = role(&q.role_id)?;
    s.app
        .remove_role(&c, &p.workspace_id, &q.user_id, role)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UsersAssignment {
            user_ids: vec![q.user_id],
            role_id: q.role_id,
        }),
    )
        .into_response())
}

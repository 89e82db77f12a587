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
use http::Method;
use serde::Deserialize;
use serde_json::json;
use tre_core::app::{AppError, AssignRole, Caller};
use tre_core::domain::WorkspaceRole;

use crate::body::JsonBody;
use crate::handlers::{page_request, paged, param, params, ApiResult, Params};
use crate::problem::Problem;
use crate::router::ApiState;
use crate::routes::{Action, Builder, Reply, RouteGroup};
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

pub(crate) fn add(b: &mut Builder) {
    use UserAction as U;
    let ws = "/api/workspaces/{workspaceId}";
    let assignments = format!("{ws}/role-assignments");
    let assigned = Reply::Schema("UsersAssignment");
    let rows = [
        (U::ListAssignments, Method::GET, assignments.clone(), "listRoleAssignments",
         "Role assignments in a workspace (TREAdmin or WorkspaceOwner)", "role-assignments",
         None, 200, Reply::ListOf("roleAssignments", "RoleAssignment")),
        (U::Assign, Method::POST, assignments.clone(), "assignRole",
         "Give a principal a role in a workspace", "role-assignments", Some("AssignRole"), 201,
         Reply::Schema("RoleAssignment")),
        (U::Remove, Method::DELETE, format!("{assignments}/{{principalId}}/{{role}}"), "removeRole",
         "Take a role away", "role-assignments", None, 204, Reply::Empty),
        (U::ListUsers, Method::GET, format!("{ws}/users"), "listWorkspaceUsers",
         "The principals holding roles in a workspace, with their roles (TREAdmin or WorkspaceOwner)",
         "users", None, 200, Reply::ListOf("users", "WorkspaceUser")),
        (U::ListRoles, Method::GET, format!("{ws}/roles"), "listWorkspaceRoles",
         "The roles that can be given in a workspace (TREAdmin or WorkspaceOwner)", "users", None,
         200, Reply::ListOf("roles", "Role")),
        (U::AssignableUsers, Method::GET, format!("{ws}/assignable-users"), "listAssignableUsers",
         "Principals the TRE knows (the caller, and those holding a role in a workspace the caller manages) whose id contains `filter` (TREAdmin or WorkspaceOwner)",
         "users", None, 200, Reply::ListOf("assignable_users", "AssignableUser")),
        (U::AssignUsers, Method::POST, format!("{ws}/users/assign"), "assignWorkspaceUsers",
         "Give one role to several principals (all or none; those holding it already are left as they are)",
         "users", Some("UsersAssignment"), 202, assigned.clone()),
        (U::UnassignUser, Method::DELETE, format!("{ws}/users/assign"), "unassignWorkspaceUser",
         "Take a role away from a principal", "users", None, 202, assigned),
    ];
    for (action, method, path, id, summary, tag, body, status, reply) in rows {
        b.add(
            Action::Users(action),
            method,
            path,
            RouteGroup::Workspaces,
            id.into(),
            summary,
            tag,
            body,
            status,
            reply,
        )
        .query = match action {
            U::AssignableUsers => vec![
                (
                    "filter",
                    false,
                    "Part of the principal id to look for (any case)",
                ),
                (
                    "maxResultCount",
                    false,
                    "At most this many (1-100, default 5)",
                ),
            ],
            U::UnassignUser => vec![
                ("user_id", true, "The principal's subject id"),
                ("role_id", true, "The role's id (its name)"),
            ],
            _ => Vec::new(),
        };
    }
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

async fn list_assignments(State(s): S, Extension(c): C, p: Params, uri: Uri) -> ApiResult {
    let m = params(p)?;
    let page = page_request(&s, &c, &uri)?;
    let got = s
        .app
        .list_role_assignments(&c, param(&m, "workspaceId")?, &page)
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
    p: Params,
    JsonBody(body): JsonBody<AssignRole>,
) -> ApiResult {
    let m = params(p)?;
    let a = s
        .app
        .assign_role(&c, param(&m, "workspaceId")?, body)
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn remove(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let role = role(param(&m, "role")?)?;
    s.app
        .remove_role(
            &c,
            param(&m, "workspaceId")?,
            param(&m, "principalId")?,
            role,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_users(State(s): S, Extension(c): C, p: Params, uri: Uri) -> ApiResult {
    let m = params(p)?;
    let page = page_request(&s, &c, &uri)?;
    let got = s
        .app
        .workspace_principals(&c, param(&m, "workspaceId")?, &page)
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

async fn list_roles(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let roles: Vec<Role> = s
        .app
        .assignable_roles(&c, param(&m, "workspaceId")?)
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
    p: Params,
    q: Q<AssignableQuery>,
) -> ApiResult {
    let m = params(p)?;
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
        .known_principals(&c, param(&m, "workspaceId")?, &q.filter, max)
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
    p: Params,
    JsonBody(body): JsonBody<UsersAssignment>,
) -> ApiResult {
    let m = params(p)?;
    let role = role(&body.role_id)?;
    s.app
        .assign_role_to_all(&c, param(&m, "workspaceId")?, role, &body.user_ids)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Deserialize)]
struct UnassignQuery {
    user_id: String,
    role_id: String,
}

async fn unassign_user(State(s): S, Extension(c): C, p: Params, q: Q<UnassignQuery>) -> ApiResult {
    let m = params(p)?;
    let q = query(q)?;
    let role = role(&q.role_id)?;
    s.app
        .remove_role(&c, param(&m, "workspaceId")?, &q.user_id, role)
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

//! The single-table key design. Keeping every key format here makes the layout reviewable in one
//! place (and identical in DynamoDB and SQLite).

use crate::domain::ResourceKind;
use crate::ports::Key;

pub fn template(kind: ResourceKind, name: &str, version: &str) -> Key {
    Key::new(
        format!("TEMPLATE#{}#{name}", kind.as_str()),
        format!("V#{version}"),
    )
}
pub fn template_versions_pk(kind: ResourceKind, name: &str) -> String {
    format!("TEMPLATE#{}#{name}", kind.as_str())
}
/// Index key listing every template of a kind.
pub fn template_index(kind: ResourceKind, name: &str, version: &str) -> Key {
    Key::new(
        format!("TEMPLATES#{}", kind.as_str()),
        format!("{name}#{version}"),
    )
}
pub fn templates_index_pk(kind: ResourceKind) -> String {
    format!("TEMPLATES#{}", kind.as_str())
}

pub fn resource(id: &str) -> Key {
    Key::new(format!("RES#{id}"), "META")
}
pub fn resource_secrets(id: &str) -> Key {
    Key::new(format!("RES#{id}"), "SECRETS")
}
pub fn resource_history(id: &str, version: u64) -> Key {
    Key::new(format!("RES#{id}"), format!("HIST#{version:020}"))
}
pub const HISTORY_PREFIX: &str = "HIST#";
/// Index key listing resources of a kind under a parent (`-` for top-level kinds).
pub fn resource_index(kind: ResourceKind, parent: &str, created: &str, id: &str) -> Key {
    Key::new(resource_list_pk(kind, parent), format!("{created}#{id}"))
}
pub fn resource_list_pk(kind: ResourceKind, parent: &str) -> String {
    format!("RESLIST#{}#{parent}", kind.as_str())
}

pub fn operation(resource_id: &str, op_id: &str) -> Key {
    Key::new(format!("RES#{resource_id}"), format!("OP#{op_id}"))
}
pub fn operation_index(resource_id: &str, created: &str, op_id: &str) -> Key {
    Key::new(
        operations_index_pk(resource_id),
        format!("{created}#{op_id}"),
    )
}
pub fn operations_index_pk(resource_id: &str) -> String {
    format!("OPS#{resource_id}")
}

pub fn role(workspace_id: &str, principal_id: &str, role: &str) -> Key {
    Key::new(
        format!("WS#{workspace_id}"),
        format!("ROLE#{principal_id}#{role}"),
    )
}
pub fn roles_pk(workspace_id: &str) -> String {
    format!("WS#{workspace_id}")
}
pub const ROLE_PREFIX: &str = "ROLE#";
/// Index key: a principal's assignments across workspaces.
pub fn role_index(principal_id: &str, workspace_id: &str, role: &str) -> Key {
    Key::new(
        principal_roles_pk(principal_id),
        format!("WS#{workspace_id}#{role}"),
    )
}
pub fn principal_roles_pk(principal_id: &str) -> String {
    format!("PRINCIPAL#{principal_id}")
}

/// Airlock requests live under their workspace (listed with the `REQ#` prefix).
pub fn airlock_request(workspace_id: &str, request_id: &str) -> Key {
    Key::new(
        roles_pk(workspace_id),
        format!("{AIRLOCK_REQUEST_PREFIX}{request_id}"),
    )
}
pub const AIRLOCK_REQUEST_PREFIX: &str = "REQ#";
/// The task token of a request's review step (never returned by the API).
pub fn airlock_token(workspace_id: &str, request_id: &str) -> Key {
    Key::new(roles_pk(workspace_id), format!("REQTOKEN#{request_id}"))
}

/// Data sources share one partition (an admin-scale list), one item each.
pub const DATA_SOURCES_PK: &str = "DATASOURCES";
pub const DATA_SOURCE_PREFIX: &str = "DS#";
pub fn data_source(id: &str) -> Key {
    Key::new(DATA_SOURCES_PK, format!("{DATA_SOURCE_PREFIX}{id}"))
}
/// A data source bound to a workspace (listed with the workspace's other items).
pub const DATA_SOURCE_BINDING_PREFIX: &str = "DSBIND#";
/// What a workspace's bundles are told of its bound data sources, kept in one item beside the
/// bindings (written in their transactions), so a change reads it in its path's batch.
pub fn data_source_bindings_summary(workspace_id: &str) -> Key {
    Key::new(roles_pk(workspace_id), "DSBOUND")
}
pub fn data_source_binding(workspace_id: &str, data_source_id: &str) -> Key {
    Key::new(
        roles_pk(workspace_id),
        format!("{DATA_SOURCE_BINDING_PREFIX}{data_source_id}"),
    )
}

/// Every review environment until it is gone (one partition, walked by the sweep that removes
/// those whose request left review).
pub const REVIEW_ENVIRONMENTS_PK: &str = "REVIEWENVS";
pub fn review_environment(resource_id: &str) -> Key {
    Key::new(REVIEW_ENVIRONMENTS_PK, resource_id)
}

/// A creator's unfinished operations, oldest first (what `GET /api/operations` lists): one item
/// per operation, written with it and deleted when it ends.
pub fn open_operation(creator: &str, created: &str, op_id: &str) -> Key {
    Key::new(open_operations_pk(creator), format!("{created}#{op_id}"))
}
pub fn open_operations_pk(creator: &str) -> String {
    format!("OPENOPS#{creator}")
}

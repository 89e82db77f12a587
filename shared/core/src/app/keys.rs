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

/// Audit events, sorted by sequence number under their chain: a workspace's beside the
/// workspace's own items (`RES#<id>`), whose page its changes write anyway, so an event costs
/// the store no page of its own; the `TRE` chain's in a partition of its own.
pub fn audit_event(chain: &str, seq: u64) -> Key {
    Key::new(
        audit_chain_pk(chain),
        format!("{AUDIT_EVENT_PREFIX}{seq:020}"),
    )
}
pub fn audit_chain_pk(chain: &str) -> String {
    if chain == crate::domain::audit::TRE_CHAIN {
        format!("AUDIT#{chain}")
    } else {
        resource(chain).pk
    }
}
/// The sort key prefix of every audit event (what the archive's stream filter matches).
pub const AUDIT_EVENT_PREFIX: &str = "AUDIT#";
/// Index key of every event in the order they were written, across chains.
pub const AUDIT_LOG_PK: &str = "AUDITLOG";
pub fn audit_log_index(at: &chrono::DateTime<chrono::Utc>, chain: &str, seq: u64) -> Key {
    Key::new(
        AUDIT_LOG_PK,
        format!(
            "{}#{chain}#{seq:020}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    )
}
/// The id and audit chain of the record a write of `body` under `key` makes, where it is one the
/// audit trail accounts for version by version (a resource, an airlock request, a data source).
pub fn audited_record(key: &Key, body: &serde_json::Value) -> Option<(String, String)> {
    use crate::domain::audit::TRE_CHAIN;
    if key.sk == "META" {
        let id = key.pk.strip_prefix("RES#")?;
        let chain = match body.get("workspaceId").and_then(|v| v.as_str()) {
            Some(ws) => ws,
            None if body.get("kind").and_then(|v| v.as_str()) == Some("workspace") => id,
            None => TRE_CHAIN,
        };
        return Some((id.to_string(), chain.to_string()));
    }
    if key.pk == DATA_SOURCES_PK {
        let id = key.sk.strip_prefix(DATA_SOURCE_PREFIX)?;
        return Some((id.to_string(), TRE_CHAIN.to_string()));
    }
    let ws = key.pk.strip_prefix("WS#")?;
    let id = key.sk.strip_prefix(AIRLOCK_REQUEST_PREFIX)?;
    Some((id.to_string(), ws.to_string()))
}

/// Notifications waiting to be delivered (one item each, deleted once delivered), and their
/// index in the order they were written.
pub fn outbox(id: &str) -> Key {
    Key::new(format!("NOTEOUT#{id}"), "META")
}
pub const OUTBOX_INDEX_PK: &str = "NOTEOUTBOX";
pub fn outbox_index(at: &chrono::DateTime<chrono::Utc>, id: &str) -> Key {
    Key::new(
        OUTBOX_INDEX_PK,
        format!(
            "{}#{id}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    )
}
/// A recipient's notifications, in the order they were written.
pub fn inbox(recipient: &str, at: &chrono::DateTime<chrono::Utc>, id: &str) -> Key {
    Key::new(
        inbox_pk(recipient),
        format!(
            "{}#{id}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    )
}
pub fn inbox_pk(recipient: &str) -> String {
    format!("NOTE#{recipient}")
}
/// Who a principal is, as they last signed in (name, address, whether a TRE admin).
pub fn profile(principal: &str) -> Key {
    Key::new(format!("PROFILE#{principal}"), "META")
}
/// Index of the TRE admins who have signed in (whom notifications for TRE admins reach).
pub const ADMINS_INDEX_PK: &str = "TREADMINS";
pub fn admin_index(principal: &str) -> Key {
    Key::new(ADMINS_INDEX_PK, principal)
}

//! The audit trail's routes and their handlers (served by the `api-workspaces` Lambda): read
//! only, by design. There is no route that changes or removes an event.

use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Extension;
use chrono::{DateTime, Utc};
use tre_core::app::{AppError, AuditFilter, Caller};

use super::spec::{QueryParam, Reply, Route, RouteGroup, Routes};
use crate::paging::{page_request, paged};
use crate::path::{ApiPath, ChainPath, WorkspacePath};
use crate::problem::ApiResult;
use crate::state::ApiState;

/// One chain of the audit trail.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditChain {
    /// A workspace id, or `TRE`.
    pub chain: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    List,
    Chains,
    Reconcile,
    Workspace,
}

const FILTERS: [QueryParam; 5] = [
    ("actor", false, "Only events of this subject id"),
    ("resource", false, "Only events about this resource id"),
    (
        "action",
        false,
        "Only this action (`workspace.create`), or every action starting so when it ends in `.` (`airlock.`)",
    ),
    ("from", false, "Only events at or after this time (RFC 3339)"),
    ("to", false, "Only events before this time (RFC 3339)"),
];

pub(crate) fn routes() -> Vec<Route<AuditAction>> {
    let mut r = Routes::new(RouteGroup::Workspaces, "audit");
    r.get("/api/audit", AuditAction::List)
        .id("listAuditEvents")
        .summary("Audit events: who did what, who was given which data, who was refused (TREAdmin)")
        .answers(200, Reply::ListOf("auditEvents", "AuditEvent"))
        .query([(
            "chain",
            false,
            "One chain (a workspace id, or `TRE`), in sequence order; without it, every event in the order written",
        )])
        .query(FILTERS)
        .paged();
    r.get("/api/audit/chains", AuditAction::Chains)
        .id("listAuditChains")
        .summary("Every audit chain (a workspace id, or `TRE`), so a verifier can walk them all (TREAdmin)")
        .answers(200, Reply::ListOf("chains", "AuditChain"))
        .paged();
    r.get("/api/audit/chains/{chain}/reconciliation", AuditAction::Reconcile)
        .id("reconcileAuditChain")
        .summary("Every version of every record of a chain held against its events: what was written around the API; the `TRE` chain for TREAdmins only (TREAdmin or WorkspaceOwner)")
        .answers(200, Reply::Schema("Reconciliation"))
        .paged();
    r.get(
        "/api/workspaces/{workspaceId}/audit",
        AuditAction::Workspace,
    )
    .id("listWorkspaceAuditEvents")
    .summary("A workspace's audit chain, in sequence order (TREAdmin or WorkspaceOwner)")
    .answers(200, Reply::ListOf("auditEvents", "AuditEvent"))
    .query(FILTERS)
    .paged();
    r.into_routes()
}

type S = State<ApiState>;
type C = Extension<Caller>;

pub(crate) fn method_router(action: AuditAction, filter: MethodFilter) -> MethodRouter<ApiState> {
    match action {
        AuditAction::List => on(filter, list),
        AuditAction::Chains => on(filter, chains),
        AuditAction::Reconcile => on(filter, reconcile),
        AuditAction::Workspace => on(filter, workspace),
    }
}

/// The filters of a listing, every value checked (an unknown parameter is refused, so a typo
/// never silently widens an auditor's query).
fn audit_filter(uri: &Uri, chain_allowed: bool) -> Result<AuditFilter, AppError> {
    let mut f = AuditFilter::default();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let value = || -> Result<String, AppError> {
            let v = v.trim();
            if v.is_empty() || v.len() > 256 {
                return Err(AppError::validation(format!(
                    "`{k}` needs a value of 1-256 characters"
                )));
            }
            Ok(v.to_string())
        };
        let time = || -> Result<DateTime<Utc>, AppError> {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    AppError::validation(format!(
                        "`{k}` is a time in RFC 3339 (2026-12-02T10:00:00Z), not `{v}`: {e}"
                    ))
                })
        };
        match k.as_ref() {
            "chain" if chain_allowed => f.chain = Some(value()?),
            "actor" => f.actor = Some(value()?),
            "resource" => f.resource = Some(value()?),
            "action" => f.action = Some(value()?),
            "from" => f.from = Some(time()?),
            "to" => f.to = Some(time()?),
            "page_size" | "page_token" => {}
            other => {
                return Err(AppError::validation(format!(
                    "unknown query parameter `{other}`; the filters are {}{}",
                    if chain_allowed { "chain, " } else { "" },
                    "actor, resource, action, from and to"
                )))
            }
        }
    }
    if let (Some(from), Some(to)) = (f.from, f.to) {
        if from >= to {
            return Err(AppError::validation("`from` must be before `to`"));
        }
    }
    Ok(f)
}

// Who may read is settled before the filters are judged, so a caller who may not learns
// nothing of their rules.
async fn list(State(s): S, Extension(c): C, uri: Uri) -> ApiResult {
    c.require_admin("read the whole audit trail")?;
    let filter = audit_filter(&uri, true)?;
    let page = page_request(&s, &c, &uri)?;
    let got = s.app.list_audit(&c, &filter, &page).await?;
    Ok(paged(
        &s,
        &c,
        &uri,
        "auditEvents",
        got.items,
        got.next.as_ref(),
    ))
}

async fn chains(State(s): S, Extension(c): C, uri: Uri) -> ApiResult {
    c.require_admin("read the whole audit trail")?;
    audit_filter(&uri, false).and_then(|f| {
        if f == AuditFilter::default() {
            Ok(())
        } else {
            Err(AppError::validation("the list of chains takes no filters"))
        }
    })?;
    let page = page_request(&s, &c, &uri)?;
    let got = s.app.audit_chains(&c, &page).await?;
    let chains: Vec<AuditChain> = got
        .items
        .into_iter()
        .map(|chain| AuditChain { chain })
        .collect();
    Ok(paged(&s, &c, &uri, "chains", chains, got.next.as_ref()))
}

async fn workspace(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
    uri: Uri,
) -> ApiResult {
    let ws = &p.workspace_id;
    s.app.check_workspace_audit(&c, ws).await?;
    let filter = audit_filter(&uri, false)?;
    let page = page_request(&s, &c, &uri)?;
    let got = s.app.workspace_audit(&c, ws, &filter, &page).await?;
    Ok(paged(
        &s,
        &c,
        &uri,
        "auditEvents",
        got.items,
        got.next.as_ref(),
    ))
}

async fn reconcile(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<ChainPath>,
    uri: Uri,
) -> ApiResult {
    let chain = &p.chain;
    s.app.check_chain_audit(&c, chain).await?;
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return Err(AppError::validation("a reconciliation takes no query parameters").into());
    }
    let checked = s.app.reconcile_audit(&c, chain).await?;
    Ok(axum::Json(checked).into_response())
}

//! The audit trail: every change a caller makes is committed together with its audit event, in
//! one transaction, so a change without its event cannot happen. Events are appended to a hash
//! chain per workspace (see `domain::audit`); an event's key is its chain and sequence number,
//! written on condition that it is absent, so two writers can never both append event `n` and
//! nothing can overwrite one.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::paging::{PageRequest, Paged, Walk};
use super::{keys, App, AppError, AppResult, Caller};
use crate::domain::audit::{AuditActor, AuditEvent, AuditOutcome, GENESIS, TRE_CHAIN};
use crate::domain::WorkspaceRole;
use crate::ports::{Condition, Key, PortError, PortResult, Query, WriteOp, INDEX_GSI1};

/// Attempts to append to a chain other writers keep moving on before giving up.
const APPEND_ATTEMPTS: usize = 16;
/// Chains whose last event a process remembers (a guess, checked by the write's condition).
const REMEMBERED_HEADS: usize = 4096;

/// What an audit event will say; the chain position and hash are added when it is committed.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    actor: AuditActor,
    request: Option<crate::domain::audit::RequestContext>,
    action: String,
    outcome: AuditOutcome,
    workspace_id: Option<String>,
    resource_id: Option<String>,
    /// The key of the write whose resulting version the event records.
    versioned: Option<Key>,
    details: Map<String, Value>,
    /// The chain is known to be new (a workspace being created): append without reading first.
    new_chain: bool,
    /// Writes that go with the event (the notifications the change causes).
    with: Vec<WriteOp>,
}

impl AuditEntry {
    /// `caller` did `action` (and it succeeded, unless marked refused).
    pub fn by(caller: &Caller, action: impl Into<String>) -> Self {
        Self {
            actor: actor_of(caller),
            request: caller.context.clone(),
            action: action.into(),
            outcome: AuditOutcome::Succeeded,
            workspace_id: None,
            resource_id: None,
            versioned: None,
            details: Map::new(),
            new_chain: false,
            with: Vec::new(),
        }
    }

    /// A refused request (`caller` absent: no valid token).
    pub fn refusal(
        caller: Option<&Caller>,
        request: crate::domain::audit::RequestContext,
        status: u16,
        detail: &str,
    ) -> Self {
        let mut e = Self {
            actor: caller.map(actor_of).unwrap_or_else(AuditActor::anonymous),
            request: Some(request),
            action: "request.refused".into(),
            outcome: AuditOutcome::Refused,
            workspace_id: None,
            resource_id: None,
            versioned: None,
            details: Map::new(),
            new_chain: false,
            with: Vec::new(),
        };
        e.details.insert("status".into(), status.into());
        // The problem's detail says which rule refused; it names ids, never secrets.
        e.details
            .insert("reason".into(), Value::String(truncate(detail, 500)));
        e
    }

    pub fn workspace(mut self, workspace_id: Option<&str>) -> Self {
        self.workspace_id = workspace_id.map(str::to_string);
        self
    }

    pub fn resource(mut self, id: &str) -> Self {
        self.resource_id = Some(id.to_string());
        self
    }

    /// Record the version the transaction's write of `key` leaves.
    pub fn versioned(mut self, key: Key) -> Self {
        self.versioned = Some(key);
        self
    }

    /// Also write `op` in the change's transaction (a notification's outbox item).
    pub fn with_write(mut self, op: WriteOp) -> Self {
        self.with.push(op);
        self
    }

    /// The event opens a chain (its workspace is being created now).
    pub fn opening_chain(mut self) -> Self {
        self.new_chain = true;
        self
    }

    /// The resource acted on: its id, its workspace's chain, and the version `key`'s write leaves.
    pub fn on_resource(self, r: &crate::domain::Resource) -> Self {
        let ws = if r.kind == crate::domain::ResourceKind::Workspace {
            Some(r.id.as_str())
        } else {
            r.workspace_id.as_deref()
        };
        self.workspace(ws)
            .resource(&r.id)
            .versioned(keys::resource(&r.id))
    }

    pub fn detail(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.details.insert(name.to_string(), value.into());
        self
    }

    pub fn chain(&self) -> &str {
        self.workspace_id.as_deref().unwrap_or(TRE_CHAIN)
    }

    fn event(
        &self,
        seq: u64,
        prev: String,
        at: DateTime<Utc>,
        id: String,
        ops: &[WriteOp],
    ) -> AuditEvent {
        let resource_version = self.versioned.as_ref().and_then(|key| {
            ops.iter().find_map(|op| match op {
                WriteOp::Put {
                    key: k, condition, ..
                } if k == key => match condition {
                    Condition::Absent => Some(1),
                    Condition::Version(v) => Some(v + 1),
                    Condition::Exists => None,
                },
                _ => None,
            })
        });
        AuditEvent {
            chain: self.chain().to_string(),
            seq,
            id,
            at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            outcome: self.outcome,
            workspace_id: self.workspace_id.clone(),
            resource_id: self.resource_id.clone(),
            resource_version,
            request: self.request.clone(),
            details: self.details.clone(),
            prev,
            hash: String::new(),
        }
    }
}

fn actor_of(caller: &Caller) -> AuditActor {
    AuditActor {
        id: caller.principal.id.clone(),
        name: caller.principal.name.clone(),
        roles: caller
            .principal
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The last event of each recently written chain, so most appends need no read first.
#[derive(Default)]
pub struct AuditHeads(Mutex<HashMap<String, (u64, String)>>);

impl AuditHeads {
    fn get(&self, chain: &str) -> Option<(u64, String)> {
        self.0.lock().ok()?.get(chain).cloned()
    }

    fn set(&self, chain: &str, head: (u64, String)) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= REMEMBERED_HEADS && !m.contains_key(chain) {
                m.clear();
            }
            m.insert(chain.to_string(), head);
        }
    }

    fn forget(&self, chain: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(chain);
        }
    }
}

/// Filters of an audit listing (every one optional; all must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    /// A workspace id or `TRE`: list that chain, in sequence order.
    pub chain: Option<String>,
    pub actor: Option<String>,
    pub resource: Option<String>,
    /// An action (`workspace.create`) or a prefix ending in `.` (`airlock.`).
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    fn keeps(&self, e: &AuditEvent) -> bool {
        self.actor.as_ref().is_none_or(|a| &e.actor.id == a)
            && self
                .resource
                .as_ref()
                .is_none_or(|r| e.resource_id.as_ref() == Some(r))
            && self.action.as_ref().is_none_or(|a| {
                if a.ends_with('.') {
                    e.action.starts_with(a.as_str())
                } else {
                    &e.action == a
                }
            })
            && self.from.is_none_or(|t| e.at >= t)
            && self.to.is_none_or(|t| e.at < t)
    }
}

impl App {
    /// Commit `ops` and the audit event of `entry` in one transaction. Fails exactly as
    /// `Table::transact` of `ops` alone would (`ConditionFailed` when one of `ops`'s conditions
    /// does not hold); another writer appending to the same chain first only costs a retry.
    pub(super) async fn transact_audited(
        &self,
        ops: &[WriteOp],
        entry: &AuditEntry,
    ) -> PortResult<Vec<u64>> {
        let chain = entry.chain().to_string();
        let mut guess = if entry.new_chain {
            Some((0, GENESIS.to_string()))
        } else {
            self.audit_heads.get(&chain)
        };
        for _ in 0..APPEND_ATTEMPTS {
            let (last, prev) = match guess.take() {
                Some(head) => head,
                None => self.audit_head(&chain).await?,
            };
            let event = entry
                .event(last + 1, prev, self.clock.now(), self.ids.new_id(), ops)
                .seal()
                .map_err(|e| PortError::Invalid(format!("audit event: {e}")))?;
            let key = keys::audit_event(&chain, event.seq);
            let mut all = ops.to_vec();
            all.extend(entry.with.iter().cloned());
            all.push(WriteOp::Put {
                key: key.clone(),
                index: Some(keys::audit_log_index(&event.at, &chain, event.seq)),
                body: serde_json::to_value(&event)
                    .map_err(|e| PortError::Invalid(format!("audit event: {e}")))?,
                condition: Condition::Absent,
            });
            if event.seq == 1 {
                all.push(WriteOp::Put {
                    key: keys::audit_chain(&chain),
                    index: None,
                    body: serde_json::json!({ "chain": chain }),
                    condition: Condition::Absent,
                });
            }
            match self.table.transact(&all).await {
                Ok(mut versions) => {
                    self.audit_heads.set(&chain, (event.seq, event.hash));
                    versions.truncate(ops.len());
                    if !entry.with.is_empty() {
                        self.nudge_delivery().await;
                    }
                    return Ok(versions);
                }
                Err(PortError::ConditionFailed(why)) => {
                    // Lost the race for this position (or the remembered head was stale):
                    // read the head and try again. Otherwise one of the change's own
                    // conditions failed, which is the caller's answer.
                    self.audit_heads.forget(&chain);
                    if self.table.get(&key).await?.is_none() {
                        return Err(PortError::ConditionFailed(why));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(PortError::Backend(format!(
            "the audit chain `{chain}` kept moving; try again"
        )))
    }

    /// Put `body` under `key` if the item is still at `version`, with `audit`'s event when a
    /// caller's action makes the write (`None`: the system's own update, a plain put). Returns
    /// the new version.
    pub(super) async fn put_audited(
        &self,
        key: Key,
        body: serde_json::Value,
        version: u64,
        audit: Option<AuditEntry>,
    ) -> PortResult<u64> {
        let Some(audit) = audit else {
            return self
                .table
                .put(&key, None, &body, Condition::Version(version))
                .await;
        };
        let audit = audit.versioned(key.clone());
        let put = WriteOp::Put {
            key,
            index: None,
            body,
            condition: Condition::Version(version),
        };
        let versions = self.transact_audited(&[put], &audit).await?;
        Ok(versions.first().copied().unwrap_or(version + 1))
    }

    /// Record an event that accompanies no write (a link or token issued, a refusal).
    pub async fn audit(&self, entry: &AuditEntry) -> AppResult<()> {
        self.transact_audited(&[], entry).await?;
        Ok(())
    }

    /// The sequence number and hash of a chain's last event (0 and the genesis hash if empty).
    async fn audit_head(&self, chain: &str) -> PortResult<(u64, String)> {
        let page = self
            .table
            .query(&Query {
                pk: keys::audit_chain_pk(chain),
                limit: Some(1),
                descending: true,
                ..Default::default()
            })
            .await?;
        match page.items.into_iter().next() {
            None => Ok((0, GENESIS.to_string())),
            Some(item) => {
                let e: AuditEvent = serde_json::from_value(item.body)
                    .map_err(|e| PortError::Invalid(format!("stored audit event: {e}")))?;
                Ok((e.seq, e.hash))
            }
        }
    }

    /// A page of audit events (TRE admins): one chain in sequence order, or every chain in
    /// the order events were written.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> AppResult<Paged<AuditEvent>> {
        caller.require_admin("read the whole audit trail")?;
        let query = match &filter.chain {
            Some(chain) => Query {
                pk: keys::audit_chain_pk(chain),
                ..Default::default()
            },
            None => Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::AUDIT_LOG_PK.into(),
                ..Default::default()
            },
        };
        self.audit_page(query, filter, page).await
    }

    /// A page of one workspace's chain (its owners, and TRE admins).
    pub async fn workspace_audit(
        &self,
        caller: &Caller,
        workspace_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> AppResult<Paged<AuditEvent>> {
        self.check_workspace_audit(caller, workspace_id).await?;
        let query = Query {
            pk: keys::audit_chain_pk(workspace_id),
            ..Default::default()
        };
        let mut filter = filter.clone();
        filter.chain = Some(workspace_id.to_string());
        self.audit_page(query, &filter, page).await
    }

    /// May the caller read the workspace's chain? TRE admins and its owners may; anyone else
    /// with a role is refused, and a stranger finds no workspace.
    pub async fn check_workspace_audit(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> AppResult<()> {
        caller.require_user()?;
        if caller.is_admin() {
            return Ok(());
        }
        let roles = self.workspace_roles(caller.id(), workspace_id).await?;
        super::authz::check_workspace_visible(caller, workspace_id, &roles)?;
        if !roles.contains(&WorkspaceRole::WorkspaceOwner) {
            return Err(AppError::Forbidden(
                "only a TREAdmin or the workspace's owner reads its audit trail".into(),
            ));
        }
        Ok(())
    }

    /// Every chain that has events (TRE admins), so a verifier can walk them all.
    pub async fn audit_chains(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<String>> {
        caller.require_admin("read the whole audit trail")?;
        let mut walk = Walk::new(
            Query {
                pk: keys::AUDIT_CHAINS_PK.into(),
                ..Default::default()
            },
            page,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                if walk.push(item.key.sk.clone()) {
                    break;
                }
            }
        }
        Ok(walk.finish())
    }

    async fn audit_page(
        &self,
        query: Query,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> AppResult<Paged<AuditEvent>> {
        let mut walk = Walk::new(query, page);
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                let event: AuditEvent = serde_json::from_value(item.body)?;
                if filter.keeps(&event) && walk.push(event) {
                    break;
                }
            }
        }
        Ok(walk.finish())
    }
}

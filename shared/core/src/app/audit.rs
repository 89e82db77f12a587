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
/// The part of the chain list after `TRE` (a page position's `part`).
const WORKSPACE_CHAINS: &str = "workspaces";
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
    /// Events of other chains committed with this one (a change that also writes a record of
    /// another workspace).
    companions: Vec<AuditEntry>,
}

impl AuditEntry {
    /// `caller` did `action` (and it succeeded, unless marked refused).
    pub fn by(caller: &Caller, action: impl Into<String>) -> Self {
        Self::new(
            actor_of(caller),
            caller.context.clone(),
            action.into(),
            AuditOutcome::Succeeded,
        )
    }

    fn new(
        actor: AuditActor,
        request: Option<crate::domain::audit::RequestContext>,
        action: String,
        outcome: AuditOutcome,
    ) -> Self {
        Self {
            actor,
            request,
            action,
            outcome,
            workspace_id: None,
            resource_id: None,
            versioned: None,
            details: Map::new(),
            new_chain: false,
            with: Vec::new(),
            companions: Vec::new(),
        }
    }

    /// The control plane's own change (a reported status, a verdict), so that every version
    /// of a record is accounted for.
    pub fn system(action: impl Into<String>) -> Self {
        Self::new(
            AuditActor::system(),
            None,
            action.into(),
            AuditOutcome::Succeeded,
        )
    }

    /// A refused request (`caller` absent: no valid token).
    pub fn refusal(
        caller: Option<&Caller>,
        request: crate::domain::audit::RequestContext,
        status: u16,
        detail: &str,
    ) -> Self {
        let mut e = Self::new(
            caller.map(actor_of).unwrap_or_else(AuditActor::anonymous),
            Some(request),
            "request.refused".into(),
            AuditOutcome::Refused,
        );
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

    /// Also append `other` (an event of another chain) in the same transaction.
    pub fn with_companion(mut self, other: AuditEntry) -> Self {
        self.companions.push(other);
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

    fn event<'a>(
        &self,
        seq: u64,
        prev: String,
        at: DateTime<Utc>,
        id: String,
        ops: &'a [WriteOp],
    ) -> AuditEvent {
        let written = |op: &'a WriteOp| match op {
            WriteOp::Put {
                key,
                body,
                condition,
                ..
            } => match condition {
                Condition::Absent => Some((key, body, 1)),
                Condition::Version(v) => Some((key, body, v + 1)),
                Condition::Exists => None,
            },
            _ => None,
        };
        let resource_version = self.versioned.as_ref().and_then(|key| {
            ops.iter()
                .filter_map(written)
                .find_map(|(k, _, v)| (k == key).then_some(v))
        });
        // Each chain accounts for its own records; a record of another chain written in the
        // same transaction is that chain's companion event's to account for.
        let changed = ops
            .iter()
            .filter_map(written)
            .filter_map(|(k, body, v)| {
                let (id, chain) = keys::audited_record(k, body)?;
                (chain == self.chain()).then_some((id, v))
            })
            .collect();
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
            changed,
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
        // A companion of the main event's own chain adds nothing: that event accounts for
        // every record of its chain the change writes.
        let mut entries: Vec<&AuditEntry> = vec![entry];
        for c in &entry.companions {
            if entries.iter().all(|e| e.chain() != c.chain()) {
                entries.push(c);
            }
        }
        let mut guesses: Vec<Option<(u64, String)>> = entries
            .iter()
            .map(|e| {
                if e.new_chain {
                    Some((0, GENESIS.to_string()))
                } else {
                    self.audit_heads.get(e.chain())
                }
            })
            .collect();
        let mut all = Vec::with_capacity(ops.len() + 3 * entries.len());
        all.extend_from_slice(ops);
        for _ in 0..APPEND_ATTEMPTS {
            all.truncate(ops.len());
            let mut appended = Vec::with_capacity(entries.len());
            for (e, guess) in entries.iter().zip(guesses.iter_mut()) {
                let chain = e.chain().to_string();
                let (last, prev) = match guess.take() {
                    Some(head) => head,
                    None => self.audit_head(&chain).await?,
                };
                let event = e.event(last + 1, prev, self.clock.now(), self.ids.new_id(), ops);
                let (body, hash) = event
                    .sealed_json()
                    .map_err(|e| PortError::Invalid(format!("audit event: {e}")))?;
                let key = keys::audit_event(&chain, event.seq);
                all.extend(e.with.iter().cloned());
                all.push(WriteOp::Put {
                    key: key.clone(),
                    index: Some(keys::audit_log_index(&event.at, &chain, event.seq)),
                    body,
                    condition: Condition::Absent,
                });
                appended.push((chain, key, event.seq, hash));
            }
            match self.table.transact(&all).await {
                Ok(mut versions) => {
                    for (chain, _, seq, hash) in appended {
                        self.audit_heads.set(&chain, (seq, hash));
                    }
                    versions.truncate(ops.len());
                    if entries.iter().any(|e| !e.with.is_empty()) {
                        self.nudge_delivery().await;
                    }
                    return Ok(versions);
                }
                Err(PortError::ConditionFailed(why)) => {
                    // Lost the race for a position (or a remembered head was stale): read the
                    // heads and try again. Otherwise one of the change's own conditions
                    // failed, which is the caller's answer.
                    let mut raced = false;
                    for (chain, key, _, _) in &appended {
                        self.audit_heads.forget(chain);
                        raced |= self.table.get(key).await?.is_some();
                    }
                    if !raced {
                        return Err(PortError::ConditionFailed(why));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(PortError::Backend(format!(
            "the audit chain `{}` kept moving; try again",
            entry.chain()
        )))
    }

    /// Put `body` under `key` if the item is still at `version`, with `audit`'s event. Returns
    /// the new version.
    pub(super) async fn put_audited(
        &self,
        key: Key,
        body: serde_json::Value,
        version: u64,
        audit: AuditEntry,
    ) -> PortResult<u64> {
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
                sk_prefix: Some(keys::AUDIT_EVENT_PREFIX.into()),
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
                sk_prefix: Some(keys::AUDIT_EVENT_PREFIX.into()),
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
            sk_prefix: Some(keys::AUDIT_EVENT_PREFIX.into()),
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

    /// Every chain (TRE admins), so a verifier can walk them all: `TRE` once it has events,
    /// then every workspace's, in the order the workspaces were created. Every workspace has a
    /// chain from its creation (and no chain exists without its workspace, which is never
    /// removed), so the workspace list is the list of chains; a workspace made around the API
    /// is listed with no events, which `tre audit verify` reports.
    pub async fn audit_chains(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<String>> {
        caller.require_admin("read the whole audit trail")?;
        let mut items = Vec::new();
        let mut request = page.clone();
        if page.after.is_none() && self.audit_head(TRE_CHAIN).await?.0 > 0 {
            items.push(TRE_CHAIN.to_string());
            request.size = page.size.saturating_sub(1);
            if request.size == 0 {
                // The workspaces start on the next page.
                return Ok(Paged {
                    items,
                    next: Some(super::paging::PagePosition {
                        part: Some(WORKSPACE_CHAINS.into()),
                        ..Default::default()
                    }),
                });
            }
        }
        let mut walk = Walk::new(
            Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::resource_list_pk(crate::domain::ResourceKind::Workspace, "-"),
                ..Default::default()
            },
            &request,
        );
        while let Some(found) = walk.read(&*self.table).await? {
            for item in found {
                if !walk.fresh(&item) {
                    continue;
                }
                let Some(id) = item.key.pk.strip_prefix("RES#") else {
                    continue;
                };
                if walk.push(id.to_string()) {
                    break;
                }
            }
        }
        let mut got = walk.finish();
        if let Some(next) = &mut got.next {
            next.part = Some(WORKSPACE_CHAINS.into());
        }
        items.append(&mut got.items);
        Ok(Paged {
            items,
            next: got.next,
        })
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

impl App {
    /// Compare a chain with the store: every version of every record of the chain (for a
    /// workspace: it, its services, their user resources, its airlock requests; for `TRE`: the
    /// shared services and data sources) must have its event, and every workspace its chain.
    /// Reads the whole chain and every such record: a check an auditor runs, not a page.
    pub async fn reconcile_audit(
        &self,
        caller: &Caller,
        chain: &str,
    ) -> AppResult<crate::domain::audit::Reconciliation> {
        use crate::domain::audit::{reconcile, StoredRecord, Unaccounted};
        use crate::domain::ResourceKind as K;
        self.check_chain_audit(caller, chain).await?;
        let mut keys_of: HashMap<String, Key> = HashMap::new();
        let mut record = |kind: &'static str, item: &crate::ports::Item| {
            keys::audited_record(&item.key, &item.body).map(|(id, _)| {
                keys_of.insert(id.clone(), item.key.clone());
                StoredRecord {
                    id,
                    kind,
                    version: item.version,
                }
            })
        };
        let by_parent = |kind: K, parent: &str| Query {
            index: Some(INDEX_GSI1.into()),
            pk: keys::resource_list_pk(kind, parent),
            ..Default::default()
        };
        let mut records = Vec::new();
        let mut extra = Vec::new();
        if chain == TRE_CHAIN {
            for item in self.query_all(by_parent(K::SharedService, "-")).await? {
                records.extend(record("shared_service", &item));
            }
            for item in self
                .query_all(Query {
                    pk: keys::DATA_SOURCES_PK.into(),
                    sk_prefix: Some(keys::DATA_SOURCE_PREFIX.into()),
                    ..Default::default()
                })
                .await?
            {
                records.extend(record("data_source", &item));
            }
            // A workspace made around the API has no chain of its own.
            for ws in self.query_all(by_parent(K::Workspace, "-")).await? {
                let Some((id, _)) = keys::audited_record(&ws.key, &ws.body) else {
                    continue;
                };
                if self.audit_head(&id).await?.0 == 0 {
                    extra.push(Unaccounted {
                        record: id,
                        kind: "workspace".into(),
                        stored_version: Some(ws.version),
                        audited_version: 0,
                        reason: "the workspace has no audit chain: made around the API".into(),
                    });
                }
            }
        } else {
            let Some(ws) = self.table.get(&keys::resource(chain)).await? else {
                let events = self.chain_events(chain).await?;
                if events.is_empty() {
                    return Err(AppError::NotFound(format!(
                        "workspace `{chain}` not found and no audit chain has that name"
                    )));
                }
                return Ok(crate::domain::audit::Reconciliation {
                    chain: chain.to_string(),
                    events: events.len() as u64,
                    records: 0,
                    unaccounted: reconcile(&events, &[]),
                });
            };
            records.extend(record("workspace", &ws));
            for svc in self
                .query_all(by_parent(K::WorkspaceService, chain))
                .await?
            {
                records.extend(record("workspace_service", &svc));
                let Some((svc_id, _)) = keys::audited_record(&svc.key, &svc.body) else {
                    continue;
                };
                for ur in self.query_all(by_parent(K::UserResource, &svc_id)).await? {
                    records.extend(record("user_resource", &ur));
                }
            }
            for req in self
                .query_all(Query {
                    pk: keys::roles_pk(chain),
                    sk_prefix: Some(keys::AIRLOCK_REQUEST_PREFIX.into()),
                    ..Default::default()
                })
                .await?
            {
                records.extend(record("airlock_request", &req));
            }
        }
        // Records are read before events: a record's write commits its event with it, so every
        // version read is in the events read after. A write landing in between makes a record
        // look older than its trail; such records are read again.
        let events = self.chain_events(chain).await?;
        let mut unaccounted = reconcile(&events, &records);
        let mut reread = false;
        for u in &unaccounted {
            if u.stored_version.is_some_and(|v| v < u.audited_version) {
                if let Some(r) = records.iter_mut().find(|r| r.id == u.record) {
                    if let Some(key) = keys_of.get(&r.id) {
                        if let Some(item) = self.table.get(key).await? {
                            r.version = item.version;
                            reread = true;
                        }
                    }
                }
            }
        }
        if reread {
            unaccounted = reconcile(&events, &records);
        }
        unaccounted.extend(extra);
        Ok(crate::domain::audit::Reconciliation {
            chain: chain.to_string(),
            events: events.len() as u64,
            records: records.len() as u64,
            unaccounted,
        })
    }

    /// Whether `caller` may read `chain`: TRE admins any; a workspace's owners its own.
    pub async fn check_chain_audit(&self, caller: &Caller, chain: &str) -> AppResult<()> {
        if chain == TRE_CHAIN {
            caller.require_admin("read the TRE's audit chain")
        } else {
            self.check_workspace_audit(caller, chain).await
        }
    }

    async fn chain_events(&self, chain: &str) -> AppResult<Vec<AuditEvent>> {
        self.query_all(Query {
            pk: keys::audit_chain_pk(chain),
            sk_prefix: Some(keys::AUDIT_EVENT_PREFIX.into()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| Ok(serde_json::from_value(i.body)?))
        .collect()
    }
}

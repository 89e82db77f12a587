//! Audit events: who did what, to which resource, with what outcome. Events form one hash chain
//! per workspace (and one, `TRE`, for everything outside a workspace): each carries the hash of
//! the event before it, so removing, reordering or editing any event breaks the chain at that
//! point.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The chain of events that concern no workspace (templates, data sources, shared services,
/// refusals of callers outside any workspace).
pub const TRE_CHAIN: &str = "TRE";

/// `prev` of a chain's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acted, as their token said at the time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// Subject id (the token's `sub`); `anonymous` for a caller without a valid token.
    pub id: String,
    pub name: String,
    /// TRE roles the token carried.
    pub roles: Vec<String>,
}

impl AuditActor {
    pub fn anonymous() -> Self {
        Self {
            id: "anonymous".into(),
            name: String::new(),
            roles: Vec::new(),
        }
    }

    /// The control plane itself: a deployment's reported status, a scan's verdict, an import's
    /// result.
    pub fn system() -> Self {
        Self {
            id: SYSTEM_ACTOR.into(),
            name: "TRE control plane".into(),
            roles: Vec::new(),
        }
    }
}

/// The actor id of what the control plane does on its own.
pub const SYSTEM_ACTOR: &str = "system";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// The change was made (or the link or token issued).
    Succeeded,
    /// Authentication or authorisation refused the call; nothing changed.
    Refused,
}

/// Where an HTTP request came from, as the API saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    pub method: String,
    /// The route's template (`/api/workspaces/{workspace_id}`), or the path when no route matched.
    pub route: String,
    /// The client's address, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One audit event as stored and served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// The workspace id, or `TRE`.
    pub chain: String,
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    /// What was done, e.g. `workspace.create`, `airlock.download-link`, `request.refused`.
    pub action: String,
    pub outcome: AuditOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// The resource acted on (workspace, service, airlock request, data source, template...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The stored version the change left the resource at, where it wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<u64>,
    /// Every record (resource, airlock request, data source) the change wrote, by id, with the
    /// stored version the write left it at: what `tre audit verify` compares with the store, so
    /// a record changed without an event is found.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestContext>,
    /// What else identifies the action (file names, role names, HTTP status of a refusal);
    /// never a secret, a parameter value or file content.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
    /// Hash of the previous event of the chain ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this event's canonical JSON without `hash`.
    pub hash: String,
}

impl AuditEvent {
    /// The hash this event should carry: SHA-256 of its canonical JSON (keys sorted, no
    /// whitespace) with the `hash` field left out.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let Value::Object(m) = &mut value {
            m.remove("hash");
        }
        let mut text = String::new();
        canonical(&value, &mut text);
        Ok(hex::encode(Sha256::digest(text.as_bytes())))
    }

    /// Seal the event: set `hash` from its content.
    pub fn seal(mut self) -> Result<Self, serde_json::Error> {
        self.hash = self.compute_hash()?;
        Ok(self)
    }

    /// The sealed event as stored (its JSON with `hash` set) and its hash, from one
    /// serialization (what every audited write does, so it is kept cheap).
    pub fn sealed_json(&self) -> Result<(Value, String), serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let Value::Object(m) = &mut value {
            m.remove("hash");
        }
        let mut text = String::with_capacity(1024);
        canonical(&value, &mut text);
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        if let Value::Object(m) = &mut value {
            m.insert("hash".into(), Value::String(hash.clone()));
        }
        Ok((value, hash))
    }
}

/// JSON with object keys in byte order and no insignificant whitespace, independent of how
/// the serializer orders maps: the same event always hashes the same.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The first fault a walk of a chain finds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainBreak {
    pub chain: String,
    /// The sequence number of the first event that does not link (or the missing one).
    pub seq: u64,
    pub reason: String,
}

/// Check events of one chain, given in sequence order from `start` (1 for the whole chain)
/// after an event whose hash was `prev`. Returns the hash of the last event.
pub fn verify_links<'a>(
    chain: &str,
    mut expected_seq: u64,
    mut prev: String,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<String, ChainBreak> {
    for e in events {
        let brk = |reason: String| ChainBreak {
            chain: chain.to_string(),
            seq: expected_seq,
            reason,
        };
        if e.chain != chain {
            return Err(brk(format!(
                "event {} claims chain `{}`, but is stored in chain `{chain}`",
                e.seq, e.chain
            )));
        }
        if e.seq != expected_seq {
            return Err(brk(format!(
                "event {expected_seq} is missing (the next stored event is {})",
                e.seq
            )));
        }
        if e.prev != prev {
            return Err(brk(format!(
                "event {} does not link to the event before it (prev {} where that event's hash is {prev})",
                e.seq, e.prev
            )));
        }
        let hash = e
            .compute_hash()
            .map_err(|err| brk(format!("event {} cannot be hashed: {err}", e.seq)))?;
        if hash != e.hash {
            return Err(brk(format!(
                "event {} was changed after it was written (its content hashes to {hash}, it says {})",
                e.seq, e.hash
            )));
        }
        prev = hash;
        expected_seq += 1;
    }
    Ok(prev)
}

/// A record as the store holds it, for [`reconcile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub id: String,
    /// `workspace`, `workspace_service`, `user_resource`, `shared_service`, `airlock_request`
    /// or `data_source`.
    pub kind: &'static str,
    pub version: u64,
}

/// A record whose stored versions the audit trail does not account for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unaccounted {
    pub record: String,
    /// The record's kind, where the store still holds it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The version the store holds (absent: the trail names a record the store lacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_version: Option<u64>,
    /// The highest version the trail accounts for (0: none).
    pub audited_version: u64,
    pub reason: String,
}

/// What a chain's events and the store's records say of each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    pub chain: String,
    pub events: u64,
    pub records: u64,
    /// Empty when every stored version of every record has its event.
    pub unaccounted: Vec<Unaccounted>,
}

/// Every write of a record raises its stored version by one, and every write through the API
/// or the control plane records the version it left in its event. So each version from 1 to
/// the stored one must appear in the chain; a version without an event is a write that went
/// around the API, and a stored version below the trail's is an older copy put back.
pub fn reconcile<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
    records: &[StoredRecord],
) -> Vec<Unaccounted> {
    let mut seen: BTreeMap<&str, std::collections::BTreeSet<u64>> = BTreeMap::new();
    for e in events {
        for (id, v) in &e.changed {
            seen.entry(id.as_str()).or_default().insert(*v);
        }
    }
    let mut out = Vec::new();
    for r in records {
        let versions = seen.get(r.id.as_str());
        let audited = versions.and_then(|s| s.last().copied()).unwrap_or(0);
        let missing: Vec<u64> = (1..=r.version)
            .filter(|v| versions.is_none_or(|s| !s.contains(v)))
            .collect();
        let reason = if audited > r.version {
            format!(
                "the store holds version {} but the trail accounts for version {audited}: an older copy was put back",
                r.version
            )
        } else if !missing.is_empty() {
            format!(
                "{} {} no audit event: written around the API",
                version_list(&missing),
                if missing.len() == 1 { "has" } else { "have" }
            )
        } else {
            continue;
        };
        out.push(Unaccounted {
            record: r.id.clone(),
            kind: r.kind.to_string(),
            stored_version: Some(r.version),
            audited_version: audited,
            reason,
        });
    }
    // No record is ever removed (a deleted resource stays, marked deleted).
    for (id, versions) in &seen {
        if records.iter().all(|r| r.id != *id) {
            let audited = versions.last().copied().unwrap_or(0);
            out.push(Unaccounted {
                record: id.to_string(),
                kind: String::new(),
                stored_version: None,
                audited_version: audited,
                reason: format!(
                    "the trail accounts for version {audited} but the store no longer holds it: removed around the API"
                ),
            });
        }
    }
    out
}

/// "version 3", "versions 2, 5 and 7", at most ten named.
fn version_list(v: &[u64]) -> String {
    let named: Vec<String> = v.iter().take(10).map(u64::to_string).collect();
    let more = v.len().saturating_sub(named.len());
    match (named.len(), more) {
        (1, _) => format!("version {}", named[0]),
        (_, 0) => {
            let (last, rest) = named
                .split_last()
                .map_or(("", &[][..]), |(l, r)| (l.as_str(), r));
            format!("versions {} and {last}", rest.join(", "))
        }
        _ => format!("versions {} and {more} more", named.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, prev: &str) -> AuditEvent {
        AuditEvent {
            chain: "ws1".into(),
            seq,
            id: format!("e{seq}"),
            at: DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            actor: AuditActor::anonymous(),
            action: "workspace.update".into(),
            outcome: AuditOutcome::Succeeded,
            workspace_id: Some("ws1".into()),
            resource_id: Some("ws1".into()),
            resource_version: Some(seq),
            changed: Default::default(),
            request: None,
            details: Map::new(),
            prev: prev.into(),
            hash: String::new(),
        }
        .seal()
        .unwrap()
    }

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map(|e| e.hash.clone()).unwrap_or(GENESIS.into());
            out.push(event(seq, &prev));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(4);
        assert_eq!(
            verify_links("ws1", 1, GENESIS.into(), &c).unwrap(),
            c[3].hash
        );
    }

    #[test]
    fn the_hash_ignores_map_order_and_covers_every_field() {
        let a = event(1, GENESIS);
        let text = serde_json::to_string(&a).unwrap();
        let back: AuditEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back.compute_hash().unwrap(), a.hash);
        let mut b = a.clone();
        b.actor.name = "someone else".into();
        assert_ne!(b.compute_hash().unwrap(), a.hash);
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut c = chain(4);
        c[2].action = "workspace.delete".into();
        let brk = verify_links("ws1", 1, GENESIS.into(), &c).unwrap_err();
        assert_eq!(brk.seq, 3);
        assert!(brk.reason.contains("changed after"), "{}", brk.reason);
    }

    #[test]
    fn a_removed_event_is_named() {
        let mut c = chain(4);
        c.remove(1);
        let brk = verify_links("ws1", 1, GENESIS.into(), &c).unwrap_err();
        assert_eq!(brk.seq, 2);
        assert!(brk.reason.contains("missing"), "{}", brk.reason);
    }

    #[test]
    fn a_rewritten_tail_that_does_not_link_is_named() {
        let mut c = chain(3);
        c[2] = event(3, GENESIS);
        let brk = verify_links("ws1", 1, GENESIS.into(), &c).unwrap_err();
        assert_eq!(brk.seq, 3);
        assert!(brk.reason.contains("does not link"), "{}", brk.reason);
    }

    fn record(id: &str, version: u64) -> StoredRecord {
        StoredRecord {
            id: id.into(),
            kind: "workspace",
            version,
        }
    }

    #[test]
    fn reconcile_names_versions_written_without_an_event() {
        let mut c = chain(3);
        c[0].changed.insert("ws1".into(), 1);
        c[1].changed.insert("ws1".into(), 2);
        c[2].changed.insert("ws1".into(), 3);
        c[2].changed.insert("svc".into(), 1);
        assert!(reconcile(&c, &[record("ws1", 3), record("svc", 1)]).is_empty());
        let found = reconcile(&c, &[record("ws1", 5), record("svc", 2), record("new", 1)]);
        let reasons: Vec<(&str, &str)> = found
            .iter()
            .map(|u| (u.record.as_str(), u.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "ws1",
                    "versions 4 and 5 have no audit event: written around the API"
                ),
                (
                    "svc",
                    "version 2 has no audit event: written around the API"
                ),
                (
                    "new",
                    "version 1 has no audit event: written around the API"
                ),
            ]
        );
        let older = reconcile(&c, &[record("ws1", 2)]);
        assert_eq!(older[0].audited_version, 3);
        assert!(
            older[0].reason.contains("older copy"),
            "{}",
            older[0].reason
        );
        let gone = reconcile(&c, &[record("ws1", 3)]);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].record, "svc");
        assert_eq!(gone[0].stored_version, None);
        assert!(gone[0].reason.contains("removed"), "{}", gone[0].reason);
    }

    #[test]
    fn sealed_json_is_the_sealed_event() {
        let e = event(1, GENESIS);
        let (body, hash) = e.sealed_json().unwrap();
        let sealed = e.clone().seal().unwrap();
        assert_eq!(hash, sealed.hash);
        assert_eq!(body, serde_json::to_value(&sealed).unwrap());
    }

    #[test]
    fn version_lists_read_well() {
        assert_eq!(version_list(&[2, 5, 7]), "versions 2, 5 and 7");
        assert_eq!(
            version_list(&(1..=12).collect::<Vec<_>>()),
            "versions 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more"
        );
    }
}

//! `tre audit`: the audit trail (TRE admins; a workspace's owners for its own chain): list
//! events, export chains as JSON Lines, and verify chains' hash links here, on the client.
//!
//! Verifying the server's answers proves the stored chain is unbroken, and the API's
//! reconciliation of each chain with the store names every record version written without an
//! event (a write around the API); verifying an export proves the file was not altered since
//! (every line present from seq 1 is the event as it was written). Neither can see events cut
//! off a chain's end: compare the last hash.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tre_core::domain::audit::{verify_links, AuditEvent, ChainBreak, GENESIS};

use crate::client::ApiClient;
use crate::output::{Format, Output};

/// `verify`'s exit code when a chain is broken (an error that stopped the check exits 2).
pub const EXIT_BROKEN: i32 = 1;
/// `verify`'s exit code when it could not check (the API unreachable or refusing, a file that
/// cannot be read): distinct from a broken chain, as clap's usage errors are.
pub const EXIT_UNVERIFIED: i32 = 2;

/// Widest a table cell may be on a terminal (as `output`'s tables).
const MAX_CELL: usize = 40;

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Events, every page: one workspace's chain (`--workspace`, for its owners too) or one
    /// chain (`--chain`, a workspace id or `TRE`) in sequence order, else every event in the
    /// order written (TREAdmin).
    List {
        #[command(flatten)]
        chain: OneChain,
        #[command(flatten)]
        filters: Filters,
    },
    /// Write chains as JSON Lines, one event per line as served (so their hashes verify), to
    /// `--out FILE` or stdout.
    Export {
        #[command(flatten)]
        source: ExportSource,
        /// The file to write (replaced only once the whole export is written).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check chains' hash links here, and have the API hold each chain against the records it
    /// stores (every version must have its event): every chain the API lists (the default),
    /// one chain, or an export (`--file`, links only). Exits 1 when a chain is broken or a
    /// record has versions without events, 2 when it could not check.
    Verify(VerifySource),
}

/// At most one chain.
#[derive(Args, Debug)]
pub struct OneChain {
    /// A workspace's chain, through the workspace's route (its owners may read it).
    #[arg(long, conflicts_with = "chain")]
    workspace: Option<String>,
    /// One chain by name (a workspace id, or `TRE`), through the admin route.
    #[arg(long)]
    chain: Option<String>,
}

/// The API's filters (all must hold).
#[derive(Args, Debug)]
pub struct Filters {
    /// Only events of this subject id.
    #[arg(long)]
    actor: Option<String>,
    /// Only events about this resource id.
    #[arg(long)]
    resource: Option<String>,
    /// Only this action (`workspace.create`), or those starting so when it ends in `.`
    /// (`airlock.`).
    #[arg(long)]
    action: Option<String>,
    /// Only events at or after this time (RFC 3339, `2026-12-02T10:00:00Z`).
    #[arg(long)]
    from: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ExportSource {
    /// A workspace's chain, through the workspace's route (its owners may export it).
    #[arg(long)]
    workspace: Option<String>,
    /// One chain by name (a workspace id, or `TRE`).
    #[arg(long)]
    chain: Option<String>,
    /// Every chain the API lists, each in sequence order.
    #[arg(long)]
    all: bool,
}

#[derive(Args, Debug)]
#[group(multiple = false)]
pub struct VerifySource {
    /// A workspace's chain, through the workspace's route (its owners may verify it).
    #[arg(long)]
    workspace: Option<String>,
    /// One chain by name (a workspace id, or `TRE`).
    #[arg(long)]
    chain: Option<String>,
    /// Every chain the API lists (the default).
    #[arg(long)]
    all: bool,
    /// An export (`tre audit export`): its lines grouped by chain, each chain's in sequence
    /// order.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

/// How `tre audit` prints, from the global options.
pub struct View {
    /// Our own tables (an audit event has columns of its own); JSON, and a `--query`'s
    /// result in either format, go through `Output`.
    table: bool,
    /// `--page-size`, for the listings read a page at a time.
    page_size: Option<u32>,
}

impl View {
    pub fn new(format: Option<Format>, query: bool, page_size: Option<u32>) -> Self {
        let terminal = std::io::stdout().is_terminal();
        // The same default as `Output`: a table on a terminal, JSON into a pipe.
        let format = format.unwrap_or(if terminal {
            Format::Table
        } else {
            Format::Json
        });
        Self {
            table: format == Format::Table && !query,
            page_size,
        }
    }
}

/// What `tre audit` found: for `verify`, whether every chain held.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Done,
    Broken,
}

impl AuditAction {
    pub fn is_verify(&self) -> bool {
        matches!(self, Self::Verify(_))
    }
}

/// Exit as `tre audit` should: a broken chain exits [`EXIT_BROKEN`]; an error of `verify`
/// is printed as every error is and exits [`EXIT_UNVERIFIED`]; other errors are returned.
pub fn finish(verifying: bool, outcome: anyhow::Result<Verdict>) -> anyhow::Result<()> {
    let code = match outcome {
        Ok(Verdict::Done) => return Ok(()),
        Ok(Verdict::Broken) => EXIT_BROKEN,
        Err(e) if verifying => {
            eprintln!("Error: {e:?}");
            EXIT_UNVERIFIED
        }
        Err(e) => return Err(e),
    };
    // `exit` runs no destructors: what was printed must be out first.
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where a chain's events are read, in sequence order.
fn chain_path(workspace: Option<&str>, chain: Option<&str>) -> String {
    match (workspace, chain) {
        (Some(ws), _) => format!("/api/workspaces/{}/audit", enc(ws)),
        (None, Some(chain)) => format!("/api/audit?chain={}", enc(chain)),
        (None, None) => "/api/audit".into(),
    }
}

pub async fn run(
    c: &ApiClient,
    out: &Output,
    view: &View,
    action: AuditAction,
) -> anyhow::Result<Verdict> {
    match action {
        AuditAction::List { chain, filters } => {
            list(c, out, view, chain, filters).await?;
            Ok(Verdict::Done)
        }
        AuditAction::Export { source, out: file } => {
            export(c, view, source, file.as_deref()).await?;
            Ok(Verdict::Done)
        }
        AuditAction::Verify(source) => verify(c, out, view, source).await,
    }
}

async fn list(
    c: &ApiClient,
    out: &Output,
    view: &View,
    chain: OneChain,
    f: Filters,
) -> anyhow::Result<()> {
    let mut path = chain_path(chain.workspace.as_deref(), chain.chain.as_deref());
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let filters = [
        ("actor", &f.actor),
        ("resource", &f.resource),
        ("action", &f.action),
        ("from", &f.from),
        ("to", &f.to),
    ];
    for (name, value) in filters {
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    let q = q.finish();
    if !q.is_empty() {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&q);
    }
    let answer = c.get_all(&path).await?;
    if !view.table {
        return Ok(out.emit(&answer)?);
    }
    let Some(events) = answer.get("auditEvents").and_then(Value::as_array) else {
        bail!("GET {path}: the answer has no `auditEvents` list");
    };
    // One chain needs no chain column; every event in the order written does.
    let across = chain.workspace.is_none() && chain.chain.is_none();
    let mut headers = vec!["SEQ", "AT", "ACTOR", "ACTION", "OUTCOME", "RESOURCE"];
    if across {
        headers.insert(0, "CHAIN");
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let at = e["at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| text(&e["at"]));
            let mut row = vec![
                text(&e["seq"]),
                at,
                text(&e["actor"]["id"]),
                text(&e["action"]),
                text(&e["outcome"]),
                text(&e["resourceId"]),
            ];
            if across {
                row.insert(0, text(&e["chain"]));
            }
            row
        })
        .collect();
    let terminal = std::io::stdout().is_terminal();
    print_table(&headers, &rows, terminal.then_some(MAX_CELL))?;
    Ok(())
}

/// A table as `output` draws one: columns two spaces apart, cells cut at `width`; no rows, no
/// table.
fn print_table(headers: &[&str], rows: &[Vec<String>], width: Option<usize>) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let fit = |s: &str| match width {
        Some(w) if s.chars().count() > w => {
            let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
            t.push('…');
            t
        }
        _ => s.to_string(),
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| fit(c)).collect())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header)
                .chain(&body)
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&body) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// A listing read a page at a time (each names the next in `nextLink`), so a long chain is
/// never held whole.
struct Pages<'a> {
    c: &'a ApiClient,
    /// The list's key in each page (`auditEvents`, `chains`).
    key: &'static str,
    next: Option<String>,
}

impl<'a> Pages<'a> {
    fn new(c: &'a ApiClient, path: &str, key: &'static str, page_size: Option<u32>) -> Self {
        // Each `nextLink` keeps the first request's query, `page_size` included.
        let first = match page_size {
            Some(n) if path.contains('?') => format!("{path}&page_size={n}"),
            Some(n) => format!("{path}?page_size={n}"),
            None => path.to_string(),
        };
        Self {
            c,
            key,
            next: Some(first),
        }
    }

    async fn next(&mut self) -> anyhow::Result<Option<Vec<Value>>> {
        let Some(path) = self.next.take() else {
            return Ok(None);
        };
        let mut page = self.c.get(&path).await?;
        let items = match page.get_mut(self.key).map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => bail!("GET {path}: the answer has no `{}` list", self.key),
        };
        self.next = page.get("nextLink").and_then(Value::as_str).map(api_path);
        Ok(Some(items))
    }
}

/// A `nextLink` as the client asks for it: the path and query (the API gives them alone; an
/// absolute link is taken to the same API).
fn api_path(link: &str) -> String {
    match url::Url::parse(link) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => link.to_string(),
    }
}

/// Every chain the API lists (TREAdmin).
async fn all_chains(c: &ApiClient, view: &View) -> anyhow::Result<Vec<String>> {
    let mut pages = Pages::new(c, "/api/audit/chains", "chains", view.page_size);
    let mut names = Vec::new();
    while let Some(items) = pages.next().await? {
        for item in items {
            match item.get("chain").and_then(Value::as_str) {
                Some(name) => names.push(name.to_string()),
                None => bail!("GET /api/audit/chains: an entry without a `chain`: {item}"),
            }
        }
    }
    Ok(names)
}

/// The chains asked for, each with where its events are read.
async fn chains_asked(
    c: &ApiClient,
    view: &View,
    workspace: Option<String>,
    chain: Option<String>,
) -> anyhow::Result<Vec<(String, String)>> {
    Ok(match (workspace, chain) {
        (Some(ws), _) => vec![(chain_path(Some(&ws), None), ws)],
        (None, Some(chain)) => vec![(chain_path(None, Some(&chain)), chain)],
        (None, None) => all_chains(c, view)
            .await?
            .into_iter()
            .map(|chain| (chain_path(None, Some(&chain)), chain))
            .collect(),
    })
}

async fn export(
    c: &ApiClient,
    view: &View,
    source: ExportSource,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let all = source.all;
    let chains = chains_asked(c, view, source.workspace, source.chain).await?;
    match file {
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let n = write_chains(c, view, &chains, all, &mut w).await?;
            w.flush()?;
            eprintln!(
                "exported {} of {}",
                event_count(n),
                chain_count(chains.len())
            );
        }
        Some(path) => {
            // Written beside the file and moved over it once whole: a cut-short export would
            // verify (a chain's first events link), so none is ever left under the name.
            let name = path
                .file_name()
                .with_context(|| format!("--out {} names no file", path.display()))?;
            let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
            let written = async {
                let f = std::fs::File::create(&partial)
                    .with_context(|| format!("creating {}", partial.display()))?;
                let mut w = std::io::BufWriter::new(f);
                let n = write_chains(c, view, &chains, all, &mut w).await?;
                let f = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("writing {}", partial.display()))?;
                f.sync_all()
                    .with_context(|| format!("writing {}", partial.display()))?;
                std::fs::rename(&partial, path).with_context(|| {
                    format!("moving {} to {}", partial.display(), path.display())
                })?;
                anyhow::Ok(n)
            }
            .await;
            match written {
                Ok(n) => eprintln!(
                    "exported {} of {} to {}",
                    event_count(n),
                    chain_count(chains.len()),
                    path.display()
                ),
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// A chain asked for by name that has none: a mistyped name, most likely.
fn no_events(chain: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the audit chain `{chain}` has no events: it is not a workspace id or `TRE`, or every \
         event of it is gone (`tre audit verify --all` checks every chain the API lists)"
    )
}

/// Each chain's events, one JSON object per line; returns how many.
async fn write_chains(
    c: &ApiClient,
    view: &View,
    chains: &[(String, String)],
    all: bool,
    w: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut n = 0;
    for (path, chain) in chains {
        let before = n;
        let mut pages = Pages::new(c, path, "auditEvents", view.page_size);
        while let Some(events) = pages.next().await? {
            for e in events {
                serde_json::to_writer(&mut *w, &e)?;
                w.write_all(b"\n")?;
                n += 1;
            }
        }
        if n == before && !all {
            return Err(no_events(chain));
        }
    }
    Ok(n)
}

/// One chain walked from its first event, an event at a time.
struct ChainCheck {
    chain: String,
    next_seq: u64,
    prev: String,
    broken: Option<ChainBreak>,
    /// What the API's reconciliation of the chain found unaccounted for (`None`: not asked, as
    /// for an export).
    unaccounted: Option<Vec<Value>>,
}

impl ChainCheck {
    fn new(chain: &str) -> Self {
        Self {
            chain: chain.to_string(),
            next_seq: 1,
            prev: GENESIS.to_string(),
            broken: None,
            unaccounted: None,
        }
    }

    /// Check the chain's next event; after the first break nothing more is looked at.
    fn push(&mut self, v: &Value) {
        if self.broken.is_some() {
            return;
        }
        let brk = |reason: String| ChainBreak {
            chain: self.chain.clone(),
            seq: self.next_seq,
            reason,
        };
        let step = event_as_hashed(v).map_err(brk).and_then(|e| {
            if e.seq < self.next_seq {
                // `verify_links` would call the one expected missing; it came earlier.
                return Err(ChainBreak {
                    chain: self.chain.clone(),
                    seq: e.seq,
                    reason: format!(
                        "event {} comes again after event {} (a chain's events must be in sequence order)",
                        e.seq,
                        self.next_seq - 1
                    ),
                });
            }
            verify_links(&self.chain, self.next_seq, self.prev.clone(), [&e])
        });
        match step {
            Ok(hash) => {
                self.prev = hash;
                self.next_seq += 1;
            }
            Err(b) => self.broken = Some(b),
        }
    }

    /// The events that verified.
    fn verified(&self) -> u64 {
        self.next_seq - 1
    }

    fn report(&self) -> Value {
        let mut r = match &self.broken {
            None => json!({
                "chain": self.chain,
                "events": self.verified(),
                "lastHash": self.prev,
            }),
            Some(b) => json!({
                "chain": self.chain,
                "events": self.verified(),
                "brokenAt": b.seq,
                "reason": b.reason,
            }),
        };
        if let Some(u) = &self.unaccounted {
            r["unaccounted"] = Value::Array(u.clone());
        }
        r
    }

    fn unaccounted(&self) -> &[Value] {
        self.unaccounted.as_deref().unwrap_or_default()
    }
}

/// The event a line or list entry holds, provided its hash covers all of it: a field the
/// event does not have (or a value it would not write so) is content no hash vouches for.
fn event_as_hashed(v: &Value) -> Result<AuditEvent, String> {
    let seq = v.get("seq").map_or_else(|| "?".into(), Value::to_string);
    let e: AuditEvent = serde_json::from_value(v.clone())
        .map_err(|err| format!("event {seq} is not a well-formed audit event: {err}"))?;
    let again = serde_json::to_value(&e)
        .map_err(|err| format!("event {seq} cannot be written back: {err}"))?;
    if &again != v {
        let (Some(have), Some(want)) = (v.as_object(), again.as_object()) else {
            return Err(format!("event {seq} is not a JSON object"));
        };
        let mut fields: Vec<&str> = have
            .keys()
            .chain(want.keys())
            .filter(|k| have.get(*k) != want.get(*k))
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        fields.dedup();
        return Err(format!(
            "event {seq} holds content its hash does not cover (fields {})",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(e)
}

async fn verify(
    c: &ApiClient,
    out: &Output,
    view: &View,
    source: VerifySource,
) -> anyhow::Result<Verdict> {
    let checks = match source.file {
        Some(file) => verify_file(&file)?,
        None => {
            let named = source.workspace.is_some() || source.chain.is_some();
            let mut checks = Vec::new();
            for (path, chain) in chains_asked(c, view, source.workspace, source.chain).await? {
                let mut check = ChainCheck::new(&chain);
                let mut pages = Pages::new(c, &path, "auditEvents", view.page_size);
                let mut seen = 0;
                while let Some(events) = pages.next().await? {
                    seen += events.len();
                    events.iter().for_each(|e| check.push(e));
                    if check.broken.is_some() {
                        break;
                    }
                }
                if seen == 0 {
                    if named {
                        return Err(no_events(&chain));
                    }
                    // Listed because its first event was written: that event is gone.
                    check.broken = Some(ChainBreak {
                        chain: chain.clone(),
                        seq: 1,
                        reason: "event 1 is missing (the chain is listed but has no events)".into(),
                    });
                }
                let reconciled = c
                    .get(&format!("/api/audit/chains/{}/reconciliation", enc(&chain)))
                    .await
                    .with_context(|| format!("reconciling the audit chain `{chain}`"))?;
                check.unaccounted = Some(
                    reconciled
                        .get("unaccounted")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
                checks.push(check);
            }
            checks
        }
    };
    if view.table {
        let mut text = String::new();
        for c in &checks {
            let line = match &c.broken {
                None => format!(
                    "{}: {}, last hash {}\n",
                    c.chain,
                    event_count(c.verified()),
                    c.prev
                ),
                Some(b) => format!(
                    "{}: BROKEN at seq {} ({} before it verified): {}\n",
                    c.chain,
                    b.seq,
                    event_count(c.verified()),
                    b.reason
                ),
            };
            text.push_str(&line);
            for u in c.unaccounted() {
                text.push_str(&format!("  {}\n", unaccounted_line(u)));
            }
        }
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        let reports: Vec<Value> = checks.iter().map(ChainCheck::report).collect();
        out.emit(&json!({ "chains": reports }))?;
    }
    let mut verdict = Verdict::Done;
    for b in checks.iter().filter_map(|c| c.broken.as_ref()) {
        eprintln!(
            "audit chain `{}` is broken at seq {}: {}",
            b.chain, b.seq, b.reason
        );
        verdict = Verdict::Broken;
    }
    for c in &checks {
        for u in c.unaccounted() {
            eprintln!("audit chain `{}`: {}", c.chain, unaccounted_line(u));
            verdict = Verdict::Broken;
        }
    }
    if checks.is_empty() {
        eprintln!("no audit chains to verify");
    }
    Ok(verdict)
}

/// `workspace_service svc-1: version 4 has no audit event: written around the API`
fn unaccounted_line(u: &Value) -> String {
    let text = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or_default();
    let kind = text("kind");
    format!(
        "{}{}{}: {}",
        kind,
        if kind.is_empty() { "" } else { " " },
        text("record"),
        text("reason")
    )
}

fn chain_count(n: usize) -> String {
    match n {
        1 => "1 chain".into(),
        n => format!("{n} chains"),
    }
}

fn event_count(n: u64) -> String {
    match n {
        1 => "1 event".into(),
        n => format!("{n} events"),
    }
}

/// An export's chains, in the order each first appears, each checked line by line.
fn verify_file(file: &Path) -> anyhow::Result<Vec<ChainCheck>> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut checks: Vec<ChainCheck> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let at = || format!("{} line {}", file.display(), i + 1);
        let line = line.with_context(|| format!("reading {}", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{} is not JSON (an export has one event per line)", at()))?;
        let Some(chain) = v.get("chain").and_then(Value::as_str) else {
            bail!("{} is not an audit event: it names no `chain`", at());
        };
        let n = match index.get(chain) {
            Some(&n) => n,
            None => {
                checks.push(ChainCheck::new(chain));
                index.insert(chain.to_string(), checks.len() - 1);
                checks.len() - 1
            }
        };
        checks[n].push(&v);
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tre_core::domain::audit::{AuditActor, AuditOutcome};

    fn chain(n: u64) -> Vec<Value> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let e = AuditEvent {
                    chain: "ws1".into(),
                    seq,
                    id: format!("e{seq}"),
                    at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
                    actor: AuditActor::anonymous(),
                    action: "workspace.update".into(),
                    outcome: AuditOutcome::Succeeded,
                    workspace_id: Some("ws1".into()),
                    resource_id: Some("ws1".into()),
                    resource_version: Some(seq),
                    changed: Default::default(),
                    request: None,
                    details: serde_json::Map::new(),
                    prev: prev.clone(),
                    hash: String::new(),
                }
                .seal()
                .expect("seal");
                prev = e.hash.clone();
                serde_json::to_value(&e).expect("json")
            })
            .collect()
    }

    fn check(events: &[Value]) -> ChainCheck {
        let mut c = ChainCheck::new("ws1");
        events.iter().for_each(|e| c.push(e));
        c
    }

    #[test]
    fn an_intact_chain_reports_its_count_and_last_hash() {
        let events = chain(3);
        let c = check(&events);
        assert!(c.broken.is_none());
        assert_eq!(c.verified(), 3);
        assert_eq!(c.report()["lastHash"], events[2]["hash"]);
    }

    #[test]
    fn a_field_the_hash_does_not_cover_breaks_the_chain() {
        let mut events = chain(3);
        events[1]["approvedBy"] = json!("someone");
        let c = check(&events);
        let b = c.broken.expect("broken");
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("`approvedBy`"), "{}", b.reason);
    }

    #[test]
    fn an_event_out_of_order_is_named_as_such() {
        let mut events = chain(3);
        events.swap(1, 2);
        let c = check(&events);
        let b = c.broken.expect("broken");
        // Event 3 in place of 2: 2 is missing there.
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("missing"), "{}", b.reason);
        let mut again = chain(3);
        again.push(again[1].clone());
        let b = check(&again).broken.expect("broken");
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("comes again"), "{}", b.reason);
    }

    #[test]
    fn next_links_are_paths_of_the_same_api() {
        assert_eq!(
            api_path("http://h:1/api/audit?chain=TRE&page_token=x"),
            "/api/audit?chain=TRE&page_token=x"
        );
        assert_eq!(
            api_path("/api/audit?page_token=x"),
            "/api/audit?page_token=x"
        );
    }
}

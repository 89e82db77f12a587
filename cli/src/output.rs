//! How commands print what the API answered: `--output table|json` and `--query` (JMESPath).
//!
//! `--query` runs on the *subject* of an answer: for a list, the array of its items (after every
//! page was fetched); for a single item, the item without its envelope (`{"workspace": {...}}`
//! becomes the workspace). Without `--query`, JSON output is the API's answer as it came.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Widest a cell may be on a terminal; wider ones end in `…` (all of it goes to a pipe).
const MAX_CELL: usize = 40;

pub struct Output {
    format: Format,
    query: Option<String>,
    terminal: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("--query `{expr}` is not a valid JMESPath expression: {reason}")]
    BadQuery { expr: String, reason: String },
    #[error("--query `{expr}` failed: {reason}")]
    QueryFailed { expr: String, reason: String },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Output {
    /// `format` as asked, else a table on a terminal and JSON into a pipe or file. The query is
    /// compiled here so a bad one fails before any request is sent.
    pub fn new(format: Option<Format>, query: Option<String>) -> Result<Self, OutputError> {
        let terminal = std::io::stdout().is_terminal();
        if let Some(expr) = &query {
            compile(expr)?;
        }
        Ok(Self {
            format: format.unwrap_or(if terminal {
                Format::Table
            } else {
                Format::Json
            }),
            query,
            terminal,
        })
    }

    /// Print one answer of the API.
    pub fn emit(&self, answer: &Value) -> Result<(), OutputError> {
        let text = self.render(answer)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Print a document (the OpenAPI document, the route list): always JSON, `--query` on the
    /// whole of it, as no table would show a document usefully.
    pub fn emit_document(&self, doc: &Value) -> Result<(), OutputError> {
        let shown = match &self.query {
            Some(expr) => query(expr, doc)?,
            None => doc.clone(),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
        Ok(())
    }

    fn render(&self, answer: &Value) -> Result<String, OutputError> {
        let shown = match &self.query {
            Some(expr) => query(expr, subject(answer))?,
            None => answer.clone(),
        };
        Ok(match self.format {
            Format::Json => format!("{}\n", serde_json::to_string_pretty(&shown)?),
            Format::Table => {
                let width = self.terminal.then_some(MAX_CELL);
                match self.query {
                    // A query's result is shown as it is: a table only when it is one.
                    Some(_) => table_or_lines(&shown, width),
                    None => table_or_lines(subject(answer), width),
                }
            }
        })
    }
}

fn compile(expr: &str) -> Result<jmespath::Expression<'static>, OutputError> {
    jmespath::compile(expr).map_err(|e| OutputError::BadQuery {
        expr: expr.to_string(),
        reason: e.to_string(),
    })
}

fn query(expr: &str, data: &Value) -> Result<Value, OutputError> {
    let failed = |e: jmespath::JmespathError| OutputError::QueryFailed {
        expr: expr.to_string(),
        reason: e.to_string(),
    };
    let result = compile(expr)?.search(data).map_err(failed)?;
    Ok(serde_json::to_value(&*result)?)
}

/// The list or item an answer is about: the value of a one-key envelope whose value is an
/// object or array (`{"workspaces": [...]}`, `{"operation": {...}}`), else the answer itself.
pub fn subject(answer: &Value) -> &Value {
    match answer.as_object() {
        Some(o) if o.len() == 1 => match o.values().next() {
            Some(v @ (Value::Array(_) | Value::Object(_))) => v,
            _ => answer,
        },
        _ => answer,
    }
}

/// A column: its heading and where its value is in an item.
type Column = (&'static str, &'static [&'static str]);

const RESOURCE: &[Column] = &[
    ("ID", &["id"]),
    ("DISPLAY NAME", &["properties", "display_name"]),
    ("TEMPLATE", &["templateName"]),
    ("VERSION", &["templateVersion"]),
    ("STATUS", &["deploymentStatus"]),
    ("ENABLED", &["isEnabled"]),
    ("UPDATED", &["updatedWhen"]),
];
const AIRLOCK: &[Column] = &[
    ("ID", &["id"]),
    ("TYPE", &["type"]),
    ("STATUS", &["status"]),
    ("TITLE", &["title"]),
    ("UPDATED", &["updatedWhen"]),
];
const OPERATION: &[Column] = &[
    ("ID", &["id"]),
    ("ACTION", &["action"]),
    ("STATUS", &["status"]),
    ("MESSAGE", &["message"]),
    ("RESOURCE", &["resourcePath"]),
    ("UPDATED", &["updatedWhen"]),
];
const TEMPLATE: &[Column] = &[
    ("NAME", &["name"]),
    ("VERSION", &["version"]),
    ("TITLE", &["title"]),
    ("DESCRIPTION", &["description"]),
];
const DATASOURCE: &[Column] = &[
    ("ID", &["id"]),
    ("DISPLAY NAME", &["displayName"]),
    ("KIND", &["kind"]),
    ("STATE", &["dataState"]),
    ("LICENCE", &["licence"]),
    ("UPDATED", &["updatedAt"]),
];
const BOUND_DATASOURCE: &[Column] = &[
    ("ID", &["dataSourceId"]),
    ("DISPLAY NAME", &["displayName"]),
    ("LICENCE", &["licence"]),
    ("PREFIX", &["prefix"]),
    ("BOUND", &["boundAt"]),
];
const ROLE: &[Column] = &[("PRINCIPAL", &["principalId"]), ("ROLE", &["role"])];

/// The columns for items like `item`: by what kind of thing it is, else its plain fields.
fn columns_for(item: &serde_json::Map<String, Value>) -> Vec<(String, Vec<String>)> {
    let has = |k: &str| item.contains_key(k);
    let known = if has("templateName") && has("deploymentStatus") {
        Some(RESOURCE)
    } else if has("businessJustification") || (has("type") && has("files")) {
        Some(AIRLOCK)
    } else if has("action") && has("resourcePath") {
        Some(OPERATION)
    } else if has("dataState") {
        Some(DATASOURCE)
    } else if has("dataSourceId") && has("prefix") {
        Some(BOUND_DATASOURCE)
    } else if has("principalId") && has("role") {
        Some(ROLE)
    } else if has("name") && (has("version") || has("resourceType")) {
        Some(TEMPLATE)
    } else {
        None
    };
    match known {
        Some(cols) => cols
            .iter()
            .map(|(h, p)| (h.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect(),
        None => item
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, _)| (k.clone(), vec![k.clone()]))
            .collect(),
    }
}

/// An item of a list as shown in a row: airlock lists wrap each request with the caller's
/// allowed actions, and the request is what a row is about.
fn row_item(v: &Value) -> Option<&serde_json::Map<String, Value>> {
    let o = v.as_object()?;
    match o.get("airlockRequest").and_then(Value::as_object) {
        Some(inner) => Some(inner),
        None => Some(o),
    }
}

fn table_or_lines(v: &Value, width: Option<usize>) -> String {
    // An answer of several things (an accepted change: its operation and its resource) is a
    // table for each, under its name.
    if let Some(o) = v.as_object() {
        let parts = o.values().all(|x| x.is_object() || x.is_array());
        if parts && !o.is_empty() && !o.contains_key("airlockRequest") {
            return o
                .iter()
                .filter(|(_, x)| x.is_object() || x.is_array())
                .map(|(k, x)| format!("{k}:\n{}", table_or_lines(x, width)))
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => return lines(v),
    };
    let rows: Option<Vec<_>> = items.iter().map(|i| row_item(i)).collect();
    match rows {
        Some(rows) if !rows.is_empty() || v.is_array() => table(&rows, width),
        _ => lines(v),
    }
}

fn table(rows: &[&serde_json::Map<String, Value>], width: Option<usize>) -> String {
    // Columns from the first item; for items of no known kind, every plain field any has.
    let mut cols = rows.first().map(|r| columns_for(r)).unwrap_or_default();
    for r in rows.iter().skip(1) {
        for c in columns_for(r) {
            if !cols.iter().any(|(h, _)| *h == c.0) {
                cols.push(c);
            }
        }
    }
    if cols.is_empty() {
        return String::new();
    }
    let fit = |s: String| match width {
        Some(w) if s.chars().count() > w => {
            let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
            t.push('…');
            t
        }
        _ => s,
    };
    let header: Vec<String> = cols.iter().map(|(h, _)| h.clone()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|(h, path)| fit(cell(h, lookup(r, path))))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..cols.len())
        .map(|i| {
            body.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(body.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn lookup<'a>(item: &'a serde_json::Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(item.get(first)?, |v, k| v.get(k))
}

fn cell(heading: &str, v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        // Azure TRE's times are POSIX seconds; people read them as dates.
        Some(Value::Number(n)) if heading == "UPDATED" => n
            .as_f64()
            .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| n.to_string()),
        Some(v) => scalar(v),
    }
}

/// A value on one line: strings without quotes, anything else as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What is not a list of objects, as plain lines: a value as it is, a list one per line, an
/// object `key: value` per line.
fn lines(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Array(a) => a.iter().for_each(|x| {
            out.push_str(&scalar(x));
            out.push('\n');
        }),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push_str(&format!("{k}: {}\n", scalar(x)));
        }),
        Value::Null => {}
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out(format: Format, query: Option<&str>, terminal: bool) -> Output {
        Output {
            format,
            query: query.map(str::to_string),
            terminal,
        }
    }

    #[test]
    fn query_runs_on_the_list_not_its_envelope() {
        let v = json!({"workspaces": [{"id": "a"}, {"id": "b"}]});
        let text = out(Format::Json, Some("[].id"), false)
            .render(&v)
            .expect("render");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("json"),
            json!(["a", "b"])
        );
    }

    #[test]
    fn resource_table_has_its_columns_and_truncates_on_a_terminal() {
        let long = "x".repeat(100);
        let v = json!({"workspaces": [{"id": "a", "templateName": "t", "templateVersion": "1",
            "deploymentStatus": "deployed", "isEnabled": true, "updatedWhen": 0.5,
            "properties": {"display_name": long}}]});
        let text = out(Format::Table, None, true).render(&v).expect("render");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  DISPLAY NAME"), "{text}");
        assert!(
            lines[1].contains("deployed") && lines[1].contains('…'),
            "{text}"
        );
        assert!(lines[1].contains("1970-01-01 00:00:00"), "{text}");
        let piped = out(Format::Table, None, false).render(&v).expect("render");
        assert!(piped.contains(&long));
    }

    #[test]
    fn an_accepted_change_is_a_table_per_part() {
        let v = json!({"operation": {"id": "o", "action": "install", "status": "awaiting_deployment",
            "message": "", "resourcePath": "/workspaces/w"},
            "workspace": {"id": "w", "templateName": "t", "deploymentStatus": "awaiting_deployment"}});
        let text = out(Format::Table, None, false).render(&v).expect("render");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "operation:", "{text}");
        assert!(lines[1].starts_with("ID  ACTION"), "{text}");
        assert!(lines[2].starts_with("o   install"), "{text}");
        assert!(lines.contains(&"workspace:"), "{text}");
    }

    #[test]
    fn airlock_rows_are_the_requests_inside_their_wrappers() {
        let v = json!({"airlockRequests": [{"airlockRequest": {"id": "r1", "type": "import",
            "status": "draft", "title": "Counts", "files": [], "businessJustification": "why"},
            "allowedUserActions": ["submit"]}]});
        let text = out(Format::Table, None, false).render(&v).expect("render");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["ID", "TYPE", "STATUS", "TITLE", "UPDATED"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["r1", "import", "draft", "Counts"]
        );
    }

    #[test]
    fn a_scalar_result_is_a_plain_line() {
        let v = json!({"workspace": {"properties": {"display_name": "Cohort"}}});
        let text = out(Format::Table, Some("properties.display_name"), false)
            .render(&v)
            .expect("render");
        assert_eq!(text, "Cohort\n");
    }

    #[test]
    fn bad_expression_is_a_clear_error() {
        let e = Output::new(None, Some("[?".into())).err().expect("error");
        assert!(e.to_string().contains("not a valid JMESPath"), "{e}");
    }
}

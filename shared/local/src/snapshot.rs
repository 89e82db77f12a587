//! A schema-agnostic dump of an SQLite database: every row of every table, sorted. Tests
//! compare two dumps to prove that a rejected request wrote nothing at all.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// Every row of every table, as text, sorted within each table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSnapshot {
    pub tables: Vec<(String, Vec<String>)>,
}

impl StoreSnapshot {
    pub fn row_count(&self) -> usize {
        self.tables.iter().map(|(_, rows)| rows.len()).sum()
    }
}

pub fn dump(db: &Path) -> rusqlite::Result<StoreSnapshot> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    names.retain(|n| !n.starts_with("sqlite_"));
    let mut tables = Vec::new();
    for name in names {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{}\"", name.replace('"', "\"\"")))?;
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(columns);
                for i in 0..columns {
                    cells.push(match r.get_ref(i)? {
                        ValueRef::Null => "NULL".to_string(),
                        ValueRef::Integer(v) => v.to_string(),
                        ValueRef::Real(v) => v.to_string(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        ValueRef::Blob(b) => format!("blob:{}", b.len()),
                    });
                }
                Ok(cells.join("\u{1f}"))
            })?
            .collect::<Result<_, _>>()?;
        rows.sort();
        tables.push((name, rows));
    }
    Ok(StoreSnapshot { tables })
}

//! Data sources (after the NHS SDE airlock design's AnalyticsWorkspaceDataSource): where source
//! data lives and how to fetch it, who publishes it and under which licence. Credentials are
//! never part of a data source: it names a secret (Secrets Manager in AWS, the local secrets file
//! under `tre dev`) that the import job reads when it runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DataSourceKind {
    /// Fetched from an external system by an import job.
    Import,
    /// Filled through the airlock's upload flow.
    Uploaded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Parquet,
}

/// Where an import fetches from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Connection {
    /// Objects are paths under `baseUrl`.
    Https {
        #[serde(rename = "baseUrl")]
        base_url: String,
    },
    /// Objects are keys under `prefix`.
    S3 { bucket: String, prefix: String },
    /// One table, exported whole.
    Postgres {
        host: String,
        port: u16,
        database: String,
        user: String,
        /// `table` or `schema.table`.
        table: String,
        format: ExportFormat,
        /// PEM of the CA that signed the server's certificate: with it the import connects over
        /// TLS and verifies the server's name; without it, only a server on the runner's own
        /// machine is reached (plain connections never cross a network).
        #[serde(
            default,
            rename = "caCertificate",
            skip_serializing_if = "Option::is_none"
        )]
        ca_certificate: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublisherInfo {
    pub organisation: String,
    pub contact_name: String,
    pub contact_role: String,
}

/// Body of `POST /api/datasources`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceSpec {
    pub kind: DataSourceKind,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    pub project: String,
    /// An SPDX identifier (`CC-BY-4.0`, `OGL-UK-3.0`) or a licence URL.
    pub licence: String,
    pub publisher: PublisherInfo,
    #[serde(default)]
    pub connection: Option<Connection>,
    /// The name of the secret holding the connection's credentials (never the credentials).
    #[serde(default)]
    pub credentials_secret: Option<String>,
    /// What to fetch: paths under the base URL or keys under the prefix.
    #[serde(default)]
    pub objects: Vec<String>,
}

fn text(field: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if v.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    Ok(())
}

fn identifier(field: &str, v: &str) -> Result<(), String> {
    let mut chars = v.chars();
    let ok = v.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} `{v}` is not a plain SQL identifier (letters, digits, _; at most 63)"
        ))
    }
}

/// Relative paths or keys: no empty segment, no `.` or `..`, no leading `/`, no control chars.
fn object_path(v: &str) -> Result<(), String> {
    let bad = v.is_empty()
        || v.len() > 1024
        || v.starts_with('/')
        || v.chars().any(char::is_control)
        || v.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        Err(format!(
            "object `{v}` must be a relative path without empty, `.` or `..` segments"
        ))
    } else {
        Ok(())
    }
}

fn licence(v: &str) -> Result<(), String> {
    let spdx = !v.is_empty()
        && v.len() <= 100
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if spdx || url::Url::parse(v).is_ok_and(|u| u.scheme() == "https") {
        Ok(())
    } else {
        Err(format!(
            "licence `{v}` must be an SPDX identifier (e.g. CC-BY-4.0) or an https URL"
        ))
    }
}

fn https_url(v: &str) -> Result<(), String> {
    let u = url::Url::parse(v).map_err(|e| format!("baseUrl `{v}` is not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("baseUrl must not hold credentials: name a secret in credentialsSecret".into());
    }
    // Plain HTTP only to this machine (a test or local server), never across a network.
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("baseUrl `{v}` must be https")),
    }
}

fn bucket(v: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!("bucket `{v}` is not a valid S3 bucket name"))
    }
}

fn secret_name(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 512
        && v.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("credentialsSecret `{v}` is not a secret name"))
    }
}

impl DataSourceSpec {
    /// Every rule a data source must meet before it is stored; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        text("displayName", &self.display_name, 200)?;
        if self.description.chars().count() > 4000 {
            return Err("description is longer than 4000 characters".into());
        }
        text("project", &self.project, 200)?;
        licence(&self.licence)?;
        text("publisher.organisation", &self.publisher.organisation, 200)?;
        text("publisher.contactName", &self.publisher.contact_name, 200)?;
        text("publisher.contactRole", &self.publisher.contact_role, 200)?;
        if let Some(s) = &self.credentials_secret {
            secret_name(s)?;
        }
        match (self.kind, &self.connection) {
            (DataSourceKind::Uploaded, None) => {
                if !self.objects.is_empty() || self.credentials_secret.is_some() {
                    return Err(
                        "an Uploaded data source has no objects or credentials: its files come through the airlock"
                            .into(),
                    );
                }
                Ok(())
            }
            (DataSourceKind::Uploaded, Some(_)) => {
                Err("an Uploaded data source has no connection".into())
            }
            (DataSourceKind::Import, None) => {
                Err("an Import data source needs a connection".into())
            }
            (DataSourceKind::Import, Some(c)) => self.validate_connection(c),
        }
    }

    fn validate_connection(&self, c: &Connection) -> Result<(), String> {
        match c {
            Connection::Https { base_url } => https_url(base_url)?,
            Connection::S3 { bucket: b, prefix } => {
                bucket(b)?;
                if self.credentials_secret.is_some() {
                    return Err("an S3 source is read with the runner's own role: it takes no credentialsSecret".into());
                }
                if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") {
                    return Err(format!("prefix `{prefix}` must be relative, without `..`"));
                }
            }
            Connection::Postgres {
                host,
                port,
                database,
                user,
                table,
                ca_certificate,
                ..
            } => {
                text("connection.host", host, 253)?;
                if let Some(pem) = ca_certificate {
                    if !pem.contains("-----BEGIN CERTIFICATE-----") || pem.len() > 65536 {
                        return Err("connection.caCertificate must be a PEM certificate".into());
                    }
                }
                if *port == 0 {
                    return Err("connection.port must be 1-65535".into());
                }
                identifier("connection.database", database)?;
                identifier("connection.user", user)?;
                let mut parts = table.split('.');
                let (first, second, rest) = (parts.next(), parts.next(), parts.next());
                match (first, second, rest) {
                    (Some(t), None, None) => identifier("connection.table", t)?,
                    (Some(s), Some(t), None) => {
                        identifier("connection.table schema", s)?;
                        identifier("connection.table", t)?;
                    }
                    _ => return Err(format!("connection.table `{table}` is not `schema.table`")),
                }
                if !self.objects.is_empty() {
                    return Err("a PostgreSQL import exports its table: it takes no objects".into());
                }
                return Ok(());
            }
        }
        if self.objects.is_empty() {
            return Err("an Import data source names at least one object".into());
        }
        if self.objects.len() > 1000 {
            return Err("at most 1000 objects per data source".into());
        }
        for o in &self.objects {
            object_path(o)?;
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.objects.iter().find(|o| !seen.insert(o.as_str())) {
            return Err(format!("object `{dup}` is named twice"));
        }
        Ok(())
    }
}

/// Where a data source's imported files live: under its own prefix of the workspace-data store
/// (workspaces read them there once the source is completed and bound to them).
pub fn data_key(data_source_id: &str, name: &str) -> String {
    format!("datasources/{data_source_id}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn https() -> DataSourceSpec {
        serde_json::from_value(json!({
            "kind": "Import", "displayName": "Admissions", "project": "Cohort study",
            "licence": "CC-BY-4.0",
            "publisher": {"organisation": "Example Trust", "contactName": "A. Steward", "contactRole": "Data steward"},
            "connection": {"type": "https", "baseUrl": "https://data.example.org/exports"},
            "objects": ["2026/admissions.csv", "codebook.txt"]
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_complete_source_passes_and_each_rule_names_its_field() {
        assert_eq!(https().validate(), Ok(()));
        let refused = |f: &dyn Fn(&mut DataSourceSpec)| {
            let mut s = https();
            f(&mut s);
            s.validate().err().unwrap_or_default()
        };
        assert!(refused(&|s| s.display_name = " ".into()).contains("displayName"));
        assert!(refused(&|s| s.licence = "not a licence!".into()).contains("licence"));
        assert!(refused(&|s| s.publisher.contact_role.clear()).contains("contactRole"));
        assert!(refused(&|s| s.objects = vec!["../etc/passwd".into()]).contains(".."));
        assert!(refused(&|s| s.objects = vec!["/abs".into()]).contains("relative"));
        assert!(refused(&|s| s.objects.clear()).contains("at least one object"));
        assert!(refused(&|s| s.objects = vec!["a".into(), "a".into()]).contains("twice"));
        assert!(refused(&|s| s.connection = None).contains("needs a connection"));
        assert!(refused(&|s| s.connection = Some(Connection::Https {
            base_url: "https://user:pw@data.example.org/".into()
        }))
        .contains("credentials"));
        assert!(refused(&|s| s.connection = Some(Connection::Https {
            base_url: "http://data.example.org/".into()
        }))
        .contains("https"));
        assert!(
            refused(&|s| s.credentials_secret = Some("no spaces allowed".into()))
                .contains("credentialsSecret")
        );
        // Plain HTTP to this machine is allowed (local servers, tests).
        let mut local = https();
        local.connection = Some(Connection::Https {
            base_url: "http://127.0.0.1:8000/".into(),
        });
        assert_eq!(local.validate(), Ok(()));
    }

    #[test]
    fn postgres_and_s3_and_uploaded_sources_have_their_own_rules() {
        let mut pg = https();
        pg.objects.clear();
        pg.connection = Some(Connection::Postgres {
            host: "db.example.org".into(),
            port: 5432,
            database: "warehouse".into(),
            user: "reader".into(),
            table: "public.admissions".into(),
            format: ExportFormat::Csv,
            ca_certificate: None,
        });
        // Without a secret (trust or peer authentication) and with one.
        assert_eq!(pg.validate(), Ok(()));
        pg.credentials_secret = Some("tre/warehouse-reader".into());
        assert_eq!(pg.validate(), Ok(()));
        let mut bad = pg.clone();
        bad.connection = Some(Connection::Postgres {
            host: "db".into(),
            port: 5432,
            database: "warehouse".into(),
            user: "reader".into(),
            table: "admissions; drop table x".into(),
            format: ExportFormat::Parquet,
            ca_certificate: None,
        });
        assert!(bad.validate().unwrap_err().contains("identifier"));

        let mut s3 = https();
        s3.connection = Some(Connection::S3 {
            bucket: "Bad_Bucket".into(),
            prefix: "exports/".into(),
        });
        assert!(s3.validate().unwrap_err().contains("bucket"));

        let mut up = https();
        up.kind = DataSourceKind::Uploaded;
        assert!(up.validate().unwrap_err().contains("no connection"));
        up.connection = None;
        up.objects.clear();
        assert_eq!(up.validate(), Ok(()));
        // Unknown fields (a password, say) are refused when the body is read.
        let with_password = serde_json::from_value::<DataSourceSpec>(json!({
            "kind": "Import", "displayName": "x", "project": "p", "licence": "MIT",
            "publisher": {"organisation": "o", "contactName": "n", "contactRole": "r"},
            "connection": {"type": "postgres", "host": "h", "port": 5432, "database": "d",
                           "user": "u", "table": "t", "format": "csv", "password": "secret"}
        }));
        assert!(with_password.is_err());
    }
}

//! RO-Crate 1.1 metadata (`ro-crate-metadata.json`) for the data a data source imports: one
//! document that describes every file (name, size, sha256, encoding format, licence, publisher,
//! date, source), and the checks of the RO-Crate 1.1 rules the imports are held to.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

pub const METADATA_FILE: &str = "ro-crate-metadata.json";
pub const CONTEXT: &str = "https://w3id.org/ro/crate/1.1/context";
pub const CONFORMS_TO: &str = "https://w3id.org/ro/crate/1.1";

/// Who publishes the data: an organisation and the person to contact there.
#[derive(Clone, Debug, PartialEq)]
pub struct Publisher {
    pub organisation: String,
    pub contact_name: String,
    pub contact_role: String,
}

/// The dataset as a whole (the crate's root data entity).
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetInfo {
    pub name: String,
    pub description: String,
    /// An SPDX identifier (`CC-BY-4.0`) or a licence URL.
    pub licence: String,
    pub publisher: Publisher,
    pub project: String,
    pub published: DateTime<Utc>,
}

/// One file of the dataset, as measured when it was imported.
#[derive(Clone, Debug, PartialEq)]
pub struct CrateFile {
    /// Path relative to the crate's root.
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// A MIME type, e.g. `text/csv`.
    pub encoding_format: String,
    /// Where it was fetched from (a URL; never with credentials).
    pub source: String,
    pub retrieved: DateTime<Utc>,
}

/// The licence's `@id`: URLs as given, SPDX identifiers as their spdx.org URL.
pub fn licence_id(licence: &str) -> String {
    if licence.starts_with("http://") || licence.starts_with("https://") {
        licence.to_string()
    } else {
        format!("https://spdx.org/licenses/{licence}")
    }
}

fn date(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The crate's metadata document for `info` and `files`.
pub fn build(info: &DatasetInfo, files: &[CrateFile]) -> Value {
    let licence = licence_id(&info.licence);
    let org_id = "#publisher";
    let contact_id = "#contact";
    let mut graph = vec![
        json!({
            "@id": METADATA_FILE,
            "@type": "CreativeWork",
            "conformsTo": {"@id": CONFORMS_TO},
            "about": {"@id": "./"}
        }),
        json!({
            "@id": "./",
            "@type": "Dataset",
            "name": info.name,
            "description": if info.description.trim().is_empty() {
                format!("{}, published by {}", info.name, info.publisher.organisation)
            } else {
                info.description.clone()
            },
            "datePublished": date(&info.published),
            "license": {"@id": licence},
            "publisher": {"@id": org_id},
            "funder": {"@id": "#project"},
            "hasPart": files.iter().map(|f| json!({"@id": f.name})).collect::<Vec<_>>(),
        }),
        json!({
            "@id": org_id,
            "@type": "Organization",
            "name": info.publisher.organisation,
            "contactPoint": {"@id": contact_id}
        }),
        json!({
            "@id": contact_id,
            "@type": "ContactPoint",
            "name": info.publisher.contact_name,
            "contactType": info.publisher.contact_role
        }),
        json!({"@id": "#project", "@type": "Project", "name": info.project}),
        json!({"@id": licence, "@type": "CreativeWork", "name": info.licence}),
    ];
    for f in files {
        graph.push(json!({
            "@id": f.name,
            "@type": "File",
            "name": f.name.rsplit('/').next().unwrap_or(&f.name),
            "contentSize": f.size.to_string(),
            "sha256": f.sha256,
            "encodingFormat": f.encoding_format,
            "license": {"@id": licence},
            "publisher": {"@id": org_id},
            "dateCreated": date(&f.retrieved),
            "isBasedOn": {"@id": f.source},
        }));
    }
    json!({"@context": CONTEXT, "@graph": graph})
}

fn types(e: &Map<String, Value>) -> Vec<&str> {
    match e.get("@type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn id_ref(v: Option<&Value>) -> Option<&str> {
    v.and_then(|v| v.get("@id")).and_then(Value::as_str)
}

/// The RO-Crate 1.1 rules this project holds its crates to, checked against the files as they
/// are (`files`: path, size, sha256 hex). Returns every problem found; empty when valid.
pub fn validate(doc: &Value, files: &[(String, u64, String)]) -> Vec<String> {
    let mut p = Vec::new();
    let context_ok = match doc.get("@context") {
        Some(Value::String(s)) => s == CONTEXT,
        Some(Value::Array(a)) => a.iter().any(|c| c.as_str() == Some(CONTEXT)),
        _ => false,
    };
    if !context_ok {
        p.push(format!("@context must be {CONTEXT}"));
    }
    let Some(graph) = doc.get("@graph").and_then(Value::as_array) else {
        p.push("no @graph array".into());
        return p;
    };
    let mut entities = std::collections::HashMap::new();
    for e in graph {
        match (e.as_object(), e.get("@id").and_then(Value::as_str)) {
            (Some(obj), Some(id)) if !types(obj).is_empty() => {
                if entities.insert(id, obj).is_some() {
                    p.push(format!("entity `{id}` appears twice"));
                }
            }
            _ => p.push(format!("an entity without @id or @type: {e}")),
        }
    }
    // The metadata descriptor, and the root data entity it is about.
    let root_id = match entities.get(METADATA_FILE) {
        None => {
            p.push(format!("no metadata descriptor `{METADATA_FILE}`"));
            None
        }
        Some(d) => {
            if !types(d).contains(&"CreativeWork") {
                p.push("the metadata descriptor is not a CreativeWork".into());
            }
            if id_ref(d.get("conformsTo")) != Some(CONFORMS_TO) {
                p.push(format!(
                    "the metadata descriptor must conform to {CONFORMS_TO}"
                ));
            }
            id_ref(d.get("about"))
        }
    };
    let Some(root) = root_id.and_then(|id| entities.get(id)) else {
        p.push("the metadata descriptor is not about a root data entity in the graph".into());
        return p;
    };
    if root_id != Some("./") {
        p.push("the root data entity's @id must be `./`".into());
    }
    if !types(root).contains(&"Dataset") {
        p.push("the root data entity is not a Dataset".into());
    }
    for key in ["name", "description", "datePublished"] {
        if root
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            p.push(format!("the root data entity has no {key}"));
        }
    }
    if let Some(d) = root.get("datePublished").and_then(Value::as_str) {
        if DateTime::parse_from_rfc3339(d).is_err() {
            p.push(format!("datePublished `{d}` is not an ISO 8601 date-time"));
        }
    }
    if id_ref(root.get("license")).is_none() {
        p.push("the root data entity has no license".into());
    }
    // Every file is a part of the root, described, and equal to what is on disk.
    let parts: Vec<&str> = root
        .get("hasPart")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| id_ref(Some(v))).collect())
        .unwrap_or_default();
    for (name, size, sha) in files {
        if !parts.contains(&name.as_str()) {
            p.push(format!("`{name}` is not in the root's hasPart"));
        }
        let Some(f) = entities.get(name.as_str()) else {
            p.push(format!("`{name}` has no File entity"));
            continue;
        };
        if !types(f).contains(&"File") {
            p.push(format!("`{name}` is not typed File"));
        }
        let declared_size = match f.get("contentSize") {
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        if declared_size != Some(*size) {
            p.push(format!(
                "`{name}`: contentSize {declared_size:?} but the file has {size} bytes"
            ));
        }
        if f.get("sha256").and_then(Value::as_str) != Some(sha.as_str()) {
            p.push(format!("`{name}`: sha256 does not match the file"));
        }
        if f.get("encodingFormat")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            p.push(format!("`{name}` has no encodingFormat"));
        }
    }
    for part in &parts {
        if !files.iter().any(|(n, _, _)| n == part) {
            p.push(format!("hasPart names `{part}`, which is not in the crate"));
        }
    }
    // Every local reference resolves to an entity of the graph.
    for (id, e) in &entities {
        for (key, v) in e.iter() {
            let refs: Vec<&str> = match v {
                Value::Array(a) => a.iter().filter_map(|x| id_ref(Some(x))).collect(),
                other => id_ref(Some(other)).into_iter().collect(),
            };
            for r in refs {
                // Absolute URIs (https:, postgresql:, ...) name things outside the crate.
                let external = url::Url::parse(r).is_ok();
                if !external && !entities.contains_key(r) {
                    p.push(format!(
                        "`{id}`.{key} refers to `{r}`, which is not in the graph"
                    ));
                }
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (DatasetInfo, Vec<CrateFile>) {
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let info = DatasetInfo {
            name: "Regional admissions".into(),
            description: "Weekly admissions by region".into(),
            licence: "CC-BY-4.0".into(),
            publisher: Publisher {
                organisation: "Example NHS Trust".into(),
                contact_name: "A. Steward".into(),
                contact_role: "Data steward".into(),
            },
            project: "Cohort study".into(),
            published: now,
        };
        let files = vec![CrateFile {
            name: "admissions.csv".into(),
            size: 12,
            sha256: "ab".repeat(32),
            encoding_format: "text/csv".into(),
            source: "https://data.example.org/admissions.csv".into(),
            retrieved: now,
        }];
        (info, files)
    }

    #[test]
    fn a_built_crate_is_valid_and_describes_every_file() {
        let (info, files) = sample();
        let doc = build(&info, &files);
        let on_disk = vec![("admissions.csv".to_string(), 12, "ab".repeat(32))];
        assert_eq!(validate(&doc, &on_disk), Vec::<String>::new());
        let file = doc["@graph"]
            .as_array()
            .and_then(|g| g.iter().find(|e| e["@id"] == "admissions.csv"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            file["license"]["@id"],
            "https://spdx.org/licenses/CC-BY-4.0"
        );
        assert_eq!(
            file["isBasedOn"]["@id"],
            "https://data.example.org/admissions.csv"
        );
        assert_eq!(file["encodingFormat"], "text/csv");
    }

    #[test]
    fn each_rule_is_enforced() {
        let (info, files) = sample();
        let good = build(&info, &files);
        let on_disk = vec![("admissions.csv".to_string(), 12, "ab".repeat(32))];
        let broken = |f: &dyn Fn(&mut Value)| {
            let mut d = good.clone();
            f(&mut d);
            validate(&d, &on_disk).join("; ")
        };
        assert!(broken(&|d| d["@context"] = json!("https://schema.org")).contains("@context"));
        assert!(broken(&|d| {
            if let Some(g) = d["@graph"].as_array_mut() {
                g.retain(|e| e["@id"] != METADATA_FILE);
            }
        })
        .contains("metadata descriptor"));
        assert!(broken(&|d| d["@graph"][1]["hasPart"] = json!([])).contains("hasPart"));
        assert!(broken(&|d| d["@graph"][1]["@type"] = json!("CreativeWork")).contains("Dataset"));
        assert!(
            broken(&|d| d["@graph"][1]["datePublished"] = json!("last week")).contains("ISO 8601")
        );
        assert!(broken(&|d| d["@graph"][6]["sha256"] = json!("00")).contains("sha256"));
        assert!(broken(&|d| d["@graph"][6]["contentSize"] = json!("13")).contains("contentSize"));
        assert!(
            broken(&|d| d["@graph"][2]["contactPoint"] = json!({"@id": "#nobody"}))
                .contains("not in the graph")
        );
        // A file on disk the crate does not describe.
        let mut more = on_disk.clone();
        more.push(("extra.csv".into(), 1, "cd".repeat(32)));
        assert!(validate(&good, &more).join("; ").contains("extra.csv"));
    }
}

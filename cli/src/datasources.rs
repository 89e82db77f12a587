//! `tre datasources`: registered data sources (TRE admins): register, fill (uploaded ones),
//! import, review, bind to workspaces; and what a workspace has bound.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use crate::airlock::{bar, file_name, put_range, Decision};
use crate::client::ApiClient;
use crate::output::Output;

#[derive(Subcommand, Debug)]
pub enum DataSourceAction {
    /// Every registered data source.
    List,
    /// One data source with its data state.
    Get { id: String },
    /// Register a data source from a JSON file (`kind` Import or Uploaded, `displayName`,
    /// `project`, `licence`, `publisher`, and for imports `connection` and `objects`).
    Register { file: PathBuf },
    /// Upload files to an Uploaded data source (each streamed to its pre-signed link); the next
    /// import takes them.
    Upload {
        id: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Start (or re-run) the import: fetch, checksum, scan, describe; then it awaits review.
    Import { id: String },
    /// Approve or reject an imported data source (a comment is mandatory).
    Review {
        id: String,
        #[arg(long, value_enum)]
        decision: Decision,
        #[arg(long)]
        comment: String,
    },
    /// Bind a Completed data source to a workspace.
    Bind {
        id: String,
        #[arg(long)]
        workspace: String,
    },
    /// Unbind a data source from a workspace.
    Unbind {
        id: String,
        #[arg(long)]
        workspace: String,
    },
    /// The data sources bound to a workspace.
    Bound {
        #[arg(long)]
        workspace: String,
    },
    /// A read-only link to one file of a bound data source (the workspace's people).
    Link {
        id: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        file: String,
    },
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn run(c: &ApiClient, out: &Output, action: DataSourceAction) -> anyhow::Result<()> {
    let base = "/api/datasources";
    let one = |id: &str| format!("{base}/{}", enc(id));
    let bound = |ws: &str| format!("/api/workspaces/{}/datasources", enc(ws));
    let shown = match action {
        DataSourceAction::List => c.get_all(base).await?,
        DataSourceAction::Get { id } => c.get(&one(&id)).await?,
        DataSourceAction::Register { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            c.call(Method::POST, base, Some(&body), None).await?.body
        }
        DataSourceAction::Upload { id, files } => {
            for path in &files {
                let name = file_name(path)?;
                let len = tokio::fs::metadata(path)
                    .await
                    .with_context(|| format!("reading {}", path.display()))?
                    .len();
                let link = c
                    .call(
                        Method::POST,
                        &format!("{}/files", one(&id)),
                        Some(&json!({ "name": name })),
                        None,
                    )
                    .await?
                    .body;
                if link["method"] != "PUT" {
                    bail!("the API offered a {} link for {name}", link["method"]);
                }
                let url = link["url"]
                    .as_str()
                    .context("the API gave no upload link")?;
                let progress = bar(len, &name);
                put_range(path, url, 0, len, &progress).await?;
                progress.finish();
            }
            c.get(&one(&id)).await?
        }
        DataSourceAction::Import { id } => {
            let path = format!("{}/import", one(&id));
            c.call(Method::POST, &path, None, None).await?.body
        }
        DataSourceAction::Review {
            id,
            decision,
            comment,
        } => {
            let decision = match decision {
                Decision::Approve => "approve",
                Decision::Reject => "reject",
            };
            let body = json!({ "decision": decision, "comment": comment });
            let path = format!("{}/review", one(&id));
            c.call(Method::POST, &path, Some(&body), None).await?.body
        }
        DataSourceAction::Bind { id, workspace } => {
            let body = json!({ "dataSourceId": id });
            c.call(Method::POST, &bound(&workspace), Some(&body), None)
                .await?
                .body
        }
        DataSourceAction::Unbind { id, workspace } => {
            let path = format!("{}/{}", bound(&workspace), enc(&id));
            c.call(Method::DELETE, &path, None, None).await?;
            eprintln!("unbound {id} from {workspace}");
            return Ok(());
        }
        DataSourceAction::Bound { workspace } => c.get_all(&bound(&workspace)).await?,
        DataSourceAction::Link {
            id,
            workspace,
            file,
        } => {
            let path = format!(
                "{}/{}/link?file={}",
                bound(&workspace),
                enc(&id),
                enc(&file)
            );
            c.get(&path).await?
        }
    };
    Ok(out.emit(&shown)?)
}

//! Client commands: thin wrappers over the API that print its answers (see `output`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{parse_params, ApiClient};
use crate::output::Output;
use crate::watch::watch;

#[derive(Clone, Copy, ValueEnum)]
pub enum TemplateKind {
    Workspace,
    WorkspaceService,
    UserResource,
    SharedService,
}

impl TemplateKind {
    fn base(self, service: Option<&str>) -> anyhow::Result<String> {
        Ok(match (self, service) {
            (Self::UserResource, Some(svc)) => {
                format!("/api/workspace-service-templates/{svc}/user-resource-templates")
            }
            (_, Some(_)) => anyhow::bail!("--service applies to user-resource templates only"),
            (Self::Workspace, None) => "/api/workspace-templates".into(),
            (Self::WorkspaceService, None) => "/api/workspace-service-templates".into(),
            (Self::UserResource, None) => "/api/user-resource-templates".into(),
            (Self::SharedService, None) => "/api/shared-service-templates".into(),
        })
    }
}

#[derive(Subcommand)]
pub enum TemplateAction {
    List,
    Get {
        name: String,
        #[arg(long)]
        version: Option<String>,
        /// Mark the properties an update cannot change (`readOnly`).
        #[arg(long)]
        is_update: bool,
    },
    Versions {
        name: String,
    },
    /// Register a template from a JSON file: Azure TRE's shape (`name`, `version`, `current`,
    /// `json_schema`) or ours (`name`, `version`, `parameters`, ...).
    Register {
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ResourceAction {
    List,
    Get {
        id: String,
    },
    /// Create; parameters as key=value (values parsed as JSON when they are JSON).
    Create {
        #[arg(long)]
        template: String,
        #[arg(long)]
        template_version: Option<String>,
        #[arg(long = "param", short = 'p')]
        params: Vec<String>,
        /// Wait for the operation to finish, showing its progress.
        #[arg(long)]
        wait: bool,
    },
    /// Update parameters and/or enable/disable (fetches the etag for you).
    Update {
        id: String,
        #[arg(long = "param", short = 'p')]
        params: Vec<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[arg(long)]
        template_version: Option<String>,
        #[arg(long)]
        wait: bool,
    },
    Delete {
        id: String,
        #[arg(long)]
        wait: bool,
    },
    /// Invoke one of the template's custom actions.
    Action {
        id: String,
        name: String,
        #[arg(long)]
        wait: bool,
    },
    Operations {
        id: String,
    },
    History {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum OperationAction {
    /// Operations of a resource, by the resource's API path; without one, the operations
    /// not yet ended across every workspace you can see (`/api/operations`).
    List { resource_path: Option<String> },
    /// One operation, by its API path.
    Get { operation_path: String },
    /// Follow an operation until it finishes.
    Watch {
        operation_path: String,
        #[arg(long, default_value_t = 1800)]
        timeout_secs: u64,
    },
}

#[derive(Subcommand)]
pub enum RoleAction {
    List,
    Assign { principal_id: String, role: String },
    Remove { principal_id: String, role: String },
}

pub async fn templates(
    c: &ApiClient,
    out: &Output,
    kind: TemplateKind,
    service: Option<&str>,
    action: TemplateAction,
) -> anyhow::Result<()> {
    let base = kind.base(service)?;
    let v = match action {
        TemplateAction::List => c.get(&base).await?,
        TemplateAction::Get {
            name,
            version,
            is_update,
        } => {
            let mut q = Vec::new();
            if let Some(v) = version {
                q.push(format!("version={v}"));
            }
            if is_update {
                q.push("is_update=true".to_string());
            }
            let q = if q.is_empty() {
                String::new()
            } else {
                format!("?{}", q.join("&"))
            };
            c.get(&format!("{base}/{name}{q}")).await?
        }
        TemplateAction::Versions { name } => c.get(&format!("{base}/{name}/versions")).await?,
        TemplateAction::Register { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            c.call(Method::POST, &base, Some(&body), None).await?.body
        }
    };
    Ok(out.emit(&v)?)
}

/// Print an accepted change, then optionally follow its operation.
async fn accepted(c: &ApiClient, out: &Output, body: Value, wait: bool) -> anyhow::Result<()> {
    out.emit(&body)?;
    if wait {
        let op = &body["operation"];
        // `resourcePath` is below `/api`, as in Azure TRE.
        let path = format!(
            "/api{}/operations/{}",
            op["resourcePath"].as_str().unwrap_or_default(),
            op["id"].as_str().unwrap_or_default()
        );
        let last = watch(c, &path, Duration::from_secs(1800)).await?;
        let status = last["status"].as_str().unwrap_or_default();
        if status.ends_with("_failed") {
            anyhow::bail!(
                "operation ended {status}: {}",
                last["message"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

pub async fn resources(
    c: &ApiClient,
    out: &Output,
    base: String,
    action: ResourceAction,
) -> anyhow::Result<()> {
    match action {
        ResourceAction::List => Ok(out.emit(&c.get_all(&base).await?)?),
        ResourceAction::Get { id } => Ok(out.emit(&c.get(&format!("{base}/{id}")).await?)?),
        ResourceAction::Create {
            template,
            template_version,
            params,
            wait,
        } => {
            let mut body =
                json!({ "templateName": template, "properties": parse_params(&params)? });
            if let Some(v) = template_version {
                body["templateVersion"] = json!(v);
            }
            let reply = c.call(Method::POST, &base, Some(&body), None).await?;
            accepted(c, out, reply.body, wait).await
        }
        ResourceAction::Update {
            id,
            params,
            enable,
            disable,
            template_version,
            wait,
        } => {
            let path = format!("{base}/{id}");
            let current = c.call(Method::GET, &path, None, None).await?;
            let mut body = json!({});
            if !params.is_empty() {
                body["properties"] = Value::Object(parse_params(&params)?);
            }
            if enable || disable {
                body["isEnabled"] = json!(enable);
            }
            if let Some(v) = template_version {
                body["templateVersion"] = json!(v);
            }
            let reply = c
                .call(Method::PATCH, &path, Some(&body), current.etag.as_deref())
                .await?;
            accepted(c, out, reply.body, wait).await
        }
        ResourceAction::Delete { id, wait } => {
            let reply = c
                .call(Method::DELETE, &format!("{base}/{id}"), None, None)
                .await?;
            accepted(c, out, reply.body, wait).await
        }
        ResourceAction::Action { id, name, wait } => {
            let path = format!("{base}/{id}/invoke-action?action={name}");
            let reply = c.call(Method::POST, &path, None, None).await?;
            accepted(c, out, reply.body, wait).await
        }
        ResourceAction::Operations { id } => {
            Ok(out.emit(&c.get_all(&format!("{base}/{id}/operations")).await?)?)
        }
        ResourceAction::History { id } => {
            Ok(out.emit(&c.get_all(&format!("{base}/{id}/history")).await?)?)
        }
    }
}

pub async fn operations(
    c: &ApiClient,
    out: &Output,
    action: OperationAction,
) -> anyhow::Result<()> {
    match action {
        OperationAction::List { resource_path } => {
            let path = match resource_path {
                Some(p) => format!("{}/operations", p.trim_end_matches('/')),
                None => "/api/operations".into(),
            };
            out.emit(&c.get_all(&path).await?)?;
            Ok(())
        }
        OperationAction::Get { operation_path } => Ok(out.emit(&c.get(&operation_path).await?)?),
        OperationAction::Watch {
            operation_path,
            timeout_secs,
        } => {
            let op = watch(c, &operation_path, Duration::from_secs(timeout_secs)).await?;
            Ok(out.emit(&op)?)
        }
    }
}

pub async fn roles(
    c: &ApiClient,
    out: &Output,
    workspace: &str,
    action: RoleAction,
) -> anyhow::Result<()> {
    let base = format!("/api/workspaces/{workspace}/role-assignments");
    match action {
        RoleAction::List => Ok(out.emit(&c.get_all(&base).await?)?),
        RoleAction::Assign { principal_id, role } => {
            let body = json!({ "principalId": principal_id, "role": role });
            Ok(out.emit(&c.call(Method::POST, &base, Some(&body), None).await?.body)?)
        }
        RoleAction::Remove { principal_id, role } => {
            c.call(
                Method::DELETE,
                &format!("{base}/{principal_id}/{role}"),
                None,
                None,
            )
            .await?;
            println!("removed {role} from {principal_id}");
            Ok(())
        }
    }
}

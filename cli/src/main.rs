//! `tre`: the TRE command line. Client commands call the HTTPS API (the same routes and
//! authorisation as the console); `tre dev` runs the whole TRE on this machine.

mod airlock;
mod audit;
mod bundle;
mod client;
mod commands;
mod datasources;
mod dev;
mod output;
mod registry;
mod watch;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tre",
    version,
    about = "Trusted Research Environment control plane CLI"
)]
struct Cli {
    /// Base URL of the TRE API.
    #[arg(
        long,
        env = "TRE_API",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    api: String,
    /// Bearer token (`tre dev` prints tokens for its sample users).
    #[arg(long, env = "TRE_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// How to print answers: `table` (the default on a terminal) or `json` (the default when
    /// piped or redirected).
    #[arg(long, short = 'o', value_enum, global = true)]
    output: Option<output::Format>,
    /// A JMESPath expression run on the list (after every page) or the item an answer is
    /// about, before printing: `--query "[].id"`, `--query "properties.display_name"`.
    #[arg(long, global = true)]
    query: Option<String>,
    /// Items per request when a list is fetched page by page (every page is always fetched).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: Option<u32>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole TRE locally on the embedded adapters (no AWS needed).
    Dev(dev::DevArgs),
    /// Bundles: build, push, register.
    Bundle {
        #[command(subcommand)]
        action: bundle::BundleAction,
    },
    /// Run one bundle action as the bundle runner does (what `tre dev` starts for each step).
    #[command(hide = true, name = "run-bundle-action")]
    RunBundleAction,
    /// Run one airlock step as the airlock runner does (what `tre dev` starts for each step).
    #[command(hide = true, name = "run-airlock-action")]
    RunAirlockAction,
    /// The airlock: requests that bring data into a workspace or take it out.
    Airlock {
        /// The workspace (every action but `queue` and `mine`).
        #[arg(long, global = true)]
        workspace: Option<String>,
        #[command(subcommand)]
        action: AirlockCommand,
    },
    /// The registry's maintenance.
    Registry {
        #[command(subcommand)]
        action: registry::RegistryCommand,
    },
    /// Print the OpenAPI document of this version of the API.
    Openapi,
    /// Print the API Gateway routes (what infra/api-routes.json must contain).
    Routes,
    /// Print a token for a sample user of the local stack (uses its persisted issuer key).
    Token(dev::TokenArgs),
    /// Who the API takes you for: your id, name and roles.
    Me,
    /// Templates of one kind: workspace, workspace-service, user-resource, shared-service.
    Templates {
        kind: commands::TemplateKind,
        /// User-resource templates: those of this workspace-service template (the nested
        /// routes; without it, the flat `/api/user-resource-templates`).
        #[arg(long)]
        service: Option<String>,
        #[command(subcommand)]
        action: commands::TemplateAction,
    },
    /// Workspaces.
    Workspaces {
        #[command(subcommand)]
        action: commands::ResourceAction,
    },
    /// Workspace services of a workspace.
    Services {
        #[arg(long)]
        workspace: String,
        #[command(subcommand)]
        action: commands::ResourceAction,
    },
    /// User resources of a workspace service.
    UserResources {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        service: String,
        #[command(subcommand)]
        action: commands::ResourceAction,
    },
    /// Shared services.
    SharedServices {
        #[command(subcommand)]
        action: commands::ResourceAction,
    },
    /// Operations (by API path, as printed by the other commands).
    Operations {
        #[command(subcommand)]
        action: commands::OperationAction,
    },
    /// Data sources: register, upload, import, review, bind (TRE admins); bound ones per workspace.
    Datasources {
        #[command(subcommand)]
        action: datasources::DataSourceAction,
    },
    /// Role assignments in a workspace.
    Roles {
        #[arg(long)]
        workspace: String,
        #[command(subcommand)]
        action: commands::RoleAction,
    },
    /// The audit trail: list events, export chains (JSON Lines), verify their hash links.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
}

#[derive(Subcommand, Debug)]
enum AirlockCommand {
    /// Requests waiting for your review (airlock managers).
    Queue,
    /// Your requests in every workspace (`--airlock-manager`: every request of the workspaces
    /// where you are an airlock manager).
    Mine {
        #[arg(long)]
        airlock_manager: bool,
    },
    #[command(flatten)]
    Request(airlock::AirlockAction),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let out = output::Output::new(cli.output, cli.query.clone())?;
    let out = &out;
    let client = || {
        client::ApiClient::new(&cli.api, cli.token.clone()).map(|c| c.with_page_size(cli.page_size))
    };
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Token(args) => dev::token(args, &cli.api),
        Command::Bundle { action } => bundle::run(action, &client()?, out, cli.token.clone()).await,
        Command::RunBundleAction => std::process::exit(bundle_runner::run_from_env().await),
        Command::RunAirlockAction => {
            std::process::exit(airlock_runner::process::run_from_env().await)
        }
        Command::Airlock { workspace, action } => match action {
            AirlockCommand::Queue => airlock::queue(&client()?, out).await,
            AirlockCommand::Mine { airlock_manager } => {
                airlock::mine(&client()?, out, airlock_manager).await
            }
            AirlockCommand::Request(action) => {
                let Some(ws) = workspace else {
                    anyhow::bail!("--workspace is required (the workspace the request belongs to)");
                };
                airlock::run(&client()?, out, &ws, action).await
            }
        },
        Command::Registry {
            action: registry::RegistryCommand::Token { scopes, service },
        } => registry::token(&client()?, &scopes, &service).await,
        Command::Registry { action } => registry::run(action).await,
        Command::Openapi => Ok(out.emit_document(&tre_api::openapi::document())?),
        Command::Routes => Ok(out.emit_document(&tre_api::routes::api_gateway_routes())?),
        Command::Me => Ok(out.emit(&client()?.get("/api/me").await?)?),
        Command::Templates {
            kind,
            service,
            action,
        } => commands::templates(&client()?, out, kind, service.as_deref(), action).await,
        Command::Workspaces { action } => {
            commands::resources(&client()?, out, "/api/workspaces".into(), action).await
        }
        Command::Services { workspace, action } => {
            let base = format!("/api/workspaces/{workspace}/workspace-services");
            commands::resources(&client()?, out, base, action).await
        }
        Command::UserResources {
            workspace,
            service,
            action,
        } => {
            let base =
                format!("/api/workspaces/{workspace}/workspace-services/{service}/user-resources");
            commands::resources(&client()?, out, base, action).await
        }
        Command::SharedServices { action } => {
            commands::resources(&client()?, out, "/api/shared-services".into(), action).await
        }
        Command::Operations { action } => commands::operations(&client()?, out, action).await,
        Command::Datasources { action } => datasources::run(&client()?, out, action).await,
        Command::Roles { workspace, action } => {
            commands::roles(&client()?, out, &workspace, action).await
        }
        Command::Audit { action } => {
            let view = audit::View::new(cli.output, cli.query.is_some(), cli.page_size);
            let verifying = action.is_verify();
            let outcome = match client() {
                Ok(c) => audit::run(&c, out, &view, action).await,
                Err(e) => Err(e),
            };
            audit::finish(verifying, outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[test]
    fn arguments_are_consistent() {
        super::Cli::command().debug_assert();
    }

    /// The global `-o` must clash with no subcommand's own option (clap finds that only when
    /// the command is parsed).
    #[test]
    fn global_output_beside_a_download_path() {
        let args = [
            "tre",
            "-o",
            "json",
            "airlock",
            "--workspace",
            "w",
            "download",
            "r",
            "f",
            "--to",
            "x",
        ];
        let cli = super::Cli::try_parse_from(args).map_err(|e| e.to_string());
        assert!(matches!(cli, Ok(c) if c.output == Some(super::output::Format::Json)));
    }
}

//! `tre`: the TRE command line. Client commands call the HTTPS API (the same routes and
//! authorisation as the console); `tre dev` runs the whole TRE on this machine.

mod airlock;
mod bundle;
mod client;
mod commands;
mod dev;
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
    /// Role assignments in a workspace.
    Roles {
        #[arg(long)]
        workspace: String,
        #[command(subcommand)]
        action: commands::RoleAction,
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
    let client = || client::ApiClient::new(&cli.api, cli.token.clone());
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Token(args) => dev::token(args, &cli.api),
        Command::Bundle { action } => bundle::run(action, &client()?, cli.token.clone()).await,
        Command::RunBundleAction => std::process::exit(bundle_runner::run_from_env().await),
        Command::RunAirlockAction => {
            std::process::exit(airlock_runner::process::run_from_env().await)
        }
        Command::Airlock { workspace, action } => match action {
            AirlockCommand::Queue => airlock::queue(&client()?).await,
            AirlockCommand::Mine { airlock_manager } => {
                airlock::mine(&client()?, airlock_manager).await
            }
            AirlockCommand::Request(action) => {
                let Some(ws) = workspace else {
                    anyhow::bail!("--workspace is required (the workspace the request belongs to)");
                };
                airlock::run(&client()?, &ws, action).await
            }
        },
        Command::Registry {
            action: registry::RegistryCommand::Token { scopes, service },
        } => registry::token(&client()?, &scopes, &service).await,
        Command::Registry { action } => registry::run(action).await,
        Command::Openapi => print_json(&tre_api::openapi::document()),
        Command::Routes => print_json(&tre_api::routes::api_gateway_routes()),
        Command::Templates {
            kind,
            service,
            action,
        } => commands::templates(&client()?, kind, service.as_deref(), action).await,
        Command::Workspaces { action } => {
            commands::resources(&client()?, "/api/workspaces".into(), action).await
        }
        Command::Services { workspace, action } => {
            let base = format!("/api/workspaces/{workspace}/workspace-services");
            commands::resources(&client()?, base, action).await
        }
        Command::UserResources {
            workspace,
            service,
            action,
        } => {
            let base =
                format!("/api/workspaces/{workspace}/workspace-services/{service}/user-resources");
            commands::resources(&client()?, base, action).await
        }
        Command::SharedServices { action } => {
            commands::resources(&client()?, "/api/shared-services".into(), action).await
        }
        Command::Operations { action } => commands::operations(&client()?, action).await,
        Command::Roles { workspace, action } => {
            commands::roles(&client()?, &workspace, action).await
        }
    }
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

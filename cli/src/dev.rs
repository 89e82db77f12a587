//! `tre dev`: the whole TRE on one machine, on the embedded adapters, with a development OIDC
//! issuer and ready-to-use tokens for the sample users.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tre_local::{DevOptions, DevStack, RunnerCommand, DEV_AUDIENCE};

#[derive(clap::Args)]
pub struct DevArgs {
    /// Where the embedded store keeps its data (it survives restarts).
    #[arg(long, env = "TRE_DATA_DIR", default_value = ".tre")]
    pub data_dir: PathBuf,
    /// Address of the API (and of the development issuer under /oidc).
    #[arg(long, env = "TRE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Address of the OCI registry.
    #[arg(long, env = "TRE_REGISTRY_ADDR", default_value = "127.0.0.1:5000")]
    pub registry_addr: std::net::SocketAddr,
    /// Print only the API URL (for scripts), not the banner with tokens.
    #[arg(long)]
    pub quiet: bool,
    /// Networks beyond globally routable addresses that data sources may reach (registration
    /// and imports), comma-separated CIDR; `none` for none. A laptop's own servers are the
    /// usual sources here, so loopback is allowed by default; in AWS nothing is.
    #[arg(
        long,
        env = "TRE_DATASOURCE_ALLOWED_NETWORKS",
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub datasource_allowed_networks: String,
    /// Most bundle and airlock runner processes at once; further steps wait for a slot.
    /// Default: four per core.
    #[arg(long, env = "TRE_MAX_RUNNING_TASKS")]
    pub max_running_tasks: Option<usize>,
    /// Where notification email goes: `smtp://host[:port]` (plain SMTP, no TLS or login: a
    /// local mail catcher or relay). Without it, notifications are only listed.
    #[arg(long, env = "TRE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of notification email.
    #[arg(long, env = "TRE_MAIL_FROM", default_value = "tre@localhost")]
    pub mail_from: String,
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// Sample user: admin, owner, researcher or airlock-manager.
    pub user: String,
    #[arg(long, env = "TRE_DATA_DIR", default_value = ".tre")]
    pub data_dir: PathBuf,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub ttl_secs: u64,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut opts = DevOptions::new(&args.data_dir, args.addr);
    opts.registry_addr = args.registry_addr;
    if let Some(url) = &args.smtp_url {
        opts.smtp = Some(
            tre_local::SmtpSettings::parse(url, &args.mail_from)
                .map_err(|e| anyhow::anyhow!("TRE_SMTP_URL / --smtp-url: {e}"))?,
        );
    }
    if let Some(n) = args.max_running_tasks {
        anyhow::ensure!(n >= 1, "--max-running-tasks is at least 1");
        opts.max_running_tasks = n;
    }
    opts.datasource_allowed_networks = match args.datasource_allowed_networks.trim() {
        "none" => Default::default(),
        list => list
            .parse()
            .map_err(anyhow::Error::msg)
            .context("--datasource-allowed-networks")?,
    };
    // Each bundle step runs as a process of this same program (`tre run-bundle-action`).
    let me = std::env::current_exe().context("locating the tre program")?;
    opts.runner = Some(RunnerCommand {
        program: me.clone(),
        args: vec!["run-bundle-action".into()],
        env: Vec::new(),
    });
    // And each airlock step (`tre run-airlock-action`).
    opts.airlock_runner = Some(RunnerCommand {
        program: me,
        args: vec!["run-airlock-action".into()],
        env: Vec::new(),
    });
    let stack = DevStack::start(opts)
        .await
        .context("starting the local TRE")?;
    if args.quiet {
        println!("{}", stack.api_url);
    } else {
        println!(
            "TRE running at {}  (data in {})",
            stack.api_url,
            args.data_dir.display()
        );
        println!(
            "Console: {}{}  (sign in as a sample user)",
            stack.api_url,
            tre_console::MOUNT
        );
        println!(
            "OpenAPI: {}/api/openapi.json   OIDC issuer: {}",
            stack.api_url, stack.issuer_url
        );
        println!(
            "OCI registry: {}   (tre bundle push; docker/oras login with any user and a token below as password)",
            stack.registry_url
        );
        println!("Tokens for the sample users (valid 8 hours):");
        for user in ["admin", "owner", "researcher", "airlock-manager"] {
            let token = stack.token_for(user)?;
            println!("  {user:<16} export TRE_TOKEN={token}");
        }
        println!("Stop with Ctrl-C.");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping...");
    stack.shutdown().await;
    Ok(())
}

/// Mint a token for a sample user with the local stack's persisted issuer key (no server
/// needed); the issuer URL must be the one the server runs at.
pub fn token(args: TokenArgs, api: &str) -> anyhow::Result<()> {
    let issuer_url = format!("{}/oidc", api.trim_end_matches('/'));
    let issuer = tre_auth::DevIssuer::open(tre_auth::DevIssuerConfig::new(
        issuer_url,
        DEV_AUDIENCE,
        &args.data_dir,
    ))?;
    let user = tre_auth::DevUser::find(&args.user)
        .with_context(|| format!("unknown sample user `{}`", args.user))?;
    println!(
        "{}",
        issuer.mint(&user, Duration::from_secs(args.ttl_secs))?
    );
    Ok(())
}

/// `TRE_LOG_SPANS=1` also logs every span as it closes, with its busy and idle time: with
/// `RUST_LOG=debug` that shows where an operation's time goes (engine states, history
/// writes, execution ends, status messages; the runner's run time is logged as an event).
fn init_tracing() {
    let spans_on_close = std::env::var("TRE_LOG_SPANS").as_deref() == Ok("1");
    tre_telemetry::Telemetry::Console { spans_on_close }.init();
}

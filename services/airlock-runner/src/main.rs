//! `airlock-runner`: one step of an airlock request (intake, publish or discard). Configured
//! entirely by its environment (the state machine sets it through the task's container
//! overrides). Exits 0 when the step succeeded, 1 when it failed (after reporting why), 2 when
//! it could not even start (bad environment).

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    std::process::exit(airlock_runner::process::run_from_env().await);
}

//! `airlock-runner`: one step of an airlock request (intake, publish or discard). Configured
//! entirely by its environment (the state machine sets it through the task's container
//! overrides). Exits 0 when the step succeeded, 1 when it failed (after reporting why), 2 when
//! it could not even start (bad environment).

#[tokio::main]
async fn main() {
    tre_telemetry::Telemetry::Job.init();
    std::process::exit(airlock_runner::process::run_from_env().await);
}

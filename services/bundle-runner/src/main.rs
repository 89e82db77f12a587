//! `bundle-runner`: one bundle action for one step of an operation. Configured entirely by its
//! environment (the state machine sets it through the task's container overrides). Exits 0
//! when the action succeeded, 1 when it failed (after reporting why), 2 when it could not
//! even start (bad environment).

#[tokio::main]
async fn main() {
    tre_telemetry::Telemetry::Job.init();
    std::process::exit(bundle_runner::run_from_env().await);
}

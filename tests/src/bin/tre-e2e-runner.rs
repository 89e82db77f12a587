//! The bundle runner, built inside this package so the end-to-end tests can start it as the
//! local stack's task runner (Cargo hands tests the paths of their own package's binaries).

#[tokio::main]
async fn main() {
    std::process::exit(bundle_runner::run_from_env().await);
}

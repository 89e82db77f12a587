//! The task runners, built inside this package so the end-to-end tests can start them as the
//! local stack's task runner (Cargo hands tests the paths of their own package's binaries).
//! With `airlock` as first argument it is the airlock runner, else the bundle runner.

#[tokio::main]
async fn main() {
    let code = if std::env::args().nth(1).as_deref() == Some("airlock") {
        airlock_runner::process::run_from_env().await
    } else {
        bundle_runner::run_from_env().await
    };
    std::process::exit(code);
}

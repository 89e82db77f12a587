//! Lambda on the table's stream: archives audit events (see `tre_lambda::audit_archive`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tre_lambda::run_audit_archive().await
}

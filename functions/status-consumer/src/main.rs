//! Lambda on the status queue: applies runner status messages (see `tre_lambda::status`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tre_lambda::run_status_consumer().await
}

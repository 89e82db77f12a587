//! Lambda serving the `api-airlock` route group of the API (see `tre_api::routes`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tre_lambda::run_api(tre_api::RouteGroup::Airlock).await
}

//! The peer of the cold-start benchmark: the smallest lambda_http function (one fixed answer),
//! i.e. what starting the Lambda runtime alone costs.

use lambda_http::{service_fn, Body, Error, Request, Response};

async fn handle(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from("{\"status\":\"ok\"}"))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(handle)).await
}

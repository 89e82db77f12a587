//! The peer of the API benchmark: a bare axum server answering a fixed JSON body of about the
//! size of a resource, i.e. the floor that the HTTP stack alone costs on this machine.

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

fn body() -> Value {
    json!({"workspace": {"id": "00000000-0000-4000-8000-000000000000",
           "templateName": "tre-workspace-base", "templateVersion": "1.0.0",
           "properties": {"display_name": "bench"}, "availableUpgrades": [], "isEnabled": true,
           "resourceType": "workspace", "deploymentStatus": "awaiting_deployment", "_etag": "1",
           "resourcePath": "/workspaces/00000000-0000-4000-8000-000000000000",
           "resourceVersion": 0, "user": {"id": "dev-admin", "name": "Dev Admin", "email": "", "roles": []},
           "updatedWhen": 1795514400.0, "createdWhen": 1795514400.0, "ownerId": "dev-admin",
           "workspaceURL": ""}})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/get", get(|| async { Json(body()) }))
        .route(
            "/post",
            post(|Json(_v): Json<Value>| async { Json(body()) }),
        );
    axum::serve(listener, app).await?;
    Ok(())
}

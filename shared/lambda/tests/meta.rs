//! The `api-meta` function's router as its Lambda builds it, on the embedded backend: health
//! reads the store, and the OpenAPI document (rendered when first asked for, not at start) is
//! the whole API's.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tre_lambda::{api_router, app_from_settings, Settings};

async fn get(router: &axum::Router, path: &str) -> (StatusCode, serde_json::Value) {
    let resp = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn the_meta_routes_answer_on_the_embedded_backend() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: Some(dir.path().to_path_buf()),
        ..Settings::default()
    };
    let app = app_from_settings(&settings, &aws_config::SdkConfig::builder().build()).unwrap();
    let router = api_router(tre_api::RouteGroup::Meta, app, &settings).unwrap();

    let (status, health) = get(&router, "/api/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok");

    let (status, doc) = get(&router, "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    // Every route group's routes, not only this function's.
    assert!(paths.contains_key("/api/health"));
    assert!(paths.contains_key("/api/workspaces"), "{:?}", paths.keys());
    // The same document the second time.
    assert_eq!(get(&router, "/api/openapi.json").await.1, doc);
}

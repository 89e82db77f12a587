//! `infra/api-routes.json` (what Terraform turns into API Gateway routes) must be exactly the
//! router's route table: no route without an API Gateway route, and none the other way.
//! Regenerate with `cargo run -p tre-cli -- routes > infra/api-routes.json`, or run this test
//! with `TRE_UPDATE_GOLDEN=1`.

use std::path::PathBuf;

#[test]
fn api_gateway_routes_match_the_router() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/api-routes.json");
    let want = tre_api::routes::api_gateway_routes();
    if std::env::var_os("TRE_UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&want).expect("json") + "\n";
        std::fs::write(&path, text).expect("write api-routes.json");
    }
    let text = std::fs::read_to_string(&path).expect("infra/api-routes.json exists");
    let got: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        got, want,
        "infra/api-routes.json is out of date: run `cargo run -p tre-cli -- routes > infra/api-routes.json`"
    );
}

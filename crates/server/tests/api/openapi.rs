//! The OpenAPI document: served, complete, and identical to the committed `docs/openapi.json`.

use crate::helpers::TestApp;
use reqwest::StatusCode;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// Regenerate with `UPDATE_OPENAPI=1 cargo test -p server --test api openapi`.
#[test]
fn committed_document_matches_the_code() {
    let generated = server::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p server --test api openapi"
    );
}

#[test]
fn every_contract_endpoint_is_documented() {
    let doc = server::openapi();
    let expected = [
        ("get", "/api/status"),
        ("get", "/api/about"),
        ("get", "/api/notice"),
        ("get", "/api/home_page_content"),
        ("post", "/api/user/register"),
        ("post", "/api/user/login"),
        ("get", "/api/user/logout"),
        ("get", "/api/user/self"),
        ("put", "/api/user/self"),
        ("delete", "/api/user/self"),
        ("get", "/api/user/token"),
        ("get", "/api/user/models"),
        ("get", "/api/user/groups"),
        ("post", "/api/user/topup"),
        ("get", "/api/token"),
        ("post", "/api/token"),
        ("put", "/api/token"),
        ("delete", "/api/token/{id}"),
        ("post", "/api/token/batch"),
        ("get", "/api/channel"),
        ("post", "/api/channel"),
        ("put", "/api/channel"),
        ("delete", "/api/channel/{id}"),
        ("get", "/api/channel/test/{id}"),
        ("get", "/api/channel/test"),
        ("get", "/api/log/self"),
        ("get", "/api/log"),
        ("get", "/api/redemption"),
        ("post", "/api/redemption"),
        ("put", "/api/redemption"),
        ("delete", "/api/redemption/{id}"),
        ("get", "/api/data/self"),
        ("get", "/api/data"),
        ("get", "/api/option"),
        ("put", "/api/option"),
        ("get", "/api/user"),
        ("post", "/api/user"),
        ("put", "/api/user"),
        ("delete", "/api/user/{id}"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{model}"),
        ("post", "/v1/chat/completions"),
        ("post", "/v1/completions"),
        ("post", "/v1/embeddings"),
        ("post", "/v1/moderations"),
        ("post", "/v1/images/generations"),
        ("post", "/v1/images/edits"),
        ("post", "/v1/images/variations"),
        ("post", "/v1/audio/transcriptions"),
        ("post", "/v1/audio/translations"),
        ("post", "/v1/audio/speech"),
        ("get", "/dashboard/billing/subscription"),
        ("get", "/dashboard/billing/usage"),
    ];
    let json = serde_json::to_value(&doc).unwrap();
    for (method, path) in expected {
        assert!(
            json["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}

async fn served_with_viewer(app: TestApp) {
    let resp = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert!(doc["paths"]["/api/user/login"].is_object());
    let resp = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.text().await.unwrap().contains("swagger"),
        "the Swagger UI page"
    );
}

db_tests!(served_with_viewer);

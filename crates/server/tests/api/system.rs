//! Public system endpoints.

use crate::helpers::TestApp;
use reqwest::StatusCode;

async fn public_endpoints_shapes(app: TestApp) {
    let (status, v) = app.get(None, "/api/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["success"], true);
    assert_eq!(v["message"], "");
    assert_eq!(v["data"]["system_name"], "New API");
    assert!(v["data"]["version"].as_str().is_some());
    assert!(v["data"]["start_time"].as_i64().unwrap() > 1_600_000_000);

    let (_, v) = app.get(None, "/api/about").await;
    for field in ["version", "system_name", "footer", "logo"] {
        assert!(v["data"].get(field).is_some(), "missing {field}");
    }
    let (_, v) = app.get(None, "/api/notice").await;
    assert_eq!(v["data"], "");
    let root = app.root().await;
    app.set_option(&root, "home_page_content", "首页内容").await;
    let (_, v) = app.get(None, "/api/home_page_content").await;
    assert_eq!(v["data"]["content"], "首页内容");
}

async fn every_response_has_a_request_id(app: TestApp) {
    let resp = app.client.get(app.url("/api/status")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.len() >= 16);
    let resp = app
        .client
        .get(app.url("/api/nowhere"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .client
        .get(app.url("/api/status"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
}

db_tests!(public_endpoints_shapes, every_response_has_a_request_id);

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

async fn cors_rules(app: TestApp) {
    let preflight = |path: &str, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    // Relay routes: any origin, no credentials.
    let resp = preflight("/v1/chat/completions", "https://app.example.org")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert!(
        !resp
            .headers()
            .contains_key("access-control-allow-credentials")
    );
    assert!(
        resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    // /api: only the configured origin, with credentials.
    let resp = preflight("/api/user/login", "https://admin.example.com")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    let resp = preflight("/api/user/login", "https://evil.example")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
    let resp = app
        .client
        .get(app.url("/api/status"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
    let resp = app
        .client
        .get(app.url("/api/status"))
        .header("Origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
}

db_tests!(
    public_endpoints_shapes,
    every_response_has_a_request_id,
    cors_rules
);

//! Errors in the caller's dialect (issue 13): OpenAI model ids with colons, unknown Gemini
//! routes, the gateway's own mid-stream errors for Responses callers, and `/api` bodies over
//! the limit.

use crate::helpers::{TestApp, assert_failure};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An OpenAI model id with colons is an OpenAI call: its 404 is OpenAI's, not Google's.
async fn colon_model_ids_get_openai_errors(app: TestApp) {
    let (_, key, _) = app.relay_setup(1_000_000).await;
    let body = json!({"model": "ft:gpt-4o:org:x", "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = app.relay_post(&key, "/v1/chat/completions", body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "model_not_found", "{v}");
    assert!(v["error"]["type"].is_string(), "{v}");
    let (status, v) = app.relay_get(&key, "/v1/models/ft:gpt-4o:org:x").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"]["type"].is_string() && v["error"].get("status").is_none(),
        "{v}"
    );
}

/// An unknown `/v1beta` route answers 404 in Google's shape, with 404 as its code.
async fn unknown_gemini_routes_are_google_404s(app: TestApp) {
    let (_, key, _) = app.relay_setup(1_000_000).await;
    let (status, v) = app.relay_get(&key, "/v1beta/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], 404, "{v}");
    assert_eq!(v["error"]["status"], "NOT_FOUND", "{v}");
    let (status, v) = app.relay_post(&key, "/v1/messages/nope", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["type"], "not_found_error", "{v}");
}

/// A Responses stream the balance stops mid-way ends with `response.failed`, not a chat chunk.
async fn responses_streams_end_with_response_failed(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000).await;
    app.map_gpt4o(channel, "mock-long").await;
    let body = json!({"model": "gpt-4o", "input": "hi", "stream": true, "max_output_tokens": 5});
    let resp = app
        .client
        .post(app.url("/v1/responses"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    let last = events.last().unwrap();
    assert!(last.starts_with("event: response.failed\n"), "{text}");
    let data: Value = serde_json::from_str(last.split_once("data: ").unwrap().1.trim()).unwrap();
    assert_eq!(data["type"], "response.failed", "{data}");
    assert_eq!(data["response"]["status"], "failed", "{data}");
    assert_eq!(
        data["response"]["error"]["code"], "insufficient_user_quota",
        "{data}"
    );
}

/// `PUT /api/option` past the body limit answers 413 in the `/api` envelope; the single form
/// without `value` is a 400.
async fn option_bodies_are_checked(app: TestApp) {
    let root = app.root().await;
    let big = json!({"Notice": "x".repeat(2 << 20)});
    let (status, v) = app.put(Some(&root), "/api/option", big).await;
    assert_failure(status, &v, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, v) = app
        .put(Some(&root), "/api/option", json!({"key": "Notice"}))
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .put(
            Some(&root),
            "/api/option",
            json!({"key": "Notice", "value": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

db_tests!(
    colon_model_ids_get_openai_errors,
    unknown_gemini_routes_are_google_404s,
    responses_streams_end_with_response_failed,
    option_bodies_are_checked,
);

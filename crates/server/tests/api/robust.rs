//! Robustness holes of a hostile review (issue 13): the gateway's own failures must not blame
//! the caller's key, streams are judged on whole events, upstream text is masked everywhere.

use crate::helpers::TestApp;
use crate::relay::{GPT4O_CALL, assert_openai_error, chat, stream_fails_over_to_a_second_channel};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// An upstream that refuses the channel's own key (401) is the gateway's failure: 502
/// `upstream_auth_failed` in every dialect, never a 401 that SDKs read as the caller's key.
async fn refused_channel_key_is_a_gateway_failure(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000_000).await;
    app.map_gpt4o(channel, "mock-401").await;

    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_GATEWAY);
    assert_eq!(v["error"]["code"], "upstream_auth_failed", "{v}");
    assert_eq!(v["error"]["type"], "upstream_error", "{v}");

    let messages = json!({"model": "gpt-4o", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = app.relay_post(&key, "/v1/messages", messages).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "api_error", "{v}");

    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let (status, v) = app
        .relay_post(&key, "/v1beta/models/gpt-4o:generateContent", gemini)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["error"]["code"], 502, "{v}");
    assert_eq!(v["error"]["status"], "UNAVAILABLE", "{v}");

    // Another channel takes the call over.
    let root = app.root().await;
    app.create_channel(&root, json!({"priority": -1})).await;
    app.set_option(&root, "RetryTimes", "1").await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// A first event that is an error sent in two frames is judged whole: the call fails (nothing
/// billed), and with a second channel it fails over there.
async fn split_first_error_event_fails_over(app: TestApp) {
    let (user, key, first) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/channel",
        json!({"id": first, "model_mapping": "{\"gpt-4o\": \"mock-error-split\"}", "priority": 10}),
    )
    .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", true))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_GATEWAY);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overloaded"),
        "{v}"
    );
    assert!(app.consume_logs().await.is_empty(), "nothing billed");
    assert_eq!(app.settled_quota(&user).await, 1_000_000);
    stream_fails_over_to_a_second_channel(&app, &user, &key).await;
}

/// An error object in a 200 answer is an upstream failure: masked (internal host names and
/// file paths too), not billed, and failed over.
async fn error_in_a_200_is_a_masked_failure(app: TestApp) {
    let (user, key, first) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/channel",
        json!({"id": first, "model_mapping": "{\"gpt-4o\": \"mock-200-error\"}", "priority": 10}),
    )
    .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_GATEWAY);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("failed reading"), "{v}");
    for secret in ["vllm", "cluster.local", "8000", "/var/lib", "x.bin"] {
        assert!(!message.contains(secret), "{secret} in {v}");
    }
    assert!(app.consume_logs().await.is_empty(), "nothing billed");
    assert_eq!(app.settled_quota(&user).await, 1_000_000);

    let second = app.create_channel(&root, json!({})).await;
    app.set_option(&root, "RetryTimes", "1").await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["channel_id"].as_i64(), Some(second));
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - GPT4O_CALL);
}

/// A token count that holds the rest of its body back until `release` gives a permit.
async fn held_count(app: &TestApp, key: &str, release: Arc<Semaphore>) -> StatusCode {
    let body = r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}"#;
    let (head, tail) = body.split_at(10);
    let parts =
        futures_util::stream::iter([head, tail].into_iter().enumerate()).then(move |(i, part)| {
            let release = release.clone();
            async move {
                if i > 0 {
                    release.acquire().await.unwrap().forget();
                }
                Ok::<_, std::io::Error>(part.as_bytes().to_vec())
            }
        });
    app.client
        .post(app.url("/v1/messages/count_tokens"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(parts))
        .send()
        .await
        .unwrap()
        .status()
}

/// Token counts are bounded: 2 MiB bodies (413 in the route's dialect), keys with a balance
/// (403 unless self-use mode), two counts at once per user, whatever keys (429).
async fn token_counts_are_bounded(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let big = json!({"model": "gpt-4o",
        "messages": [{"role": "user", "content": "x".repeat(3 << 20)}]});
    let (status, v) = app
        .relay_post(&key, "/v1/messages/count_tokens", big.clone())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["type"], "request_too_large", "{v}");
    let gemini = json!({"contents": [{"parts": [{"text": "x".repeat(3 << 20)}]}]});
    let path = "/v1beta/models/gpt-4o:countTokens";
    let (status, v) = app.relay_post(&key, path, gemini).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], 413, "{v}");

    let small = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = app
        .relay_post(&key, "/v1/messages/count_tokens", small.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // Two counts under way (their bodies held back): a third is refused.
    let release = Arc::new(Semaphore::new(0));
    let held = futures_util::future::join(
        held_count(&app, &key, release.clone()),
        held_count(&app, &key, release.clone()),
    );
    let other_key = app.api_key(&user, json!({"name": "another"})).await;
    let third = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answer = app
            .relay_post(&other_key, "/v1/messages/count_tokens", small.clone())
            .await;
        release.add_permits(2);
        answer
    };
    let ((first, second), (status, v)) = tokio::join!(held, third);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert_eq!((first, second), (StatusCode::OK, StatusCode::OK));
    let (status, _) = app
        .relay_post(&key, "/v1/messages/count_tokens", small.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "the slots are given back");

    // A used-up balance: refused, but in self-use mode.
    let broke_user = app.new_user("broke").await;
    let (status, v) = app
        .put(
            Some(&app.root().await),
            "/api/user",
            json!({"id": broke_user.id, "quota": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let broke = app.api_key(&broke_user, json!({})).await;
    let (status, v) = app
        .relay_post(&broke, "/v1/messages/count_tokens", small.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let gemini = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let (status, v) = app.relay_post(&broke, path, gemini.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let root = app.root().await;
    app.set_option(&root, "SelfUseModeEnabled", "true").await;
    let (status, v) = app.relay_post(&broke, path, gemini).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

db_tests!(
    token_counts_are_bounded,
    error_in_a_200_is_a_masked_failure,
    refused_channel_key_is_a_gateway_failure,
    split_first_error_event_fails_over,
);

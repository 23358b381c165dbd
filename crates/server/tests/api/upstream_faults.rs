//! Upstream faults: a stream that goes quiet, one whose connection breaks mid-body, and an
//! upstream that never answers. The caller gets an error in its dialect (an error event that
//! ends a stream, not a cut socket; a 502 envelope), in bounded time, and the bill covers what
//! was streamed.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::relay::{assert_openai_error, chat};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

async fn quiet_broken_and_silent_upstreams_end_with_errors_in_the_dialect(app: TestApp) {
    let mut settings = test_settings(&app.database_url, None);
    settings.upstream.idle_timeout_secs = 1;
    settings.upstream.first_byte_timeout_secs = 1;
    let app = spawn_app_with(settings).await;
    let (user, key, channel) = app.relay_setup(10_000_000).await;
    for model in ["mock-stall", "mock-reset"] {
        app.map_gpt4o(channel, model).await;
        let started = Instant::now();
        // The whole body is read: a cut socket fails this read.
        let (status, text) = app.relay_post_any(&key, chat("gpt-4o", true)).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        assert!(
            text.contains("w0 ") && text.contains("w1 "),
            "{model}: {text}"
        );
        let last = text.trim_end().lines().last().unwrap_or_default();
        let event: serde_json::Value =
            serde_json::from_str(last.trim_start_matches("data: ")).unwrap();
        assert_eq!(
            event["error"]["code"], "upstream_unavailable",
            "{model}: {text}"
        );
        assert!(!text.contains("sk-upstream"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(5), "{model}");
    }
    // Anthropic's callers get Anthropic's `error` event.
    let messages = json!({"model": "gpt-4o", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&messages)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: error"), "{text}");
    // What was streamed is billed: three calls, each charged for its two chunks.
    let logs = app.consume_logs().await;
    let mine: Vec<_> = logs.iter().filter(|l| l["user_id"] == user.id).collect();
    assert_eq!(mine.len(), 3, "{logs:?}");
    for log in mine {
        assert!(log["completion_tokens"].as_i64().unwrap_or(0) > 0, "{log}");
        assert!(log["quota"].as_i64().unwrap_or(0) > 0, "{log}");
    }

    // An upstream that takes the connection and never answers: a 502 within the first-byte
    // timeout, nothing billed.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"name": "silent", "base_url": format!("http://{address}"), "models": "gpt-3.5-turbo"}),
    )
    .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-3.5-turbo", false))
        .await;
    let _keep = silent;
    assert_openai_error(status, &v, StatusCode::BAD_GATEWAY);
    assert!(!v.to_string().contains(&address.to_string()), "{v}");
}

db_tests!(quiet_broken_and_silent_upstreams_end_with_errors_in_the_dialect);

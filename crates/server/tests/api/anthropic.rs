//! Anthropic's Messages API in, Anthropic channels out: the caller's bytes and headers pass
//! through, the answer (JSON or Anthropic's events) comes back as the upstream sent it, usage
//! with the prompt cache is billed at the cache ratios, and errors are Anthropic's.

use crate::helpers::{TestApp, body};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLAUDE: &str = "claude-sonnet-4-20250514";
/// (1 uncached + 6 read * 0.1 + 1 written * 1.25 + 12 output * 5) * 1.5 = 94.275.
const CACHED_CALL: i64 = 94;

fn message(stream: bool) -> Value {
    json!({"model": CLAUDE, "max_tokens": 1024, "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Hello"}]})
}

/// A user with quota and a key, and an Anthropic channel to the mock that runs `CLAUDE` as
/// `mock-cached`.
async fn setup(app: &TestApp) -> (crate::helpers::Auth, String) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    let mapping = json!({CLAUDE: "mock-cached"}).to_string();
    app.create_channel(
        &root,
        json!({"name": "claude", "type": 14, "key": "sk-ant-upstream", "models": CLAUDE,
            "model_mapping": mapping}),
    )
    .await;
    (user, key)
}

async fn post(app: &TestApp, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/messages?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .json(body);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    req.send().await.unwrap()
}

async fn native_messages_pass_through_and_bill_the_cache(app: TestApp) {
    let (user, key) = setup(&app).await;
    let (status, v) = body(post(&app, Some(&key), &message(false)).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "Hello");
    assert_eq!(
        v["usage"]["cache_read_input_tokens"], 6,
        "the upstream's answer as it is"
    );

    let resp = post(&app, Some(&key), &message(true)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    for event in [
        "message_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
    ] {
        assert!(
            text.contains(&format!("event: {event}\n")),
            "{event} in {text}"
        );
    }
    assert!(
        !text.contains("[DONE]"),
        "Anthropic's framing, not OpenAI's"
    );

    let seen = app.mock.seen();
    let calls: Vec<_> = seen.iter().filter(|s| s.path == "/v1/messages").collect();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.credential.as_deref(), Some("sk-ant-upstream"));
        assert_eq!(
            call.anthropic_headers,
            (
                Some("2023-06-01".to_owned()),
                Some("prompt-caching-2024-07-31".to_owned())
            ),
            "the caller's version and betas"
        );
        assert_eq!(call.body["model"], "mock-cached", "mapped");
        assert_eq!(
            call.body["system"][0]["cache_control"]["type"], "ephemeral",
            "unknown fields pass untouched"
        );
        assert!(
            call.body.get("stream_options").is_none(),
            "no OpenAI fields added"
        );
    }
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 2);
    for log in &logs {
        assert_eq!(log["model_name"], CLAUDE);
        assert_eq!(log["quota"], CACHED_CALL, "{log}");
        assert_eq!(log["prompt_tokens"], 8, "{log}");
        assert_eq!(log["completion_tokens"], 12, "{log}");
    }
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 2 * CACHED_CALL);
}

async fn errors_are_anthropic_shaped(app: TestApp) {
    let (_, key) = setup(&app).await;
    let cases = [
        (
            None,
            message(false),
            StatusCode::UNAUTHORIZED,
            "authentication_error",
        ),
        (
            Some(key.as_str()),
            json!({"model": "no-such-model", "max_tokens": 5, "messages": []}),
            StatusCode::NOT_FOUND,
            "not_found_error",
        ),
        (
            Some(key.as_str()),
            json!({"max_tokens": 5, "messages": []}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
        ),
        (
            Some(key.as_str()),
            json!({"model": CLAUDE, "Model": "x", "max_tokens": 5}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
        ),
    ];
    for (key, request, status, kind) in cases {
        let (got, v) = body(post(&app, key, &request).await).await;
        assert_eq!(got, status, "{request}: {v}");
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("request id")),
            "{v}"
        );
    }
}

/// A model only an OpenAI channel serves: the Messages call is converted to a chat completion
/// and the answer, JSON or stream, back to Anthropic's shape; billed from the chat usage.
async fn messages_on_an_openai_channel_are_converted(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "claude-3-5-haiku"}))
        .await;
    let request = |stream: bool| {
        json!({"model": "claude-3-5-haiku", "max_tokens": 1024, "stream": stream,
            "system": "Be brief.",
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]})
    };
    let (status, v) = body(post(&app, Some(&key), &request(false)).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "claude-3-5-haiku");
    assert_eq!(v["content"][0], json!({"type": "text", "text": "Hello"}));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["input_tokens"], 8);
    assert_eq!(v["usage"]["output_tokens"], 12);

    let resp = post(&app, Some(&key), &request(true)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "content_block_delta")
            .count(),
        12,
        "{text}"
    );
    assert_eq!(
        names[names.len() - 2..],
        ["message_delta", "message_stop"],
        "{text}"
    );
    assert!(text.contains(r#""output_tokens":12"#), "{text}");
    assert!(
        !text.contains("[DONE]") && !text.contains("chat.completion"),
        "{text}"
    );

    let seen = app.mock.seen();
    let calls: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/v1/chat/completions")
        .collect();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(
            call.body["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(call.body["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            call.anthropic_headers,
            (None, None),
            "no Anthropic headers to OpenAI"
        );
    }
    assert_eq!(calls[1].body["stream_options"]["include_usage"], true);
    // (8 + 12 * 5) * 0.4 = 27.2 a call.
    let logs = app.consume_logs().await;
    assert!(logs.iter().all(|l| l["quota"] == 27), "{logs:?}");
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 2 * 27);
}

async fn count_tokens_and_the_probe(app: TestApp) {
    let (_, key) = setup(&app).await;
    let resp = app
        .client
        .post(app.url("/v1/messages/count_tokens"))
        .header("x-api-key", &key)
        .json(&json!({"model": CLAUDE, "system": "You are terse.",
            "messages": [{"role": "user", "content": "Hello there, how are you?"}]}))
        .send()
        .await
        .unwrap();
    let (status, v) = body(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let counted = v["input_tokens"].as_i64().unwrap();
    assert!((10..40).contains(&counted), "{v}");
    assert!(app.consume_logs().await.is_empty(), "counting is free");
    let resp = app.client.head(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "Claude Code's probe");
}

/// A caller that hangs up mid-stream, before Anthropic's closing usage: billed for the prompt
/// `message_start` reported and at least the output it was sent (counted locally), not for
/// the one output token `message_start` claims.
async fn a_stream_left_before_its_usage_bills_what_was_sent(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    let mapping = json!({CLAUDE: "mock-slow"}).to_string();
    app.create_channel(
        &root,
        json!({"type": 14, "models": CLAUDE, "model_mapping": mapping}),
    )
    .await;
    let mut resp = post(&app, Some(&key), &message(true)).await;
    let mut seen = String::new();
    while seen.matches("text_delta").count() < 6 {
        let chunk = resp.chunk().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(resp);
    let mut logs = Vec::new();
    for _ in 0..50 {
        logs = app.consume_logs().await;
        if !logs.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["prompt_tokens"], 8, "{}", logs[0]);
    // "w0 w1 w2 w3 w4 w5 " is 12 tokens; more deltas may have been read meanwhile.
    let completion = logs[0]["completion_tokens"].as_i64().unwrap();
    assert!(completion >= 12, "{}", logs[0]);
    let quota = logs[0]["quota"].as_i64().unwrap();
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - quota);
}

db_tests!(
    a_stream_left_before_its_usage_bills_what_was_sent,
    native_messages_pass_through_and_bill_the_cache,
    messages_on_an_openai_channel_are_converted,
    errors_are_anthropic_shaped,
    count_tokens_and_the_probe,
);

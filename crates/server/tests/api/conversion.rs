//! Callers on channels of another dialect: OpenAI chat callers on Anthropic channels (the
//! other direction is in `anthropic.rs`).

use crate::helpers::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An OpenAI chat call of a model only an Anthropic channel serves: converted to Messages
/// (`max_tokens` filled in, as Anthropic requires it), the answer converted back, JSON or
/// chunks, billed from Anthropic's usage.
async fn chat_on_an_anthropic_channel_is_converted(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"name": "claude", "type": 14, "key": "sk-ant-upstream", "models": "claude-3-5-haiku"}),
    )
    .await;
    let request = |stream: bool| {
        json!({"model": "claude-3-5-haiku", "stream": stream,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]})
    };
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", request(false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude-3-5-haiku");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 8);
    assert_eq!(v["usage"]["completion_tokens"], 12);

    let (status, text) = app.relay_post_any(&key, request(true)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.starts_with("w0 w1 "), "{text}");
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        12,
        "{text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(!text.contains("event: "), "no Anthropic framing: {text}");

    let seen = app.mock.seen();
    let calls: Vec<_> = seen.iter().filter(|s| s.path == "/v1/messages").collect();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.credential.as_deref(), Some("sk-ant-upstream"));
        assert_eq!(call.anthropic_headers.0.as_deref(), Some("2023-06-01"));
        assert_eq!(call.body["system"], "Be brief.");
        assert_eq!(call.body["messages"][0]["content"][0]["text"], "Hello");
        assert_eq!(
            call.body["max_tokens"], 8192,
            "the model's maximum output, as reserved"
        );
        assert!(call.body.get("stream_options").is_none());
    }
    // (8 + 12 * 5) * 0.4 = 27.2 a call.
    let logs = app.consume_logs().await;
    assert!(logs.iter().all(|l| l["quota"] == 27), "{logs:?}");
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 2 * 27);
}

db_tests!(chat_on_an_anthropic_channel_is_converted);

//! Callers on channels of another dialect: OpenAI chat callers on Anthropic and Gemini
//! channels (Anthropic callers on OpenAI channels are in `anthropic.rs`).

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

/// An OpenAI chat call of a model only a Gemini channel serves: converted to
/// `generateContent` (`:streamGenerateContent?alt=sse` when streamed), the answer converted
/// back, billed from Gemini's usage.
async fn chat_on_a_gemini_channel_is_converted(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", r#"{"gemini-conv": 1}"#)
        .await;
    app.set_option(&root, "CompletionRatio", r#"{"gemini-conv": 2}"#)
        .await;
    app.create_channel(
        &root,
        json!({"name": "gemini", "type": 24, "key": "goog-upstream", "models": "gemini-conv"}),
    )
    .await;
    let request = |stream: bool| {
        json!({"model": "gemini-conv", "stream": stream, "max_tokens": 64,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]})
    };
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", request(false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello");
    assert_eq!(v["usage"]["completion_tokens"], 12);

    let (status, text) = app.relay_post_any(&key, request(true)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(content.starts_with("w0 w1 "), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let seen = app.mock.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert!(
        paths.contains(&"/v1beta/models/gemini-conv:generateContent"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/v1beta/models/gemini-conv:streamGenerateContent"),
        "{paths:?}"
    );
    for call in seen.iter().filter(|s| s.path.contains("gemini-conv")) {
        assert_eq!(
            call.body["systemInstruction"]["parts"][0]["text"],
            "Be brief."
        );
        assert_eq!(call.body["generationConfig"]["maxOutputTokens"], 64);
        assert_eq!(call.credential.as_deref(), Some("goog-upstream"));
    }
    // 8 + 12 * 2 = 32 a call.
    let logs = app.consume_logs().await;
    assert!(logs.iter().all(|l| l["quota"] == 32), "{logs:?}");
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 2 * 32);
}

db_tests!(
    chat_on_an_anthropic_channel_is_converted,
    chat_on_a_gemini_channel_is_converted,
);

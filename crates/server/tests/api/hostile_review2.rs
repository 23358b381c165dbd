//! Second hostile review: what the upstream charges for that the gateway does not price
//! (server-side tools, media parts the count does not know), and realtime responses the
//! gateway stops billing when a hold fails.

use crate::helpers::{Auth, TestApp, body};
use crate::realtime::{HOLD, next_of, upstream_closed};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A user with `quota` and a key, and a channel of `kind` serving `model` as `upstream`, at
/// ratio 1 and completion ratio 2.
pub(crate) async fn priced_setup(
    app: &TestApp,
    quota: i64,
    kind: i64,
    model: &str,
    upstream: &str,
) -> (Auth, String) {
    let (user, key, _) = app.relay_setup(quota).await;
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", &json!({model: 1}).to_string())
        .await;
    app.set_option(&root, "CompletionRatio", &json!({model: 2}).to_string())
        .await;
    app.create_channel(
        &root,
        json!({"name": "native", "type": kind, "key": "upstream-key-1234", "models": model,
            "model_mapping": json!({model: upstream}).to_string()}),
    )
    .await;
    (user, key)
}

/// Gemini's `urlContext` (and search grounding, code execution) put what the tool read into
/// the prompt Google bills, reported as `usageMetadata.toolUsePromptTokenCount` beside
/// `promptTokenCount` (`totalTokenCount` counts both). A Gemini caller on a Gemini channel
/// passes the tool untouched; the usage reader takes `promptTokenCount` only, so the tool's
/// tokens (here 50 000, about 20 pages) are never billed, not even capped at the balance.
async fn gemini_tool_use_tokens_are_billed(app: TestApp) {
    let quota = 1_000_000;
    let (user, key) = priced_setup(&app, quota, 24, "gemini-test", "mock-tool-use").await;
    let request = json!({"contents": [{"role": "user", "parts": [{"text":
            "Summarise https://example.com/a and https://example.com/b"}]}],
        "tools": [{"urlContext": {}}], "generationConfig": {"maxOutputTokens": 64}});
    let resp = app
        .client
        .post(app.url("/v1beta/models/gemini-test:generateContent"))
        .header("x-goog-api-key", &key)
        .json(&request)
        .send()
        .await
        .unwrap();
    let (status, v) = body(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let reported = v["usageMetadata"]["toolUsePromptTokenCount"]
        .as_i64()
        .unwrap();
    assert_eq!(reported, mock_upstream::TOOL_USE_TOKENS, "{v}");
    let spent = quota - app.settled_quota(&user).await;
    assert!(
        spent >= reported,
        "the upstream billed {reported} tool-use prompt tokens (ratio 1: {reported} quota) \
         beside its {} prompt tokens; the caller was charged {spent}",
        v["usageMetadata"]["promptTokenCount"]
    );
}

/// Anthropic's server tools run on the caller's say-so: a `web_search` tool costs 10 USD per
/// 1 000 searches (`usage.server_tool_use.web_search_requests`), outside the tokens. A
/// Messages call on an Anthropic channel passes the tool untouched and is billed its tokens
/// only; the gateway should refuse server tools it cannot price, or price the searches.
async fn anthropic_web_searches_are_billed(app: TestApp) {
    let quota = 1_000_000;
    let model = "claude-sonnet-4-20250514";
    let (user, key) = priced_setup(&app, quota, 14, model, "mock-tool-use").await;
    let request = json!({"model": model, "max_tokens": 64,
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "messages": [{"role": "user", "content": "Search the news five times."}]});
    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&request)
        .send()
        .await
        .unwrap();
    let (status, v) = body(resp).await;
    if status.is_client_error() {
        // Refusing a tool the gateway cannot price is as good as pricing it.
        return;
    }
    assert_eq!(status, StatusCode::OK, "{v}");
    let searches = v["usage"]["server_tool_use"]["web_search_requests"]
        .as_i64()
        .unwrap();
    assert_eq!(searches, mock_upstream::WEB_SEARCHES, "{v}");
    // 0.01 USD a search.
    let fee = searches * domain::quota::QUOTA_PER_USD / 100;
    let spent = quota - app.settled_quota(&user).await;
    assert!(
        spent >= fee,
        "the upstream ran {searches} web searches ({fee} quota at 0.01 USD each); the caller \
         was charged {spent} (its tokens only)"
    );
}

/// Media parts the count does not know are not reserved. OpenAI-compatible upstreams the
/// gateway relays as OpenAI channels (OpenRouter, SiliconFlow, DashScope: Qwen-VL) take video
/// by URL as chat's `video_url` part, which costs hundreds of tokens a second of video; and Go
/// upstreams (one-api, new-api chained behind the gateway) read the key `"Image_URL"` as
/// `image_url`, since Go's JSON decoder matches names in any letter case (the rule the
/// gateway already applies to priced fields). Eight such parts should be refused on a balance
/// that eight `image_url` parts are refused on (10 000 quota); they run.
async fn unknown_media_parts_are_reserved(app: TestApp) {
    let (_, key, _) = app.relay_setup(10_000).await;
    let url = "https://example.com/clip.mp4";
    let shapes = [
        json!({"type": "video_url", "video_url": {"url": url}}),
        json!({"type": "image_url", "Image_URL": {"url": "https://example.com/cat.png"}}),
    ];
    let mut failures = Vec::new();
    for part in shapes {
        let parts: Vec<Value> = (0..8).map(|_| part.clone()).collect();
        let chat = json!({"model": "gpt-4o", "max_tokens": 1,
            "messages": [{"role": "user", "content": parts}]});
        let calls = app.mock.calls();
        let (status, v) = app.relay_post(&key, "/v1/chat/completions", chat).await;
        if status != StatusCode::FORBIDDEN {
            failures.push(format!(
                "8 x {part}: answered {status} ({} prompt tokens billed); the upstream got \
                 {} call(s) with 8 media parts nothing was reserved for",
                v["usage"]["prompt_tokens"],
                app.mock.calls() - calls
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Two out-of-band responses under way, both held (the balance holds two and a little). The
/// first ends (here cancelled: 5 text tokens in, 3 audio out, about 50 quota) and is billed;
/// the balance then cannot hold a next response beside the second, so the gateway sends an
/// `error` event and closes both sockets at once. The second response, which ran upstream on a
/// full hold, is neither cancelled nor waited for: its hold is dropped and it is never billed.
/// A caller who leaves gets its responses cancelled and billed; one the balance ends should
/// too.
async fn realtime_responses_under_way_are_billed_when_a_hold_fails(app: TestApp) {
    let (_, key, _) = app.relay_setup(2 * HOLD + 10).await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"name": "rt", "key": "sk-rt-upstream", "models": "gpt-realtime",
            "model_mapping": json!({"gpt-realtime": "mock-hold"}).to_string()}),
    )
    .await;
    app.set_option(&root, "ModelRatio", r#"{"gpt-realtime": 1}"#)
        .await;
    app.set_option(&root, "CompletionRatio", r#"{"gpt-realtime": 2}"#)
        .await;
    let url = format!(
        "{}/v1/realtime?model=gpt-realtime",
        app.address.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let mut socket = tokio_tungstenite::connect_async(request).await.unwrap().0;
    next_of(&mut socket, "session.created").await.unwrap();
    let create = json!({"type": "response.create", "response": {"conversation": "none"}});
    for _ in 0..2 {
        socket
            .send(Message::text(create.to_string()))
            .await
            .unwrap();
        next_of(&mut socket, "response.created").await.unwrap();
    }
    // The first ends.
    socket
        .send(Message::text(r#"{"type":"response.cancel"}"#))
        .await
        .unwrap();
    next_of(&mut socket, "response.done").await.unwrap();
    let ended = next_of(&mut socket, "error").await;
    assert!(ended.is_some(), "the balance holds no next response");
    drop(socket);
    // The gateway cancels what still runs, bills it, then closes the upstream socket.
    assert!(upstream_closed(&app).await);
    let frames: Vec<Value> = app
        .mock
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v1/realtime")
        .map(|s| s.body)
        .collect();
    let ran = frames
        .iter()
        .filter(|e| e["type"] == "response.create")
        .count();
    let billed = app.consume_logs().await.len();
    assert_eq!(
        ran, billed,
        "responses the upstream ran vs responses billed (upstream frames: {frames:?})"
    );
}

db_tests!(
    gemini_tool_use_tokens_are_billed,
    anthropic_web_searches_are_billed,
    unknown_media_parts_are_reserved,
    realtime_responses_under_way_are_billed_when_a_hold_fails,
);

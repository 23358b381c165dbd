//! Hostile callers against dialect conversion and realtime: what the converter hands the
//! upstream must be what was priced and reserved, and a realtime session must run only the
//! model it is priced as, with every response it runs held and billed.

use crate::helpers::{Auth, TestApp};
use crate::realtime::{HOLD, Socket, next_of, upstream_closed};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The request bodies the mock received after the first `from`.
fn seen_since(app: &TestApp, from: usize) -> Vec<mock_upstream::Seen> {
    app.mock.seen().into_iter().skip(from).collect()
}

/// The output limit of an upstream chat request (`max_tokens` or `max_completion_tokens`).
fn chat_limit(body: &Value) -> Value {
    ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .map(|k| body[*k].clone())
        .find(|v| !v.is_null())
        .unwrap_or(Value::Null)
}

/// A Messages caller on an OpenAI channel: an output limit the pricing reads (and reserves
/// for) in a field the Messages-to-chat converter does not carry leaves the upstream request
/// without any limit, so the upstream generates up to the model's maximum on a reservation of
/// one token.
async fn messages_limits_priced_reach_chat_channels(app: TestApp) {
    let (_, key, _) = app.relay_setup(10_000_000).await;
    let mut failures = Vec::new();
    for field in ["max_completion_tokens", "max_output_tokens"] {
        let body = json!({"model": "gpt-4o", field: 1,
            "messages": [{"role": "user", "content": "Write a long story."}]});
        let before = app.mock.seen().len();
        let (status, v) = app.relay_post(&key, "/v1/messages", body.clone()).await;
        if status.is_client_error() {
            // Refusing a limit the converter cannot carry is as good as carrying it.
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{v}");
        let seen = seen_since(&app, before);
        let upstream = &seen.last().unwrap().body;
        let limit = chat_limit(upstream);
        if limit != json!(1) {
            failures.push(format!(
                "{body}: reserved for 1 output token, the upstream got limit {limit} and \
                 answered {} output tokens",
                v["usage"]["output_tokens"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Images by URL cost the upstream what their bytes do not show: a chat caller's `image_url`
/// parts are reserved for, and a balance that cannot cover them is refused. Anthropic image
/// blocks by URL and Gemini `fileData` images become the very same `image_url` parts on an
/// OpenAI channel, but the pricing does not see them.
async fn url_images_of_other_dialects_are_reserved(app: TestApp) {
    let (_, key, _) = app.relay_setup(10_000).await;
    let url = "https://example.com/cat.png";
    let chat_parts: Vec<Value> = (0..8)
        .map(|_| json!({"type": "image_url", "image_url": {"url": url}}))
        .collect();
    let chat = json!({"model": "gpt-4o", "max_tokens": 1,
        "messages": [{"role": "user", "content": chat_parts}]});
    let (status, v) = app.relay_post(&key, "/v1/chat/completions", chat).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "8 images outprice 10 000: {v}"
    );

    let blocks: Vec<Value> = (0..8)
        .map(|_| json!({"type": "image", "source": {"type": "url", "url": url}}))
        .collect();
    let messages = json!({"model": "gpt-4o", "max_tokens": 1,
        "messages": [{"role": "user", "content": blocks}]});
    let parts: Vec<Value> = (0..8)
        .map(|_| json!({"fileData": {"mimeType": "image/png", "fileUri": url}}))
        .collect();
    let gemini = json!({"contents": [{"role": "user", "parts": parts}],
        "generationConfig": {"maxOutputTokens": 1}});
    let mut failures = Vec::new();
    for (path, body) in [
        ("/v1/messages", messages),
        ("/v1beta/models/gpt-4o:generateContent", gemini),
    ] {
        let before = app.mock.seen().len();
        let (status, _) = app.relay_post(&key, path, body).await;
        if status != StatusCode::FORBIDDEN {
            let seen = seen_since(&app, before);
            let images = seen
                .last()
                .map_or(0, |s| s.body.to_string().matches("\"image_url\":{").count());
            failures.push(format!(
                "{path}: answered {status}; the upstream got {images} image_url parts \
                 that were not reserved for"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A Gemini caller's candidate count becomes chat's `n` on an OpenAI channel: it is reserved
/// for in either spelling, and what reaches the upstream is the limit and count priced.
async fn gemini_candidates_reach_chat_as_priced_choices(app: TestApp) {
    // gpt-4o: 100 output tokens at 1.25 * 4 = 500 a candidate.
    let (_, key, _) = app.relay_setup(1_500).await;
    let path = "/v1beta/models/gpt-4o:generateContent";
    let contents = json!([{"role": "user", "parts": [{"text": "Hi"}]}]);
    for config in [
        json!({"generation_config": {"max_output_tokens": 100, "candidate_count": 8}}),
        json!({"generationConfig": {"maxOutputTokens": 100, "candidateCount": 8}}),
        json!({"generation_config": {"candidate_count": 1}}),
    ] {
        let mut body = config.clone();
        body["contents"] = contents.clone();
        let calls = app.mock.calls();
        let (status, v) = app.relay_post(&key, path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{config}: {v}");
        assert_eq!(app.mock.calls(), calls, "{config}");
    }
    let before = app.mock.seen().len();
    let body = json!({"contents": contents,
        "generation_config": {"max_output_tokens": 100, "candidate_count": 2}});
    let (status, v) = app.relay_post(&key, path, body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let seen = seen_since(&app, before);
    let upstream = &seen.last().unwrap().body;
    assert_eq!(upstream["n"], 2, "{upstream}");
    assert_eq!(upstream["max_tokens"], 100, "{upstream}");
}

/// A user with `quota`, a key, and an OpenAI channel serving `gpt-realtime` (ratio 1,
/// completion 2) as `upstream`, and the dearer `gpt-realtime-pro`.
async fn realtime_setup(app: &TestApp, quota: i64, upstream: &str) -> (Auth, String) {
    let (user, key, _) = app.relay_setup(quota).await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"name": "rt", "key": "sk-rt-upstream", "models": "gpt-realtime,gpt-realtime-pro",
            "model_mapping": json!({"gpt-realtime": upstream}).to_string()}),
    )
    .await;
    app.set_option(
        &root,
        "ModelRatio",
        r#"{"gpt-realtime": 1, "gpt-realtime-pro": 50}"#,
    )
    .await;
    app.set_option(
        &root,
        "CompletionRatio",
        r#"{"gpt-realtime": 2, "gpt-realtime-pro": 2}"#,
    )
    .await;
    (user, key)
}

async fn connect(app: &TestApp, key: &str) -> Socket {
    let url = format!(
        "{}/v1/realtime?model=gpt-realtime",
        app.address.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The client frames the mock's realtime socket received.
fn realtime_frames(app: &TestApp) -> Vec<Value> {
    app.mock
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v1/realtime")
        .map(|s| s.body)
        .collect()
}

/// A `session.update` switching the model is refused only when the frame's text holds
/// `"model"` and parses with serde_json; every JSON parser reads `"mod\u0065l"` as `model`,
/// and a frame serde_json refuses (a lone surrogate escape, which Python's and Go's parsers
/// take; nesting past serde_json's 128 levels) passes unread. Each of these switches the
/// upstream session to `gpt-realtime-pro` while the session is billed as `gpt-realtime`.
async fn realtime_model_switches_cannot_be_smuggled(app: TestApp) {
    let (_, key) = realtime_setup(&app, 10_000_000, "gpt-realtime").await;
    let mut socket = connect(&app, &key).await;
    next_of(&mut socket, "session.created").await.unwrap();
    let deep = format!(
        r#"{{"type":"session.update","session":{{"model":"gpt-realtime-pro"}},"pad":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let smuggled = [
        r#"{"type":"session.update","session":{"mod\u0065l":"gpt-realtime-pro"}}"#.to_owned(),
        r#"{"type":"session.update","session":{"model":"gpt-realtime-pro"},"pad":"\ud800"}"#
            .to_owned(),
        deep,
    ];
    for frame in &smuggled {
        socket.send(Message::text(frame.clone())).await.unwrap();
    }
    // A harmless update after them: once it is answered, the frames before it were handled.
    let marker = json!({"type": "session.update", "session": {"instructions": "marker"}});
    socket
        .send(Message::text(marker.to_string()))
        .await
        .unwrap();
    loop {
        let updated = next_of(&mut socket, "session.updated").await.unwrap();
        if updated["session"]["instructions"] == "marker" {
            break;
        }
    }
    socket.close(None).await.unwrap();
    let frames = realtime_frames(&app);
    let forwarded: Vec<String> = frames
        .iter()
        .filter(|seen| seen["session"]["instructions"] != "marker")
        .map(|seen| format!("upstream read {seen}"))
        .collect();
    assert!(
        forwarded.is_empty(),
        "model switches that reached the upstream: {forwarded:#?}"
    );
}

/// A balance that holds one response: a second out-of-band `response.create`
/// (`conversation: "none"`, which OpenAI runs beside the first) while the first is under way
/// is refused with an `error` event and never reaches the upstream; when the caller leaves,
/// the response under way is cancelled by its id and billed: what the upstream ran is what
/// was billed.
async fn realtime_responses_beyond_the_hold_are_not_run_unbilled(app: TestApp) {
    let (_, key) = realtime_setup(&app, HOLD + 100, "mock-hold").await;
    let mut socket = connect(&app, &key).await;
    next_of(&mut socket, "session.created").await.unwrap();
    let create = json!({"type": "response.create", "response": {"conversation": "none"}});
    socket
        .send(Message::text(create.to_string()))
        .await
        .unwrap();
    next_of(&mut socket, "response.created").await.unwrap();
    socket
        .send(Message::text(create.to_string()))
        .await
        .unwrap();
    let refused = next_of(&mut socket, "error").await.unwrap();
    assert_eq!(
        refused["error"]["code"], "insufficient_user_quota",
        "{refused}"
    );
    drop(socket);
    assert!(upstream_closed(&app).await);
    let frames = realtime_frames(&app);
    let ran = frames
        .iter()
        .filter(|e| e["type"] == "response.create")
        .count();
    assert_eq!(ran, 1, "{frames:?}");
    assert!(
        frames
            .iter()
            .any(|e| e["type"] == "response.cancel" && e["response_id"] == "resp_mock"),
        "the response under way cancelled by its id: {frames:?}"
    );
    let billed = app.consume_logs().await.len();
    assert_eq!(
        ran, billed,
        "responses the upstream ran vs responses billed"
    );
}

db_tests!(
    an_orphan_function_response_is_refused_before_the_upstream,
    messages_limits_priced_reach_chat_channels,
    url_images_of_other_dialects_are_reserved,
    gemini_candidates_reach_chat_as_priced_choices,
    realtime_model_switches_cannot_be_smuggled,
    realtime_responses_beyond_the_hold_are_not_run_unbilled,
);

/// A Gemini `contents` of `n` function calls of `f`, their `n` responses (no ids) and one
/// response that answers no call.
fn orphan_body(n: usize) -> Value {
    let asked: Vec<Value> = (0..n)
        .map(|_| json!({"functionCall": {"name": "f", "args": {}}}))
        .collect();
    let mut answered: Vec<Value> = (0..n)
        .map(|_| json!({"functionResponse": {"name": "f", "response": {}}}))
        .collect();
    answered.push(json!({"functionResponse": {"name": "nobody", "response": {}}}));
    json!({"contents": [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": asked},
        {"role": "user", "parts": answered}],
        "generationConfig": {"maxOutputTokens": 1}})
}

/// A function response that answers no call is refused (400, in Google's shape) after the
/// others were matched, before any upstream call; the reservation is given back.
async fn an_orphan_function_response_is_refused_before_the_upstream(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000_000).await;
    let path = "/v1beta/models/gpt-4o:generateContent";
    let calls_before = app.mock.calls();
    let (status, v) = app.relay_post(&key, path, orphan_body(3)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
    assert_eq!(
        app.mock.calls(),
        calls_before,
        "refused before the upstream"
    );
    assert_eq!(app.settled_quota(&user).await, 1_000_000_000);
}

//! Realtime sessions (`GET /v1/realtime`, WebSocket): frames relayed both ways to the
//! channel's upstream socket, each `response.done` billed with audio priced apart, the session
//! ended with an `error` event when the balance cannot hold the next response, and a response
//! the caller leaves cancelled upstream and billed.

use crate::helpers::{Auth, TestApp};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Ratio 1, completion ratio 2, built-in audio ratios 8 and 2: 5 text in + 10 audio in * 8 +
/// 10 text out * 2 + 20 audio out * 16.
const RESPONSE_QUOTA: i64 = 5 + 80 + 20 + 320;
/// One response held: the model's most output tokens (no table entry: the fallback), as audio
/// at 16.
pub(crate) const HOLD: i64 = domain::pricing::FALLBACK_MAX_OUTPUT * 16;

/// A user with `quota` and a key, and an OpenAI channel serving `gpt-realtime` as `upstream`.
pub(crate) async fn setup(app: &TestApp, quota: i64, upstream: &str) -> (Auth, String) {
    let (user, key, _) = app.relay_setup(quota).await;
    let root = app.root().await;
    let mapping = json!({"gpt-realtime": upstream}).to_string();
    app.create_channel(
        &root,
        json!({"name": "rt", "key": "sk-rt-upstream", "models": "gpt-realtime", "model_mapping": mapping}),
    )
    .await;
    app.set_option(&root, "ModelRatio", r#"{"gpt-realtime": 1}"#)
        .await;
    app.set_option(&root, "CompletionRatio", r#"{"gpt-realtime": 2}"#)
        .await;
    (user, key)
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!(
        "{}/v1/realtime?{query}",
        app.address.replacen("http", "ws", 1)
    )
}

/// Connects as a browser does: the key in the protocol list.
pub(crate) async fn connect(app: &TestApp, key: &str) -> (Socket, Option<String>) {
    let mut request = ws_url(app, "model=gpt-realtime")
        .into_client_request()
        .unwrap();
    let protocols = format!("realtime, openai-insecure-api-key.{key}, openai-beta.realtime-v1");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (socket, resp) = tokio_tungstenite::connect_async(request).await.unwrap();
    let protocol = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (socket, protocol)
}

/// The next event of type `kind` (others skipped); `None` when the socket closes first.
pub(crate) async fn next_of(socket: &mut Socket, kind: &str) -> Option<Value> {
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(text.as_str()).unwrap();
            if event["type"] == kind {
                return Some(event);
            }
        }
    }
    None
}

pub(crate) async fn send(socket: &mut Socket, event: Value) {
    socket.send(Message::text(event.to_string())).await.unwrap();
}

/// Waits (up to 5 s) for the mock's realtime sockets to be closed.
pub(crate) async fn upstream_closed(app: &TestApp) -> bool {
    for _ in 0..50 {
        if app.mock.realtime_open() == 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn a_session_relays_and_bills_each_response(app: TestApp) {
    let (user, key) = setup(&app, 1_000_000, "gpt-realtime").await;
    let (mut socket, protocol) = connect(&app, &key).await;
    assert_eq!(protocol.as_deref(), Some("realtime"));
    let created = next_of(&mut socket, "session.created").await.unwrap();
    assert_eq!(created["session"]["model"], "gpt-realtime");
    for _ in 0..2 {
        send(
            &mut socket,
            json!({"type": "conversation.item.create", "item": {"type": "message",
            "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}}),
        )
        .await;
        send(&mut socket, json!({"type": "response.create"})).await;
        let delta = next_of(&mut socket, "response.output_text.delta")
            .await
            .unwrap();
        assert_eq!(delta["delta"], "Hello");
        let done = next_of(&mut socket, "response.done").await.unwrap();
        assert_eq!(done["response"]["usage"]["output_tokens"], 30);
    }
    // Another model cannot be switched to: the session is priced as its own.
    send(
        &mut socket,
        json!({"type": "session.update", "session": {"model": "gpt-realtime-pro"}}),
    )
    .await;
    let refused = next_of(&mut socket, "error").await.unwrap();
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("gpt-realtime-pro"), "{refused}");
    send(
        &mut socket,
        json!({"type": "session.update", "session": {"model": "gpt-realtime", "instructions": "Be brief."}}),
    )
    .await;
    let updated = next_of(&mut socket, "session.updated").await.unwrap();
    assert_eq!(updated["session"]["instructions"], "Be brief.");
    socket.close(None).await.unwrap();
    assert!(
        upstream_closed(&app).await,
        "the upstream socket was closed"
    );

    let seen = app.mock.seen();
    let events: Vec<&Value> = seen
        .iter()
        .filter(|s| s.path == "/v1/realtime")
        .map(|s| &s.body)
        .collect();
    assert_eq!(
        events.len(),
        5,
        "client frames passed as they were, but the switch"
    );
    assert!(
        events
            .iter()
            .all(|e| e["session"]["model"] != "gpt-realtime-pro")
    );
    assert_eq!(events[4]["session"]["instructions"], "Be brief.");
    assert!(
        events
            .iter()
            .all(|e| e["session"]["model"] != "gpt-realtime-pro")
    );
    assert_eq!(events[4]["session"]["instructions"], "Be brief.");
    assert_eq!(events[0]["item"]["content"][0]["text"], "Hello");
    let credential = seen.iter().find(|s| s.path == "/v1/realtime").unwrap();
    assert_eq!(
        credential.credential.as_deref(),
        Some("Bearer sk-rt-upstream")
    );

    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 2, "{logs:?}");
    for log in &logs {
        assert_eq!(log["quota"], RESPONSE_QUOTA, "{log}");
        assert_eq!(log["prompt_tokens"], 15);
        assert_eq!(log["completion_tokens"], 30);
        assert_eq!(log["model_name"], "gpt-realtime");
    }
    assert_eq!(
        app.settled_quota(&user).await,
        1_000_000 - 2 * RESPONSE_QUOTA,
        "the held response was given back"
    );
}

async fn sessions_are_refused_before_the_upgrade(app: TestApp) {
    let (_, key) = setup(&app, 1_000_000, "gpt-realtime").await;
    let get = |query: &str, key: Option<&str>| {
        let mut req = app
            .client
            .get(app.url(&format!("/v1/realtime?{query}")))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    let resp = get("model=gpt-realtime", None).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = get("model=gpt-unknown", Some(&key)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = get("", Some(&key)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("model"));
    // The key in the Authorization header opens a session too.
    let resp = get("model=gpt-realtime", Some(&key)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(
        app.mock
            .seen()
            .iter()
            .all(|s| s.path != "/v1/realtime" || s.credential.is_some())
    );
}

async fn a_session_ends_when_the_balance_cannot_hold_a_response(app: TestApp) {
    // Enough to hold one response, not a second after the first is billed.
    let (user, key) = setup(&app, HOLD + 100, "gpt-realtime").await;
    let (mut socket, _) = connect(&app, &key).await;
    send(&mut socket, json!({"type": "response.create"})).await;
    next_of(&mut socket, "response.done").await.unwrap();
    let error = next_of(&mut socket, "error").await.unwrap();
    assert_eq!(error["error"]["code"], "insufficient_user_quota", "{error}");
    assert!(
        next_of(&mut socket, "session.created").await.is_none(),
        "closed"
    );
    assert!(upstream_closed(&app).await);
    assert_eq!(app.settled_quota(&user).await, HOLD + 100 - RESPONSE_QUOTA);
    // Too little left to hold even one: refused before the upgrade, with OpenAI's error.
    let resp = app
        .client
        .get(app.url("/v1/realtime?model=gpt-realtime"))
        .bearer_auth(&key)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_user_quota", "{body}");
}

async fn a_response_the_caller_leaves_is_cancelled_and_billed(app: TestApp) {
    let (user, key) = setup(&app, 1_000_000, "mock-hold").await;
    let (mut socket, _) = connect(&app, &key).await;
    send(&mut socket, json!({"type": "response.create"})).await;
    next_of(&mut socket, "response.created").await.unwrap();
    drop(socket);
    assert!(upstream_closed(&app).await);
    let cancelled = app
        .mock
        .seen()
        .iter()
        .any(|s| s.path == "/v1/realtime" && s.body["type"] == "response.cancel");
    assert!(cancelled, "the gateway cancelled the response upstream");
    // 5 text in + 3 audio out at 16.
    let cost = 5 + mock_upstream::realtime::CANCELLED_OUTPUT * 16;
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["quota"], cost);
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - cost);
}

/// The `openai` SDK's realtime client (`scripts/sdk_realtime_check.py`): two responses, each
/// billed; an unknown key refused.
async fn the_openai_sdk_realtime_client_works(app: TestApp) {
    let available = std::process::Command::new("python3")
        .args(["-c", "import openai, websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("TEST_OPENAI_SDK").is_err(),
            "TEST_OPENAI_SDK is set but python3 cannot import openai and websockets"
        );
        eprintln!("openai or websockets not installed; realtime SDK check skipped");
        return;
    }
    let (user, key) = setup(&app, 1_000_000, "gpt-realtime").await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/sdk_realtime_check.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args([&app.url("/v1"), &key, "gpt-realtime"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(upstream_closed(&app).await);
    assert_eq!(
        app.settled_quota(&user).await,
        1_000_000 - 2 * RESPONSE_QUOTA
    );
}

db_tests!(
    the_openai_sdk_realtime_client_works,
    a_session_relays_and_bills_each_response,
    sessions_are_refused_before_the_upgrade,
    a_session_ends_when_the_balance_cannot_hold_a_response,
    a_response_the_caller_leaves_is_cancelled_and_billed,
);

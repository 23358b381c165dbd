//! Realtime robustness (issue 13): upstream `error` events are masked like HTTP upstream
//! errors, and client frames up to the configured size pass while larger ones get an `error`
//! event without ending the session.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::realtime::{connect, next_of, send, setup};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// An upstream `error` event reaches the caller without the channel's key, hosts or addresses.
async fn realtime_upstream_errors_are_masked(app: TestApp) {
    let (_, key) = setup(&app, 1_000_000, "mock-rt-leak").await;
    let (mut socket, _) = connect(&app, &key).await;
    send(&mut socket, json!({"type": "response.create"})).await;
    let error = next_of(&mut socket, "error").await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("refused by"), "{error}");
    for secret in ["sk-rt-upstream", "realtime-0", "8443", "10.20.30.40"] {
        assert!(!message.contains(secret), "{secret} in {error}");
    }
    assert_eq!(error["event_id"], "event_leak", "the rest passes as it is");
}

/// Frames up to the configured size (here 1 MiB) are relayed; a larger one is answered with an
/// `error` event, and the session goes on.
async fn realtime_frames_up_to_the_limit_pass(app: TestApp) {
    let mut settings = test_settings(&app.database_url, None);
    settings.server.realtime_max_frame_bytes = 1 << 20;
    let small = spawn_app_with(settings).await;
    let (_, key) = setup(&small, 1_000_000, "gpt-realtime").await;
    let (mut socket, _) = connect(&small, &key).await;
    next_of(&mut socket, "session.created").await.unwrap();
    let audio = "A".repeat(700 << 10);
    send(
        &mut socket,
        json!({"type": "input_audio_buffer.append", "audio": audio}),
    )
    .await;
    let big = "A".repeat(2 << 20);
    let event = json!({"type": "input_audio_buffer.append", "event_id": "big", "audio": big});
    socket.send(Message::text(event.to_string())).await.unwrap();
    let error = next_of(&mut socket, "error").await.unwrap();
    assert_eq!(error["error"]["code"], "request_too_large", "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
    send(&mut socket, json!({"type": "response.create"})).await;
    assert!(
        next_of(&mut socket, "response.done").await.is_some(),
        "the session goes on"
    );
    let appends: Vec<usize> = small
        .mock
        .seen()
        .iter()
        .filter(|s| s.body["type"] == "input_audio_buffer.append")
        .map(|s| s.bytes)
        .collect();
    assert_eq!(appends.len(), 1, "only the frame within the limit");
    assert!(appends[0] > 700 << 10);
}

db_tests!(
    realtime_upstream_errors_are_masked,
    realtime_frames_up_to_the_limit_pass,
);

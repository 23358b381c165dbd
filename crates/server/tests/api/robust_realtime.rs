//! Realtime robustness (issue 13): upstream `error` events are masked like HTTP upstream
//! errors, and client frames up to the configured size pass while a larger one gets an `error`
//! event and a 1009 close as soon as its header declares it.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::realtime::{connect, next_of, send, setup};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

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
/// `error` event and the session closes with 1009; a header declaring gigabytes is refused
/// before any of them arrive, and the gateway goes on serving.
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
    let _ = socket.send(Message::text(event.to_string())).await;
    let error = next_of(&mut socket, "error").await.unwrap();
    assert_eq!(error["error"]["code"], "request_too_large", "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
    assert_eq!(closed_with(&mut socket).await, Some(CloseCode::Size));
    let appends: Vec<usize> = small
        .mock
        .seen()
        .iter()
        .filter(|s| s.body["type"] == "input_audio_buffer.append")
        .map(|s| s.bytes)
        .collect();
    assert_eq!(appends.len(), 1, "only the frame within the limit");
    assert!(appends[0] > 700 << 10);

    // A header declaring 8 GiB (masked, as a client's must be), then silence.
    let (mut socket, _) = connect(&small, &key).await;
    next_of(&mut socket, "session.created").await.unwrap();
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(8_u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    if let MaybeTlsStream::Plain(tcp) = socket.get_mut() {
        tcp.write_all(&header).await.unwrap();
    }
    let error = next_of(&mut socket, "error").await.unwrap();
    assert_eq!(error["error"]["code"], "request_too_large", "{error}");
    let (status, _) = small.relay_get(&key, "/v1/models").await;
    assert_eq!(status, reqwest::StatusCode::OK, "the gateway goes on");
}

/// The code of the close frame that ends the socket, if one comes.
async fn closed_with(socket: &mut crate::realtime::Socket) -> Option<CloseCode> {
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Close(close) = frame {
            return close.map(|c| c.code);
        }
    }
    None
}

db_tests!(
    realtime_upstream_errors_are_masked,
    realtime_frames_up_to_the_limit_pass,
);

//! OpenAI's Realtime API over WebSocket (`GET /v1/realtime?model=...`): `session.created` on
//! connect; `session.update` is answered with `session.updated`; each `response.create` is answered with `response.created`, a text delta and
//! `response.done` with [`usage`] (text and audio tokens apart). `mock-hold` starts its
//! responses but only finishes one when `response.cancel` comes (status `cancelled`, with
//! [`CANCELLED_OUTPUT`] audio tokens). `mock-rt-leak` answers `response.create` with an
//! `error` event repeating the credential it was sent, an internal host and an IP address. Client events are recorded like requests (path
//! `/v1/realtime`), and [`crate::MockUpstream::realtime_open`] counts the open sockets.

use crate::{Seen, State};
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Audio output tokens of a cancelled `mock-hold` response.
pub const CANCELLED_OUTPUT: i64 = 3;

/// The usage of a finished response: 5 text and 10 audio tokens in, 10 text and 20 audio out.
pub fn usage() -> Value {
    json!({"total_tokens": 45, "input_tokens": 15, "output_tokens": 30,
        "input_token_details": {"text_tokens": 5, "audio_tokens": 10, "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0}},
        "output_token_details": {"text_tokens": 10, "audio_tokens": 20}})
}

/// Whether `req` asks to open a realtime socket.
pub(crate) fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.uri().path() == "/v1/realtime"
        && req
            .headers()
            .get("upgrade")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Accepts the socket and serves it on a task of its own.
#[allow(clippy::disallowed_methods)] // a test double, not the gateway: its tasks end with the runtime
pub(crate) fn accept<B: Default>(state: Arc<State>, mut req: Request<Incoming>) -> Response<B> {
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
        .unwrap_or_default();
    let credential = crate::credential(&req);
    let model = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("model=")))
        .unwrap_or_default()
        .to_owned();
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        state.realtime_open.fetch_add(1, Ordering::SeqCst);
        serve(&state, socket, &model, credential).await;
        state.realtime_open.fetch_sub(1, Ordering::SeqCst);
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", key)
        .body(B::default())
        .unwrap_or_default()
}

async fn serve<S>(
    state: &State,
    socket: WebSocketStream<S>,
    model: &str,
    credential: Option<String>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = socket.split();
    let send = |event: Value| Message::text(event.to_string());
    let created = json!({"type": "session.created", "event_id": "event_0",
        "session": {"id": "sess_mock", "object": "realtime.session", "model": model}});
    if tx.send(send(created)).await.is_err() {
        return;
    }
    let response = |status: &str, usage: Value| {
        json!({"id": "resp_mock", "object": "realtime.response", "status": status,
            "output": [], "usage": usage})
    };
    while let Some(Ok(frame)) = rx.next().await {
        let Message::Text(text) = frame else {
            continue;
        };
        let event: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
        state.record(Seen {
            path: "/v1/realtime".into(),
            credential: credential.clone(),
            body: event.clone(),
            raw: bytes::Bytes::copy_from_slice(text.as_bytes()),
            bytes: text.len(),
            content_type: None,
            anthropic_headers: (None, None),
        });
        let events = match event.get("type").and_then(Value::as_str) {
            Some("response.create") if model == "mock-rt-leak" => {
                let message = format!(
                    "key {} refused by realtime-0.internal:8443 (10.20.30.40)",
                    credential.as_deref().unwrap_or_default()
                );
                vec![json!({"type": "error", "event_id": "event_leak",
                    "error": {"type": "invalid_request_error", "code": "bad", "message": message}})]
            }
            Some("response.create") if model == "mock-hold" => {
                vec![
                    json!({"type": "response.created", "response": response("in_progress", Value::Null)}),
                ]
            }
            Some("response.create") => vec![
                json!({"type": "response.created", "response": response("in_progress", Value::Null)}),
                json!({"type": "response.output_text.delta", "response_id": "resp_mock",
                    "item_id": "item_mock", "output_index": 0, "content_index": 0, "delta": "Hello"}),
                json!({"type": "response.done", "response": response("completed", usage())}),
            ],
            Some("session.update") => {
                vec![json!({"type": "session.updated", "session": event.get("session")})]
            }
            Some("response.cancel") => {
                let usage = json!({"total_tokens": 5 + CANCELLED_OUTPUT, "input_tokens": 5,
                    "output_tokens": CANCELLED_OUTPUT,
                    "input_token_details": {"text_tokens": 5, "audio_tokens": 0},
                    "output_token_details": {"text_tokens": 0, "audio_tokens": CANCELLED_OUTPUT}});
                vec![json!({"type": "response.done", "response": response("cancelled", usage)})]
            }
            _ => Vec::new(),
        };
        for event in events {
            if tx.send(send(event)).await.is_err() {
                return;
            }
        }
    }
}

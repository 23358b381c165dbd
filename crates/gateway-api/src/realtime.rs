//! OpenAI's Realtime API, `GET /v1/realtime?model=...` (WebSocket): the key from the
//! `openai-insecure-api-key.<key>` entry of `Sec-WebSocket-Protocol` (browsers) or the usual
//! headers; the session is refused in an HTTP error before the upgrade when the key, model,
//! balance or every channel fails. Then frames pass both ways untouched (but a `session.update`
//! switching to another model, answered with an `error` event); every server event
//! goes through the relay's meter, which bills each `response.done`. When the balance cannot
//! hold the next response the caller gets an `error` event and the session ends. A caller that
//! leaves mid-response has its responses cancelled upstream and billed from their final usage
//! (waited for a few seconds), then the upstream socket is closed. Upstream `error` events are
//! masked of the channel's secrets. Client frames may be up to `realtime_max_frame` bytes (the
//! setting `server.realtime_max_frame_bytes`, 16 MiB by default: OpenAI's
//! `input_audio_buffer.append` carries several megabytes of audio); a larger one is refused as
//! soon as its header declares it: the caller gets an `error` event (`request_too_large`) and
//! the session closes with 1009.

use crate::GatewayState;
use crate::error::{OpenAiError, realtime_error_event, relay_error};
use crate::extract::{Admitted, meta};
use crate::frames::FrameLimit;
use actix_web::FromRequest;
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason};
use futures_util::{SinkExt, StreamExt};
use relay::{Realtime, RelayError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Upstream;

/// How long a response the caller left is waited for, to bill it.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// The protocol entry browsers carry the key in.

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RealtimeQuery {
    /// The realtime model.
    #[param(required = true, min_length = 1)]
    model: Option<String>,
}

/// Whether `req` carries a WebSocket handshake's headers, as the document states them.
fn is_handshake(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let key_ok = header("sec-websocket-key").is_some_and(|k| {
        k.len() == 24
            && k.ends_with("==")
            && k[..22]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        && header("sec-websocket-version") == Some("13")
        && key_ok
}

/// The entries of `Sec-WebSocket-Protocol`.
fn protocols(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect()
}

/// Open a realtime session.
#[utoipa::path(get, path = "/v1/realtime", tag = "openai", params(RealtimeQuery,
        ("Upgrade" = String, Header, description = "`websocket`, in any letter case.", pattern = "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$"),
        ("Sec-WebSocket-Key" = String, Header, description = "The client's nonce: 16 bytes in base64.", pattern = "^[A-Za-z0-9+/]{22}==$"),
        ("Sec-WebSocket-Version" = String, Header, pattern = "^13$")),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; events pass as OpenAI's Realtime API defines them. Each `response.done` is billed from its usage (text and audio priced apart); when the balance cannot hold the next response an `error` event ends the session."),
        (status = 400, body = OpenAiError, description = "No `model`, or not a WebSocket handshake."),
        (status = 401, body = OpenAiError), (status = 403, body = OpenAiError),
        (status = 404, body = OpenAiError, description = "No enabled channel lists the model."),
        (status = 429, body = OpenAiError, description = "A rate limit of the key or user is reached (`Retry-After`)."),
        (status = 503, body = OpenAiError, description = "No OpenAI channel serving the model could be reached.")),
    security(("api_key" = [])))]
pub(crate) async fn realtime(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    query: web::Query<RealtimeQuery>,
    body: web::Payload,
    Admitted(caller): Admitted,
) -> HttpResponse {
    let offered = protocols(&req);
    let Some(model) = query.model.as_deref().filter(|m| !m.is_empty()) else {
        let err = RelayError::BadRequest("the `model` query parameter is required".into());
        return relay_error(&err, &req);
    };
    if !is_handshake(&req) {
        let err = RelayError::BadRequest("not a WebSocket handshake".into());
        return relay_error(&err, &req);
    }
    let beta = req
        .headers()
        .get("openai-beta")
        .and_then(|v| v.to_str().ok());
    let session = match state
        .relay
        .realtime(&caller, model, beta, &meta(&req))
        .await
    {
        Ok(s) => s,
        Err(e) => return relay_error(&e, &req),
    };
    // Frame lengths are checked as their headers arrive (`frames`): actix's codec would hold a
    // whole oversized frame before refusing it.
    let oversize = Arc::new(AtomicBool::new(false));
    let watched = FrameLimit::new(
        body.into_inner(),
        state.realtime_max_frame,
        oversize.clone(),
    );
    let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>> = Box::pin(watched);
    let mut payload = actix_web::dev::Payload::from(boxed);
    let body = match web::Payload::from_request(&req, &mut payload).await {
        Ok(body) => body,
        Err(e) => return relay_error(&RelayError::BadRequest(e.to_string()), &req),
    };
    let (mut resp, client, incoming) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => {
            let err = RelayError::BadRequest(format!("not a WebSocket handshake: {e}"));
            return relay_error(&err, &req);
        }
    };
    if offered.iter().any(|p| p == "realtime") {
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("realtime"));
    }
    let incoming = incoming.max_frame_size(state.realtime_max_frame);
    let jobs = state.relay.jobs();
    jobs.spawn_local(relay_frames(
        client,
        incoming,
        session,
        (req, jobs.clone()),
        (state.realtime_max_frame, oversize),
    ));
    resp
}

/// Passes frames both ways until either side ends or the balance runs out.
async fn relay_frames(
    mut client: actix_ws::Session,
    mut incoming: actix_ws::MessageStream,
    session: Realtime,
    (req, jobs): (HttpRequest, relay::Jobs),
    (max_frame, oversize): (usize, Arc<AtomicBool>),
) {
    let Realtime {
        upstream,
        mut meter,
    } = session;
    let (mut up_tx, mut up_rx) = upstream.split();
    let mut stopping = std::pin::pin!(jobs.cancelled());
    loop {
        tokio::select! {
            // The gateway is shutting down: the caller is told, and the responses under way
            // are cancelled and billed below.
            _ = &mut stopping => {
                let err = RelayError::Unavailable("the gateway is restarting".into());
                let _ = client.text(realtime_error_event(&err, &req)).await;
                let reason = CloseReason { code: CloseCode::Restart, description: None };
                let _ = client.close(Some(reason)).await;
                break;
            }
            from_client = incoming.next() => {
                let sent = match from_client {
                    Some(Ok(actix_ws::Message::Text(text))) => match meter
                        .admit(&text)
                        .await
                        .and_then(|()| meter.client_event(&text))
                    {
                        Ok(()) => up_tx.send(Upstream::text(text.to_string())).await,
                        Err(e) => {
                            let _ = client.text(realtime_error_event(&e, &req)).await;
                            Ok(())
                        }
                    },
                    // Realtime events are JSON text; a binary frame could carry one unread.
                    Some(Ok(actix_ws::Message::Binary(_))) => {
                        let err = RelayError::BadRequest("events are sent as text frames".into());
                        let _ = client.text(realtime_error_event(&err, &req)).await;
                        Ok(())
                    }
                    Some(Ok(actix_ws::Message::Ping(bytes))) => {
                        let _ = client.pong(&bytes).await;
                        Ok(())
                    }
                    // A frame over the limit: the caller is told with an error event and the
                    // session ends with 1009 (its bytes cannot be skipped safely, and a stream
                    // that failed must not be read again).
                    Some(Err(_)) if oversize.load(Ordering::Relaxed) => {
                        let err = RelayError::TooLarge(max_frame);
                        let _ = client.text(realtime_error_event(&err, &req)).await;
                        let reason = CloseReason {
                            code: CloseCode::Size,
                            description: Some(format!("frames are at most {max_frame} bytes")),
                        };
                        let _ = client.close(Some(reason)).await;
                        break;
                    }
                    Some(Err(e)) => {
                        let reason = CloseReason {
                            code: CloseCode::Protocol,
                            description: Some(e.to_string()),
                        };
                        let _ = client.close(Some(reason)).await;
                        break;
                    }
                    Some(Ok(actix_ws::Message::Close(_))) | None => break,
                    Some(Ok(_)) => Ok(()),
                };
                if sent.is_err() {
                    let _ = client.close(None).await;
                    return;
                }
            }
            from_upstream = up_rx.next() => {
                let ok = match from_upstream {
                    Some(Ok(Upstream::Text(text))) => {
                        let shown = meter.outgoing(text.as_str()).into_owned();
                        let delivered = client.text(shown).await.is_ok();
                        if let Err(e) = meter.server_event(text.as_str()) {
                            // The session ends; the responses still under way are cancelled
                            // and billed below.
                            let _ = client.text(realtime_error_event(&e, &req)).await;
                            let _ = client.close(None).await;
                            break;
                        }
                        delivered
                    }
                    Some(Ok(Upstream::Binary(bytes))) => client.binary(bytes).await.is_ok(),
                    Some(Ok(Upstream::Close(_))) | Some(Err(_)) | None => {
                        let _ = client.close(None).await;
                        return;
                    }
                    Some(Ok(_)) => true,
                };
                if !ok {
                    break;
                }
            }
        }
    }
    // The caller left (or the session ends): the responses under way are cancelled and billed
    // from their final usage.
    if meter.responding() {
        let mut cancels: Vec<String> = meter
            .in_flight()
            .iter()
            .map(|id| serde_json::json!({"type": "response.cancel", "response_id": id}).to_string())
            .collect();
        if cancels.is_empty() {
            cancels.push(r#"{"type":"response.cancel"}"#.to_owned());
        }
        let mut sent = Ok(());
        for cancel in cancels {
            sent = sent.and(up_tx.send(Upstream::text(cancel)).await);
        }
        if sent.is_ok() {
            let _ = tokio::time::timeout(CANCEL_GRACE, async {
                while let Some(Ok(frame)) = up_rx.next().await {
                    if let Upstream::Text(text) = frame {
                        let _ = meter.server_event(text.as_str());
                        if !meter.responding() {
                            break;
                        }
                    }
                }
            })
            .await;
        }
    }
    let _ = up_tx.close().await;
}

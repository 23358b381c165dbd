//! A successful upstream status turned into the caller's answer: a stream relayed as it is
//! metered, or a whole answer read and billed by a task of its own. A whole answer whose body
//! is an error object (some upstreams answer 200 with `{"error": {...}}`) is an upstream
//! failure: not billed, and handed back so another channel may take the call.

use crate::billing::Meter;
use crate::convert::Conversion;
use crate::dialect::Endpoint;
use crate::error::RelayError;
use crate::jobs::Jobs;
use crate::pipeline::{RelayBody, RelayResponse};
use crate::routing::ChannelInfo;
use crate::stream::MeteredStream;
use crate::stream::sse::Usage;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use std::sync::Arc;

/// The most of a whole (not streamed) upstream answer read: images as base64 included.
const ANSWER_LIMIT: usize = 256 << 20;

/// What the caller's answer is made of: its endpoint, and the conversion from the channel's
/// dialect with the model name the caller asked for.
pub(crate) struct Answer<'a> {
    pub endpoint: Endpoint,
    pub conversion: Option<Conversion>,
    pub model: &'a str,
    /// The channel answering, whose secrets its error events must not show.
    pub channel: Arc<ChannelInfo>,
    /// The owner of the task that reads a whole answer.
    pub jobs: &'a Jobs,
    /// How long a stream may send nothing before it is given up.
    pub idle: std::time::Duration,
    /// Set when streams must end (the shutdown grace is over).
    pub ending: &'a Arc<std::sync::atomic::AtomicBool>,
    /// Durable billing: the writer to commit the bill through before the answer's end.
    pub durable: Option<persistence::billing::BillingWriter>,
}

/// How an answer with a successful status turned out.
pub(crate) enum Answered {
    Relayed(RelayResponse),
    /// A whole answer whose body is an error: not billed; the meter keeps the reservation.
    Failed {
        body: Bytes,
        meter: Box<Meter>,
    },
}

/// Whether a whole answer is an error object in place of the answer: a top-level `error` that
/// is not null (a Responses object carries `"error": null` when it succeeded).
pub(crate) fn is_error_body(body: &[u8]) -> bool {
    /// The top-level `error`, the rest skipped unread.
    #[derive(serde::Deserialize)]
    struct TopError {
        error: Option<serde::de::IgnoredAny>,
    }
    crate::stream::ERROR_KEY.in_(body)
        && serde_json::from_slice::<TopError>(body).is_ok_and(|t| t.error.is_some())
}

/// The status an error object in a 200 stands for: its numeric `code` (Gemini's shape) when
/// that is an error status, else 502.
pub(crate) fn failed_status(body: &[u8]) -> u16 {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/code").and_then(Value::as_u64))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(502)
}

/// Turns a successful upstream answer into the relayed response, billing it.
pub(crate) async fn answer(
    meter: Meter,
    allowance: Option<i64>,
    resp: hyper::Response<Incoming>,
    shape: Answer<'_>,
    first: Option<Bytes>,
) -> Result<Answered, RelayError> {
    let endpoint = shape.endpoint;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let body = match first {
        Some(first) => RelayBody::Stream(Box::new(
            MeteredStream::events(
                first,
                resp.into_body(),
                meter,
                allowance,
                shape.conversion.map(|c| c.stream(shape.model)),
                shape.channel,
            )
            .watched(shape.idle, shape.ending.clone())
            .durable(shape.durable.clone()),
        )),
        None if endpoint == Endpoint::AudioSpeech => {
            // Speech is priced by its input's characters, known before the answer.
            let usage = Usage {
                prompt_tokens: meter.prompt_estimate,
                ..Usage::default()
            };
            meter.bill(Some(usage));
            RelayBody::Stream(Box::new(
                MeteredStream::bytes(resp.into_body())
                    .watched(shape.idle, shape.ending.clone())
                    .durable(shape.durable.clone()),
            ))
        }
        None => {
            // Read and billed by a task of its own: a caller that hangs up meanwhile is billed
            // all the same for what the upstream produced. A body that breaks off (or passes
            // the limit) is not billed: the session refunds when dropped, as it does for an
            // error body nobody waits for any more.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let durable = shape.durable.clone();
            shape.jobs.spawn(async move {
                let read = Limited::new(resp.into_body(), ANSWER_LIMIT).collect().await;
                let result = match read {
                    Ok(body) => {
                        let bytes = body.to_bytes();
                        if is_error_body(&bytes) {
                            Ok(Err((bytes, meter)))
                        } else {
                            meter.bill_answer(&bytes);
                            if let Some(writer) = durable {
                                writer.flush().await;
                            }
                            Ok(Ok(bytes))
                        }
                    }
                    Err(e) => Err(RelayError::Unavailable(e.to_string())),
                };
                let _ = tx.send(result);
            });
            let read = rx
                .await
                .map_err(|_| RelayError::Internal("the answer reader stopped".into()))??;
            let bytes = match read {
                Ok(bytes) => bytes,
                Err((body, meter)) => {
                    return Ok(Answered::Failed {
                        body,
                        meter: Box::new(meter),
                    });
                }
            };
            match shape.conversion {
                Some(c) => RelayBody::Full(c.response(&bytes, shape.model)?),
                None => RelayBody::Full(bytes),
            }
        }
    };
    Ok(Answered::Relayed(RelayResponse {
        status,
        content_type,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_a_200() {
        assert!(is_error_body(
            br#"{"error":{"message":"m","type":"server_error"}}"#
        ));
        assert!(is_error_body(br#"{"error":"busy"}"#));
        assert!(!is_error_body(
            br#"{"id":"resp_1","status":"completed","error":null}"#
        ));
        assert!(!is_error_body(
            br#"{"choices":[{"message":{"content":"the \"error\" word"}}]}"#
        ));
        assert_eq!(
            failed_status(br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#),
            429
        );
        assert_eq!(failed_status(br#"{"error":{"code":200}}"#), 502);
        assert_eq!(failed_status(br#"{"error":{"code":"server_error"}}"#), 502);
    }
}

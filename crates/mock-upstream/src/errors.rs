//! Failures in each family's format: the model list that refuses a revoked credential, the
//! error event that ends a stream, and OpenAI's error body.

use crate::{Body, State, json_response, responses};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// The model list (every family's path ends in `/models`): 401 for a revoked credential.
pub(crate) fn model_list(state: &State, cred: Option<&str>) -> Response<Body> {
    let revoked = state
        .revoked
        .lock()
        .map(|r| cred.is_some_and(|c| r.iter().any(|k| k == c)))
        .unwrap_or(false);
    if revoked {
        let error = openai_error(
            "Incorrect API key provided",
            "invalid_request_error",
            "invalid_api_key",
        );
        return json_response(StatusCode::UNAUTHORIZED, &error);
    }
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": [], "models": []}),
    )
}

/// The error event a `mock-stream-error` stream holds, in the format `path` speaks.
pub(crate) fn stream_error(path: &str) -> String {
    let message = "The engine is overloaded";
    if path.ends_with("/v1/messages") {
        let data =
            json!({"type": "error", "error": {"type": "overloaded_error", "message": message}});
        format!("event: error\ndata: {data}\n\n")
    } else if path.ends_with("/v1/responses") {
        let mut response = responses::answer_with("mock-stream-error", vec![], 0);
        response["status"] = json!("failed");
        response["error"] = json!({"code": "server_error", "message": message});
        let data = json!({"type": "response.failed", "sequence_number": 0, "response": response});
        format!("event: response.failed\ndata: {data}\n\n")
    } else if path.contains(":streamGenerateContent") {
        let data = json!({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}});
        format!("data: {data}\r\n\r\n")
    } else {
        let data = json!({"error": {"message": message, "type": "server_error"}});
        format!("data: {data}\n\n")
    }
}

/// A `mock-error-split` stream: the format's error event as its first event, in two frames
/// (cut inside its JSON) a moment apart.
pub(crate) fn split_stream_error(path: &str) -> Response<Body> {
    let event = stream_error(path);
    let cut = event
        .find("\"error\"")
        .map_or(0, |at| at + 4)
        .min(event.len());
    let halves = [event[..cut].to_owned(), event[cut..].to_owned()];
    let frames =
        futures_util::stream::iter(halves.into_iter().enumerate()).then(|(i, half)| async move {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(half)))
        });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap_or_else(|_| Response::new(http_body_util::Full::new(Bytes::new()).boxed()))
}

/// OpenAI's error body.
pub(crate) fn openai_error(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

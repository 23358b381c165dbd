//! Failures in each family's format: the model list that refuses a revoked credential, the
//! error event that ends a stream, and OpenAI's error body.

use crate::{Body, State, json_response, responses};
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

/// OpenAI's error body.
pub(crate) fn openai_error(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

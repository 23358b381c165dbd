//! OpenAI's video API (Sora): `Authorization: Bearer <key>` (recorded, never checked).
//!
//! `POST /v1/videos` (JSON or multipart: `model`, `prompt`, `seconds`, `size`, an optional
//! `input_reference` file) answers the video object, `status` `queued`; a refusal answers HTTP
//! 400 with OpenAI's error object, code `moderation_blocked`. `GET /v1/videos/{id}` answers it
//! `in_progress` (progress 50), then `completed` (progress 100, `completed_at`, `expires_at`) or
//! `failed` (`error: {code: "mock_failure", message}`); an unknown id answers 404.
//! `GET /v1/videos/{id}/content` answers a few bytes of `video/mp4` once it is completed (not
//! counted as a poll).

use super::{FAIL_REASON, Fate, MockTask, NewTask, Phase, Platform, TaskRequest, Tasks, field};
use super::{prompt_of, raw_response};
use crate::errors::openai_error;
use crate::{Body, json_response};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// The model a request without one gets.
pub const DEFAULT_MODEL: &str = "sora-2";
/// The clip length a request without one gets.
pub const DEFAULT_SECONDS: &str = "4";
/// The size a request without one gets.
pub const DEFAULT_SIZE: &str = "720x1280";
/// How long a completed video's assets stay downloadable, in seconds.
const EXPIRY_SECS: u64 = 24 * 3600;

/// The start of an MP4 file (an `ftyp` box): what `/content` serves.
pub const MP4_BYTES: &[u8] = &[
    0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'm', b'p', b'4', b'2', 0, 0, 0, 0, b'm', b'p', b'4',
    b'2', b'i', b's', b'o', b'm',
];

/// Answers a request under `/v1/videos` (`rest` is the path after it).
pub(crate) fn handle(tasks: &Tasks, req: &TaskRequest<'_>, rest: &str) -> Response<Body> {
    let id = rest.trim_start_matches('/');
    match *req.method {
        Method::POST if id.is_empty() => create(tasks, req.body),
        Method::GET if id.ends_with("/content") => content(tasks, id.trim_end_matches("/content")),
        Method::GET if !id.is_empty() && !id.contains('/') => {
            match tasks.poll(Platform::Video, id) {
                Some(task) => json_response(StatusCode::OK, &video_json(&task, false)),
                None => not_found(id),
            }
        }
        _ => {
            let message = format!("Invalid URL ({} /v1/videos{rest})", req.method);
            json_response(
                StatusCode::NOT_FOUND,
                &openai_error(&message, "invalid_request_error", ""),
            )
        }
    }
}

fn not_found(id: &str) -> Response<Body> {
    let message = format!("Video with id '{id}' not found.");
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

fn create(tasks: &Tasks, body: &Value) -> Response<Body> {
    let prompt = prompt_of(body, &["prompt"]);
    if prompt.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &openai_error(
                "Missing required parameter: 'prompt'.",
                "invalid_request_error",
                "missing_required_parameter",
            ),
        );
    }
    let fate = Fate::of(&prompt);
    if fate == Fate::Refuse {
        return json_response(
            StatusCode::BAD_REQUEST,
            &openai_error(
                "mock refusal",
                "invalid_request_error",
                "moderation_blocked",
            ),
        );
    }
    let task = tasks.create(NewTask {
        platform: Platform::Video,
        action: String::new(),
        request: body.clone(),
        prompt,
        description: String::new(),
        fate,
        modal: false,
    });
    json_response(StatusCode::OK, &video_json(&task, true))
}

/// The video object; `fresh` for the answer to its creation (queued).
fn video_json(task: &MockTask, fresh: bool) -> Value {
    let (status, progress) = match task.phase() {
        _ if fresh => ("queued", 0),
        Phase::Modal => ("queued", 0),
        Phase::Running(p) => ("in_progress", p),
        Phase::Succeeded => ("completed", 100),
        Phase::Failed => ("failed", 0),
    };
    let completed_at = (status == "completed")
        .then_some(task.finished_ms)
        .flatten()
        .map(|ms| ms / 1000);
    let error =
        (status == "failed").then(|| json!({"code": "mock_failure", "message": FAIL_REASON}));
    let text = |name: &str, default: &str| {
        field(&task.request, name).unwrap_or_else(|| default.to_owned())
    };
    json!({
        "id": task.id,
        "object": "video",
        "model": text("model", DEFAULT_MODEL),
        "status": status,
        "progress": progress,
        "created_at": task.created_ms / 1000,
        "completed_at": completed_at,
        "expires_at": completed_at.map(|at| at + EXPIRY_SECS),
        "prompt": task.prompt,
        "seconds": text("seconds", DEFAULT_SECONDS),
        "size": text("size", DEFAULT_SIZE),
        "remixed_from_video_id": null,
        "error": error,
    })
}

/// The video's bytes, once it is completed.
fn content(tasks: &Tasks, id: &str) -> Response<Body> {
    match tasks.peek(Platform::Video, id) {
        None => not_found(id),
        Some(task) if task.phase() == Phase::Succeeded => {
            raw_response(StatusCode::OK, "video/mp4", MP4_BYTES.to_vec())
        }
        Some(_) => json_response(
            StatusCode::BAD_REQUEST,
            &openai_error(
                "Video is not ready yet, use GET /v1/videos/{video_id} to check status.",
                "invalid_request_error",
                "",
            ),
        ),
    }
}

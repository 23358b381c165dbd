//! Kling's official video API (`https://api.klingai.com` style).
//!
//! Every request needs `Authorization: Bearer <JWT>`: HS256, signed with [`KLING_SECRET`],
//! `iss` [`KLING_ACCESS`], `exp` in the future, `nbf` (when present) not in the future, with
//! [`LEEWAY_SECS`] of leeway. Else HTTP 401 `{"code", "message", "request_id"}` with Kling's
//! codes (1001 no token, 1002 a bad one, 1003 not yet valid, 1004 expired), counted by
//! [`crate::MockUpstream::kling_auth_failures`].
//!
//! `POST /v1/videos/text2video` and `/v1/videos/image2video` (JSON or multipart) answer `{"code":
//! 0, "message": "SUCCEED", "request_id", "data": {"task_id", "task_status": "submitted",
//! "task_info", "created_at", "updated_at"}}` (ms); a refusal answers HTTP 400 with code 1301
//! (Kling's content security code), a missing prompt or image 400 with 1201. `GET
//! /v1/videos/{text2video,image2video}/{task_id}` answers the task: `task_status`
//! `processing`, `succeed` (with `task_result.videos[0].url`) or `failed` (the reason only in
//! `task_status_msg`; `message` stays `SUCCEED`); an unknown id (or one of the other kind)
//! answers HTTP 404 with code 1203.

use super::{
    FAIL_REASON, Fate, MockTask, NewTask, Phase, Platform, TaskRequest, Tasks, field, prompt_of,
    result_url, uuid_like,
};
use crate::{Body, json_response};
use hyper::{Method, Response, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};

/// The access key the mock's tokens must name as `iss`.
pub const KLING_ACCESS: &str = "mock-kling-access";
/// The secret key the mock's tokens must be signed with (HS256).
pub const KLING_SECRET: &str = "mock-kling-secret";
/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;
/// Kling's code for a request its content policy refuses.
pub const CODE_CONTENT_POLICY: i64 = 1301;

/// Answers a request under `/v1/videos/{kind}` (`rest` is the path after it).
pub(crate) fn handle(
    tasks: &Tasks,
    req: &TaskRequest<'_>,
    kind: &str,
    rest: &str,
) -> Response<Body> {
    if let Err((code, message)) = check_token(req.credential) {
        tasks.kling_auth_failed();
        return failure(StatusCode::UNAUTHORIZED, code, message);
    }
    match (req.method, rest) {
        (&Method::POST, "") => create(tasks, req.body, kind),
        (&Method::GET, _) if rest.len() > 1 && rest.starts_with('/') => {
            let id = &rest[1..];
            let known = tasks
                .peek(Platform::Kling, id)
                .is_some_and(|t| t.action == kind);
            match tasks.poll(Platform::Kling, id).filter(|_| known) {
                Some(task) => succeed(task_json(&task)),
                None => failure(StatusCode::NOT_FOUND, 1203, "task not found"),
            }
        }
        _ => failure(
            StatusCode::NOT_FOUND,
            1202,
            "The requested method is invalid",
        ),
    }
}

/// Checks the bearer JWT; `Err` holds Kling's code and message.
fn check_token(credential: Option<&str>) -> Result<(), (i64, &'static str)> {
    let Some(credential) = credential.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err((1001, "Authorization is empty"));
    };
    let Some(token) = credential.strip_prefix("Bearer ").map(str::trim) else {
        return Err((1002, "Authorization is invalid"));
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[KLING_ACCESS]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    let key = DecodingKey::from_secret(KLING_SECRET.as_bytes());
    match decode::<Value>(token, &key, &validation) {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::ExpiredSignature => (1004, "Authorization has expired"),
            ErrorKind::ImmatureSignature => (1003, "Authorization is not yet valid"),
            _ => (1002, "Authorization is invalid"),
        }),
    }
}

fn failure(status: StatusCode, code: i64, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"code": code, "message": message, "request_id": uuid_like()}),
    )
}

fn succeed(data: Value) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"code": 0, "message": "SUCCEED", "request_id": uuid_like(), "data": data}),
    )
}

/// Whether the form or JSON body carries `name` (a non-empty string, or an uploaded file).
fn has(body: &Value, name: &str) -> bool {
    match body.get(name) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

fn create(tasks: &Tasks, body: &Value, kind: &str) -> Response<Body> {
    let prompt = prompt_of(body, &["prompt"]);
    if kind == "text2video" && prompt.is_empty() {
        return failure(StatusCode::BAD_REQUEST, 1201, "prompt is required");
    }
    if kind == "image2video" && !has(body, "image") && !has(body, "image_tail") {
        return failure(StatusCode::BAD_REQUEST, 1201, "image is required");
    }
    let fate = Fate::of(&prompt);
    if fate == Fate::Refuse {
        return failure(StatusCode::BAD_REQUEST, CODE_CONTENT_POLICY, "mock refusal");
    }
    let task = tasks.create(NewTask {
        platform: Platform::Kling,
        action: kind.to_owned(),
        request: body.clone(),
        prompt,
        description: String::new(),
        fate,
        modal: false,
    });
    succeed(json!({
        "task_id": task.id,
        "task_status": "submitted",
        "task_info": task_info(&task),
        "created_at": task.created_ms,
        "updated_at": task.created_ms,
    }))
}

fn task_info(task: &MockTask) -> Value {
    match field(&task.request, "external_task_id") {
        Some(external) => json!({"external_task_id": external}),
        None => json!({}),
    }
}

/// A task as the query returns it.
fn task_json(task: &MockTask) -> Value {
    let phase = task.phase();
    let status = match phase {
        Phase::Modal => "submitted",
        Phase::Running(_) => "processing",
        Phase::Succeeded => "succeed",
        Phase::Failed => "failed",
    };
    let result = if phase == Phase::Succeeded {
        let tail = task
            .id
            .get(task.id.len().saturating_sub(12)..)
            .unwrap_or("0");
        let duration = field(&task.request, "duration").unwrap_or_else(|| "5".to_owned());
        json!({"videos": [{
            "id": format!("5eed0000-7669-4465-8000-{tail:0>12}"),
            "url": result_url(Platform::Kling, &task.id, "mp4"),
            "duration": duration,
        }]})
    } else {
        json!({})
    };
    json!({
        "task_id": task.id,
        "task_status": status,
        "task_status_msg": if phase == Phase::Failed { FAIL_REASON } else { "" },
        "task_info": task_info(task),
        "task_result": result,
        "created_at": task.created_ms,
        "updated_at": task.finished_ms.or(task.started_ms).unwrap_or(task.created_ms),
    })
}

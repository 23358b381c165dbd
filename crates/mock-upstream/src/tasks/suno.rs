//! The Suno API that new-api's Suno adaptor targets (Suno-API/Suno-API): `Authorization:
//! Bearer <key>` (recorded, never checked).
//!
//! `POST /suno/submit/music` and `POST /suno/submit/lyrics` answer `{"code": "success",
//! "message": "", "data": "<task id>"}`; a refusal answers HTTP 400 `{"code":
//! "invalid_request", "message": "mock refusal", "data": null}` (the API's errors carry an error
//! code string and a non-200 status). `POST /suno/fetch {"ids": [...]}` answers the known tasks
//! (`data` an array), `GET /suno/fetch/{id}` one (`data` the task; unknown: 400
//! `invalid_request`). A task is `{task_id, action: MUSIC|LYRICS, status:
//! IN_PROGRESS|SUCCESS|FAILURE, fail_reason, submit_time, start_time, finish_time (seconds, 0
//! while unset), progress, search_item, data}`: `data` is a music task's two clips (`status`
//! `streaming`, `complete` or `error`, `metadata.error_message` the reason) or a lyrics task's
//! `{id, status, title, text}`.

use super::{
    FAIL_REASON, Fate, MockTask, NewTask, Phase, Platform, TaskRequest, Tasks, field, prompt_of,
    raw_response, result_url,
};
use crate::{Body, json_response};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// Answers a request under `/suno` (`rest` is the path after it).
pub(crate) fn handle(tasks: &Tasks, req: &TaskRequest<'_>, rest: &str) -> Response<Body> {
    let body = req.body;
    if req.method == Method::POST
        && let Some(action) = rest.strip_prefix("/submit/")
    {
        return submit(tasks, body, &action.to_ascii_uppercase());
    }
    if req.method == Method::POST && rest == "/fetch" {
        let ids = body
            .get("ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let data: Vec<Value> = tasks
            .poll_many(Platform::Suno, &ids)
            .iter()
            .map(task_json)
            .collect();
        return success(Value::Array(data));
    }
    if req.method == Method::GET
        && let Some(id) = rest.strip_prefix("/fetch/")
    {
        return match tasks.poll(Platform::Suno, id) {
            Some(task) => success(task_json(&task)),
            None => error(StatusCode::BAD_REQUEST, "task not exist"),
        };
    }
    raw_response(
        StatusCode::NOT_FOUND,
        "text/plain",
        b"404 page not found".to_vec(),
    )
}

fn success(data: Value) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"code": "success", "message": "", "data": data}),
    )
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"code": "invalid_request", "message": message, "data": null}),
    )
}

fn submit(tasks: &Tasks, body: &Value, action: &str) -> Response<Body> {
    let prompt = match action {
        "MUSIC" => prompt_of(body, &["prompt", "gpt_description_prompt"]),
        "LYRICS" => prompt_of(body, &["prompt"]),
        _ => return error(StatusCode::BAD_REQUEST, "invalid action"),
    };
    if action == "LYRICS" && prompt.is_empty() {
        return error(StatusCode::BAD_REQUEST, "prompt is empty");
    }
    if action == "MUSIC"
        && field(body, "continue_clip_id").is_some_and(|c| !c.is_empty())
        && field(body, "task_id").is_none_or(|t| t.is_empty())
    {
        return error(StatusCode::BAD_REQUEST, "task_id is empty");
    }
    let fate = Fate::of(&prompt);
    if fate == Fate::Refuse {
        return error(StatusCode::BAD_REQUEST, "mock refusal");
    }
    let task = tasks.create(NewTask {
        platform: Platform::Suno,
        action: action.to_owned(),
        request: body.clone(),
        prompt,
        description: String::new(),
        fate,
        modal: false,
    });
    success(json!(task.id))
}

fn seconds(ms: Option<u64>) -> u64 {
    ms.map_or(0, |ms| ms / 1000)
}

/// A task as the API returns it.
fn task_json(task: &MockTask) -> Value {
    let phase = task.phase();
    let (status, progress) = match phase {
        Phase::Modal => ("NOT_START", "0%".to_owned()),
        Phase::Running(p) => ("IN_PROGRESS", format!("{p}%")),
        Phase::Succeeded => ("SUCCESS", "100%".to_owned()),
        Phase::Failed => ("FAILURE", "100%".to_owned()),
    };
    let data = if task.action == "LYRICS" {
        lyrics(task, phase)
    } else {
        Value::Array((0..2).map(|i| clip(task, phase, i)).collect())
    };
    json!({
        "task_id": task.id,
        "action": task.action,
        "status": status,
        "fail_reason": if phase == Phase::Failed { FAIL_REASON } else { "" },
        "submit_time": task.created_ms / 1000,
        "start_time": seconds(task.started_ms),
        "finish_time": seconds(task.finished_ms),
        "progress": progress,
        "search_item": "",
        "data": data,
    })
}

/// The `i`th clip of a music task; its audio is at `https://cdn.mock.test/suno/<task id>.mp3`
/// (the second clip's at `<task id>-2.mp3`).
fn clip(task: &MockTask, phase: Phase, i: usize) -> Value {
    let tail = task.id.rsplit('-').next().unwrap_or_default();
    let id = format!("5eed0000-636c-4b6{i}-8000-{tail}");
    let base = if i == 0 {
        task.id.clone()
    } else {
        format!("{}-{}", task.id, i + 1)
    };
    let done = phase == Phase::Succeeded;
    let url = |ext: &str| {
        if done {
            result_url(Platform::Suno, &base, ext)
        } else {
            String::new()
        }
    };
    let status = match phase {
        Phase::Modal => "submitted",
        Phase::Running(_) => "streaming",
        Phase::Succeeded => "complete",
        Phase::Failed => "error",
    };
    let failed = phase == Phase::Failed;
    let duration = done.then_some(120.5);
    let text = |name: &str| field(&task.request, name).unwrap_or_default();
    let model = field(&task.request, "mv").unwrap_or_else(|| "chirp-v3-0".to_owned());
    json!({
        "id": id,
        "video_url": url("mp4"),
        "audio_url": url("mp3"),
        "image_url": url("png"),
        "image_large_url": url("png"),
        "is_video_pending": false,
        "major_model_version": "v3",
        "model_name": model,
        "status": status,
        "title": text("title"),
        "play_count": 0,
        "upvote_count": 0,
        "is_public": false,
        "duration": duration,
        "metadata": {
            "tags": text("tags"),
            "prompt": text("prompt"),
            "gpt_description_prompt": task.request.get("gpt_description_prompt").cloned().unwrap_or(Value::Null),
            "type": "gen",
            "duration": duration,
            "error_type": failed.then_some("moderation"),
            "error_message": failed.then_some(FAIL_REASON),
            "stream": true,
        },
    })
}

/// A lyrics task's result.
fn lyrics(task: &MockTask, phase: Phase) -> Value {
    let done = phase == Phase::Succeeded;
    let status = match phase {
        Phase::Succeeded => "complete",
        Phase::Failed => "error",
        Phase::Modal | Phase::Running(_) => "running",
    };
    json!({
        "id": task.id,
        "status": status,
        "title": if done { "Mock Lyrics" } else { "" },
        "text": if done { "[Verse]\nmock line one\nmock line two" } else { "" },
    })
}

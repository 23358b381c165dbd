//! What task routes answer: the seed's envelope (`success`, `message`, `data` with `task_id`
//! and `status` pending/processing/finished/failed) and each platform's own fields together,
//! so seed-shaped clients and midjourney-proxy, Suno and Kling clients all read them
//! (DECISIONS.md "Async tasks"). Where names collide (`message`, `data`, `status` inside
//! `data`) the seed's meaning wins and the platform's value is under `data`. OpenAI's
//! `/v1/videos` answers OpenAI's video object alone.

use relay::tasks::{Submitted, Task as Model, status};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// The seed's task status of a stored one.
pub(crate) fn seed_status(stored: &str) -> &'static str {
    match stored {
        status::SUCCESS => "finished",
        status::FAILURE => "failed",
        status::IN_PROGRESS => "processing",
        _ => "pending",
    }
}

fn urls(task: &Model) -> Vec<String> {
    task.result_urls
        .as_deref()
        .and_then(|u| serde_json::from_str(u).ok())
        .unwrap_or_default()
}

fn context(task: &Model) -> Value {
    task.context
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null)
}

/// The fields of a platform's own view shown to callers: what describes the work, never the
/// upstream's accounts, channels or hooks (a midjourney-proxy view's `properties` hold the
/// operator's hook and Discord ids).
const SHOWN: [&str; 7] = [
    "action",
    "prompt",
    "promptEn",
    "description",
    "state",
    "buttons",
    "data",
];

fn native(task: &Model) -> Map<String, Value> {
    match task
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
    {
        Some(Value::Object(mut map)) => {
            map.retain(|k, _| SHOWN.contains(&k.as_str()));
            map
        }
        _ => Map::new(),
    }
}

/// The seconds of video a task asked for (or its price's default).
fn seconds(task: &Model) -> i64 {
    context(task)
        .get("seconds")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| relay::tasks::default_seconds(&task.model))
}

/// The URL a finished video is read from: the upstream's, or the gateway's own for an
/// OpenAI-style upstream, whose content needs the channel's key.
fn video_url(task: &Model) -> Option<String> {
    urls(task).into_iter().next().or_else(|| {
        (task.platform == "video" && task.status == status::SUCCESS)
            .then(|| format!("/v1/videos/{}/content", task.task_id))
    })
}

/// The seed's `data` of a task.
pub(crate) fn seed_data(task: &Model) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("task_id".into(), json!(task.task_id));
    data.insert("status".into(), json!(seed_status(&task.status)));
    data.insert("progress".into(), json!(task.progress));
    data.insert("platform".into(), json!(task.platform));
    data.insert("action".into(), json!(task.action));
    data.insert("model".into(), json!(task.model));
    data.insert("created_at".into(), json!(task.submit_time));
    data.insert("finished_at".into(), json!(task.finish_time));
    data.insert("quota".into(), json!(task.quota));
    data.insert("result_urls".into(), json!(urls(task)));
    if let Some(reason) = &task.fail_reason {
        data.insert("fail_reason".into(), json!(reason));
    }
    let first = urls(task).into_iter().next();
    match task.platform.as_str() {
        "mj" => {
            data.insert("image_url".into(), json!(first));
        }
        "suno" => {
            data.insert("audio_url".into(), json!(first));
        }
        _ => {
            data.insert("video_url".into(), json!(video_url(task)));
            data.insert("duration".into(), json!(seconds(task)));
        }
    }
    data
}

fn envelope(message: &str, data: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("success".into(), json!(true));
    out.insert("message".into(), json!(message));
    out.insert("data".into(), Value::Object(data));
    out
}

/// A submit's answer on a route family.
pub(crate) fn submitted(family: Family, s: &Submitted) -> Value {
    let task = &s.task;
    let mut data = Map::new();
    data.insert("task_id".into(), json!(task.task_id));
    data.insert("status".into(), json!("pending"));
    let mut out = envelope("任务提交成功", data);
    match family {
        Family::Midjourney => {
            out.insert(
                "code".into(),
                s.native.get("code").cloned().unwrap_or(json!(1)),
            );
            out.insert(
                "description".into(),
                s.native.get("description").cloned().unwrap_or(json!("")),
            );
            out.insert("result".into(), json!(task.task_id));
            out.insert("properties".into(), json!({}));
        }
        Family::Suno => {
            out.insert("code".into(), json!("success"));
        }
        Family::Kling => {
            out.insert("code".into(), json!(0));
            out.insert("request_id".into(), json!(task.task_id));
            if let Some(Value::Object(data)) = out.get_mut("data") {
                data.insert("task_status".into(), json!("submitted"));
                data.insert("created_at".into(), json!(task.submit_time * 1000));
                data.insert("updated_at".into(), json!(task.submit_time * 1000));
            }
        }
        Family::Video => {
            if let Some(Value::Object(data)) = out.get_mut("data") {
                data.insert("estimated_time".into(), json!(300));
            }
        }
        Family::OpenAiVideo => return openai_video(task),
    }
    Value::Object(out)
}

/// A task's answer to a fetch on a route family.
pub(crate) fn fetched(family: Family, task: &Model) -> Value {
    match family {
        Family::Midjourney => Value::Object(midjourney(task)),
        Family::OpenAiVideo => openai_video(task),
        Family::Suno => {
            let mut data = native(task);
            data.extend(seed_data(task));
            let mut out = envelope("", data);
            out.insert("code".into(), json!("success"));
            Value::Object(out)
        }
        Family::Kling => {
            let mut data = seed_data(task);
            data.insert("task_status".into(), json!(kling_status(&task.status)));
            data.insert(
                "task_status_msg".into(),
                json!(task.fail_reason.clone().unwrap_or_default()),
            );
            let videos: Vec<Value> = urls(task)
                .into_iter()
                .map(|url| json!({"url": url, "duration": seconds(task).to_string()}))
                .collect();
            data.insert("task_result".into(), json!({ "videos": videos }));
            let mut out = envelope("", data);
            out.insert("code".into(), json!(0));
            out.insert("request_id".into(), json!(task.task_id));
            Value::Object(out)
        }
        Family::Video => Value::Object(envelope("", seed_data(task))),
    }
}

/// A batch fetch's answer: Midjourney's is a list of task views, Suno's its envelope.
pub(crate) fn fetched_many(family: Family, tasks: &[Model]) -> Value {
    match family {
        Family::Midjourney => Value::Array(tasks.iter().map(|t| fetched(family, t)).collect()),
        _ => {
            let list: Vec<Value> = tasks
                .iter()
                .map(|t| {
                    let mut data = native(t);
                    data.extend(seed_data(t));
                    Value::Object(data)
                })
                .collect();
            json!({"success": true, "message": "", "code": "success", "data": list})
        }
    }
}

fn kling_status(stored: &str) -> &'static str {
    match stored {
        status::SUCCESS => "succeed",
        status::FAILURE => "failed",
        status::IN_PROGRESS => "processing",
        _ => "submitted",
    }
}

/// midjourney-proxy's task view with the seed's envelope.
fn midjourney(task: &Model) -> Map<String, Value> {
    let mut view = native(task);
    let ms = |s: i64| if s > 0 { json!(s * 1000) } else { Value::Null };
    let ctx = context(task);
    view.insert("id".into(), json!(task.task_id));
    view.insert("action".into(), json!(task.action));
    view.insert("status".into(), json!(task.status));
    view.insert("progress".into(), json!(task.progress));
    view.insert("imageUrl".into(), json!(urls(task).into_iter().next()));
    view.insert("failReason".into(), json!(task.fail_reason));
    view.insert("submitTime".into(), ms(task.submit_time));
    view.insert("startTime".into(), ms(task.start_time));
    view.insert("finishTime".into(), ms(task.finish_time));
    if !view.contains_key("prompt") {
        view.insert(
            "prompt".into(),
            ctx.get("prompt").cloned().unwrap_or(Value::Null),
        );
    }
    view.extend(envelope("", seed_data(task)));
    view
}

/// OpenAI's video object.
fn openai_video(task: &Model) -> Value {
    let status = match task.status.as_str() {
        status::SUCCESS => "completed",
        status::FAILURE => "failed",
        status::IN_PROGRESS => "in_progress",
        _ => "queued",
    };
    let progress = task
        .progress
        .trim_end_matches('%')
        .parse::<f64>()
        .map_or(0, |p| p.clamp(0.0, 100.0) as i64);
    let ctx = context(task);
    json!({
        "id": task.task_id,
        "object": "video",
        "model": task.model,
        "status": status,
        "progress": progress,
        "created_at": task.submit_time,
        "completed_at": (task.status == status::SUCCESS).then_some(task.finish_time),
        "seconds": seconds(task).to_string(),
        "size": ctx.get("size").cloned().unwrap_or(Value::Null),
        "prompt": ctx.get("prompt").cloned().unwrap_or(Value::Null),
        "error": task.fail_reason.as_ref().map(|m| json!({"code": "task_failed", "message": m})),
    })
}

/// The route families that speak tasks, each with its own answers and error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Midjourney,
    Suno,
    Kling,
    /// `/v1/video/generations` (the seed's shape).
    Video,
    /// `/v1/videos` (OpenAI's video API).
    OpenAiVideo,
}

impl Family {
    /// The family of a request path, for errors (OpenAI's `/v1/videos` errors are OpenAI's).
    pub(crate) fn of_path(path: &str) -> Option<Family> {
        if path.starts_with("/mj/") {
            Some(Family::Midjourney)
        } else if path.starts_with("/suno/") {
            Some(Family::Suno)
        } else if path.starts_with("/kling/") {
            Some(Family::Kling)
        } else if path.starts_with("/v1/video/") {
            Some(Family::Video)
        } else {
            None
        }
    }
}

/// An error on a task route: the seed's envelope (`success: false`, `message`, `error`) and
/// the platform's own error fields.
pub(crate) fn error_body(family: Family, status: u16, code: Option<&str>, message: &str) -> Value {
    let mut out = Map::new();
    out.insert("success".into(), json!(false));
    out.insert("message".into(), json!(message));
    out.insert("data".into(), Value::Null);
    out.insert("error".into(), json!({"code": code, "message": message}));
    match family {
        Family::Midjourney => {
            // midjourney-proxy's codes: 3 not found, 4 invalid, 9 failure.
            let mj = match status {
                404 => 3,
                400..=499 => 4,
                _ => 9,
            };
            out.insert("code".into(), json!(mj));
            out.insert("description".into(), json!(message));
            out.insert("result".into(), Value::Null);
        }
        Family::Suno => {
            let suno = if status < 500 {
                "invalid_request"
            } else {
                "internal_error"
            };
            out.insert("code".into(), json!(suno));
        }
        Family::Kling => {
            // Kling's codes: 1000s authentication, 1100s account, 1200s request, 5000 server.
            let kling = match status {
                401 => 1000,
                403 => 1102,
                404 => 1203,
                429 => 1302,
                400..=499 => 1201,
                _ => 5000,
            };
            out.insert("code".into(), json!(kling));
        }
        Family::Video | Family::OpenAiVideo => {}
    }
    Value::Object(out)
}

/// A task submit's answer (documented shape; the platform's own fields come beside it).
#[allow(dead_code)] // a documented shape: answers are built as JSON with the platform's fields beside it
#[derive(Serialize, ToSchema)]
pub struct TaskSubmitted {
    success: bool,
    message: String,
    data: TaskSubmittedData,
}

#[allow(dead_code)] // a documented shape: answers are built as JSON with the platform's fields beside it
#[derive(Serialize, ToSchema)]
struct TaskSubmittedData {
    /// The gateway's task id (`task_` + 32 characters).
    task_id: String,
    /// `pending`.
    status: String,
}

/// A task's state (documented shape; the platform's own fields come beside it).
#[allow(dead_code)] // a documented shape: answers are built as JSON with the platform's fields beside it
#[derive(Serialize, ToSchema)]
pub struct TaskFetched {
    success: bool,
    message: String,
    data: TaskData,
}

/// The seed's view of a task.
#[allow(dead_code)] // a documented shape: answers are built as JSON with the platform's fields beside it
#[derive(Serialize, ToSchema)]
pub struct TaskData {
    task_id: String,
    /// `pending`, `processing`, `finished` or `failed`.
    status: String,
    /// `0%` to `100%`.
    progress: String,
    /// Submitted at (Unix seconds).
    created_at: i64,
    /// What the task made (images, audio, videos).
    result_urls: Vec<String>,
    /// Why it failed (`timeout` when it ran past the gateway's limit).
    fail_reason: Option<String>,
}

/// A task route's error: the seed's envelope and the platform's own fields (midjourney-proxy's
/// `code` 3/4/9 and `description`, Suno's `code` text, Kling's numeric `code`).
#[allow(dead_code)] // a documented shape: answers are built as JSON with the platform's fields beside it
#[derive(Serialize, ToSchema)]
pub struct TaskError {
    /// `false`.
    success: bool,
    /// What went wrong, with the request id.
    message: String,
    error: TaskErrorBody,
}

#[allow(dead_code)] // a documented shape: answers are built as JSON with the platform's fields beside it
#[derive(Serialize, ToSchema)]
struct TaskErrorBody {
    code: Option<String>,
    message: String,
}

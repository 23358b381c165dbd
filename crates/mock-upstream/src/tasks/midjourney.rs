//! midjourney-proxy (novicezk/midjourney-proxy, with the `-plus` routes `action` and `modal`).
//! The secret comes in `mj-api-secret`; it is recorded, never checked.
//!
//! Submits (`POST /mj/submit/{imagine,change,simple-change,describe,blend,action,modal}`) answer
//! HTTP 200 with `{"code", "description", "result": <task id>, "properties"}`: code
//! [`CODE_SUCCESS`], [`CODE_IN_QUEUE`] for a prompt with `mock-queued`, [`CODE_MODAL`] for an
//! action that needs a modal (inpaint, custom zoom), [`CODE_BANNED`] for `mock-refuse`,
//! [`CODE_NOT_FOUND`] for a change naming an unknown task, [`CODE_VALIDATION`] for a bad
//! request. `GET /mj/task/{id}/fetch` answers the task view (unknown: 404, empty body);
//! `POST /mj/task/list-by-condition {"ids": [...]}` an array of the known ones. A view's unset
//! times, image URL and fail reason are `null`, as the proxy's Java objects serialize.

use super::{
    FAIL_REASON, Fate, MockTask, NewTask, Phase, Platform, TaskRequest, Tasks, field, prompt_of,
    raw_response, result_url,
};
use crate::{Body, json_response};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// Submitted.
pub const CODE_SUCCESS: i64 = 1;
/// The task a change or action names does not exist.
pub const CODE_NOT_FOUND: i64 = 3;
/// A bad request (missing prompt, bad action, ...).
pub const CODE_VALIDATION: i64 = 4;
/// Submitted; waits for `/mj/submit/modal`.
pub const CODE_MODAL: i64 = 21;
/// Submitted, behind other tasks.
pub const CODE_IN_QUEUE: i64 = 22;
/// The prompt holds a banned word.
pub const CODE_BANNED: i64 = 24;

/// Answers a request under `/mj` (`rest` is the path after it).
pub(crate) fn handle(tasks: &Tasks, req: &TaskRequest<'_>, rest: &str) -> Response<Body> {
    let body = req.body;
    match (req.method, rest) {
        (&Method::POST, "/submit/imagine") => imagine(tasks, body),
        (&Method::POST, "/submit/change") => change(
            tasks,
            body,
            &field(body, "taskId").unwrap_or_default(),
            &field(body, "action").unwrap_or_default(),
            &field(body, "index").unwrap_or_default(),
        ),
        (&Method::POST, "/submit/simple-change") => simple_change(tasks, body),
        (&Method::POST, "/submit/describe") => describe(tasks, body),
        (&Method::POST, "/submit/blend") => blend(tasks, body),
        (&Method::POST, "/submit/action") => action(tasks, body),
        (&Method::POST, "/submit/modal") => modal(tasks, body),
        (&Method::POST, "/task/list-by-condition") => {
            let ids = body
                .get("ids")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let views: Vec<Value> = tasks
                .poll_many(Platform::Midjourney, &ids)
                .iter()
                .map(view)
                .collect();
            json_response(StatusCode::OK, &Value::Array(views))
        }
        (&Method::GET, _) if rest.starts_with("/task/") && rest.ends_with("/fetch") => {
            let id = rest
                .get("/task/".len()..rest.len() - "/fetch".len())
                .unwrap_or_default();
            match tasks.poll(Platform::Midjourney, id) {
                Some(task) => json_response(StatusCode::OK, &view(&task)),
                None => raw_response(StatusCode::NOT_FOUND, "", Vec::new()),
            }
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"status": 404, "error": "Not Found", "path": format!("/mj{rest}")}),
        ),
    }
}

/// A submit's answer (always HTTP 200).
fn submitted(
    code: i64,
    description: &str,
    result: Option<&str>,
    properties: Value,
) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"code": code, "description": description, "result": result, "properties": properties}),
    )
}

fn refused(code: i64, description: &str) -> Response<Body> {
    submitted(code, description, None, json!({}))
}

/// `mock-refuse` in a prompt: the proxy's banned-prompt answer.
fn banned(prompt: &str) -> Response<Body> {
    submitted(
        CODE_BANNED,
        "Banned prompt: mock-refuse",
        None,
        json!({"promptEn": prompt, "bannedWord": "mock-refuse"}),
    )
}

/// Keeps a task and answers its submit: in queue for a `mock-queued` prompt.
fn accept(tasks: &Tasks, new: NewTask) -> Response<Body> {
    let queued = new.prompt.contains("mock-queued");
    let task = tasks.create(new);
    if queued {
        submitted(
            CODE_IN_QUEUE,
            "In queue, there are 1 tasks ahead",
            Some(&task.id),
            json!({"numberOfQueues": 1}),
        )
    } else {
        submitted(CODE_SUCCESS, "Submit success", Some(&task.id), json!({}))
    }
}

fn new_task(action: &str, request: &Value, prompt: String, description: String) -> NewTask {
    NewTask {
        platform: Platform::Midjourney,
        action: action.to_owned(),
        request: request.clone(),
        fate: Fate::of(&prompt),
        prompt,
        description,
        modal: false,
    }
}

fn imagine(tasks: &Tasks, body: &Value) -> Response<Body> {
    let prompt = prompt_of(body, &["prompt"]);
    if prompt.trim().is_empty() {
        return refused(CODE_VALIDATION, "prompt is required");
    }
    if Fate::of(&prompt) == Fate::Refuse {
        return banned(&prompt);
    }
    let description = format!("/imagine {prompt}");
    accept(tasks, new_task("IMAGINE", body, prompt, description))
}

/// A change (upscale, variation, reroll) of the task `target`.
fn change(tasks: &Tasks, body: &Value, target: &str, action: &str, index: &str) -> Response<Body> {
    if target.is_empty() {
        return refused(CODE_VALIDATION, "taskId is required");
    }
    if !matches!(action, "UPSCALE" | "VARIATION" | "REROLL") {
        return refused(CODE_VALIDATION, "action is invalid");
    }
    let Some(original) = tasks.peek(Platform::Midjourney, target) else {
        return refused(CODE_NOT_FOUND, "task not found");
    };
    let description = match action {
        "REROLL" => format!("/up {target} R"),
        "UPSCALE" => format!("/up {target} U{index}"),
        _ => format!("/up {target} V{index}"),
    };
    let mut new = new_task(action, body, original.prompt, description);
    // A change has no prompt of its own: it succeeds.
    new.fate = Fate::Succeed;
    accept(tasks, new)
}

/// `{"content": "<taskId> U2"}` (U1-U4, V1-V4 or R).
fn simple_change(tasks: &Tasks, body: &Value) -> Response<Body> {
    let content = field(body, "content").unwrap_or_default();
    let parts: Vec<&str> = content.split_whitespace().collect();
    let parsed = match parts.as_slice() {
        [id, "R" | "r"] => Some((*id, "REROLL", String::new())),
        [id, op] => {
            let mut chars = op.chars();
            match (chars.next(), chars.next(), chars.next()) {
                (Some('U' | 'u'), Some(d @ '1'..='4'), None) => Some((*id, "UPSCALE", d.into())),
                (Some('V' | 'v'), Some(d @ '1'..='4'), None) => Some((*id, "VARIATION", d.into())),
                _ => None,
            }
        }
        _ => None,
    };
    match parsed {
        Some((id, action, index)) => change(tasks, body, id, action, &index),
        None => refused(CODE_VALIDATION, "content is invalid"),
    }
}

fn describe(tasks: &Tasks, body: &Value) -> Response<Body> {
    if prompt_of(body, &["base64"]).is_empty() {
        return refused(CODE_VALIDATION, "base64 is required");
    }
    let mut new = new_task(
        "DESCRIBE",
        body,
        String::new(),
        "/describe image.png".into(),
    );
    new.fate = Fate::Succeed;
    accept(tasks, new)
}

fn blend(tasks: &Tasks, body: &Value) -> Response<Body> {
    let images = body
        .get("base64Array")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if !(2..=5).contains(&images) {
        return refused(CODE_VALIDATION, "base64Array is invalid");
    }
    let mut new = new_task("BLEND", body, String::new(), format!("/blend {images}"));
    new.fate = Fate::Succeed;
    accept(tasks, new)
}

/// The action a button's `customId` performs.
fn action_of(custom_id: &str) -> Option<&'static str> {
    [
        ("::upsample", "UPSCALE"),
        ("::high_variation", "HIGH_VARIATION"),
        ("::low_variation", "LOW_VARIATION"),
        ("::variation::", "VARIATION"),
        ("::reroll::", "REROLL"),
        ("MJ::Outpaint::", "ZOOM"),
        ("MJ::CustomZoom::", "CUSTOM_ZOOM"),
        ("MJ::Inpaint::", "INPAINT"),
        ("::pan_", "PAN"),
    ]
    .iter()
    .find(|(marker, _)| custom_id.contains(marker))
    .map(|(_, action)| *action)
}

/// `{"taskId", "customId"}`: presses a button of a task (inpaint and custom zoom wait for a
/// modal).
fn action(tasks: &Tasks, body: &Value) -> Response<Body> {
    let target = field(body, "taskId").unwrap_or_default();
    let custom_id = field(body, "customId").unwrap_or_default();
    if target.is_empty() || custom_id.is_empty() {
        return refused(CODE_VALIDATION, "taskId and customId are required");
    }
    let Some(action) = action_of(&custom_id) else {
        return refused(CODE_VALIDATION, "customId is invalid");
    };
    let Some(original) = tasks.peek(Platform::Midjourney, &target) else {
        return refused(CODE_NOT_FOUND, "task not found");
    };
    let mut new = new_task(
        action,
        body,
        original.prompt,
        format!("/action {custom_id}"),
    );
    new.fate = Fate::Succeed;
    if matches!(action, "INPAINT" | "CUSTOM_ZOOM") {
        new.modal = true;
        let final_prompt = new.prompt.clone();
        let task = tasks.create(new);
        return submitted(
            CODE_MODAL,
            "Waiting for window confirm",
            Some(&task.id),
            json!({"finalPrompt": final_prompt, "remix": true}),
        );
    }
    accept(tasks, new)
}

/// `{"taskId", "prompt"?, "maskBase64"?}`: confirms a task waiting for its modal; it runs
/// under the same id, its fate read from the modal's prompt.
fn modal(tasks: &Tasks, body: &Value) -> Response<Body> {
    let id = field(body, "taskId").unwrap_or_default();
    let prompt = prompt_of(body, &["prompt"]);
    let fate = Fate::of(&prompt);
    let Some(waiting) = tasks.peek(Platform::Midjourney, &id) else {
        return refused(CODE_NOT_FOUND, "task not found");
    };
    if !waiting.modal {
        return refused(CODE_VALIDATION, "task status is not MODAL");
    }
    if fate == Fate::Refuse {
        return banned(&prompt);
    }
    tasks.update(Platform::Midjourney, &id, |task| {
        task.modal = false;
        task.fate = fate;
        if !prompt.is_empty() {
            task.prompt.clone_from(&prompt);
        }
    });
    submitted(CODE_SUCCESS, "Submit success", Some(&id), json!({}))
}

/// The buttons of a finished grid: U1-U4, reroll, V1-V4.
fn grid_buttons(id: &str) -> Vec<Value> {
    let button = |custom_id: String, emoji: &str, label: String| json!({"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2});
    let mut buttons: Vec<Value> = (1..=4)
        .map(|i| button(format!("MJ::JOB::upsample::{i}::{id}"), "", format!("U{i}")))
        .collect();
    buttons.push(button(
        format!("MJ::JOB::reroll::0::{id}::SOLO"),
        "🔄",
        String::new(),
    ));
    buttons.extend((1..=4).map(|i| {
        button(
            format!("MJ::JOB::variation::{i}::{id}"),
            "",
            format!("V{i}"),
        )
    }));
    buttons
}

/// The proxy's view of a task.
fn view(task: &MockTask) -> Value {
    let phase = task.phase();
    let (status, progress) = match phase {
        Phase::Modal => ("MODAL", "0%".to_owned()),
        Phase::Running(p) => ("IN_PROGRESS", format!("{p}%")),
        Phase::Succeeded => ("SUCCESS", "100%".to_owned()),
        // The proxy clears the progress of a failed task.
        Phase::Failed => ("FAILURE", String::new()),
    };
    let done = phase == Phase::Succeeded;
    let prompt = if task.action == "DESCRIBE" && done {
        "1\u{fe0f}\u{20e3} a mock image, plain background --ar 1:1".to_owned()
    } else {
        task.prompt.clone()
    };
    let grid = matches!(
        task.action.as_str(),
        "IMAGINE" | "VARIATION" | "HIGH_VARIATION" | "LOW_VARIATION" | "REROLL" | "BLEND"
    );
    let buttons = if done && grid {
        grid_buttons(&task.id)
    } else {
        Vec::new()
    };
    let mut properties = json!({});
    if !prompt.is_empty() {
        properties["finalPrompt"] = json!(prompt);
    }
    json!({
        "id": task.id,
        "action": task.action,
        "customId": task.request.get("customId").cloned().unwrap_or(Value::Null),
        "prompt": prompt,
        "promptEn": prompt,
        "description": task.description,
        "state": task.request.get("state").cloned().unwrap_or(Value::Null),
        "submitTime": task.created_ms,
        "startTime": task.started_ms,
        "finishTime": task.finished_ms,
        "imageUrl": done.then(|| result_url(Platform::Midjourney, &task.id, "png")),
        "status": status,
        "progress": progress,
        "failReason": (phase == Phase::Failed).then_some(FAIL_REASON),
        "buttons": buttons,
        "properties": properties,
    })
}

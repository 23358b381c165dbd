//! Asynchronous task platforms: midjourney-proxy ([`midjourney`]), the Suno API that new-api's
//! Suno adaptor targets ([`suno`]), Kling's official video API ([`kling`]) and OpenAI's video
//! API ([`video`]). A submit creates a task the mock keeps; every fetch of a task (single or
//! batch) is a poll, counted per task ([`crate::MockUpstream::task_polls`]).
//!
//! The submitted prompt picks the task's fate ([`Fate::of`]): `mock-refuse` is refused at submit
//! in the platform's own shape (no task); `mock-fail` says in progress (50%) on its first poll
//! and failed with [`FAIL_REASON`] from the second; `mock-never` says in progress (10%) for
//! ever; anything else (or no prompt) says in progress (50%) on its first poll and succeeded
//! from the second, with result URLs [`result_url`].

pub mod kling;
pub mod midjourney;
pub mod suno;
#[cfg(test)]
mod tests;
pub mod video;

use crate::Body;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Response, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The reason a `mock-fail` task gives when it fails.
pub const FAIL_REASON: &str = "mock failure: content policy";
/// Where results live: `https://cdn.mock.test/<platform>/<upstream id>.<ext>`.
pub const RESULT_HOST: &str = "https://cdn.mock.test";

/// The URL of a finished task's result, e.g. `https://cdn.mock.test/kling/8334….mp4`.
pub fn result_url(platform: Platform, id: &str, ext: &str) -> String {
    format!("{RESULT_HOST}/{}/{id}.{ext}", platform.name())
}

/// Ids are unique in the process (so two mocks in one test never share one).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_number() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A fresh uuid-looking string (Suno's task and clip ids, Kling's request ids).
pub(crate) fn uuid_like() -> String {
    let n = next_number();
    format!("{:08x}-6d6f-4b63-8000-{:012x}", 0x5eed_0000_u32, n)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The platform a task belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// midjourney-proxy (`/mj/...`).
    Midjourney,
    /// The Suno API (`/suno/...`).
    Suno,
    /// Kling (`/v1/videos/text2video`, `/v1/videos/image2video`).
    Kling,
    /// OpenAI's video API (`/v1/videos`).
    Video,
}

impl Platform {
    /// The platform's segment in result URLs.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Midjourney => "midjourney",
            Platform::Suno => "suno",
            Platform::Kling => "kling",
            Platform::Video => "video",
        }
    }

    /// A new upstream id in the platform's style.
    fn new_id(self) -> String {
        let n = next_number();
        match self {
            // midjourney-proxy: 16 random digits.
            Platform::Midjourney => format!("{}", 1_720_000_000_000_000_u64 + n),
            Platform::Suno => uuid_like(),
            // Kling: a numeric string of 18 or 19 digits.
            Platform::Kling => format!("{}", 833_446_756_000_000_000_u64 + n),
            Platform::Video => format!("video_68d7512d07848190{n:016x}"),
        }
    }
}

/// What becomes of a task, read from its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Succeeds on its second poll.
    Succeed,
    /// Fails on its second poll with [`FAIL_REASON`].
    Fail,
    /// Stays in progress (10%) for ever.
    Never,
    /// Refused at submit; no task.
    Refuse,
}

impl Fate {
    /// The fate a prompt asks for (`mock-refuse`, `mock-fail`, `mock-never`; else success).
    pub fn of(prompt: &str) -> Fate {
        if prompt.contains("mock-refuse") {
            Fate::Refuse
        } else if prompt.contains("mock-fail") {
            Fate::Fail
        } else if prompt.contains("mock-never") {
            Fate::Never
        } else {
            Fate::Succeed
        }
    }
}

/// Where a task stands when it is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for midjourney-proxy's modal confirmation (`/mj/submit/modal`).
    Modal,
    /// Running, at this percentage.
    Running(u8),
    /// Finished with results.
    Succeeded,
    /// Finished with [`FAIL_REASON`].
    Failed,
}

/// A task the mock keeps.
#[derive(Debug, Clone)]
pub(crate) struct MockTask {
    /// The upstream id the submit answered.
    pub id: String,
    /// The platform it was submitted to.
    pub platform: Platform,
    /// The platform's kind of task: MJ's action, Suno's `MUSIC`/`LYRICS`, Kling's
    /// `text2video`/`image2video`; empty for OpenAI videos.
    pub action: String,
    /// The request that created it (JSON, or a multipart form's fields).
    pub request: Value,
    /// The prompt shown in views (for an MJ change, the prompt of the task it changes).
    pub prompt: String,
    /// A platform's description of the task (MJ's `/imagine ...`).
    pub description: String,
    /// What becomes of it.
    pub fate: Fate,
    /// Fetches of this task, all told.
    pub polls: usize,
    /// Fetches since it started running (an MJ modal task starts when confirmed).
    run_polls: usize,
    /// Waiting for midjourney-proxy's modal confirmation.
    pub modal: bool,
    /// When it was submitted (ms since the epoch).
    pub created_ms: u64,
    /// When a fetch first found it running.
    pub started_ms: Option<u64>,
    /// When a fetch first found it finished.
    pub finished_ms: Option<u64>,
}

impl MockTask {
    /// Where the task stands after the fetches so far.
    pub fn phase(&self) -> Phase {
        match (self.modal, self.fate, self.run_polls) {
            (true, _, _) => Phase::Modal,
            (_, Fate::Never, _) => Phase::Running(10),
            (_, _, 0 | 1) => Phase::Running(50),
            (_, Fate::Fail | Fate::Refuse, _) => Phase::Failed,
            (_, Fate::Succeed, _) => Phase::Succeeded,
        }
    }

    /// Counts a fetch and moves the task on.
    fn poll(&mut self) {
        self.polls += 1;
        if self.modal {
            return;
        }
        self.run_polls += 1;
        let now = now_ms();
        self.started_ms.get_or_insert(now);
        if matches!(self.phase(), Phase::Succeeded | Phase::Failed) {
            self.finished_ms.get_or_insert(now);
        }
    }
}

/// The tasks of one mock, with its counters.
#[derive(Default)]
pub(crate) struct Tasks {
    map: Mutex<HashMap<String, MockTask>>,
    created: AtomicUsize,
    kling_auth_failures: AtomicUsize,
}

/// What a new task is.
pub(crate) struct NewTask {
    /// See [`MockTask::platform`].
    pub platform: Platform,
    /// See [`MockTask::action`].
    pub action: String,
    /// See [`MockTask::request`].
    pub request: Value,
    /// See [`MockTask::prompt`].
    pub prompt: String,
    /// See [`MockTask::description`].
    pub description: String,
    /// See [`MockTask::fate`].
    pub fate: Fate,
    /// Whether it waits for MJ's modal confirmation before it runs.
    pub modal: bool,
}

impl Tasks {
    /// Keeps a new task and returns it.
    pub fn create(&self, new: NewTask) -> MockTask {
        let task = MockTask {
            id: new.platform.new_id(),
            platform: new.platform,
            action: new.action,
            request: new.request,
            prompt: new.prompt,
            description: new.description,
            fate: new.fate,
            polls: 0,
            run_polls: 0,
            modal: new.modal,
            created_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
        };
        if let Ok(mut map) = self.map.lock() {
            map.insert(task.id.clone(), task.clone());
        }
        self.created.fetch_add(1, Ordering::SeqCst);
        task
    }

    /// Fetches a task of `platform`, counting the fetch as a poll.
    pub fn poll(&self, platform: Platform, id: &str) -> Option<MockTask> {
        let mut map = self.map.lock().ok()?;
        let task = map.get_mut(id).filter(|t| t.platform == platform)?;
        task.poll();
        Some(task.clone())
    }

    /// Fetches each of `ids` once (unknown ones and repeats skipped), counting the polls.
    pub fn poll_many(&self, platform: Platform, ids: &[Value]) -> Vec<MockTask> {
        let mut out: Vec<MockTask> = Vec::new();
        for id in ids.iter().filter_map(Value::as_str) {
            if out.iter().any(|t| t.id == id) {
                continue;
            }
            if let Some(task) = self.poll(platform, id) {
                out.push(task);
            }
        }
        out
    }

    /// A task as it stands, without counting a poll.
    pub fn peek(&self, platform: Platform, id: &str) -> Option<MockTask> {
        let map = self.map.lock().ok()?;
        map.get(id).filter(|t| t.platform == platform).cloned()
    }

    /// Changes a task in place (MJ's modal confirmation); `None` when it is unknown.
    pub fn update<R>(
        &self,
        platform: Platform,
        id: &str,
        change: impl FnOnce(&mut MockTask) -> R,
    ) -> Option<R> {
        let mut map = self.map.lock().ok()?;
        map.get_mut(id)
            .filter(|t| t.platform == platform)
            .map(change)
    }

    /// Fetches of the task `id` so far.
    pub fn polls(&self, id: &str) -> usize {
        self.map
            .lock()
            .ok()
            .and_then(|m| m.get(id).map(|t| t.polls))
            .unwrap_or(0)
    }

    /// Tasks created so far.
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    /// Counts a Kling request refused for its JWT.
    pub fn kling_auth_failed(&self) {
        self.kling_auth_failures.fetch_add(1, Ordering::SeqCst);
    }

    /// Kling requests refused for their JWT so far.
    pub fn kling_auth_failures(&self) -> usize {
        self.kling_auth_failures.load(Ordering::SeqCst)
    }
}

/// A request to a task platform, as `handle` sees it.
pub(crate) struct TaskRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    /// The credential header (`Authorization`, `mj-api-secret`, ...), as received.
    pub credential: Option<&'a str>,
    /// The body: JSON, or a multipart form's fields.
    pub body: &'a Value,
}

/// Answers a request to a task platform; `None` when the path is no task platform's.
pub(crate) fn handle(tasks: &Tasks, req: &TaskRequest<'_>) -> Option<Response<Body>> {
    let path = req.path;
    if let Some(at) = path.find("/mj/") {
        return Some(midjourney::handle(tasks, req, &path[at + 3..]));
    }
    if let Some(at) = path.find("/suno/") {
        return Some(suno::handle(tasks, req, &path[at + 5..]));
    }
    for kind in ["text2video", "image2video"] {
        let marker = format!("/v1/videos/{kind}");
        if let Some(at) = path.find(&marker) {
            return Some(kling::handle(tasks, req, kind, &path[at + marker.len()..]));
        }
    }
    if let Some(at) = path.find("/v1/videos") {
        let rest = &path[at + "/v1/videos".len()..];
        if rest.is_empty() || rest.starts_with('/') {
            return Some(video::handle(tasks, req, rest));
        }
    }
    None
}

/// The prompt of a request: the non-empty strings among its `fields`, joined by spaces.
pub(crate) fn prompt_of(body: &Value, fields: &[&str]) -> String {
    fields
        .iter()
        .filter_map(|f| body.get(*f).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A string field of a request (a JSON string or number, or a form field).
pub(crate) fn field(body: &Value, name: &str) -> Option<String> {
    match body.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A response with `status`, `content_type` and `body` as is.
pub(crate) fn raw_response(
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    if !content_type.is_empty() {
        builder = builder.header("content-type", content_type);
    }
    builder
        .body(Full::new(bytes::Bytes::from(body)).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(bytes::Bytes::new()).boxed()))
}

//! Asynchronous generation tasks (Midjourney, Suno, video, Kling): submitted through a
//! channel's task adaptor, charged once when the upstream accepts (the task row is written
//! with the bill), polled by an owned background job, and refunded exactly once when they fail
//! or time out. DECISIONS.md "Async tasks" settles the shapes; `docs/decisions.md` the rest.
//!
//! One adaptor per upstream platform, each in its own file ([`TaskAdaptor`]): a new platform
//! is a file and an arm in [`adaptor_for`].

mod kling;
mod midjourney;
mod poller;
mod request;
mod submit;
mod suno;
mod video;

pub use persistence::tasks::Model as Task;
pub use persistence::tasks::status;
pub use poller::Sweep;
pub(crate) use poller::poll_loop;
pub use request::{MjAction, SunoAction, TaskFile, TaskKind, TaskRequest, VideoAction};
pub use submit::{Submitted, default_seconds};

use crate::client::UpstreamBody;
use crate::error::RelayError;
use crate::providers;
use crate::routing::ChannelInfo;
use persistence::tasks::Model;
use serde_json::Value;

/// The upstream platforms tasks run on, by the channel's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// midjourney-proxy (channel types 2 and 5).
    Midjourney,
    /// The Suno API (type 36).
    Suno,
    /// Kling's own API (type 50).
    Kling,
    /// An OpenAI-style video API (`/v1/videos`) on an OpenAI-family channel.
    Video,
}

impl Platform {
    /// The name stored with a task and used in filters: `mj`, `suno`, `kling`, `video`.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Midjourney => "mj",
            Platform::Suno => "suno",
            Platform::Kling => "kling",
            Platform::Video => "video",
        }
    }

    /// The platform of a stored name.
    pub fn parse(name: &str) -> Option<Platform> {
        [
            Platform::Midjourney,
            Platform::Suno,
            Platform::Kling,
            Platform::Video,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// The platform a channel runs tasks on.
    pub fn of_channel(channel_type: i32) -> Platform {
        match channel_type {
            providers::MIDJOURNEY | providers::MIDJOURNEY_PLUS => Platform::Midjourney,
            providers::SUNO => Platform::Suno,
            providers::KLING => Platform::Kling,
            _ => Platform::Video,
        }
    }
}

/// An upstream's answer to a submit that took the task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Accepted {
    pub upstream_id: String,
    /// The platform's own answer (midjourney-proxy's code 1/21/22 and description).
    pub native: Value,
}

/// What a poll tells of one task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Polled {
    Running {
        status: &'static str,
        progress: String,
        data: Option<Value>,
    },
    Succeeded {
        urls: Vec<String>,
        data: Option<Value>,
    },
    Failed {
        reason: String,
        data: Option<Value>,
    },
}

/// One poll request and the upstream ids it asks about.
pub(crate) struct PollRequest {
    pub ids: Vec<String>,
    pub request: hyper::Request<UpstreamBody>,
}

/// One upstream platform's wire format.
pub(crate) trait TaskAdaptor: Send + Sync {
    /// The submit request for `request` (with the parent task's upstream id, for actions on
    /// an earlier task).
    fn submit(
        &self,
        channel: &ChannelInfo,
        base: &str,
        request: &TaskRequest,
        parent: Option<&str>,
    ) -> Result<hyper::Request<UpstreamBody>, RelayError>;

    /// The upstream's answer to a submit: the task it took, or its refusal's text.
    fn accepted(&self, status: u16, body: &[u8]) -> Result<Accepted, String>;

    /// The requests that poll these tasks: one for a platform with a batch call, else one per
    /// task.
    fn poll(&self, channel: &ChannelInfo, base: &str, tasks: &[&Model]) -> Vec<PollRequest>;

    /// What a poll answer tells, by upstream id (`asked` are the ids the request was about).
    fn polled(&self, status: u16, body: &[u8], asked: &[String]) -> Vec<(String, Polled)>;
}

/// The adaptor of a platform.
pub(crate) fn adaptor_for(platform: Platform) -> &'static dyn TaskAdaptor {
    match platform {
        Platform::Midjourney => &midjourney::Midjourney,
        Platform::Suno => &suno::Suno,
        Platform::Kling => &kling::Kling,
        Platform::Video => &video::OpenAiVideo,
    }
}

/// A JSON request to `url` with the given extra headers.
pub(crate) fn json_request(
    method: hyper::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<hyper::Request<UpstreamBody>, RelayError> {
    let mut builder = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let bytes = match body {
        Some(b) => {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
            bytes::Bytes::from(b.to_string())
        }
        None => bytes::Bytes::new(),
    };
    builder
        .body(crate::client::full_body(bytes))
        .map_err(|e| RelayError::Internal(format!("building a task request: {e}")))
}

/// One `GET` per task, with `authorization`, for platforms without a batch call.
pub(crate) fn poll_each(
    tasks: &[&Model],
    authorization: &str,
    url_of: impl Fn(&Model) -> String,
) -> Vec<PollRequest> {
    tasks
        .iter()
        .filter_map(|t| {
            let url = url_of(t);
            json_request(
                hyper::Method::GET,
                &url,
                &[("authorization", authorization)],
                None,
            )
            .ok()
            .map(|request| PollRequest {
                ids: vec![t.upstream_id.clone()],
                request,
            })
        })
        .collect()
}

/// A progress text ("50%") of a number or a text.
pub(crate) fn percent(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => format!("{}%", n.as_f64().unwrap_or(0.0).clamp(0.0, 100.0)),
        Some(Value::String(s)) if !s.is_empty() => {
            if s.ends_with('%') {
                s.clone()
            } else {
                format!("{s}%")
            }
        }
        _ => String::new(),
    }
}

//! The Suno API (channel type 36): `POST {base}/suno/submit/{music|lyrics}` answers
//! `{"code": "success", "data": "<task id>"}`; tasks are polled in batches with
//! `POST {base}/suno/fetch {"ids": [...]}`, whose tasks carry `status` (NOT_START, SUBMITTED,
//! QUEUED, IN_PROGRESS, FAILURE, SUCCESS), `fail_reason` and the clips in `data`.

use super::{
    Accepted, PollRequest, Polled, SunoAction, TaskAdaptor, TaskKind, TaskRequest, json_request,
    percent,
};
use crate::client::UpstreamBody;
use crate::error::RelayError;
use crate::routing::ChannelInfo;
use persistence::tasks::{Model, status};
use serde_json::{Value, json};

pub(crate) struct Suno;

fn bearer(channel: &ChannelInfo) -> String {
    format!("Bearer {}", channel.key)
}

impl TaskAdaptor for Suno {
    fn submit(
        &self,
        channel: &ChannelInfo,
        base: &str,
        request: &TaskRequest,
        parent: Option<&str>,
    ) -> Result<hyper::Request<UpstreamBody>, RelayError> {
        let TaskKind::Suno(action) = request.kind else {
            return Err(RelayError::Internal("not a Suno task".into()));
        };
        let mut body = request.fields.clone();
        body.remove("notify_hook");
        if let Some(parent) = parent {
            body.insert("task_id".into(), json!(parent));
        }
        let path = match action {
            SunoAction::Music => "music",
            SunoAction::Lyrics => "lyrics",
        };
        json_request(
            hyper::Method::POST,
            &format!("{base}/suno/submit/{path}"),
            &[("authorization", &bearer(channel))],
            Some(&Value::Object(body)),
        )
    }

    fn accepted(&self, status: u16, body: &[u8]) -> Result<Accepted, String> {
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = answer
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match (
            status,
            answer.get("code").and_then(Value::as_str),
            answer.get("data"),
        ) {
            (200..=299, Some("success"), Some(Value::String(id))) if !id.is_empty() => {
                Ok(Accepted {
                    upstream_id: id.clone(),
                    native: answer,
                })
            }
            _ if message.is_empty() => Err(format!("refused (HTTP {status})")),
            _ => Err(message),
        }
    }

    fn poll(&self, channel: &ChannelInfo, base: &str, tasks: &[&Model]) -> Vec<PollRequest> {
        let ids: Vec<String> = tasks.iter().map(|t| t.upstream_id.clone()).collect();
        json_request(
            hyper::Method::POST,
            &format!("{base}/suno/fetch"),
            &[("authorization", &bearer(channel))],
            Some(&json!({ "ids": ids })),
        )
        .map(|request| vec![PollRequest { ids, request }])
        .unwrap_or_default()
    }

    fn polled(&self, status: u16, body: &[u8], _asked: &[String]) -> Vec<(String, Polled)> {
        if !(200..300).contains(&status) {
            return Vec::new();
        }
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(Value::Array(list)) = answer.get("data") else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|task| {
                let id = task.get("task_id").and_then(Value::as_str)?.to_owned();
                let state = task.get("status").and_then(Value::as_str).unwrap_or("");
                let polled = match state {
                    "SUCCESS" => Polled::Succeeded {
                        urls: clip_urls(task.get("data")),
                        data: Some(task.clone()),
                    },
                    "FAILURE" => Polled::Failed {
                        reason: task
                            .get("fail_reason")
                            .and_then(Value::as_str)
                            .filter(|r| !r.is_empty())
                            .unwrap_or("failed")
                            .to_owned(),
                        data: Some(task.clone()),
                    },
                    other => Polled::Running {
                        status: match other {
                            "IN_PROGRESS" => status::IN_PROGRESS,
                            "NOT_START" => status::NOT_START,
                            _ => status::SUBMITTED,
                        },
                        progress: percent(task.get("progress")),
                        data: Some(task.clone()),
                    },
                };
                Some((id, polled))
            })
            .collect()
    }
}

/// The audio URLs of a music task's clips (a lyrics task has text, no URL).
fn clip_urls(data: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(clips)) = data else {
        return Vec::new();
    };
    clips
        .iter()
        .filter_map(|c| c.get("audio_url").and_then(Value::as_str))
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

//! midjourney-proxy (channel types 2 and 5): the channel key goes in `mj-api-secret`; a submit
//! answers HTTP 200 with `code` 1 (submitted), 21 (waiting for a modal) or 22 (queued), any
//! other code being a refusal whose `description` says why; tasks are polled in batches with
//! `POST /mj/task/list-by-condition`.

use super::{
    Accepted, MjAction, PollRequest, Polled, TaskAdaptor, TaskKind, TaskRequest, json_request,
    percent,
};
use crate::client::UpstreamBody;
use crate::error::RelayError;
use crate::routing::ChannelInfo;
use persistence::tasks::{Model, status};
use serde_json::{Value, json};

pub(crate) struct Midjourney;

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl TaskAdaptor for Midjourney {
    fn submit(
        &self,
        channel: &ChannelInfo,
        base: &str,
        request: &TaskRequest,
        parent: Option<&str>,
    ) -> Result<hyper::Request<UpstreamBody>, RelayError> {
        let TaskKind::Midjourney(action) = request.kind else {
            return Err(RelayError::Internal("not a Midjourney task".into()));
        };
        // The fields were narrowed to the route's documented ones when read.
        let mut body = request.fields.clone();
        let path = match action {
            MjAction::Imagine => "imagine",
            MjAction::Describe => "describe",
            MjAction::Blend => "blend",
            MjAction::Action => "action",
            MjAction::Modal => "modal",
            MjAction::Change | MjAction::SimpleChange => {
                let (change, index) = request.change.clone().unwrap_or_default();
                body = serde_json::Map::new();
                body.insert("action".into(), json!(change));
                if index > 0 {
                    body.insert("index".into(), json!(index));
                }
                "change"
            }
        };
        if let Some(parent) = parent {
            body.insert("taskId".into(), json!(parent));
            // A button's id may name the task: the upstream knows it by its own id.
            if let (Some(Value::String(custom)), Some(public)) =
                (body.get_mut("customId"), request.parent.as_deref())
            {
                *custom = custom.replace(public, parent);
            }
        }
        json_request(
            hyper::Method::POST,
            &format!("{base}/mj/submit/{path}"),
            &[("mj-api-secret", channel.key.as_str())],
            Some(&Value::Object(body)),
        )
    }

    fn accepted(&self, status: u16, body: &[u8]) -> Result<Accepted, String> {
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let code = answer.get("code").and_then(Value::as_i64);
        let description = answer
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match (status, code, id_text(answer.get("result"))) {
            (200..=299, Some(1 | 21 | 22), Some(id)) => Ok(Accepted {
                upstream_id: id,
                native: answer,
            }),
            (_, Some(code), _) => Err(format!("refused (code {code}): {description}")),
            _ => Err(format!("refused (HTTP {status}): {description}")),
        }
    }

    fn poll(&self, channel: &ChannelInfo, base: &str, tasks: &[&Model]) -> Vec<PollRequest> {
        let ids: Vec<String> = tasks.iter().map(|t| t.upstream_id.clone()).collect();
        json_request(
            hyper::Method::POST,
            &format!("{base}/mj/task/list-by-condition"),
            &[("mj-api-secret", channel.key.as_str())],
            Some(&json!({ "ids": ids })),
        )
        .map(|request| vec![PollRequest { ids, request }])
        .unwrap_or_default()
    }

    fn polled(&self, status: u16, body: &[u8], _asked: &[String]) -> Vec<(String, Polled)> {
        if !(200..300).contains(&status) {
            return Vec::new();
        }
        let Ok(Value::Array(views)) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        views
            .into_iter()
            .filter_map(|view| {
                let id = id_text(view.get("id"))?;
                let state = view.get("status").and_then(Value::as_str).unwrap_or("");
                let polled = match state {
                    "SUCCESS" => Polled::Succeeded {
                        urls: view
                            .get("imageUrl")
                            .and_then(Value::as_str)
                            .filter(|u| !u.is_empty())
                            .map(|u| vec![u.to_owned()])
                            .unwrap_or_default(),
                        data: Some(view),
                    },
                    "FAILURE" | "CANCEL" => Polled::Failed {
                        reason: view
                            .get("failReason")
                            .and_then(Value::as_str)
                            .filter(|r| !r.is_empty())
                            .unwrap_or(if state == "CANCEL" {
                                "cancelled"
                            } else {
                                "failed"
                            })
                            .to_owned(),
                        data: Some(view),
                    },
                    other => Polled::Running {
                        status: match other {
                            "IN_PROGRESS" => status::IN_PROGRESS,
                            "MODAL" => "MODAL",
                            "NOT_START" => status::NOT_START,
                            _ => status::SUBMITTED,
                        },
                        progress: percent(view.get("progress")),
                        data: Some(view),
                    },
                };
                Some((id, polled))
            })
            .collect()
    }
}

//! Kling's API (channel type 50). The channel key is `access_key|secret_key`; every call
//! carries a fresh HS256 JWT (`iss` the access key, valid from 5 s ago for 30 minutes).
//! `POST {base}/v1/videos/{text2video|image2video}` answers `code` 0 and `data.task_id`; a task
//! is polled with `GET {base}/v1/videos/{kind}/{id}`, whose `data.task_status` is submitted,
//! processing, succeed or failed. Kling's `message` says SUCCEED even for a failed task: the
//! reason is in `task_status_msg`.

use super::{Accepted, PollRequest, Polled, TaskAdaptor, TaskRequest, json_request, poll_each};
use crate::client::UpstreamBody;
use crate::error::RelayError;
use crate::routing::ChannelInfo;
use base64::Engine;
use persistence::tasks::{Model, status};
use serde_json::{Value, json};

pub(crate) struct Kling;

/// The fields of Kling's video calls passed on (`model_name` and `duration` are set by the
/// gateway from what was priced; a callback, or a field that could change the price, is not
/// passed on).
const PASSED: [&str; 10] = [
    "prompt",
    "negative_prompt",
    "cfg_scale",
    "mode",
    "aspect_ratio",
    "image",
    "image_tail",
    "camera_control",
    "static_mask",
    "dynamic_masks",
];

/// Fields Kling reads as numbers (a form sends every field as text).
const NUMBERS: [&str; 1] = ["cfg_scale"];

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: i64,
    nbf: i64,
}

/// A fresh token for the channel's `access_key|secret_key`.
pub(crate) fn token(key: &str) -> Result<String, RelayError> {
    let (access, secret) = key
        .split_once('|')
        .map(|(a, s)| (a.trim(), s.trim()))
        .filter(|(a, s)| !a.is_empty() && !s.is_empty())
        .ok_or_else(|| {
            RelayError::Unavailable("the Kling channel's key is not access_key|secret_key".into())
        })?;
    let now = domain::now_ts();
    let claims = Claims {
        iss: access,
        exp: now + 1800,
        nbf: now - 5,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| RelayError::Internal(format!("signing the Kling token: {e}")))
}

fn kind_of(action: &str) -> &'static str {
    if action == "IMAGE2VIDEO" {
        "image2video"
    } else {
        "text2video"
    }
}

impl TaskAdaptor for Kling {
    fn submit(
        &self,
        channel: &ChannelInfo,
        base: &str,
        request: &TaskRequest,
        _parent: Option<&str>,
    ) -> Result<hyper::Request<UpstreamBody>, RelayError> {
        let mut body = request.fields.clone();
        body.retain(|k, _| PASSED.contains(&k.as_str()));
        for field in NUMBERS {
            if let Some(Value::String(text)) = body.get(field)
                && let Ok(n) = text.trim().parse::<f64>()
            {
                body.insert(field.into(), json!(n));
            }
        }
        // An uploaded image goes as base64, its bytes unchanged.
        for file in &request.files {
            let field = if file.field == "input_reference" {
                "image"
            } else {
                file.field.as_str()
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(&file.data);
            body.insert(field.to_owned(), json!(encoded));
        }
        body.insert(
            "model_name".into(),
            json!(channel.upstream_model(&request.model)),
        );
        if let Some(seconds) = request.seconds {
            body.insert("duration".into(), json!(seconds.to_string()));
        }
        let auth = format!("Bearer {}", token(&channel.key)?);
        json_request(
            hyper::Method::POST,
            &format!("{base}/v1/videos/{}", kind_of(&request.action)),
            &[("authorization", &auth)],
            Some(&Value::Object(body)),
        )
    }

    fn accepted(&self, status: u16, body: &[u8]) -> Result<Accepted, String> {
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let id = answer.pointer("/data/task_id").and_then(|v| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        match (status, answer.get("code").and_then(Value::as_i64), id) {
            (200..=299, Some(0), Some(id)) => Ok(Accepted {
                upstream_id: id,
                native: answer,
            }),
            _ => Err(answer
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| format!("refused (HTTP {status})"), str::to_owned)),
        }
    }

    fn poll(&self, channel: &ChannelInfo, base: &str, tasks: &[&Model]) -> Vec<PollRequest> {
        let Ok(token) = token(&channel.key) else {
            return Vec::new();
        };
        poll_each(tasks, &format!("Bearer {token}"), |t| {
            format!("{base}/v1/videos/{}/{}", kind_of(&t.action), t.upstream_id)
        })
    }

    fn polled(&self, status: u16, body: &[u8], asked: &[String]) -> Vec<(String, Polled)> {
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) || answer.get("code").and_then(Value::as_i64) != Some(0) {
            return Vec::new();
        }
        let Some(data) = answer.get("data") else {
            return Vec::new();
        };
        let Some(id) = asked.first() else {
            return Vec::new();
        };
        let polled = match data.get("task_status").and_then(Value::as_str) {
            Some("succeed") => Polled::Succeeded {
                urls: data
                    .pointer("/task_result/videos")
                    .and_then(Value::as_array)
                    .map(|videos| {
                        videos
                            .iter()
                            .filter_map(|v| v.get("url").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                data: Some(data.clone()),
            },
            Some("failed") => Polled::Failed {
                reason: data
                    .get("task_status_msg")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .unwrap_or("failed")
                    .to_owned(),
                data: Some(data.clone()),
            },
            Some("processing") => Polled::Running {
                status: status::IN_PROGRESS,
                progress: "50%".into(),
                data: Some(data.clone()),
            },
            _ => Polled::Running {
                status: status::SUBMITTED,
                progress: "0%".into(),
                data: Some(data.clone()),
            },
        };
        vec![(id.clone(), polled)]
    }
}

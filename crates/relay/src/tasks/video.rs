//! OpenAI's video API on an OpenAI-family channel: `POST {base}/v1/videos` (JSON, or a form
//! when an image is uploaded as `input_reference`) answers the video object with its `id`;
//! `GET {base}/v1/videos/{id}` tells its `status` (queued, in_progress, completed, failed),
//! `progress` and, when it failed, `error.message`. The finished video is read through the
//! gateway (`GET /v1/videos/{id}/content`), never from the upstream directly.

use super::{
    Accepted, PollRequest, Polled, TaskAdaptor, TaskRequest, json_request, percent, poll_each,
};
use crate::client::UpstreamBody;
use crate::error::RelayError;
use crate::routing::ChannelInfo;
use crate::upload::{Part, encode};
use base64::Engine;
use bytes::Bytes;
use persistence::tasks::{Model, status};
use serde_json::{Map, Value, json};

pub(crate) struct OpenAiVideo;

/// The size of an aspect ratio, for requests that name a ratio rather than a size.
fn size_of_ratio(ratio: &str) -> Option<&'static str> {
    match ratio.trim() {
        "16:9" => Some("1280x720"),
        "9:16" => Some("720x1280"),
        _ => None,
    }
}

fn text_part(name: &str, value: &str) -> Part {
    Part {
        name: name.into(),
        filename: None,
        content_type: None,
        data: Bytes::copy_from_slice(value.as_bytes()),
    }
}

/// An image given as a `data:` URL or bare base64, as a file part.
fn image_part(value: &str) -> Result<Part, RelayError> {
    let (content_type, encoded) = match value.strip_prefix("data:") {
        Some(rest) => {
            let (meta, data) = rest
                .split_once(',')
                .ok_or_else(|| RelayError::BadRequest("`image` is not a data URL".into()))?;
            (meta.trim_end_matches(";base64").to_owned(), data)
        }
        None if value.starts_with("http://") || value.starts_with("https://") => {
            return Err(RelayError::BadRequest(
                "this model takes the image as an upload or base64, not a URL".into(),
            ));
        }
        None => ("image/png".to_owned(), value),
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| RelayError::BadRequest("`image` is not valid base64".into()))?;
    Ok(Part {
        name: "input_reference".into(),
        filename: Some("image".into()),
        content_type: Some(content_type),
        data: Bytes::from(data),
    })
}

impl TaskAdaptor for OpenAiVideo {
    fn submit(
        &self,
        channel: &ChannelInfo,
        base: &str,
        request: &TaskRequest,
        _parent: Option<&str>,
    ) -> Result<hyper::Request<UpstreamBody>, RelayError> {
        let mut fields = Map::new();
        fields.insert(
            "model".into(),
            json!(channel.upstream_model(&request.model)),
        );
        if let Some(prompt) = request.text("prompt") {
            fields.insert("prompt".into(), json!(prompt));
        }
        if let Some(seconds) = request.seconds {
            fields.insert("seconds".into(), json!(seconds.to_string()));
        }
        let size = request
            .text("size")
            .or_else(|| request.text("aspect_ratio").and_then(size_of_ratio));
        if let Some(size) = size {
            fields.insert("size".into(), json!(size));
        }
        let mut files: Vec<Part> = request
            .files
            .iter()
            .map(|f| Part {
                name: "input_reference".into(),
                filename: f.filename.clone().or_else(|| Some("image".into())),
                content_type: f.content_type.clone(),
                data: f.data.clone(),
            })
            .collect();
        if let Some(image) = request.text("image").filter(|i| !i.is_empty()) {
            files.push(image_part(image)?);
        }
        let url = format!("{base}/v1/videos");
        let auth = format!("Bearer {}", channel.key);
        if files.is_empty() {
            return json_request(
                hyper::Method::POST,
                &url,
                &[("authorization", &auth)],
                Some(&Value::Object(fields)),
            );
        }
        let texts: Vec<Part> = fields
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| text_part(k, v)))
            .collect();
        let (content_type, body) = encode(texts.iter().chain(files.iter()));
        hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(url)
            .header("authorization", auth)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(crate::client::full_body(body))
            .map_err(|e| RelayError::Internal(format!("building a video request: {e}")))
    }

    fn accepted(&self, status: u16, body: &[u8]) -> Result<Accepted, String> {
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match (status, answer.get("id").and_then(Value::as_str)) {
            (200..=299, Some(id)) if !id.is_empty() => Ok(Accepted {
                upstream_id: id.to_owned(),
                native: answer,
            }),
            _ => Err(answer
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map_or_else(|| format!("refused (HTTP {status})"), str::to_owned)),
        }
    }

    fn poll(&self, channel: &ChannelInfo, base: &str, tasks: &[&Model]) -> Vec<PollRequest> {
        poll_each(tasks, &format!("Bearer {}", channel.key), |t| {
            format!("{base}/v1/videos/{}", t.upstream_id)
        })
    }

    fn polled(&self, status: u16, body: &[u8], asked: &[String]) -> Vec<(String, Polled)> {
        if !(200..300).contains(&status) {
            return Vec::new();
        }
        let video: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(id) = asked.first() else {
            return Vec::new();
        };
        let polled = match video.get("status").and_then(Value::as_str) {
            Some("completed") => Polled::Succeeded {
                urls: Vec::new(),
                data: Some(video),
            },
            Some("failed") => Polled::Failed {
                reason: video
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .to_owned(),
                data: Some(video),
            },
            Some("in_progress") => Polled::Running {
                status: status::IN_PROGRESS,
                progress: percent(video.get("progress")),
                data: Some(video),
            },
            _ => Polled::Running {
                status: status::SUBMITTED,
                progress: percent(video.get("progress")),
                data: Some(video),
            },
        };
        vec![(id.clone(), polled)]
    }
}

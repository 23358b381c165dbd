//! Testing a channel: one real minimal chat request to its upstream.

use crate::HttpClient;
use crate::channel_type::{self, Family};
use crate::upstream_error::{error_message, should_disable};
use persistence::channels::Model as Channel;
use serde_json::json;
use std::time::{Duration, Instant};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);
const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// What a test found.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub success: bool,
    /// Milliseconds from sending the request to the end of the answer.
    pub response_time_ms: i32,
    /// Why it failed, safe to show an admin (no keys).
    pub error: Option<String>,
    /// The failure means the key is unusable (401, revoked, out of money).
    pub key_unusable: bool,
}

impl TestOutcome {
    fn failed(error: String, elapsed: Duration, key_unusable: bool) -> Self {
        TestOutcome {
            success: false,
            response_time_ms: millis(elapsed),
            error: Some(error),
            key_unusable,
        }
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// The model a test uses: the one asked for, else the channel's test model, else its first.
pub fn test_model(channel: &Channel, requested: Option<&str>) -> Option<String> {
    requested
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .or_else(|| Some(channel.test_model.trim().to_owned()).filter(|m| !m.is_empty()))
        .or_else(|| channel.model_list().into_iter().next())
}

/// A request ready to send: URL, headers, JSON body.
struct TestRequest {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: serde_json::Value,
}

/// URL, headers and body of a minimal chat request in the channel's own dialect.
fn build_request(channel: &Channel, model: &str) -> Result<TestRequest, String> {
    let family = channel_type::family(channel.channel_type);
    let base = channel_type::base_url(channel.channel_type, &channel.base_url)
        .ok_or_else(|| "the channel has no base_url".to_owned())?;
    let key = channel.key.trim().to_owned();
    let messages = json!([{"role": "user", "content": "hi"}]);
    let (url, headers, body) = match family {
        Family::OpenAi => {
            let mut headers = vec![("authorization", format!("Bearer {key}"))];
            if !channel.openai_organization.is_empty() {
                headers.push(("openai-organization", channel.openai_organization.clone()));
            }
            (
                format!("{base}/v1/chat/completions"),
                headers,
                json!({"model": model, "messages": messages, "max_tokens": 1}),
            )
        }
        Family::Azure => {
            let version = Some(channel.other.trim())
                .filter(|v| !v.is_empty())
                .unwrap_or(AZURE_DEFAULT_API_VERSION);
            let deployment = model.replace('.', "");
            (
                format!(
                    "{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"
                ),
                vec![("api-key", key)],
                json!({"messages": messages, "max_tokens": 1}),
            )
        }
        Family::Anthropic => (
            format!("{base}/v1/messages"),
            vec![
                ("x-api-key", key),
                ("anthropic-version", "2023-06-01".to_owned()),
            ],
            json!({"model": model, "messages": messages, "max_tokens": 1}),
        ),
        Family::Gemini => (
            format!("{base}/v1beta/models/{model}:generateContent"),
            vec![("x-goog-api-key", key)],
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1}}),
        ),
        Family::Task => {
            return Err(format!(
                "channel type {} is a task API without a chat endpoint and cannot be tested this way",
                channel.channel_type
            ));
        }
    };
    Ok(TestRequest { url, headers, body })
}

/// Sends one minimal chat request to the channel's upstream and judges the answer.
pub async fn test_channel(client: &HttpClient, channel: &Channel, model: &str) -> TestOutcome {
    let started = Instant::now();
    let TestRequest { url, headers, body } = match build_request(channel, model) {
        Ok(request) => request,
        Err(e) => return TestOutcome::failed(e, started.elapsed(), false),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let resp = match client.post_json(&url, &headers, body, TEST_TIMEOUT).await {
        Ok(resp) => resp,
        Err(e) => return TestOutcome::failed(e.to_string(), started.elapsed(), false),
    };
    let elapsed = started.elapsed();
    if !(200..300).contains(&resp.status) {
        let message = error_message(&resp.body).unwrap_or_default();
        let unusable = should_disable(resp.status, &String::from_utf8_lossy(&resp.body));
        return TestOutcome::failed(
            format!("upstream status {}: {message}", resp.status),
            elapsed,
            unusable,
        );
    }
    match serde_json::from_slice::<serde_json::Value>(&resp.body) {
        Ok(v) if v.get("error").is_none_or(serde_json::Value::is_null) => TestOutcome {
            success: true,
            response_time_ms: millis(elapsed),
            error: None,
            key_unusable: false,
        },
        Ok(v) => {
            let message = error_message(&resp.body).unwrap_or_else(|| v.to_string());
            let unusable = should_disable(resp.status, &String::from_utf8_lossy(&resp.body));
            TestOutcome::failed(format!("upstream error: {message}"), elapsed, unusable)
        }
        Err(_) => TestOutcome::failed(
            "upstream answered with a body that is not JSON".to_owned(),
            elapsed,
            false,
        ),
    }
}

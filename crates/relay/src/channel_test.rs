//! Testing a channel: one real minimal chat request to its upstream, shaped by the channel's
//! provider adaptor.

use crate::client::HttpClient;
use crate::error::UpstreamKind;
use crate::health::{classify, error_message};
use crate::providers::{Provider, base_url};
use crate::routing::ChannelInfo;
use persistence::channels::Model as Channel;
use std::time::{Duration, Instant};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub success: bool,
    pub response_time_ms: i32,
    pub error: Option<String>,
    /// The answer shows the channel's key is unusable (revoked, no money).
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

/// Sends the smallest chat call of the channel's provider and judges the answer.
pub async fn test_channel(client: &HttpClient, channel: &Channel, model: &str) -> TestOutcome {
    let started = Instant::now();
    let info = ChannelInfo::from_model(channel.clone());
    let Some(adaptor) = Provider::of(channel.channel_type).adaptor() else {
        let why = format!(
            "channel type {} is a task API without a chat endpoint and cannot be tested this way",
            channel.channel_type
        );
        return TestOutcome::failed(why, started.elapsed(), false);
    };
    let Some(base) = base_url(channel.channel_type, &channel.base_url) else {
        let why = "the channel has no base_url".to_owned();
        return TestOutcome::failed(why, started.elapsed(), false);
    };
    let (url, body) = adaptor.test_call(&info, &base, model);
    let request = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri(url)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    let request = adaptor
        .authorize(&info, request)
        .body(crate::client::full_body(bytes::Bytes::from(
            body.to_string(),
        )));
    let resp = match request {
        Ok(request) => client.fetch(request, TEST_TIMEOUT).await,
        Err(e) => return TestOutcome::failed(e.to_string(), started.elapsed(), false),
    };
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => return TestOutcome::failed(e.to_string(), started.elapsed(), false),
    };
    let elapsed = started.elapsed();
    let unusable = || classify(resp.status.max(400), &resp.body) == UpstreamKind::KeyUnusable;
    if !(200..300).contains(&resp.status) {
        let message = error_message(&resp.body).unwrap_or_default();
        return TestOutcome::failed(
            format!("upstream status {}: {message}", resp.status),
            elapsed,
            unusable(),
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
            TestOutcome::failed(format!("upstream error: {message}"), elapsed, unusable())
        }
        Err(_) => TestOutcome::failed(
            "upstream answered with a body that is not JSON".to_owned(),
            elapsed,
            false,
        ),
    }
}

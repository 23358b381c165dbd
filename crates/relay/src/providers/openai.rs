//! OpenAI and every OpenAI-compatible vendor: `{base}/v1/<endpoint>`, a bearer key and the
//! optional organization header.

use super::Adaptor;
use crate::dialect::{Dialect, Endpoint};
use crate::routing::ChannelInfo;
use hyper::http::request::Builder;
use serde_json::json;

pub(crate) struct OpenAi;

impl Adaptor for OpenAi {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }

    fn url(&self, _: &ChannelInfo, base: &str, endpoint: Endpoint, _: &str) -> Option<String> {
        Some(format!("{base}/v1/{}", endpoint.path()))
    }

    fn authorize(&self, channel: &ChannelInfo, request: Builder) -> Builder {
        let request = request.header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {}", channel.key),
        );
        if channel.organization.is_empty() {
            request
        } else {
            request.header("openai-organization", channel.organization.as_str())
        }
    }

    fn models_url(&self, _channel: &ChannelInfo, base: &str) -> String {
        format!("{base}/v1/models")
    }

    fn test_call(&self, _: &ChannelInfo, base: &str, model: &str) -> (String, serde_json::Value) {
        (
            format!("{base}/v1/chat/completions"),
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
        )
    }
}

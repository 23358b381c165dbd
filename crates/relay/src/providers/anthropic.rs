//! Anthropic: `{base}/v1/messages` with `x-api-key` and `anthropic-version` (the caller's, when
//! it sent one). It takes the Messages dialect only; other dialects reach it once conversion
//! exists.

use super::Adaptor;
use crate::dialect::{Dialect, Endpoint};
use crate::routing::ChannelInfo;
use hyper::http::request::Builder;
use serde_json::json;

pub(crate) struct Anthropic;

impl Adaptor for Anthropic {
    fn dialect(&self) -> Dialect {
        Dialect::Anthropic
    }

    fn url(&self, _: &ChannelInfo, base: &str, endpoint: Endpoint, _: &str) -> Option<String> {
        (endpoint == Endpoint::Messages).then(|| format!("{base}/v1/messages"))
    }

    fn authorize(&self, channel: &ChannelInfo, request: Builder) -> Builder {
        request
            .header("x-api-key", channel.key.as_str())
            .header("anthropic-version", "2023-06-01")
    }

    fn models_url(&self, _channel: &ChannelInfo, base: &str) -> String {
        format!("{base}/v1/models")
    }

    fn test_call(&self, _: &ChannelInfo, base: &str, model: &str) -> (String, serde_json::Value) {
        (
            format!("{base}/v1/messages"),
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
        )
    }
}

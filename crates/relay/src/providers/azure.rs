//! Azure OpenAI: deployments named after the model (dots removed), `api-version` from the
//! channel's `other` field, the key in `api-key`.

use super::Adaptor;
use crate::dialect::{Dialect, Endpoint};
use crate::routing::ChannelInfo;
use hyper::http::request::Builder;
use serde_json::json;

const DEFAULT_API_VERSION: &str = "2024-10-21";

pub(crate) struct Azure;

fn deployment_url(channel: &ChannelInfo, base: &str, path: &str, model: &str) -> String {
    let version = Some(channel.other.trim())
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_API_VERSION);
    let deployment = model.replace('.', "");
    format!("{base}/openai/deployments/{deployment}/{path}?api-version={version}")
}

impl Adaptor for Azure {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }

    fn url(
        &self,
        channel: &ChannelInfo,
        base: &str,
        endpoint: Endpoint,
        model: &str,
    ) -> Option<String> {
        Some(deployment_url(channel, base, endpoint.path(), model))
    }

    fn authorize(&self, channel: &ChannelInfo, request: Builder) -> Builder {
        request.header("api-key", channel.key.as_str())
    }

    fn models_url(&self, channel: &ChannelInfo, base: &str) -> String {
        let version = Some(channel.other.trim())
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_API_VERSION);
        format!("{base}/openai/models?api-version={version}")
    }

    fn test_call(
        &self,
        channel: &ChannelInfo,
        base: &str,
        model: &str,
    ) -> (String, serde_json::Value) {
        (
            deployment_url(channel, base, "chat/completions", model),
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
        )
    }
}

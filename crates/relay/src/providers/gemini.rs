//! Google Gemini: `{base}/v1beta/models/{model}:generateContent` (and
//! `:streamGenerateContent?alt=sse`) with `x-goog-api-key`. It takes the Gemini dialect only;
//! other dialects reach it once conversion exists.

use super::Adaptor;
use crate::dialect::{Dialect, Endpoint};
use crate::routing::ChannelInfo;
use hyper::http::request::Builder;
use serde_json::json;

pub(crate) struct Gemini;

impl Adaptor for Gemini {
    fn dialect(&self) -> Dialect {
        Dialect::Gemini
    }

    fn url(&self, _: &ChannelInfo, base: &str, endpoint: Endpoint, model: &str) -> Option<String> {
        match endpoint {
            Endpoint::GenerateContent => {
                Some(format!("{base}/v1beta/models/{model}:generateContent"))
            }
            Endpoint::EmbedContent | Endpoint::BatchEmbedContents => {
                Some(format!("{base}/v1beta/models/{model}:{}", endpoint.path()))
            }
            Endpoint::StreamGenerateContent => Some(format!(
                "{base}/v1beta/models/{model}:streamGenerateContent?alt=sse"
            )),
            _ => None,
        }
    }

    fn authorize(&self, channel: &ChannelInfo, request: Builder) -> Builder {
        request.header("x-goog-api-key", channel.key.as_str())
    }

    fn models_url(&self, _channel: &ChannelInfo, base: &str) -> String {
        format!("{base}/v1beta/models")
    }

    fn test_call(&self, _: &ChannelInfo, base: &str, model: &str) -> (String, serde_json::Value) {
        (
            format!("{base}/v1beta/models/{model}:generateContent"),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generationConfig": {"maxOutputTokens": 1}}),
        )
    }
}

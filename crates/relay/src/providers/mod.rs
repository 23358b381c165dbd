//! Upstream providers: channel types (new-api's numeric ids), the family each speaks, and one
//! adaptor per family (a file each) that shapes requests for it. Adding a provider is adding a
//! file here and an arm in [`Provider`]; see `docs/adding-a-provider.md`.

mod anthropic;
mod azure;
mod gemini;
mod openai;

use crate::dialect::{Dialect, Endpoint};
use crate::routing::ChannelInfo;
use hyper::http::request::Builder;

pub const OPENAI: i32 = 1;
pub const MIDJOURNEY: i32 = 2;
pub const AZURE: i32 = 3;
pub const MIDJOURNEY_PLUS: i32 = 5;
pub const OLLAMA: i32 = 4;
pub const CUSTOM: i32 = 8;
pub const ANTHROPIC: i32 = 14;
pub const OPENROUTER: i32 = 20;
pub const GEMINI: i32 = 24;
pub const MOONSHOT: i32 = 25;
pub const SUNO: i32 = 36;
pub const SILICONFLOW: i32 = 40;
pub const MISTRAL: i32 = 42;
pub const DEEPSEEK: i32 = 43;
pub const XAI: i32 = 48;
pub const KLING: i32 = 50;

/// The upstream family a channel type belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI and every OpenAI-compatible vendor (also unknown types).
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
    /// Asynchronous task APIs (Midjourney proxy, Suno, Kling): no chat endpoint.
    Task,
}

impl Provider {
    pub fn of(channel_type: i32) -> Provider {
        match channel_type {
            AZURE => Provider::Azure,
            ANTHROPIC => Provider::Anthropic,
            GEMINI => Provider::Gemini,
            MIDJOURNEY | MIDJOURNEY_PLUS | SUNO | KLING => Provider::Task,
            _ => Provider::OpenAi,
        }
    }

    /// The adaptor of a family with a chat endpoint (task platforms have none).
    pub(crate) fn adaptor(self) -> Option<&'static dyn Adaptor> {
        match self {
            Provider::OpenAi => Some(&openai::OpenAi),
            Provider::Azure => Some(&azure::Azure),
            Provider::Anthropic => Some(&anthropic::Anthropic),
            Provider::Gemini => Some(&gemini::Gemini),
            Provider::Task => None,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Task => "task",
        })
    }
}

/// How requests are shaped for one upstream family.
pub(crate) trait Adaptor: Sync {
    /// The dialect its endpoints take as they are.
    fn dialect(&self) -> Dialect;

    /// The URL of `endpoint` for `model` under the channel's base URL, when it serves it.
    fn url(
        &self,
        channel: &ChannelInfo,
        base: &str,
        endpoint: Endpoint,
        model: &str,
    ) -> Option<String>;

    /// Adds the channel's credentials (and other fixed headers) to a request.
    fn authorize(&self, channel: &ChannelInfo, request: Builder) -> Builder;

    /// The URL of the family's model list: a free call that fails only when the channel's
    /// key does, to confirm a key failure before the channel is disabled.
    fn models_url(&self, channel: &ChannelInfo, base: &str) -> String;

    /// The URL and body of the smallest chat call, for channel tests.
    fn test_call(
        &self,
        channel: &ChannelInfo,
        base: &str,
        model: &str,
    ) -> (String, serde_json::Value);
}

/// The base URL used when a channel leaves `base_url` empty.
/// The channel types [`default_base_url`] knows a base URL for; the others need one configured.
pub const TYPES_WITH_DEFAULT_BASE_URL: [i32; 11] = [
    OPENAI,
    OLLAMA,
    ANTHROPIC,
    OPENROUTER,
    GEMINI,
    MOONSHOT,
    SILICONFLOW,
    MISTRAL,
    DEEPSEEK,
    XAI,
    KLING,
];

pub fn default_base_url(channel_type: i32) -> Option<&'static str> {
    Some(match channel_type {
        OPENAI => "https://api.openai.com",
        OLLAMA => "http://localhost:11434",
        ANTHROPIC => "https://api.anthropic.com",
        OPENROUTER => "https://openrouter.ai/api",
        GEMINI => "https://generativelanguage.googleapis.com",
        MOONSHOT => "https://api.moonshot.cn",
        SILICONFLOW => "https://api.siliconflow.cn",
        MISTRAL => "https://api.mistral.ai",
        DEEPSEEK => "https://api.deepseek.com",
        XAI => "https://api.x.ai",
        KLING => "https://api.klingai.com",
        _ => return None,
    })
}

/// The channel's base URL without a trailing slash, or its type's default.
pub fn base_url(channel_type: i32, configured: &str) -> Option<String> {
    let configured = configured.trim().trim_end_matches('/');
    if configured.is_empty() {
        default_base_url(channel_type).map(str::to_owned)
    } else {
        Some(configured.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_types_with_a_default_base_url_are_listed() {
        for t in -1..=200 {
            assert_eq!(
                default_base_url(t).is_some(),
                TYPES_WITH_DEFAULT_BASE_URL.contains(&t),
                "type {t}"
            );
        }
    }

    #[test]
    fn families_and_defaults() {
        assert_eq!(Provider::of(DEEPSEEK), Provider::OpenAi);
        assert_eq!(Provider::of(999), Provider::OpenAi);
        assert_eq!(Provider::of(AZURE), Provider::Azure);
        assert_eq!(Provider::of(SUNO), Provider::Task);
        assert!(Provider::Task.adaptor().is_none());
        assert_eq!(
            base_url(OPENAI, "").as_deref(),
            Some("https://api.openai.com")
        );
        assert_eq!(
            base_url(OPENAI, "http://x:1/ ").as_deref(),
            Some("http://x:1")
        );
        assert_eq!(base_url(AZURE, ""), None);
    }
}

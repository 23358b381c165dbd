//! Channel types (new-api's numeric ids) and the upstream families they speak.

pub const OPENAI: i32 = 1;
pub const MIDJOURNEY: i32 = 2;
pub const AZURE: i32 = 3;
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

/// The wire format a channel type speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// OpenAI and every OpenAI-compatible vendor (also unknown types).
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
    /// Asynchronous task APIs (Midjourney proxy, Suno, Kling): no chat endpoint.
    Task,
}

pub fn family(channel_type: i32) -> Family {
    match channel_type {
        AZURE => Family::Azure,
        ANTHROPIC => Family::Anthropic,
        GEMINI => Family::Gemini,
        MIDJOURNEY | SUNO | KLING => Family::Task,
        _ => Family::OpenAi,
    }
}

/// The base URL used when a channel leaves `base_url` empty.
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
    fn families_and_defaults() {
        assert_eq!(family(DEEPSEEK), Family::OpenAi);
        assert_eq!(family(999), Family::OpenAi);
        assert_eq!(family(AZURE), Family::Azure);
        assert_eq!(family(SUNO), Family::Task);
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

//! The built-in price lists: what the providers publish, overridden by the options.

/// Built-in model ratios (USD per 1M input tokens / 2) and completion ratios (output price /
/// input price) of current OpenAI, Anthropic and Gemini models. Options override them.
pub(super) const DEFAULT_RATIOS: &[(&str, f64, f64)] = &[
    ("gpt-5", 0.625, 8.0),
    ("gpt-5.1", 0.625, 8.0),
    ("gpt-5-mini", 0.125, 8.0),
    ("gpt-5-nano", 0.025, 8.0),
    ("gpt-5-codex", 0.625, 8.0),
    ("gpt-4o", 1.25, 4.0),
    ("gpt-4o-2024-11-20", 1.25, 4.0),
    ("gpt-4o-mini", 0.075, 4.0),
    ("gpt-4.1", 1.0, 4.0),
    ("gpt-4.1-mini", 0.2, 4.0),
    ("gpt-4.1-nano", 0.05, 4.0),
    ("gpt-4", 15.0, 2.0),
    ("gpt-4-turbo", 5.0, 3.0),
    ("gpt-3.5-turbo", 0.25, 3.0),
    ("gpt-3.5-turbo-instruct", 0.75, 4.0 / 3.0),
    ("o1", 7.5, 4.0),
    ("o1-mini", 0.55, 4.0),
    ("o3", 1.0, 4.0),
    ("o3-mini", 0.55, 4.0),
    ("o4-mini", 0.55, 4.0),
    ("text-embedding-3-small", 0.01, 1.0),
    ("text-embedding-3-large", 0.065, 1.0),
    ("text-embedding-ada-002", 0.05, 1.0),
    ("omni-moderation-latest", 0.0, 1.0),
    ("text-moderation-latest", 0.0, 1.0),
    ("tts-1", 7.5, 1.0),
    ("gpt-image-1", 2.5, 8.0),
    ("gpt-4o-transcribe", 1.25, 4.0),
    ("gpt-4o-mini-transcribe", 0.625, 4.0),
    ("gpt-image-1-mini", 1.0, 4.0),
    ("tts-1-hd", 15.0, 1.0),
    ("claude-sonnet-4-5", 1.5, 5.0),
    ("claude-sonnet-4-5-20250929", 1.5, 5.0),
    ("claude-haiku-4-5", 0.5, 5.0),
    ("claude-haiku-4-5-20251001", 0.5, 5.0),
    ("claude-opus-4-1", 7.5, 5.0),
    ("claude-opus-4-1-20250805", 7.5, 5.0),
    ("claude-opus-4-5", 2.5, 5.0),
    ("claude-opus-4-5-20251101", 2.5, 5.0),
    ("claude-3-5-sonnet-20241022", 1.5, 5.0),
    ("claude-3-5-sonnet", 1.5, 5.0),
    ("claude-3-7-sonnet-20250219", 1.5, 5.0),
    ("claude-sonnet-4-20250514", 1.5, 5.0),
    ("claude-3-5-haiku-20241022", 0.4, 5.0),
    ("claude-3-5-haiku", 0.4, 5.0),
    ("claude-3-opus-20240229", 7.5, 5.0),
    ("claude-opus-4-20250514", 7.5, 5.0),
    ("claude-3-sonnet-20240229", 1.5, 5.0),
    ("claude-3-haiku-20240307", 0.125, 5.0),
    ("gemini-3-pro-preview", 1.0, 6.0),
    ("gemini-2.5-pro", 0.625, 8.0),
    ("gemini-2.5-flash-lite", 0.05, 4.0),
    ("gemini-2.5-flash", 0.15, 25.0 / 3.0),
    ("gemini-2.0-flash", 0.05, 4.0),
    ("gemini-1.5-pro", 0.625, 4.0),
    ("gemini-1.5-flash", 0.0375, 4.0),
    ("gemini-pro", 0.25, 3.0),
    ("gemini-embedding-001", 0.075, 1.0),
];

/// Built-in per-call prices in USD.
/// Built-in per-call prices in USD: asynchronous tasks. Midjourney's and Suno's are new-api's
/// defaults (an inpaint or custom zoom is charged at its modal step, `mj_modal`); Kling's are
/// its API's list for a 5-second video (`-pro` for pro mode); Sora's are OpenAI's per-second
/// prices times its default 4 seconds (`sora-2-pro` at 1024 pixels by size). A video's price
/// scales with the seconds asked.
pub(super) const DEFAULT_PRICES: &[(&str, f64)] = &[
    ("mj_imagine", 0.1),
    ("mj_variation", 0.1),
    ("mj_reroll", 0.1),
    ("mj_blend", 0.1),
    ("mj_modal", 0.1),
    ("mj_zoom", 0.1),
    ("mj_shorten", 0.1),
    ("mj_high_variation", 0.1),
    ("mj_low_variation", 0.1),
    ("mj_pan", 0.1),
    ("mj_inpaint", 0.0),
    ("mj_custom_zoom", 0.0),
    ("mj_describe", 0.05),
    ("mj_upscale", 0.05),
    ("suno_music", 0.1),
    ("suno_lyrics", 0.01),
    ("kling-v1", 0.14),
    ("kling-v1-pro", 0.49),
    ("kling-v1-5", 0.28),
    ("kling-v1-5-pro", 0.49),
    ("kling-v1-6", 0.28),
    ("kling-v1-6-pro", 0.49),
    ("kling-v2-master", 1.4),
    ("kling-v2-1", 0.28),
    ("kling-v2-1-pro", 0.49),
    ("kling-v2-1-master", 1.4),
    ("sora-2", 0.4),
    ("sora-2-pro", 1.2),
    ("sora-2-pro 1024x1792", 2.0),
    ("sora-2-pro 1792x1024", 2.0),
];

/// Built-in prices in USD per minute of audio (billed by the second), of the models priced by
/// the length of what they hear.
pub(super) const DEFAULT_MINUTE_PRICES: &[(&str, f64)] = &[("whisper-1", 0.006)];

/// Built-in prices of one image in USD, keyed `"model quality size"` (OpenAI's list).
pub(super) const DEFAULT_IMAGE_PRICES: &[(&str, f64)] = &[
    ("dall-e-2 standard 256x256", 0.016),
    ("dall-e-2 standard 512x512", 0.018),
    ("dall-e-2 standard 1024x1024", 0.02),
    ("dall-e-3 standard 1024x1024", 0.04),
    ("dall-e-3 standard 1024x1792", 0.08),
    ("dall-e-3 standard 1792x1024", 0.08),
    ("dall-e-3 hd 1024x1024", 0.08),
    ("dall-e-3 hd 1024x1792", 0.12),
    ("dall-e-3 hd 1792x1024", 0.12),
];

/// Output tokens of one image of the gpt-image models, by quality and size (OpenAI's list);
/// they are billed by the tokens they report.
pub(super) const IMAGE_OUTPUT_TOKENS: &[(&str, &str, i64)] = &[
    ("low", "1024x1024", 272),
    ("low", "1024x1536", 408),
    ("low", "1536x1024", 400),
    ("medium", "1024x1024", 1056),
    ("medium", "1024x1536", 1584),
    ("medium", "1536x1024", 1568),
    ("high", "1024x1024", 4160),
    ("high", "1024x1536", 6240),
    ("high", "1536x1024", 6208),
];

/// Built-in image token ratios per model family (longest matching prefix wins): an image
/// input token as a share of a text input token (gpt-image: 10 vs 5 USD per 1M), and an image
/// output token as a share of a text input token (Gemini's image models: 30 USD per 1M
/// against 0.30 in). The `ImageRatio` and `ImageOutputRatio` options override them per model.
pub(super) const DEFAULT_IMAGE_RATIOS: &[(&str, f64, f64)] = &[
    ("gpt-image-1", 2.0, 8.0),
    ("gpt-image-1-mini", 1.25, 4.0),
    ("gemini-2.5-flash-image", 1.0, 100.0),
    ("gemini-3-pro-image", 1.0, 60.0),
];

/// Built-in `priority` service-tier ratios per model family (longest prefix wins), the whole
/// call's price against the standard tier's; another family pays 2. `flex` is 0.5 everywhere.
pub(super) const PRIORITY_RATIOS: &[(&str, f64)] = &[
    ("gpt-5", 2.0),
    ("gpt-5-mini", 1.8),
    ("gpt-4.1", 1.75),
    ("o3", 1.75),
    ("o4-mini", 1.82),
    ("gpt-4o", 1.7),
];

/// Built-in long-context premiums per model family: past `threshold` prompt tokens (the
/// cache's included), input costs `input` times and output `output` times the base price.
pub(super) const LONG_CONTEXT: &[(&str, i64, f64, f64)] = &[
    ("claude-sonnet-4", 200_000, 2.0, 1.5),
    ("gemini-2.5-pro", 200_000, 2.0, 1.5),
    ("gemini-3-pro", 200_000, 2.0, 1.5),
];

/// Built-in maximum output tokens per model family (longest matching prefix wins), reserved
/// for a call that names no `max_tokens`. The `ModelMaxOutputTokens` option overrides them.
pub(super) const DEFAULT_MAX_OUTPUT: &[(&str, i64)] = &[
    ("gpt-5", 128_000),
    ("gpt-5-chat", 16_384),
    ("gpt-4o", 16_384),
    ("gpt-4o-mini", 16_384),
    ("chatgpt-4o", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-4", 8_192),
    ("gpt-4-turbo", 4_096),
    ("gpt-3.5-turbo", 4_096),
    ("gpt-oss", 131_072),
    ("o1", 100_000),
    ("o1-mini", 65_536),
    ("o3", 100_000),
    ("o4-mini", 100_000),
    ("codex-mini", 100_000),
    ("claude-3-5-sonnet", 8_192),
    ("claude-3-5-haiku", 8_192),
    ("claude-3-7-sonnet", 64_000),
    ("claude-sonnet-4", 64_000),
    ("claude-opus-4", 32_000),
    ("claude-opus-4-5", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-opus", 4_096),
    ("claude-3-sonnet", 4_096),
    ("claude-3-haiku", 4_096),
    ("gemini-3", 65_536),
    ("gemini-2.5", 65_536),
    ("gemini-2.5-flash-image", 32_768),
    ("gemini-2.0", 8_192),
    ("gemini-1.5", 8_192),
    ("gemini-pro", 8_192),
    ("deepseek-chat", 8_192),
    ("deepseek-reasoner", 64_000),
];

/// Built-in worst cases, in prompt tokens, of one media part named by reference, by kind:
/// what fills a 1M-token context (an hour of video at Gemini's 263 tokens a second; audio at
/// 32 a second), and a long document (Anthropic's 100 pages of about 3 000 tokens, Gemini's
/// 1 000 pages of 258), and a stored conversation or prompt (gpt-5's 272 000 input tokens).
/// The `MediaReferenceTokens` option overrides them.
pub(super) const DEFAULT_MEDIA_TOKENS: [(&str, i64); 4] = [
    ("video", 1_000_000),
    ("audio", 1_000_000),
    ("document", 300_000),
    ("context", 272_000),
];

/// Built-in cache ratios per model family (longest matching prefix wins): what a prompt token
/// read from the provider's cache, and one written to it, cost as a share of an input token, as
/// the providers price them. A model in no family pays full price for both. The `CacheRatio`
/// and `CreateCacheRatio` options override them per model.
pub(super) const DEFAULT_CACHE_RATIOS: &[(&str, f64, f64)] = &[
    ("claude", 0.1, 1.25),
    ("gpt-4o", 0.5, 1.0),
    ("o1", 0.5, 1.0),
    ("gpt-4.1", 0.25, 1.0),
    ("o3", 0.25, 1.0),
    ("o4-mini", 0.25, 1.0),
    ("gpt-5", 0.1, 1.0),
    ("gpt-realtime", 0.1, 1.0),
    ("gemini-2.5", 0.25, 1.0),
    ("gemini-2.0", 0.25, 1.0),
    ("deepseek", 0.1, 1.0),
];

/// Built-in ratios of a prompt token written to the provider's cache for an hour, per model
/// family: Anthropic's one-hour cache costs twice an input token. The `CreateCacheRatio1h`
/// option overrides them per model.
pub(super) const LONG_CACHE_WRITE_RATIOS: &[(&str, f64)] = &[("claude", 2.0)];

/// Built-in audio ratios per model family (longest matching prefix wins): an audio input token
/// as a share of a text input token, and an audio output token as a share of an audio input
/// token, as OpenAI prices its realtime models. A model in no family pays text prices for
/// audio. The `AudioRatio` and `AudioCompletionRatio` options override them per model.
pub(super) const DEFAULT_AUDIO_RATIOS: &[(&str, f64, f64)] = &[
    ("gpt-realtime", 8.0, 2.0),
    ("gpt-4o-transcribe", 2.4, 1.0),
    ("gpt-4o-audio", 16.0, 2.0),
    ("gpt-4o-mini-audio", 66.67, 2.0),
    ("gpt-audio", 12.8, 2.0),
    ("gemini-2.5-flash", 3.33, 1.0),
    ("gemini-2.0-flash", 7.0, 1.0),
    ("gpt-4o-mini-transcribe", 2.4, 1.0),
    ("gpt-realtime-mini", 16.67, 2.0),
    ("gpt-4o-realtime", 8.0, 2.0),
    ("gpt-4o-mini-realtime", 16.67, 2.0),
];

/// Output tokens reserved for a model found nowhere in the table or the option.
pub const FALLBACK_MAX_OUTPUT: i64 = 16_384;

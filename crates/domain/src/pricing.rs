//! Prices and quota arithmetic (DECISIONS.md "Money"). A model ratio of 1 costs 2 USD per 1M
//! tokens: `quota = round((prompt + completion * completion_ratio) * model_ratio * group_ratio)`,
//! where prompt tokens the provider served from its cache count `cache_ratio` each and those it
//! wrote to its cache `create_cache_ratio` each. A fixed per-call price (USD) wins over ratios:
//! `quota = round(price * 500000 * group_ratio)`.

use crate::quota::QUOTA_PER_USD;
use std::collections::HashMap;

/// Built-in model ratios (USD per 1M input tokens / 2) and completion ratios (output price /
/// input price) of current OpenAI, Anthropic and Gemini models. Options override them.
const DEFAULT_RATIOS: &[(&str, f64, f64)] = &[
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
    ("tts-1-hd", 15.0, 1.0),
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
    ("gemini-2.5-pro", 0.625, 8.0),
    ("gemini-2.5-flash", 0.15, 25.0 / 3.0),
    ("gemini-2.0-flash", 0.05, 4.0),
    ("gemini-1.5-pro", 0.625, 4.0),
    ("gemini-1.5-flash", 0.0375, 4.0),
    ("gemini-pro", 0.25, 3.0),
    ("gemini-embedding-001", 0.075, 1.0),
];

/// Built-in per-call prices in USD.
const DEFAULT_PRICES: &[(&str, f64)] = &[
    ("dall-e-3", 0.04),
    ("dall-e-2", 0.02),
    ("gpt-image-1", 0.04),
    ("whisper-1", 0.006),
];

/// Built-in maximum output tokens per model family (longest matching prefix wins), reserved
/// for a call that names no `max_tokens`. The `ModelMaxOutputTokens` option overrides them.
const DEFAULT_MAX_OUTPUT: &[(&str, i64)] = &[
    ("gpt-4o", 16_384),
    ("gpt-4o-mini", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-4", 8_192),
    ("gpt-4-turbo", 4_096),
    ("gpt-3.5-turbo", 4_096),
    ("o1", 100_000),
    ("o1-mini", 65_536),
    ("o3", 100_000),
    ("o4-mini", 100_000),
    ("claude-3-5-sonnet", 8_192),
    ("claude-3-5-haiku", 8_192),
    ("claude-3-7-sonnet", 64_000),
    ("claude-sonnet-4", 64_000),
    ("claude-opus-4", 32_000),
    ("claude-3-opus", 4_096),
    ("claude-3-sonnet", 4_096),
    ("claude-3-haiku", 4_096),
    ("gemini-2.5", 65_536),
    ("gemini-2.0", 8_192),
    ("gemini-1.5", 8_192),
    ("gemini-pro", 8_192),
];

/// Built-in cache ratios per model family (longest matching prefix wins): what a prompt token
/// read from the provider's cache, and one written to it, cost as a share of an input token, as
/// the providers price them. A model in no family pays full price for both. The `CacheRatio`
/// and `CreateCacheRatio` options override them per model.
const DEFAULT_CACHE_RATIOS: &[(&str, f64, f64)] = &[
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

/// Built-in audio ratios per model family (longest matching prefix wins): an audio input token
/// as a share of a text input token, and an audio output token as a share of an audio input
/// token, as OpenAI prices its realtime models. A model in no family pays text prices for
/// audio. The `AudioRatio` and `AudioCompletionRatio` options override them per model.
const DEFAULT_AUDIO_RATIOS: &[(&str, f64, f64)] = &[
    ("gpt-realtime", 8.0, 2.0),
    ("gpt-realtime-mini", 16.67, 2.0),
    ("gpt-4o-realtime", 8.0, 2.0),
    ("gpt-4o-mini-realtime", 16.67, 2.0),
];

/// Output tokens reserved for a model found nowhere in the table or the option.
pub const FALLBACK_MAX_OUTPUT: i64 = 16_384;

/// How one call of a model is priced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Price {
    PerToken {
        model_ratio: f64,
        completion_ratio: f64,
        group_ratio: f64,
        /// A prompt token read from the provider's cache, as a share of an input token.
        cache_ratio: f64,
        /// A prompt token written to the provider's cache, as a share of an input token.
        create_cache_ratio: f64,
    },
    PerCall {
        usd: f64,
        group_ratio: f64,
    },
}

/// Rounds a cost to quota, at most [`MAX_QUOTA`](crate::quota::MAX_QUOTA).
fn round_quota(x: f64) -> i64 {
    if x.is_finite() && x > 0.0 {
        (x.round() as i64).min(crate::quota::MAX_QUOTA)
    } else {
        0
    }
}

impl Price {
    /// How many output tokens `available` quota pays for once `prompt_tokens` are paid
    /// (`None` for a per-call price, which has no tokens to speak of).
    pub fn affordable_output(&self, available: i64, prompt_tokens: i64) -> Option<i64> {
        let Price::PerToken {
            model_ratio,
            completion_ratio,
            group_ratio,
            ..
        } = *self
        else {
            return None;
        };
        let per_token = completion_ratio * model_ratio * group_ratio;
        let left = (available - self.quota(prompt_tokens, 0)).max(0) as f64;
        Some(if per_token > 0.0 {
            (left / per_token).floor().min(i64::MAX as f64) as i64
        } else {
            i64::MAX
        })
    }

    /// The quota of a call that used these tokens.
    pub fn quota(&self, prompt_tokens: i64, completion_tokens: i64) -> i64 {
        self.quota_cached(prompt_tokens, Cached::default(), completion_tokens)
    }

    /// The quota of a call whose `prompt_tokens` include `cached` ones (clamped to the prompt).
    pub fn quota_cached(&self, prompt_tokens: i64, cached: Cached, completion_tokens: i64) -> i64 {
        match *self {
            Price::PerToken {
                model_ratio,
                completion_ratio,
                group_ratio,
                cache_ratio,
                create_cache_ratio,
            } => {
                let prompt = prompt_tokens.max(0);
                let read = cached.read.clamp(0, prompt);
                let written = cached.written.clamp(0, prompt - read);
                let input = (prompt - read - written) as f64
                    + read as f64 * cache_ratio
                    + written as f64 * create_cache_ratio;
                round_quota(
                    (input + completion_tokens as f64 * completion_ratio)
                        * model_ratio
                        * group_ratio,
                )
            }
            Price::PerCall { usd, group_ratio } => {
                round_quota(usd * QUOTA_PER_USD as f64 * group_ratio)
            }
        }
    }
}

/// What one web search a provider's server-side tool runs costs, in US dollars (Anthropic's
/// and OpenAI's $10 per 1 000), times the group ratio.
pub const WEB_SEARCH_USD: f64 = 0.01;

impl Price {
    /// The quota of `searches` web searches.
    pub fn web_searches(&self, searches: i64) -> i64 {
        let group_ratio = match *self {
            Price::PerToken {
                group_ratio,
                model_ratio,
                ..
            } if model_ratio > 0.0 => group_ratio,
            Price::PerCall { group_ratio, .. } => group_ratio,
            // A free model (self-use mode) stays free.
            Price::PerToken { .. } => 0.0,
        };
        round_quota(searches.max(0) as f64 * WEB_SEARCH_USD * QUOTA_PER_USD as f64 * group_ratio)
    }
}

/// The tokens of one realtime response, by modality. `cached` input tokens (of either
/// modality) are priced at the cache ratio of a text input token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modal {
    pub text_in: i64,
    pub audio_in: i64,
    pub cached_text_in: i64,
    pub cached_audio_in: i64,
    pub text_out: i64,
    pub audio_out: i64,
}

/// What audio costs for a model: an input token as a share of a text input token, an output
/// token as a share of an audio input token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioRatios {
    pub input: f64,
    pub completion: f64,
}

impl Price {
    /// The quota of a realtime response that used `tokens`.
    pub fn quota_modal(&self, tokens: Modal, audio: AudioRatios) -> i64 {
        let Price::PerToken {
            model_ratio,
            completion_ratio,
            group_ratio,
            cache_ratio,
            ..
        } = *self
        else {
            return self.quota(0, 0);
        };
        let n = |x: i64| x.max(0) as f64;
        let cached_text = tokens.cached_text_in.clamp(0, tokens.text_in.max(0));
        let cached_audio = tokens.cached_audio_in.clamp(0, tokens.audio_in.max(0));
        let input = n(tokens.text_in - cached_text)
            + n(tokens.audio_in - cached_audio) * audio.input
            + n(cached_text + cached_audio) * cache_ratio;
        let output = n(tokens.text_out) * completion_ratio
            + n(tokens.audio_out) * audio.input * audio.completion;
        round_quota((input + output) * model_ratio * group_ratio)
    }
}

/// Prompt tokens a provider served from its cache (`read`) or wrote to it (`written`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cached {
    pub read: i64,
    pub written: i64,
}

/// The price list in force: built-in defaults overlaid with the `ModelRatio`,
/// `CompletionRatio`, `CacheRatio`, `CreateCacheRatio`, `ModelPrice`, `GroupRatio` and
/// `ModelMaxOutputTokens` options.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    model_ratio: HashMap<String, f64>,
    completion_ratio: HashMap<String, f64>,
    cache_ratio: HashMap<String, f64>,
    create_cache_ratio: HashMap<String, f64>,
    audio_ratio: HashMap<String, f64>,
    audio_completion_ratio: HashMap<String, f64>,
    model_price: HashMap<String, f64>,
    group_ratio: HashMap<String, f64>,
    max_output: HashMap<String, i64>,
}

fn parse_map(json: &str) -> HashMap<String, f64> {
    serde_json::from_str(json).unwrap_or_default()
}

/// The longest prefix of `model` in a built-in family table.
fn family<T>(
    table: &'static [(&'static str, T, T)],
    model: &str,
) -> Option<&'static (&'static str, T, T)> {
    table
        .iter()
        .filter(|(prefix, ..)| model.starts_with(prefix))
        .max_by_key(|(prefix, ..)| prefix.len())
}

impl PriceTable {
    /// The table of the options `get` returns (by option name; absent = none set).
    pub fn from_options<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        use crate::options as opt;
        let map = |key: &str| parse_map(get(key).unwrap_or("{}"));
        let mut t = PriceTable::default();
        for (model, ratio, completion) in DEFAULT_RATIOS {
            t.model_ratio.insert((*model).to_owned(), *ratio);
            t.completion_ratio.insert((*model).to_owned(), *completion);
        }
        for (model, usd) in DEFAULT_PRICES {
            t.model_price.insert((*model).to_owned(), *usd);
        }
        t.model_ratio.extend(map(opt::MODEL_RATIO));
        t.completion_ratio.extend(map(opt::COMPLETION_RATIO));
        t.cache_ratio = map(opt::CACHE_RATIO);
        t.create_cache_ratio = map(opt::CREATE_CACHE_RATIO);
        t.audio_ratio = map(opt::AUDIO_RATIO);
        t.audio_completion_ratio = map(opt::AUDIO_COMPLETION_RATIO);
        t.model_price.extend(map(opt::MODEL_PRICE));
        t.group_ratio = map(opt::GROUP_RATIO);
        t.max_output = map(opt::MODEL_MAX_OUTPUT)
            .into_iter()
            .map(|(m, v)| (m, v as i64))
            .collect();
        t
    }

    /// What a cached prompt token of `model` costs, read and written, as a share of an input
    /// token: the options', else the built-in family's, else full price.
    fn cache_ratios(&self, model: &str) -> (f64, f64) {
        let builtin = family(DEFAULT_CACHE_RATIOS, model).map_or((1.0, 1.0), |(_, r, w)| (*r, *w));
        (
            self.cache_ratio.get(model).copied().unwrap_or(builtin.0),
            self.create_cache_ratio
                .get(model)
                .copied()
                .unwrap_or(builtin.1),
        )
    }

    /// What audio costs for `model`: the options', else the built-in family's, else text
    /// prices.
    pub fn audio_ratios(&self, model: &str) -> AudioRatios {
        let builtin = family(DEFAULT_AUDIO_RATIOS, model).map_or((1.0, 1.0), |(_, i, c)| (*i, *c));
        AudioRatios {
            input: self.audio_ratio.get(model).copied().unwrap_or(builtin.0),
            completion: self
                .audio_completion_ratio
                .get(model)
                .copied()
                .unwrap_or(builtin.1),
        }
    }

    /// The most output tokens `model` can produce in one answer: the option's value, else the
    /// built-in family with the longest matching prefix, else [`FALLBACK_MAX_OUTPUT`].
    pub fn max_output(&self, model: &str) -> i64 {
        if let Some(v) = self.max_output.get(model) {
            return *v;
        }
        DEFAULT_MAX_OUTPUT
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(FALLBACK_MAX_OUTPUT, |(_, v)| *v)
    }

    /// The ratio of a group; an unknown group costs like `default` (1 when not set).
    pub fn group_ratio(&self, group: &str) -> f64 {
        self.group_ratio
            .get(group)
            .or_else(|| self.group_ratio.get("default"))
            .copied()
            .unwrap_or(1.0)
    }

    /// The price of `model` in `group`, or `None` when the model has no price.
    pub fn price(&self, model: &str, group: &str) -> Option<Price> {
        let group_ratio = self.group_ratio(group);
        if let Some(usd) = self.model_price.get(model) {
            return Some(Price::PerCall {
                usd: *usd,
                group_ratio,
            });
        }
        let model_ratio = *self.model_ratio.get(model)?;
        let (cache_ratio, create_cache_ratio) = self.cache_ratios(model);
        Some(Price::PerToken {
            model_ratio,
            completion_ratio: self.completion_ratio.get(model).copied().unwrap_or(1.0),
            group_ratio,
            cache_ratio,
            create_cache_ratio,
        })
    }

    /// The price of a model without one when self-use mode allows it: free.
    pub fn free() -> Price {
        Price::PerToken {
            model_ratio: 0.0,
            completion_ratio: 1.0,
            group_ratio: 1.0,
            cache_ratio: 1.0,
            create_cache_ratio: 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(options: &[(&str, &'static str)]) -> PriceTable {
        let options = options.to_vec();
        PriceTable::from_options(move |key| {
            options.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        })
    }

    fn table() -> PriceTable {
        use crate::options as opt;
        table_of(&[
            (opt::MODEL_RATIO, r#"{"my-model": 2, "gpt-4o": 1.5}"#),
            (opt::COMPLETION_RATIO, r#"{"my-model": 3}"#),
            (opt::MODEL_PRICE, r#"{"per-call": 0.1}"#),
            (opt::GROUP_RATIO, r#"{"default": 1, "vip": 0.5}"#),
            (opt::MODEL_MAX_OUTPUT, r#"{"my-model": 100}"#),
            (opt::CACHE_RATIO, r#"{"my-model": 0.5}"#),
        ])
    }

    #[test]
    fn cached_prompt_tokens_cost_their_ratios() {
        let t = table();
        let claude = t
            .price("claude-sonnet-4-20250514", "default")
            .unwrap_or_else(|| unreachable!());
        // 1000 prompt tokens of which 800 read from the cache and 100 written to it:
        // (100 + 800 * 0.1 + 100 * 1.25) * 1.5 = 457.5 -> 458; output 10 * 5 * 1.5 = 75.
        let cached = Cached {
            read: 800,
            written: 100,
        };
        assert_eq!(claude.quota_cached(1000, cached, 10), 458 + 75);
        assert_eq!(claude.quota_cached(1000, Cached::default(), 0), 1500);
        // The option wins over the family; an unknown family pays full price.
        let mine = t
            .price("my-model", "default")
            .unwrap_or_else(|| unreachable!());
        assert_eq!(
            mine.quota_cached(
                100,
                Cached {
                    read: 100,
                    written: 0
                },
                0
            ),
            100
        );
        let other = table_of(&[(crate::options::MODEL_RATIO, r#"{"x": 1}"#)]);
        let x = other
            .price("x", "default")
            .unwrap_or_else(|| unreachable!());
        assert_eq!(
            x.quota_cached(
                100,
                Cached {
                    read: 100,
                    written: 0
                },
                0
            ),
            100
        );
        // Cached counts past the prompt are clamped: never a negative input.
        assert_eq!(
            x.quota_cached(
                10,
                Cached {
                    read: 50,
                    written: 50
                },
                0
            ),
            10
        );
    }

    #[test]
    fn max_output_by_option_family_or_fallback() {
        let t = table();
        assert_eq!(t.max_output("my-model"), 100);
        assert_eq!(t.max_output("gpt-4o-2024-08-06"), 16_384);
        assert_eq!(t.max_output("gpt-4-0613"), 8_192);
        assert_eq!(t.max_output("gpt-4.1-mini"), 32_768);
        assert_eq!(t.max_output("claude-sonnet-4-20250514"), 64_000);
        assert_eq!(t.max_output("unknown"), FALLBACK_MAX_OUTPUT);
    }

    #[test]
    fn affordable_output_tokens() {
        let t = table();
        let p = t
            .price("my-model", "default")
            .unwrap_or_else(|| unreachable!());
        // 1000 quota, 100 prompt tokens cost 200; each output token costs 2 * 3 = 6.
        assert_eq!(p.affordable_output(1000, 100), Some(133));
        assert_eq!(p.affordable_output(100, 100), Some(0));
        let call = t
            .price("per-call", "default")
            .unwrap_or_else(|| unreachable!());
        assert_eq!(call.affordable_output(1000, 0), None);
    }

    #[test]
    fn ratios_follow_the_formula() {
        let t = table();
        let p = t
            .price("my-model", "default")
            .unwrap_or_else(|| unreachable!());
        // (100 + 10 * 3) * 2 * 1
        assert_eq!(p.quota(100, 10), 260);
        let vip = t.price("my-model", "vip").unwrap_or_else(|| unreachable!());
        assert_eq!(vip.quota(100, 10), 130);
        // Options override defaults; defaults fill the rest.
        assert_eq!(
            t.price("gpt-4o", "default").map(|p| p.quota(1000, 0)),
            Some(1500)
        );
        assert_eq!(
            t.price("gpt-4o-mini", "default")
                .map(|p| p.quota(1000, 1000)),
            Some(375)
        );
    }

    #[test]
    fn fixed_price_wins_and_rounds() {
        let t = table();
        assert_eq!(
            t.price("per-call", "default").map(|p| p.quota(999, 999)),
            Some(50_000)
        );
        assert_eq!(
            t.price("per-call", "vip").map(|p| p.quota(0, 0)),
            Some(25_000)
        );
        assert_eq!(
            t.price("dall-e-3", "default").map(|p| p.quota(0, 0)),
            Some(20_000)
        );
    }

    #[test]
    fn unknown_model_and_group() {
        let t = table();
        assert_eq!(t.price("nope", "default"), None);
        assert_eq!(t.group_ratio("unknown-group"), 1.0);
        assert_eq!(PriceTable::free().quota(1000, 1000), 0);
        // 1M tokens of a ratio-1 model = 2 USD = 1 000 000 quota.
        let one = table_of(&[(crate::options::MODEL_RATIO, r#"{"m":1}"#)]);
        assert_eq!(
            one.price("m", "default").map(|p| p.quota(1_000_000, 0)),
            Some(1_000_000)
        );
    }

    #[test]
    fn realtime_audio_is_priced_apart() {
        use crate::options as opt;
        let table = table_of(&[
            (opt::MODEL_RATIO, r#"{"gpt-realtime": 2, "voice-x": 1}"#),
            (
                opt::COMPLETION_RATIO,
                r#"{"gpt-realtime": 4, "voice-x": 2}"#,
            ),
            (opt::AUDIO_RATIO, r#"{"voice-x": 3}"#),
        ]);
        let tokens = Modal {
            text_in: 100,
            audio_in: 50,
            cached_text_in: 20,
            cached_audio_in: 10,
            text_out: 10,
            audio_out: 40,
        };
        // Built-in: audio in 8x, audio out 2x that, cached at 0.1.
        let price = table
            .price("gpt-realtime", "default")
            .unwrap_or(PriceTable::free());
        let audio = table.audio_ratios("gpt-realtime");
        assert_eq!(
            audio,
            AudioRatios {
                input: 8.0,
                completion: 2.0
            }
        );
        // (80 + 40 * 8 + 30 * 0.1 + 10 * 4 + 40 * 16) * 2 = 2166.
        assert_eq!(price.quota_modal(tokens, audio), 2166);
        // The option over text prices: (80 + 40 * 3 + 30 + 10 * 2 + 40 * 3) * 1 = 370.
        let price = table
            .price("voice-x", "default")
            .unwrap_or(PriceTable::free());
        assert_eq!(
            price.quota_modal(tokens, table.audio_ratios("voice-x")),
            370
        );
    }
}

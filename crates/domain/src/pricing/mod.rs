//! Prices and quota arithmetic (DECISIONS.md "Money"). A model ratio of 1 costs 2 USD per 1M
//! tokens: `quota = round((prompt + completion * completion_ratio) * model_ratio * group_ratio)`,
//! where prompt tokens the provider served from its cache count `cache_ratio` each and those it
//! wrote to its cache `create_cache_ratio` each. A fixed per-call price (USD) wins over ratios:
//! `quota = round(price * 500000 * group_ratio)`.

mod defaults;
pub mod fees;
mod table;

pub use defaults::FALLBACK_MAX_OUTPUT;
pub use fees::{ImageAsk, Tier, Tool, ToolCalls, image_output_tokens, searches_always};
pub use table::PriceTable;

use crate::quota::QUOTA_PER_USD;

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
pub(super) fn round_quota(x: f64) -> i64 {
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

    /// The quota of `count` calls of a per-call price, rounded once (for a per-token price:
    /// of no tokens).
    pub fn quota_times(&self, count: i64) -> i64 {
        match *self {
            Price::PerCall { usd, group_ratio } => {
                round_quota(usd * QUOTA_PER_USD as f64 * group_ratio * count.max(0) as f64)
            }
            Price::PerToken { .. } => self.quota(0, 0),
        }
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
                    (input + completion_tokens.max(0) as f64 * completion_ratio)
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

impl Price {
    /// This price with input tokens (and a per-call price) costing `input` times as much and
    /// output tokens `output` times as much: a service tier, a long-context premium.
    pub fn scaled(self, input: f64, output: f64) -> Price {
        match self {
            Price::PerToken {
                model_ratio,
                completion_ratio,
                group_ratio,
                cache_ratio,
                create_cache_ratio,
            } if input > 0.0 => Price::PerToken {
                model_ratio: model_ratio * input,
                completion_ratio: completion_ratio * output / input,
                group_ratio,
                cache_ratio,
                create_cache_ratio,
            },
            Price::PerToken { .. } => self.with_group_ratio(0.0),
            Price::PerCall { usd, group_ratio } => Price::PerCall {
                usd: usd * input,
                group_ratio,
            },
        }
    }

    fn with_group_ratio(self, ratio: f64) -> Price {
        match self {
            Price::PerToken {
                model_ratio,
                completion_ratio,
                cache_ratio,
                create_cache_ratio,
                ..
            } => Price::PerToken {
                model_ratio,
                completion_ratio,
                group_ratio: ratio,
                cache_ratio,
                create_cache_ratio,
            },
            Price::PerCall { usd, .. } => Price::PerCall {
                usd,
                group_ratio: ratio,
            },
        }
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

/// Media parts a request names by reference (a file URI, a URL, a file id), by kind: their
/// bytes do not show their length, so each is reserved at its kind's worst case
/// ([`PriceTable::media_tokens`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaRefs {
    pub video: i64,
    pub audio: i64,
    pub document: i64,
    /// A stored conversation a Responses call continues (`previous_response_id`,
    /// `conversation`) or a stored prompt it runs (`prompt`): the upstream bills its tokens.
    pub context: i64,
}

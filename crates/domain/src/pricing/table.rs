//! The price list in force: built-in defaults overlaid with the options.

use super::defaults::*;
use super::{AudioRatios, MediaRefs, Price};
use std::collections::HashMap;

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
    media_tokens: HashMap<String, i64>,
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
        // A value stored before token counts were checked (0.5, 0) is no limit: the built-in
        // one stands.
        let counts = |key: &str, min: f64| -> HashMap<String, i64> {
            map(key)
                .into_iter()
                .filter(|(_, v)| *v >= min && v.fract() == 0.0)
                .map(|(k, v)| (k, v as i64))
                .collect()
        };
        t.max_output = counts(opt::MODEL_MAX_OUTPUT, 1.0);
        t.media_tokens = counts(opt::MEDIA_REFERENCE_TOKENS, 0.0);
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

    /// The prompt tokens reserved for media named by reference: each part at its kind's worst
    /// case (the option's, else the built-in one).
    pub fn media_tokens(&self, refs: MediaRefs) -> i64 {
        let worst = |kind: &str| {
            self.media_tokens.get(kind).copied().unwrap_or_else(|| {
                DEFAULT_MEDIA_TOKENS
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map_or(0, |(_, v)| *v)
            })
        };
        [
            (refs.video, "video"),
            (refs.audio, "audio"),
            (refs.document, "document"),
        ]
        .into_iter()
        .fold(0_i64, |sum, (n, kind)| {
            sum.saturating_add(n.max(0).saturating_mul(worst(kind)))
        })
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{Cached, FALLBACK_MAX_OUTPUT, Modal};

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
        // The families the providers published since: not the fallback.
        for (model, most) in [
            ("gpt-5", 128_000),
            ("gpt-5-mini-2025-08-07", 128_000),
            ("gpt-5.1-codex", 128_000),
            ("gpt-5-chat-latest", 16_384),
            ("gemini-3-pro-preview", 65_536),
            ("gemini-2.5-flash-lite", 65_536),
            ("claude-sonnet-4-5-20250929", 64_000),
            ("claude-opus-4-1-20250805", 32_000),
            ("claude-opus-4-5-20251101", 64_000),
            ("claude-haiku-4-5-20251001", 64_000),
            ("gpt-oss-120b", 131_072),
            ("deepseek-reasoner", 64_000),
        ] {
            assert_eq!(t.max_output(model), most, "{model}");
        }
        // A stored value that is no whole positive count leaves the built-in limit.
        let odd = table_of(&[(
            crate::options::MODEL_MAX_OUTPUT,
            r#"{"gpt-4o": 0.5, "gpt-4.1": 0}"#,
        )]);
        assert_eq!(odd.max_output("gpt-4o"), 16_384);
        assert_eq!(odd.max_output("gpt-4.1"), 32_768);
    }

    #[test]
    fn media_by_reference_reserves_its_worst_case() {
        let refs = MediaRefs {
            video: 2,
            audio: 1,
            document: 1,
        };
        assert_eq!(table().media_tokens(refs), 2_000_000 + 1_000_000 + 300_000);
        let set = table_of(&[(
            crate::options::MEDIA_REFERENCE_TOKENS,
            r#"{"video": 5000, "document": 0}"#,
        )]);
        assert_eq!(set.media_tokens(refs), 10_000 + 1_000_000);
        assert_eq!(set.media_tokens(MediaRefs::default()), 0);
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

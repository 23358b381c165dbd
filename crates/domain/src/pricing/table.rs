//! The price list in force: built-in defaults overlaid with the options.

use super::defaults::*;
use super::fees::{ImageAsk, ToolCalls, default_image_usd};
use super::{AudioRatios, MediaRefs, Price, round_quota};
use crate::quota::QUOTA_PER_USD;
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
    tool_usd: HashMap<String, f64>,
    tier_ratio: HashMap<String, f64>,
    long_context: HashMap<String, (i64, f64, f64)>,
    image_price: HashMap<String, f64>,
    image_ratio: HashMap<String, f64>,
    image_output_ratio: HashMap<String, f64>,
    minute_price: HashMap<String, f64>,
    create_cache_ratio_1h: HashMap<String, f64>,
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
        t.tool_usd = map(opt::TOOL_CALL_PRICE);
        t.tier_ratio = map(opt::SERVICE_TIER_RATIO);
        t.long_context = get(opt::LONG_CONTEXT_PRICING)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default();
        t.image_price = map(opt::IMAGE_PRICE);
        t.image_ratio = map(opt::IMAGE_RATIO);
        t.image_output_ratio = map(opt::IMAGE_OUTPUT_RATIO);
        t.minute_price = DEFAULT_MINUTE_PRICES
            .iter()
            .map(|(m, usd)| ((*m).to_owned(), *usd))
            .collect();
        t.minute_price.extend(map(opt::AUDIO_MINUTE_PRICE));
        t.create_cache_ratio_1h = map(opt::CREATE_CACHE_RATIO_1H);
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
            (refs.context, "context"),
        ]
        .into_iter()
        .fold(0_i64, |sum, (n, kind)| {
            sum.saturating_add(n.max(0).saturating_mul(worst(kind)))
        })
    }

    /// The quota of these server-side tool calls at `price`'s group ratio (a free model's
    /// calls stay free).
    pub fn tool_fees(&self, price: &Price, calls: ToolCalls) -> i64 {
        let group_ratio = match *price {
            Price::PerToken {
                group_ratio,
                model_ratio,
                ..
            } if model_ratio > 0.0 => group_ratio,
            Price::PerCall { group_ratio, .. } => group_ratio,
            Price::PerToken { .. } => 0.0,
        };
        let usd: f64 = calls
            .iter()
            .map(|(tool, n)| {
                let each = self
                    .tool_usd
                    .get(tool.key())
                    .copied()
                    .unwrap_or_else(|| tool.default_usd());
                n as f64 * each
            })
            .sum();
        round_quota(usd * QUOTA_PER_USD as f64 * group_ratio)
    }

    /// What a call of `model` in service tier `tier` costs against the standard tier: the
    /// option's (`model:tier`, then `tier`), else the built-in ratio.
    pub fn tier_ratio(&self, model: &str, tier: &str) -> f64 {
        if let Some(r) = self
            .tier_ratio
            .get(&format!("{model}:{tier}"))
            .or_else(|| self.tier_ratio.get(tier))
        {
            return *r;
        }
        match tier {
            "flex" => 0.5,
            "priority" => PRIORITY_RATIOS
                .iter()
                .filter(|(prefix, _)| model.starts_with(prefix))
                .max_by_key(|(prefix, _)| prefix.len())
                .map_or(2.0, |(_, r)| *r),
            _ => 1.0,
        }
    }

    /// The long-context premium of `model`: `(threshold, input ratio, output ratio)`.
    pub fn long_context(&self, model: &str) -> Option<(i64, f64, f64)> {
        let option = self
            .long_context
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, v)| *v);
        option.or_else(|| {
            LONG_CONTEXT
                .iter()
                .filter(|(prefix, ..)| model.starts_with(prefix))
                .max_by_key(|(prefix, ..)| prefix.len())
                .map(|(_, t, i, o)| (*t, *i, *o))
        })
    }

    /// The price of one image of `model` as `ask` describes it, when the model is priced per
    /// image: `ModelPrice` (one price for every image), else the `ImagePrice` option's or the
    /// built-in price of its quality and size (the model's dearest for one not listed).
    pub fn image_price(&self, model: &str, ask: &ImageAsk, group: &str) -> Option<Price> {
        let group_ratio = self.group_ratio(group);
        let key = ask.key(model);
        let usd = self.model_price.get(model).copied().or_else(|| {
            self.image_price.get(&key).copied().or_else(|| {
                let prefix = format!("{model} ");
                let options = self
                    .image_price
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix));
                default_image_usd(model, &key)
                    .or_else(|| options.map(|(_, v)| *v).max_by(f64::total_cmp))
            })
        })?;
        Some(Price::PerCall { usd, group_ratio })
    }

    /// The price of one second of audio heard by `model`, when it is priced by the minute
    /// (and not per call by `ModelPrice`).
    pub fn second_price(&self, model: &str, group: &str) -> Option<Price> {
        if self.model_price.contains_key(model) {
            return None;
        }
        let usd = self.minute_price.get(model)?;
        Some(Price::PerCall {
            usd: usd / 60.0,
            group_ratio: self.group_ratio(group),
        })
    }

    /// What a prompt token written to the cache for an hour costs for `model`, as a share of
    /// an input token: the option's, else the built-in family's, else the five-minute write's.
    pub fn create_cache_ratio_1h(&self, model: &str) -> Option<f64> {
        self.create_cache_ratio_1h.get(model).copied().or_else(|| {
            LONG_CACHE_WRITE_RATIOS
                .iter()
                .filter(|(prefix, _)| model.starts_with(prefix))
                .max_by_key(|(prefix, _)| prefix.len())
                .map(|(_, r)| *r)
        })
    }

    /// Image tokens of `model`, input and output, as shares of a text input token.
    pub fn image_ratios(&self, model: &str) -> (f64, f64) {
        let builtin = family(DEFAULT_IMAGE_RATIOS, model).map_or((1.0, 1.0), |(_, i, o)| (*i, *o));
        (
            self.image_ratio.get(model).copied().unwrap_or(builtin.0),
            self.image_output_ratio
                .get(model)
                .copied()
                .unwrap_or(builtin.1),
        )
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
#[path = "table_tests.rs"]
mod tests;

//! What one answer costs: its tokens at the model's price, in the tier the upstream ran it in,
//! with the long-context premium past its threshold, image tokens at their own ratios, and the
//! server-side tools it called (those the answer cannot show are priced from the request).

use crate::stream::sse::Usage;
use domain::pricing::{Price, PriceTable, Tier, ToolCalls};
use std::sync::Arc;

/// What a call's price needs beyond its model's ratios, fixed when it is reserved.
#[derive(Clone, Default)]
pub(crate) struct Fees {
    pub table: Arc<PriceTable>,
    /// The tier the request asked for (the answer's own report wins).
    pub tier: Tier,
    /// Tool calls the request makes whatever the answer shows (chat `web_search_options`,
    /// Anthropic's code execution), when it goes to its own family untouched.
    pub requested: ToolCalls,
    /// The tools the request names (which web search tool a search was made with).
    pub named: ToolCalls,
    /// Output tokens billed for a whole answer that reports no usage (a gpt-image answer:
    /// the tokens of the images asked for).
    pub unreported_output: i64,
    /// Priced per second of audio: `count` is the seconds reserved for.
    pub per_second: bool,
    /// What the prompt's media cost beyond its text (images, media by reference), billed with
    /// the locally counted text when the answer reports no usage (a stream cut short).
    pub media_prompt: i64,
}

/// The quota of an answer and the words of its log line.
pub(crate) struct Cost {
    pub quota: i64,
    pub notes: Vec<String>,
}

impl Fees {
    /// The price `price` of `model` becomes in `tier` for a prompt of `prompt_tokens`: the
    /// tier's, and past the long-context threshold, the premium's.
    pub fn effective(
        &self,
        price: Price,
        model: &str,
        tier: Tier,
        prompt_tokens: i64,
        notes: &mut Vec<String>,
    ) -> Price {
        let mut price = price;
        if tier != Tier::Standard {
            let ratio = self.table.tier_ratio(model, tier.as_str());
            price = price.scaled(ratio, ratio);
            notes.push(format!("服务层级 {}（倍率 {ratio}）", tier.as_str()));
        }
        if let Some((threshold, input, output)) = self.table.long_context(model)
            && prompt_tokens > threshold
        {
            price = price.scaled(input, output);
            notes.push(format!("长上下文（输入倍率 {input}，输出倍率 {output}）"));
        }
        price
    }

    /// The tier a reservation is held in: the priority tier when asked for (it may cost
    /// more); never a cheaper one on the request's word, which an upstream may ignore.
    pub fn reserved_tier(&self) -> Tier {
        match self.tier {
            Tier::Priority => Tier::Priority,
            _ => Tier::Standard,
        }
    }

    /// The quota of `usage` at `price`, `count` times for a per-call price.
    pub fn cost(&self, price: Price, model: &str, usage: &Usage, count: i64) -> Cost {
        let mut notes = Vec::new();
        // The tier the answer reports: the request's word is no discount.
        let tier = usage.tier.unwrap_or_default();
        let price = self.effective(price, model, tier, usage.prompt_tokens, &mut notes);
        let (image_in_ratio, image_out_ratio) = self.table.image_ratios(model);
        let audio = self.table.audio_ratios(model);
        let image_in = usage.image_in.clamp(0, usage.prompt_tokens.max(0));
        let image_out = usage.image_out.clamp(0, usage.completion_tokens.max(0));
        let audio_in = usage
            .audio_in
            .clamp(0, usage.prompt_tokens.max(0) - image_in);
        let audio_out = usage
            .audio_out
            .clamp(0, usage.completion_tokens.max(0) - image_out);
        let tokens = match price {
            Price::PerCall { .. } => {
                // Audio priced by the second: the length the upstream reports, else the one
                // reserved for.
                let count = match usage.seconds {
                    Some(s) if self.per_second => s,
                    _ => count,
                };
                price.quota_times(count)
            }
            Price::PerToken { .. } => {
                let text = price.quota_cached(
                    usage.prompt_tokens - image_in - audio_in,
                    usage.cached,
                    usage.completion_tokens - image_out - audio_out,
                );
                // Image tokens: input at the image ratio, output at the image output ratio
                // (both shares of a text input token).
                let images = price
                    .scaled(image_in_ratio, 1.0)
                    .quota(image_in, 0)
                    .saturating_add(price.scaled(image_out_ratio, 1.0).quota(image_out, 0))
                    .saturating_add(price.scaled(audio.input, 1.0).quota(audio_in, 0))
                    .saturating_add(
                        price
                            .scaled(audio.input * audio.completion, 1.0)
                            .quota(audio_out, 0),
                    );
                // Anthropic's one-hour cache writes: the dearer write's price for those.
                let long_writes = match (price, self.table.create_cache_ratio_1h(model)) {
                    (
                        Price::PerToken {
                            create_cache_ratio, ..
                        },
                        Some(long),
                    ) if long > create_cache_ratio && usage.cache_written_1h > 0 => price
                        .scaled(long - create_cache_ratio, 1.0)
                        .quota(usage.cache_written_1h.min(usage.cached.written), 0),
                    _ => 0,
                };
                if long_writes > 0 {
                    notes.push(format!("一小时缓存写入 {} tokens", usage.cache_written_1h));
                }
                if image_in + image_out > 0 {
                    notes.push(format!("图像 tokens 输入 {image_in}，输出 {image_out}"));
                }
                text.saturating_add(images).saturating_add(long_writes)
            }
        };
        let tools = usage
            .tools
            .max(self.requested)
            .billed_for(model, self.named);
        let fees = self.table.tool_fees(&price, tools);
        for (tool, n) in tools.iter() {
            notes.push(format!("{} {n} 次", tool.key()));
        }
        Cost {
            quota: tokens.saturating_add(fees),
            notes,
        }
    }

    /// The reservation of a call: `prompt` and `output` tokens at the asked tier (and past
    /// the long-context threshold, the premium), `count` times for a per-call price, and
    /// `tools` calls.
    pub fn worst(
        &self,
        price: Price,
        model: &str,
        prompt: i64,
        output: i64,
        count: i64,
        tools: ToolCalls,
    ) -> i64 {
        let tier = self.reserved_tier();
        let price = self.effective(price, model, tier, prompt, &mut Vec::new());
        let calls = match price {
            Price::PerCall { .. } => price.quota_times(count),
            Price::PerToken { .. } => {
                // Output that may be images or audio: at the dearest of their ratios.
                let (_, image_out) = self.table.image_ratios(model);
                let audio = self.table.audio_ratios(model);
                let input = price.quota(prompt, 0);
                [image_out, audio.input * audio.completion]
                    .into_iter()
                    .filter(|r| *r > 1.0)
                    .map(|r| input.saturating_add(price.scaled(r, 1.0).quota(output, 0)))
                    .fold(price.quota(prompt, output), i64::max)
            }
        };
        calls.saturating_add(self.table.tool_fees(
            &price,
            tools.max(self.requested).billed_for(model, self.named),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::sse::usage_of;

    fn fees(options: &'static [(&'static str, &'static str)]) -> Fees {
        let table = PriceTable::from_options(|key| {
            options.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        });
        Fees {
            table: Arc::new(table),
            ..Fees::default()
        }
    }

    #[test]
    fn one_hour_cache_writes_cost_twice_an_input_token() {
        let fees = fees(&[("ModelRatio", r#"{"claude-x": 1}"#)]);
        let price = fees
            .table
            .price("claude-x", "default")
            .unwrap_or_else(|| unreachable!());
        let five = usage_of(
            br#"{"usage":{"input_tokens":0,"cache_creation_input_tokens":1000,"output_tokens":0}}"#,
        )
        .unwrap_or_default();
        let hour = usage_of(br#"{"usage":{"input_tokens":0,"cache_creation_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":1000},"output_tokens":0}}"#)
            .unwrap_or_default();
        assert_eq!(hour.cache_written_1h, 1000);
        assert_eq!(fees.cost(price, "claude-x", &five, 1).quota, 1250);
        assert_eq!(fees.cost(price, "claude-x", &hour, 1).quota, 2000);
        // A hostile report of more one-hour tokens than were written costs no more.
        let lie = usage_of(br#"{"usage":{"input_tokens":0,"cache_creation_input_tokens":10,"cache_creation":{"ephemeral_1h_input_tokens":100000}}}"#)
            .unwrap_or_default();
        // (10 x 2 = 20, give or take the rounding of each part.)
        let charged = fees.cost(price, "claude-x", &lie, 1).quota;
        assert!((20..=21).contains(&charged), "{charged}");
    }

    #[test]
    fn image_and_audio_tokens_cost_their_ratios() {
        let fees = fees(&[
            (
                "ModelRatio",
                r#"{"gemini-2.5-flash-image": 0.15, "gpt-4o-audio-preview": 1.25}"#,
            ),
            (
                "CompletionRatio",
                r#"{"gemini-2.5-flash-image": 8.33, "gpt-4o-audio-preview": 4}"#,
            ),
        ]);
        let gemini = fees
            .table
            .price("gemini-2.5-flash-image", "default")
            .unwrap_or_else(|| unreachable!());
        // One image of 1 290 tokens at 100x an input token (0.3 USD per 1M in, 30 out).
        let image = usage_of(br#"{"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1290,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1290}]}}"#)
            .unwrap_or_default();
        assert_eq!(image.image_out, 1290);
        let quota = fees.cost(gemini, "gemini-2.5-flash-image", &image, 1).quota;
        // (10 + 1 290 x 100) x 0.15 = 19 351.5.
        assert!((19_351..=19_352).contains(&quota), "{quota}");
        let audio = fees
            .table
            .price("gpt-4o-audio-preview", "default")
            .unwrap_or_else(|| unreachable!());
        let spoken = usage_of(br#"{"usage":{"prompt_tokens":100,"completion_tokens":50,"prompt_tokens_details":{"audio_tokens":100},"completion_tokens_details":{"audio_tokens":50}}}"#)
            .unwrap_or_default();
        // Audio in at 16x, out at 32x a text input token: (100 x 16 + 50 x 32) x 1.25 = 4 000.
        assert_eq!(
            fees.cost(audio, "gpt-4o-audio-preview", &spoken, 1).quota,
            4_000
        );
    }
}

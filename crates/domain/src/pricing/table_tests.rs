//! Tests of the price table.

use super::*;
use crate::pricing::{Cached, FALLBACK_MAX_OUTPUT, Modal};

fn table_of(options: &[(&str, &'static str)]) -> PriceTable {
    let options = options.to_vec();
    PriceTable::from_options(move |key| options.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
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
fn audio_by_the_second() {
    let t = table();
    let whisper = t.second_price("whisper-1", "default");
    // 0.006 USD a minute: 90 seconds are 0.009 USD.
    assert_eq!(whisper.map(|p| p.quota_times(90)), Some(4_500));
    let odd = table_of(&[(
        crate::options::AUDIO_MINUTE_PRICE,
        r#"{"whisper-1": 0.007}"#,
    )]);
    // 0.007 / 60 * 500 000 = 58.33 a second: rounded once, over the whole call.
    assert_eq!(
        odd.second_price("whisper-1", "default")
            .map(|p| p.quota_times(60)),
        Some(3_500)
    );
    let flat = table_of(&[(crate::options::MODEL_PRICE, r#"{"whisper-1": 0.01}"#)]);
    assert_eq!(flat.second_price("whisper-1", "default"), None);
    assert_eq!(t.second_price("gpt-4o-transcribe", "default"), None);
}

#[test]
fn fees_beyond_tokens() {
    use crate::pricing::fees::Tool;
    let t = table();
    let gpt = t
        .price("gpt-4o", "default")
        .unwrap_or_else(|| unreachable!());
    let mut calls = ToolCalls::default();
    calls.add(Tool::WebSearch, 3);
    calls.add(Tool::CodeInterpreter, 1);
    // (3 * 0.01 + 0.03) USD * 500 000.
    assert_eq!(t.tool_fees(&gpt, calls), 30_000);
    assert_eq!(
        t.tool_fees(&PriceTable::free(), calls),
        0,
        "free stays free"
    );
    let off = table_of(&[
        (crate::options::TOOL_CALL_PRICE, r#"{"web_search": 0}"#),
        (crate::options::MODEL_RATIO, r#"{"gpt-4o": 1}"#),
    ]);
    assert_eq!(off.tool_fees(&gpt, calls), 15_000);
    assert_eq!(t.tier_ratio("gpt-5-mini-2025-08-07", "priority"), 1.8);
    assert_eq!(t.tier_ratio("gpt-4.1", "flex"), 0.5);
    assert_eq!(t.tier_ratio("unknown", "priority"), 2.0);
    assert_eq!(t.tier_ratio("gpt-4o", "default"), 1.0);
    let tiers = table_of(&[(
        crate::options::SERVICE_TIER_RATIO,
        r#"{"priority": 3, "gpt-4o:flex": 0.4}"#,
    )]);
    assert_eq!(tiers.tier_ratio("gpt-5", "priority"), 3.0);
    assert_eq!(tiers.tier_ratio("gpt-4o", "flex"), 0.4);
    assert_eq!(
        t.long_context("claude-sonnet-4-5-20250929"),
        Some((200_000, 2.0, 1.5))
    );
    assert_eq!(t.long_context("claude-opus-4-1"), None);
    let off = table_of(&[(
        crate::options::LONG_CONTEXT_PRICING,
        r#"{"claude-sonnet-4-5": [200000, 1, 1]}"#,
    )]);
    assert_eq!(
        off.long_context("claude-sonnet-4-5"),
        Some((200_000, 1.0, 1.0))
    );
    assert_eq!(t.image_ratios("gpt-image-1"), (2.0, 8.0));
    assert_eq!(
        t.image_ratios("gemini-2.5-flash-image-preview"),
        (1.0, 100.0)
    );
}

#[test]
fn media_by_reference_reserves_its_worst_case() {
    let refs = MediaRefs {
        video: 2,
        audio: 1,
        document: 1,
        context: 0,
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
    let hd = ImageAsk {
        quality: Some("hd".into()),
        size: Some("1792x1024".into()),
    };
    assert_eq!(
        t.image_price("dall-e-3", &ImageAsk::default(), "default")
            .map(|p| p.quota(0, 0)),
        Some(20_000)
    );
    assert_eq!(
        t.image_price("dall-e-3", &hd, "default")
            .map(|p| p.quota(0, 0)),
        Some(60_000)
    );
    assert_eq!(t.image_price("gpt-image-1", &hd, "default"), None);
    // The option sets one image's price; ModelPrice sets every image's.
    let set = table_of(&[(
        crate::options::IMAGE_PRICE,
        r#"{"dall-e-3 hd 1792x1024": 0.2, "my-img standard 1024x1024": 0.5}"#,
    )]);
    assert_eq!(
        set.image_price("dall-e-3", &hd, "default")
            .map(|p| p.quota(0, 0)),
        Some(100_000)
    );
    assert_eq!(
        set.image_price("my-img", &hd, "default")
            .map(|p| p.quota(0, 0)),
        Some(250_000),
        "an unlisted size of an operator's model: its dearest"
    );
    let flat = table_of(&[(crate::options::MODEL_PRICE, r#"{"dall-e-3": 0.3}"#)]);
    assert_eq!(
        flat.image_price("dall-e-3", &hd, "default")
            .map(|p| p.quota(0, 0)),
        Some(150_000)
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

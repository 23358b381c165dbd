//! Known run-time options: their new-api names, defaults, value kinds and the seed's
//! snake_case aliases. Unknown keys are stored as given (admin front ends built for new-api send
//! many), but a known key's value must have its kind.

use crate::ValidationError;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    Bool,
    /// An integer in `0..=max`.
    Int {
        max: u64,
    },
    /// A JSON object whose values are numbers in `0..=max` (model and group ratios, prices).
    RatioMap {
        max: f64,
    },
    /// A JSON object whose values are `[threshold, input ratio, output ratio]`: a whole number
    /// of tokens and two ratios up to 100 (long-context premiums).
    ThresholdMap,
    /// A JSON object whose values are whole numbers in `min..=max` (token counts).
    CountMap {
        min: u64,
        max: u64,
    },
    /// A JSON object whose values are `[requests, successful requests]`, whole numbers in
    /// `0..=max` (per-group request limits).
    LimitPairs {
        max: u64,
    },
}

/// The largest quota an option may hold (`quota::MAX_QUOTA`).
const QUOTA: Kind = Kind::Int {
    max: crate::quota::MAX_QUOTA as u64,
};
/// Ratios and per-call prices (USD) are at most 10 000: far above any real model, far below
/// what overflows quota arithmetic.
const RATIOS: Kind = Kind::RatioMap { max: 10_000.0 };

pub struct OptionDef {
    pub key: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// The seed's snake_case name, accepted by `PUT /api/option` and shown by `GET`.
    pub alias: Option<&'static str>,
}

const fn def(
    key: &'static str,
    default: &'static str,
    kind: Kind,
    alias: Option<&'static str>,
) -> OptionDef {
    OptionDef {
        key,
        default,
        kind,
        alias,
    }
}

pub const SYSTEM_NAME: &str = "SystemName";
pub const NOTICE: &str = "Notice";
pub const ABOUT: &str = "About";
pub const HOME_PAGE_CONTENT: &str = "HomePageContent";
pub const FOOTER: &str = "Footer";
pub const LOGO: &str = "Logo";
pub const TOP_UP_LINK: &str = "TopUpLink";
pub const CHAT_LINK: &str = "ChatLink";
pub const RETRY_TIMES: &str = "RetryTimes";
/// Days logs are kept (0: for ever); older ones are deleted in bounded batches, hourly.
pub const LOG_RETENTION_DAYS: &str = "LogRetentionDays";
pub const MODEL_RATIO: &str = "ModelRatio";
pub const COMPLETION_RATIO: &str = "CompletionRatio";
/// Per model: what a prompt token read from the provider's cache costs, as a share of an
/// input token (new-api's name).
pub const CACHE_RATIO: &str = "CacheRatio";
/// Per model: what a prompt token written to the provider's cache costs, as a share of an
/// input token.
pub const CREATE_CACHE_RATIO: &str = "CreateCacheRatio";
/// Per model: what a prompt token written to the provider's cache for an hour costs, as a
/// share of an input token (Anthropic's one-hour cache: 2).
pub const CREATE_CACHE_RATIO_1H: &str = "CreateCacheRatio1h";
/// Per model: what an audio input token costs, as a share of a text input token (new-api's
/// name; realtime sessions).
pub const AUDIO_RATIO: &str = "AudioRatio";
/// Per model: what an audio output token costs, as a share of an audio input token.
pub const AUDIO_COMPLETION_RATIO: &str = "AudioCompletionRatio";
pub const MODEL_PRICE: &str = "ModelPrice";
pub const GROUP_RATIO: &str = "GroupRatio";
pub const QUOTA_FOR_NEW_USER: &str = "QuotaForNewUser";
pub const QUOTA_FOR_INVITER: &str = "QuotaForInviter";
pub const QUOTA_FOR_INVITEE: &str = "QuotaForInvitee";
pub const REGISTER_ENABLED: &str = "RegisterEnabled";
pub const PASSWORD_LOGIN_ENABLED: &str = "PasswordLoginEnabled";
pub const AUTOMATIC_DISABLE_CHANNEL_ENABLED: &str = "AutomaticDisableChannelEnabled";
pub const AUTOMATIC_ENABLE_CHANNEL_ENABLED: &str = "AutomaticEnableChannelEnabled";
pub const SELF_USE_MODE_ENABLED: &str = "SelfUseModeEnabled";
/// How many key-revoking upstream failures within the window disable a channel (default 1).
pub const AUTOMATIC_DISABLE_CHANNEL_THRESHOLD: &str = "AutomaticDisableChannelThreshold";
/// The window, in seconds, in which those failures are counted.
pub const AUTOMATIC_DISABLE_CHANNEL_WINDOW: &str = "AutomaticDisableChannelWindowSeconds";
/// Per-model maximum output tokens (JSON object), over the built-in table; reserved for a call
/// that names no `max_tokens`.
pub const MODEL_MAX_OUTPUT: &str = "ModelMaxOutputTokens";
/// The prompt tokens reserved for one media part named by reference, by kind (`video`,
/// `audio`, `document`; JSON object), over the built-in worst cases.
pub const MEDIA_REFERENCE_TOKENS: &str = "MediaReferenceTokens";
/// USD per call of each server-side tool (`web_search`, `file_search`, `code_interpreter`,
/// ...; JSON object), over the built-in prices; 0 makes a tool's calls free.
pub const TOOL_CALL_PRICE: &str = "ToolCallPrice";
/// A service tier's price against the standard tier's (JSON object keyed by tier, or by
/// `model:tier`), over the built-in ratios.
pub const SERVICE_TIER_RATIO: &str = "ServiceTierRatio";
/// Per model family: `[threshold, input ratio, output ratio]`, the premium past a prompt of
/// `threshold` tokens (JSON object), over the built-in ones; ratios of 1 disable one.
pub const LONG_CONTEXT_PRICING: &str = "LongContextPricing";
/// Per model: USD per minute of audio heard (billed by the second), over the built-in list.
pub const AUDIO_MINUTE_PRICE: &str = "AudioMinutePrice";
/// USD per image keyed `"model quality size"` (JSON object), over the built-in list.
pub const IMAGE_PRICE: &str = "ImagePrice";
/// Per model: an image input token as a share of a text input token.
pub const IMAGE_RATIO: &str = "ImageRatio";
/// Per model: an image output token as a share of a text input token.
pub const IMAGE_OUTPUT_RATIO: &str = "ImageOutputRatio";
pub const DISPLAY_IN_CURRENCY_ENABLED: &str = "DisplayInCurrencyEnabled";
/// Per-user model request limits (new-api's names): on or off.
pub const MODEL_REQUEST_RATE_LIMIT_ENABLED: &str = "ModelRequestRateLimitEnabled";
/// Relay requests a user may start in each period (0 = no limit).
pub const MODEL_REQUEST_RATE_LIMIT_COUNT: &str = "ModelRequestRateLimitCount";
/// Successful relay requests a user may make in each period (0 = no limit).
pub const MODEL_REQUEST_RATE_LIMIT_SUCCESS_COUNT: &str = "ModelRequestRateLimitSuccessCount";
/// The period of those limits, in minutes.
pub const MODEL_REQUEST_RATE_LIMIT_DURATION_MINUTES: &str = "ModelRequestRateLimitDurationMinutes";
/// Per group, `[requests, successful requests]` in place of the two counts (JSON object).
pub const MODEL_REQUEST_RATE_LIMIT_GROUP: &str = "ModelRequestRateLimitGroup";
/// The session signing secret; generated once and kept in the options table, never shown.
pub const SESSION_SECRET: &str = "SessionSecret";

pub const DEFS: &[OptionDef] = &[
    def(SYSTEM_NAME, "New API", Kind::Text, Some("system_name")),
    def(NOTICE, "", Kind::Text, Some("notice")),
    def(ABOUT, "", Kind::Text, Some("about")),
    def(HOME_PAGE_CONTENT, "", Kind::Text, Some("home_page_content")),
    def(FOOTER, "", Kind::Text, Some("footer")),
    def(LOGO, "", Kind::Text, Some("logo")),
    def(TOP_UP_LINK, "", Kind::Text, Some("top_up_link")),
    def(CHAT_LINK, "", Kind::Text, Some("chat_link")),
    def(RETRY_TIMES, "0", Kind::Int { max: 10 }, None),
    def(LOG_RETENTION_DAYS, "0", Kind::Int { max: 36_500 }, None),
    def(MODEL_RATIO, "{}", RATIOS, None),
    def(COMPLETION_RATIO, "{}", RATIOS, None),
    def(CACHE_RATIO, "{}", RATIOS, None),
    def(CREATE_CACHE_RATIO, "{}", RATIOS, None),
    def(CREATE_CACHE_RATIO_1H, "{}", RATIOS, None),
    def(AUDIO_RATIO, "{}", RATIOS, None),
    def(AUDIO_COMPLETION_RATIO, "{}", RATIOS, None),
    def(MODEL_PRICE, "{}", RATIOS, None),
    def(
        GROUP_RATIO,
        r#"{"default":1,"vip":1,"svip":1}"#,
        RATIOS,
        None,
    ),
    def(
        MODEL_MAX_OUTPUT,
        "{}",
        Kind::CountMap {
            min: 1,
            max: 10_000_000,
        },
        None,
    ),
    def(
        MEDIA_REFERENCE_TOKENS,
        "{}",
        Kind::CountMap {
            min: 0,
            max: 100_000_000,
        },
        None,
    ),
    def(TOOL_CALL_PRICE, "{}", RATIOS, None),
    def(SERVICE_TIER_RATIO, "{}", RATIOS, None),
    def(LONG_CONTEXT_PRICING, "{}", Kind::ThresholdMap, None),
    def(IMAGE_PRICE, "{}", RATIOS, None),
    def(AUDIO_MINUTE_PRICE, "{}", RATIOS, None),
    def(IMAGE_RATIO, "{}", RATIOS, None),
    def(IMAGE_OUTPUT_RATIO, "{}", RATIOS, None),
    def(QUOTA_FOR_NEW_USER, "0", QUOTA, None),
    def(QUOTA_FOR_INVITER, "0", QUOTA, None),
    def(QUOTA_FOR_INVITEE, "0", QUOTA, None),
    def(
        AUTOMATIC_DISABLE_CHANNEL_THRESHOLD,
        "1",
        Kind::Int { max: 1000 },
        None,
    ),
    def(
        AUTOMATIC_DISABLE_CHANNEL_WINDOW,
        "60",
        Kind::Int { max: 86_400 },
        None,
    ),
    def(REGISTER_ENABLED, "true", Kind::Bool, None),
    def(PASSWORD_LOGIN_ENABLED, "true", Kind::Bool, None),
    def(AUTOMATIC_DISABLE_CHANNEL_ENABLED, "false", Kind::Bool, None),
    def(AUTOMATIC_ENABLE_CHANNEL_ENABLED, "false", Kind::Bool, None),
    def(SELF_USE_MODE_ENABLED, "false", Kind::Bool, None),
    def(DISPLAY_IN_CURRENCY_ENABLED, "true", Kind::Bool, None),
    def(MODEL_REQUEST_RATE_LIMIT_ENABLED, "false", Kind::Bool, None),
    def(
        MODEL_REQUEST_RATE_LIMIT_COUNT,
        "0",
        Kind::Int { max: 100_000_000 },
        None,
    ),
    def(
        MODEL_REQUEST_RATE_LIMIT_SUCCESS_COUNT,
        "1000",
        Kind::Int { max: 100_000_000 },
        None,
    ),
    def(
        MODEL_REQUEST_RATE_LIMIT_DURATION_MINUTES,
        "1",
        Kind::Int { max: 1440 },
        None,
    ),
    def(
        MODEL_REQUEST_RATE_LIMIT_GROUP,
        "{}",
        Kind::LimitPairs { max: 100_000_000 },
        None,
    ),
];

/// Built-in defaults of every known option.
pub fn defaults() -> BTreeMap<String, String> {
    DEFS.iter()
        .map(|d| (d.key.to_owned(), d.default.to_owned()))
        .collect()
}

/// Maps a seed alias (`system_name`) to its option name (`SystemName`); other keys pass through.
pub fn canonical_key(key: &str) -> &str {
    DEFS.iter()
        .find(|d| d.alias == Some(key))
        .map(|d| d.key)
        .unwrap_or(key)
}

/// Options that are never returned by the API: names ending in Token, Secret or Key.
pub fn is_secret(key: &str) -> bool {
    ["Token", "Secret", "Key"].iter().any(|s| key.ends_with(s))
}

/// Checks that `key` may be written and that `value` has its kind.
pub fn validate(key: &str, value: &str) -> Result<(), ValidationError> {
    let field = |reason: &str| ValidationError::Field {
        field: "option",
        reason: format!("{key}: {reason}"),
    };
    if key == SESSION_SECRET {
        return Err(field("is managed by the server"));
    }
    let key_ok = !key.is_empty()
        && key.len() <= 128
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !key_ok {
        return Err(field("is not a valid option name"));
    }
    let Some(def) = DEFS.iter().find(|d| d.key == key) else {
        return Ok(());
    };
    match def.kind {
        Kind::Text => Ok(()),
        Kind::Bool if value == "true" || value == "false" => Ok(()),
        Kind::Bool => Err(field("must be true or false")),
        Kind::Int { max } if value.parse::<u64>().is_ok_and(|v| v <= max) => Ok(()),
        Kind::Int { max } => Err(field(&format!("must be an integer from 0 to {max}"))),
        Kind::RatioMap { max } => match serde_json::from_str::<BTreeMap<String, f64>>(value) {
            Ok(map)
                if map
                    .values()
                    .all(|v| v.is_finite() && (0.0..=max).contains(v)) =>
            {
                Ok(())
            }
            _ => Err(field(&format!(
                "must be a JSON object of numbers from 0 to {max}"
            ))),
        },
        Kind::ThresholdMap => {
            match serde_json::from_str::<BTreeMap<String, (u64, f64, f64)>>(value) {
                Ok(map)
                    if map.values().all(|(t, i, o)| {
                        *t <= 100_000_000
                            && [i, o]
                                .iter()
                                .all(|r| r.is_finite() && (0.0..=100.0).contains(*r))
                    }) =>
                {
                    Ok(())
                }
                _ => Err(field(
                    "must be a JSON object of [threshold tokens, input ratio, output ratio]",
                )),
            }
        }
        Kind::LimitPairs { max } => {
            match serde_json::from_str::<BTreeMap<String, (u64, u64)>>(value) {
                Ok(map) if map.values().all(|(a, b)| *a <= max && *b <= max) => Ok(()),
                _ => Err(field(&format!(
                    "must be a JSON object of [requests, successful requests], whole numbers to {max}"
                ))),
            }
        }
        Kind::CountMap { min, max } => {
            match serde_json::from_str::<BTreeMap<String, serde_json::Number>>(value) {
                Ok(map)
                    if map
                        .values()
                        .all(|v| v.as_u64().is_some_and(|v| (min..=max).contains(&v))) =>
                {
                    Ok(())
                }
                _ => Err(field(&format!(
                    "must be a JSON object of whole numbers from {min} to {max}"
                ))),
            }
        }
    }
}

/// The group names of a `GroupRatio` value, sorted.
pub fn group_names(group_ratio: &str) -> Vec<String> {
    serde_json::from_str::<BTreeMap<String, f64>>(group_ratio)
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_option_names() {
        assert_eq!(canonical_key("system_name"), "SystemName");
        assert_eq!(canonical_key("chat_link"), "ChatLink");
        assert_eq!(canonical_key("Whatever"), "Whatever");
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(validate("RegisterEnabled", "false").is_ok());
        assert!(validate("RegisterEnabled", "yes").is_err());
        assert!(validate("QuotaForNewUser", "100").is_ok());
        assert!(validate("QuotaForNewUser", "-1").is_err());
        assert!(validate("GroupRatio", r#"{"default":1,"vip":0.5}"#).is_ok());
        assert!(validate("GroupRatio", r#"{"default":"x"}"#).is_err());
        assert!(validate("GroupRatio", r#"{"default":-1}"#).is_err());
        assert!(validate("CompletionRatio", r#"{"m":1e308}"#).is_err());
        assert!(validate("CompletionRatio", r#"{"m":10000}"#).is_ok());
        assert!(validate("RetryTimes", "100000").is_err());
        assert!(validate("RetryTimes", "10").is_ok());
        assert!(validate("QuotaForNewUser", "1000000000000001").is_err());
        assert!(validate("QuotaForNewUser", "1000000000000000").is_ok());
        assert!(validate("SessionSecret", "x").is_err());
        assert!(validate("bad key", "x").is_err());
        // Token counts are whole and positive.
        assert!(validate("ModelMaxOutputTokens", r#"{"m":4096}"#).is_ok());
        for bad in [
            r#"{"m":0.5}"#,
            r#"{"m":0}"#,
            r#"{"m":-1}"#,
            r#"{"m":1e3}"#,
            "[]",
        ] {
            assert!(validate("ModelMaxOutputTokens", bad).is_err(), "{bad}");
        }
        assert!(validate("MediaReferenceTokens", r#"{"video":0,"audio":9000}"#).is_ok());
        assert!(validate("MediaReferenceTokens", r#"{"video":1.5}"#).is_err());
        assert!(
            validate(
                "LongContextPricing",
                r#"{"claude-sonnet-4":[200000,2,1.5]}"#
            )
            .is_ok()
        );
        for bad in [
            r#"{"m":[1.5,2,1]}"#,
            r#"{"m":[1,2]}"#,
            r#"{"m":[1,-2,1]}"#,
            r#"{"m":2}"#,
        ] {
            assert!(validate("LongContextPricing", bad).is_err(), "{bad}");
        }
        assert!(validate("ServerAddress", "https://x").is_ok());
    }

    #[test]
    fn secrets_and_groups() {
        assert!(
            is_secret("SessionSecret")
                && is_secret("GitHubClientKey")
                && is_secret("TurnstileToken")
        );
        assert!(!is_secret("SystemName"));
        assert_eq!(
            group_names(r#"{"vip":1,"default":1}"#),
            vec!["default", "vip"]
        );
        assert!(group_names("nope").is_empty());
    }
}

//! Known run-time options: their new-api names, defaults, value kinds and the seed's
//! snake_case aliases. Unknown keys are stored as given (admin front ends built for new-api send
//! many), but a known key's value must have its kind.

use crate::ValidationError;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    /// A non-negative integer.
    Int,
    /// A JSON object whose values are numbers (model and group ratios, prices).
    RatioMap,
}

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
pub const MODEL_RATIO: &str = "ModelRatio";
pub const COMPLETION_RATIO: &str = "CompletionRatio";
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
pub const DISPLAY_IN_CURRENCY_ENABLED: &str = "DisplayInCurrencyEnabled";
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
    def(RETRY_TIMES, "0", Kind::Int, None),
    def(MODEL_RATIO, "{}", Kind::RatioMap, None),
    def(COMPLETION_RATIO, "{}", Kind::RatioMap, None),
    def(MODEL_PRICE, "{}", Kind::RatioMap, None),
    def(
        GROUP_RATIO,
        r#"{"default":1,"vip":1,"svip":1}"#,
        Kind::RatioMap,
        None,
    ),
    def(QUOTA_FOR_NEW_USER, "0", Kind::Int, None),
    def(QUOTA_FOR_INVITER, "0", Kind::Int, None),
    def(QUOTA_FOR_INVITEE, "0", Kind::Int, None),
    def(REGISTER_ENABLED, "true", Kind::Bool, None),
    def(PASSWORD_LOGIN_ENABLED, "true", Kind::Bool, None),
    def(AUTOMATIC_DISABLE_CHANNEL_ENABLED, "false", Kind::Bool, None),
    def(AUTOMATIC_ENABLE_CHANNEL_ENABLED, "false", Kind::Bool, None),
    def(SELF_USE_MODE_ENABLED, "false", Kind::Bool, None),
    def(DISPLAY_IN_CURRENCY_ENABLED, "true", Kind::Bool, None),
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
        Kind::Int if value.parse::<u64>().is_ok() => Ok(()),
        Kind::Int => Err(field("must be a non-negative integer")),
        Kind::RatioMap => match serde_json::from_str::<BTreeMap<String, f64>>(value) {
            Ok(map) if map.values().all(|v| v.is_finite() && *v >= 0.0) => Ok(()),
            _ => Err(field("must be a JSON object of non-negative numbers")),
        },
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
        assert!(validate("SessionSecret", "x").is_err());
        assert!(validate("bad key", "x").is_err());
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

//! Reading upstream error bodies and deciding when a channel should be disabled.

/// The `error.message` (or `message`) of an upstream error body, cut to 300 characters.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value
        .pointer("/error/message")
        .or_else(|| value.get("message"))
        .or_else(|| value.get("error"))
        .and_then(serde_json::Value::as_str)?;
    Some(message.chars().take(300).collect())
}

/// Phrases upstreams use when a key is revoked or its account has no money left.
const DISABLING_PHRASES: &[&str] = &[
    "insufficient_quota",
    "exceeded your current quota",
    "invalid_api_key",
    "incorrect api key",
    "api key not valid",
    "account_deactivated",
    "billing_not_active",
    "your credit balance is too low",
    "organization has been disabled",
    "permission denied",
    "the security token included in the request is invalid",
    "已欠费",
];

/// Whether a failure means the channel's key is unusable (and, when the option is on, the
/// channel should be disabled automatically). `body` is the upstream's whole error body: the
/// telling words may be in its `type` or `code` rather than its message.
pub fn should_disable(status: u16, body: &str) -> bool {
    if status == 401 {
        return true;
    }
    let lower = body.to_lowercase();
    DISABLING_PHRASES.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_found_in_each_dialect() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad"}}"#).as_deref(),
            Some("bad")
        );
        assert_eq!(
            error_message(br#"{"type":"error","error":{"type":"x","message":"nope"}}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message(br#"{"message":"m"}"#).as_deref(), Some("m"));
        assert_eq!(error_message(b"not json"), None);
    }

    #[test]
    fn disabling_rules() {
        assert!(should_disable(401, ""));
        assert!(should_disable(
            429,
            "You exceeded your quota: insufficient_quota"
        ));
        assert!(!should_disable(500, "internal"));
        assert!(!should_disable(429, "rate limited"));
    }
}

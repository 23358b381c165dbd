//! Judging upstream failures and disabling channels whose key is unusable.
//!
//! A failure is judged from the upstream's status and its structured error fields (`code`,
//! `type`, Gemini's `status` and `reason`), never from free text: OpenAI repeats unknown
//! request fields in its 400 message, so a caller could otherwise write the words that
//! disable a channel. A channel is disabled after `AutomaticDisableChannelThreshold` such
//! failures within `AutomaticDisableChannelWindowSeconds` (default: the first one), and only
//! when the family's model list refuses the key too: a caller can make an upstream refuse a
//! resource with a key error's code (a file or cache of another project, a beta the account
//! lacks), but not make it refuse the key on a call the gateway shapes alone.

use crate::client::full_body;
use crate::error::UpstreamKind;
use crate::providers::Provider;
use crate::relay::Relay;
use crate::routing::ChannelInfo;
use bytes::Bytes;
use domain::ChannelStatus;
use domain::options as opt;
use serde_json::Value;
use std::time::Duration;

/// How long the model list that confirms a key failure may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `error.message` (or `message`) of an upstream error body, cut to 300 characters.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value
        .pointer("/error/message")
        .or_else(|| value.pointer("/response/error/message"))
        .or_else(|| value.get("message"))
        .or_else(|| value.get("error"))
        .and_then(Value::as_str)?;
    Some(message.chars().take(300).collect())
}

/// Structured codes that mean the channel's key itself is unusable.
const KEY_CODES: &[&str] = &[
    "invalid_api_key",
    "insufficient_quota",
    "account_deactivated",
    "billing_not_active",
    "organization_deactivated",
    "authentication_error",
    "permission_error",
    "api_key_invalid",
    "permission_denied",
    "unauthenticated",
];

/// The structured error fields of an upstream error body: `error.code`, `error.type`,
/// `error.status` (Gemini), `error.details[].reason` (Gemini), lower-cased.
pub(crate) fn error_codes(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let error = value.get("error").unwrap_or(&value);
    let mut codes: Vec<String> = ["code", "type", "status"]
        .iter()
        .filter_map(|f| error.get(*f).and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
        .collect();
    if let Some(details) = error.get("details").and_then(Value::as_array) {
        codes.extend(
            details
                .iter()
                .filter_map(|d| d.get("reason").and_then(Value::as_str))
                .map(str::to_ascii_lowercase),
        );
    }
    codes
}

/// What a failed answer means: its status decides, and a structured code can only mark a
/// 400/403/429 as a key problem.
pub(crate) fn classify(status: u16, body: &[u8]) -> UpstreamKind {
    let key_code = || {
        error_codes(body)
            .iter()
            .any(|c| KEY_CODES.contains(&c.as_str()))
    };
    match status {
        401 => UpstreamKind::KeyUnusable,
        400 | 402 | 403 | 429 if key_code() => UpstreamKind::KeyUnusable,
        429 => UpstreamKind::RateLimited,
        s if s >= 500 => UpstreamKind::Failed,
        _ => UpstreamKind::Rejected,
    }
}

impl Relay {
    /// A relay call's failure shows the channel's key is unusable: judged by the channel's
    /// health policy in the background (the call goes on to another channel meanwhile).
    pub(crate) fn key_failure(&self, channel: &ChannelInfo) {
        let relay = self.clone();
        let channel = channel.clone();
        self.s.jobs.spawn(async move {
            // A caller can make an upstream refuse a resource (a file or cache of another
            // project, a beta the account lacks) with a key error's code: only a key the
            // model list also refuses is a failed key.
            relay.judge_key_failure(&channel, false).await;
        });
    }

    /// The channel health policy, one for relay calls and channel tests, on every instance:
    /// with automatic disabling on (and the channel's `auto_ban`), a key failure counts in a
    /// window shared by the instances (the rate counters: Redis when configured); the
    /// `AutomaticDisableChannelThreshold`-th within `AutomaticDisableChannelWindowSeconds`
    /// disables the channel, once the model list confirms the key is refused (unless
    /// `confirmed`: a channel test is a request the gateway shaped alone). Returns whether
    /// the channel was disabled.
    pub async fn judge_key_failure(&self, channel: &ChannelInfo, confirmed: bool) -> bool {
        let options = &self.s.options;
        if !channel.auto_ban || !options.get_bool(opt::AUTOMATIC_DISABLE_CHANNEL_ENABLED) {
            return false;
        }
        let threshold = options
            .get_i64(opt::AUTOMATIC_DISABLE_CHANNEL_THRESHOLD)
            .max(1);
        let window = Duration::from_secs(
            u64::try_from(options.get_i64(opt::AUTOMATIC_DISABLE_CHANNEL_WINDOW))
                .unwrap_or(60)
                .max(1),
        );
        let id = channel.id;
        let crossed = self
            .s
            .counters
            .hit(format!("health:{id}"), threshold, window)
            .await;
        match crossed {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(channel = id, error = %e, "the failure counter is unreachable");
                return false;
            }
        }
        if !confirmed && !self.key_refused(channel).await {
            tracing::warn!(
                channel = id,
                "key failure not confirmed by the model list; channel kept"
            );
            return false;
        }
        let db = &self.s.db;
        match persistence::channels::disable_if_enabled(db, id, ChannelStatus::AutoDisabled.code())
            .await
        {
            Ok(true) => {
                tracing::warn!(channel = id, "channel disabled automatically");
                if let Err(e) = self.apply(crate::Change::Channels).await {
                    tracing::error!(error = %e, "reloading routes");
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::error!(channel = id, error = %e, "disabling channel");
                false
            }
        }
    }

    /// Whether the channel's key is refused by its family's model list (401 or 403).
    async fn key_refused(&self, channel: &ChannelInfo) -> bool {
        let (Some(adaptor), Some(base)) = (
            Provider::of(channel.channel_type).adaptor(),
            crate::providers::base_url(channel.channel_type, &channel.base_url),
        ) else {
            return false;
        };
        let request = hyper::Request::builder()
            .method(hyper::Method::GET)
            .uri(adaptor.models_url(channel, &base));
        let Ok(request) = adaptor
            .authorize(channel, request)
            .body(full_body(Bytes::new()))
        else {
            return false;
        };
        match self.s.http.fetch(request, PROBE_TIMEOUT).await {
            Ok(resp) => matches!(resp.status, 401 | 403),
            Err(e) => {
                tracing::warn!(channel = channel.id, error = %e, "model list unreachable");
                false
            }
        }
    }
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
    fn only_status_and_structured_codes_count() {
        use UpstreamKind::*;
        assert_eq!(classify(401, b""), KeyUnusable);
        let quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(classify(429, quota), KeyUnusable);
        let anthropic = br#"{"type":"error","error":{"type":"permission_error","message":"x"}}"#;
        assert_eq!(classify(403, anthropic), KeyUnusable);
        let gemini = br#"{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        assert_eq!(classify(400, gemini), KeyUnusable);
        // Free text never counts, whatever it says.
        let echoed = br#"{"error":{"message":"Unrecognized request argument supplied: permission denied, insufficient_quota, invalid_api_key","type":"invalid_request_error","code":null}}"#;
        assert_eq!(classify(400, echoed), Rejected);
        assert_eq!(
            classify(429, br#"{"error":{"message":"slow down"}}"#),
            RateLimited
        );
        assert_eq!(classify(500, quota), Failed);
        assert_eq!(classify(404, b"insufficient_quota"), Rejected);
    }
}

//! Why a relay call was refused or failed, as kinds the API crates render in the caller's
//! dialect and language. No user-facing text is made here except an upstream's own (masked)
//! message and the English detail of a malformed request.

use crate::providers::Provider;
use std::fmt;

/// Which balance a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Key,
}

/// Why a key cannot be used (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    Missing,
    Unknown,
    Disabled,
    Expired,
    /// The key's user no longer exists.
    Orphaned,
}

/// Why an authenticated caller may not make this call (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    IpNotAllowed,
    UserBanned,
    /// `sk-KEY-<channel>` is for admins.
    PinForbidden,
    GroupNotUsable(String),
    ModelNotAllowed(String),
}

/// How an upstream failed, judged from its status and its structured error fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// The channel's key is revoked, wrong or without money: the channel may be disabled.
    KeyUnusable,
    RateLimited,
    /// The upstream refused the request itself (4xx other than the above).
    Rejected,
    /// 5xx, or an error event in place of a stream.
    Failed,
}

/// An upstream's own error, with its message masked of the channel's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub provider: Provider,
    pub status: u16,
    pub kind: UpstreamKind,
    pub message: String,
    /// The upstream's structured `code` (or `type`), passed on to the caller.
    pub code: Option<String>,
}

impl UpstreamError {
    /// Whether the upstream refused the channel's own credentials (401 or 403, or a key code
    /// on another status): the gateway's failure, never the caller's key. Such an error is
    /// answered 502 `upstream_auth_failed`, so SDKs do not tell their user that their own key
    /// is wrong.
    pub fn credentials_refused(&self) -> bool {
        matches!(self.status, 401 | 403) || self.kind == UpstreamKind::KeyUnusable
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RelayError {
    /// 401.
    Key(KeyProblem),
    /// 403.
    Refused(Refusal),
    /// 403: the balance (user's or key's) cannot cover the call's worst case.
    Insufficient {
        holder: Holder,
        model: String,
        /// Output tokens the balance would pay for (none for per-call prices).
        affordable_output: Option<i64>,
    },
    /// 403: the balance (user's or key's) is used up; said before the body is read.
    Exhausted(Holder),
    /// 400 with an English detail of what is wrong with the request.
    BadRequest(String),
    /// 413: the body is over the configured limit (bytes).
    TooLarge(usize),
    /// 404: not a model this key may use.
    ModelNotFound(String),
    /// 400: the model has no price and self-use mode is off.
    NoPrice(String),
    /// 404: no task of the caller's has this id.
    TaskNotFound(String),
    /// 503: no enabled channel serves the model.
    NoChannel(String),
    /// The upstream's own failure, passed on with its status.
    Upstream(UpstreamError),
    /// 429: the key has as many of this kind of call under way as it may.
    Busy,
    /// 429: a rate limit (the key's or the user's) is reached; retry after that many seconds.
    RateLimited { retry_after: u64 },
    /// 502: no upstream could be reached; the detail is logged, not sent.
    Unavailable(String),
    /// 503: the gateway is stopping (a stream still open at the end of the shutdown grace).
    ShuttingDown,
    /// 500; the detail is logged, not sent.
    Internal(String),
}

impl RelayError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            RelayError::Key(_) => 401,
            RelayError::Refused(_) | RelayError::Insufficient { .. } | RelayError::Exhausted(_) => {
                403
            }
            RelayError::BadRequest(_) | RelayError::NoPrice(_) => 400,
            RelayError::TooLarge(_) => 413,
            RelayError::ModelNotFound(_) | RelayError::TaskNotFound(_) => 404,
            RelayError::NoChannel(_) => 503,
            RelayError::Busy | RelayError::RateLimited { .. } => 429,
            RelayError::Upstream(e) if e.credentials_refused() => 502,
            RelayError::Upstream(e) => e.status,
            RelayError::Unavailable(_) => 502,
            RelayError::ShuttingDown => 503,
            RelayError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code (OpenAI's `code` field).
    pub fn code(&self) -> Option<&str> {
        Some(match self {
            RelayError::Key(_) => "invalid_api_key",
            RelayError::Refused(r) => match r {
                Refusal::IpNotAllowed => "ip_not_allowed",
                Refusal::UserBanned => "user_banned",
                Refusal::PinForbidden => "channel_pin_forbidden",
                Refusal::GroupNotUsable(_) => "group_not_usable",
                Refusal::ModelNotAllowed(_) => "model_not_allowed",
            },
            RelayError::Insufficient { holder, .. } | RelayError::Exhausted(holder) => match holder
            {
                Holder::User => "insufficient_user_quota",
                Holder::Key => "insufficient_token_quota",
            },
            RelayError::BadRequest(_) => return None,
            RelayError::TooLarge(_) => "request_too_large",
            RelayError::ModelNotFound(_) => "model_not_found",
            RelayError::NoPrice(_) => "model_price_not_set",
            RelayError::TaskNotFound(_) => "task_not_found",
            RelayError::NoChannel(_) => "no_available_channel",
            RelayError::Busy => "too_many_concurrent_requests",
            RelayError::RateLimited { .. } => "rate_limit_exceeded",
            RelayError::Upstream(e) if e.credentials_refused() => "upstream_auth_failed",
            RelayError::Upstream(e) => return e.code.as_deref(),
            RelayError::Unavailable(_) => "upstream_unavailable",
            RelayError::ShuttingDown => "server_shutting_down",
            RelayError::Internal(_) => return None,
        })
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::Key(p) => write!(f, "unusable API key: {p:?}"),
            RelayError::Refused(r) => write!(f, "refused: {r:?}"),
            RelayError::Insufficient { holder, model, .. } => {
                write!(f, "{holder:?} quota too small for {model}")
            }
            RelayError::Exhausted(holder) => write!(f, "{holder:?} quota used up"),
            RelayError::BadRequest(d) => write!(f, "bad request: {d}"),
            RelayError::TooLarge(limit) => write!(f, "body over {limit} bytes"),
            RelayError::ModelNotFound(m) => write!(f, "model {m} not found"),
            RelayError::NoPrice(m) => write!(f, "model {m} has no price"),
            RelayError::NoChannel(m) => write!(f, "no channel for {m}"),
            RelayError::TaskNotFound(id) => write!(f, "task {id} not found"),
            RelayError::Busy => write!(f, "too many concurrent calls of this key"),
            RelayError::RateLimited { retry_after } => {
                write!(f, "rate limit reached; retry in {retry_after} s")
            }
            RelayError::Upstream(e) => {
                write!(f, "upstream {} {}: {}", e.status, e.provider, e.message)
            }
            RelayError::Unavailable(d) => write!(f, "upstream unavailable: {d}"),
            RelayError::ShuttingDown => write!(f, "the gateway is shutting down"),
            RelayError::Internal(d) => write!(f, "internal: {d}"),
        }
    }
}

impl std::error::Error for RelayError {}

impl From<crate::billing::LedgerError> for RelayError {
    fn from(e: crate::billing::LedgerError) -> Self {
        RelayError::Internal(format!("ledger: {e}"))
    }
}

impl From<persistence::DbErr> for RelayError {
    fn from(e: persistence::DbErr) -> Self {
        RelayError::Internal(format!("database: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16, kind: UpstreamKind) -> RelayError {
        RelayError::Upstream(UpstreamError {
            provider: Provider::OpenAi,
            status,
            kind,
            message: "Incorrect API key provided".into(),
            code: Some("invalid_api_key".into()),
        })
    }

    #[test]
    fn refused_channel_credentials_are_the_gateways_failure() {
        for e in [
            upstream(401, UpstreamKind::KeyUnusable),
            upstream(403, UpstreamKind::Rejected),
            upstream(400, UpstreamKind::KeyUnusable),
            upstream(502, UpstreamKind::KeyUnusable),
        ] {
            assert_eq!(e.status(), 502, "{e}");
            assert_eq!(e.code(), Some("upstream_auth_failed"), "{e}");
        }
        let rejected = upstream(400, UpstreamKind::Rejected);
        assert_eq!(rejected.status(), 400);
        assert_eq!(rejected.code(), Some("invalid_api_key"));
    }
}

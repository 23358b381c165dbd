//! The business model of the gateway: ids, roles and statuses, validated input types, keys and
//! their digests, quota arithmetic. No I/O and no web framework here.

pub mod error;
pub mod keys;
pub mod options;
pub mod pricing;
pub mod quota;
pub mod status;
pub mod validate;

pub use error::ValidationError;
pub use status::{ChannelStatus, LogType, RedemptionStatus, Role, TokenStatus, UserStatus};

/// Current Unix time in seconds.
pub fn now_ts() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

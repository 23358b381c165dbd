//! API keys: parsing the credential a caller sent, checking the key and its user, and the
//! resulting [`Caller`].

use crate::directory::{TokenInfo, UserInfo};
use crate::error::{Holder, KeyProblem, Refusal, RelayError};
use crate::relay::{Balance, Relay};
use domain::{Role, TokenStatus, UserStatus};
use std::net::IpAddr;
use std::sync::Arc;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: Arc<TokenInfo>,
    pub user: Arc<UserInfo>,
    /// The group whose channels and price apply.
    pub group: String,
    /// `sk-KEY-<channel_id>`: an admin's pinned channel.
    pub pinned: Option<i32>,
}

impl Caller {
    /// Who pays for this caller's calls: the user, and the key when it is limited.
    pub fn payer(&self) -> crate::billing::Payer {
        crate::billing::Payer {
            user: crate::billing::UserId(self.user.id),
            token: (!self.token.unlimited).then_some(crate::billing::TokenId(self.token.id)),
        }
    }
}

/// The key of an `Authorization: Bearer` value, `x-api-key` and the like: `sk-` optional,
/// `-<channel id>` pins a channel.
pub fn parse_key(raw: &str) -> Option<(String, Option<i32>)> {
    let raw = raw.trim();
    let raw = match raw.get(..6) {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("bearer")
                && raw[6..].chars().next().is_none_or(char::is_whitespace) =>
        {
            raw[6..].trim()
        }
        _ => raw,
    };
    let body = raw.strip_prefix("sk-").unwrap_or(raw);
    if body.is_empty() {
        return None;
    }
    let (key, pinned) = match body.rsplit_once('-') {
        Some((key, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            (key, id.parse().ok())
        }
        _ => (body, None),
    };
    Some((format!("sk-{key}"), pinned))
}

impl Relay {
    /// Checks an API key: known, enabled, not expired, allowed from `ip`, its user enabled.
    pub async fn authenticate(
        &self,
        raw_key: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<Caller, RelayError> {
        let (key, pinned) = raw_key
            .and_then(parse_key)
            .ok_or(RelayError::Key(KeyProblem::Missing))?;
        let db = &self.s.db;
        let token = self
            .s
            .directory
            .token(db, &domain::keys::digest(&key))
            .await?
            .ok_or(RelayError::Key(KeyProblem::Unknown))?;
        if token.status != TokenStatus::Enabled.code() {
            return Err(RelayError::Key(KeyProblem::Disabled));
        }
        if token.expired_time != -1 && token.expired_time < domain::now_ts() {
            return Err(RelayError::Key(KeyProblem::Expired));
        }
        if !token.allows_ip(ip) {
            return Err(RelayError::Refused(Refusal::IpNotAllowed));
        }
        let user = self
            .s
            .directory
            .user(db, token.user_id)
            .await?
            .ok_or(RelayError::Key(KeyProblem::Orphaned))?;
        if user.status != UserStatus::Enabled.code() {
            return Err(RelayError::Refused(Refusal::UserBanned));
        }
        if pinned.is_some() && Role(user.role) < Role::ADMIN {
            return Err(RelayError::Refused(Refusal::PinForbidden));
        }
        if !token.group.is_empty() && token.group != user.group && !Role(user.role).is_admin() {
            return Err(RelayError::Refused(Refusal::GroupNotUsable(
                token.group.clone(),
            )));
        }
        let group = if token.group.is_empty() {
            user.group.clone()
        } else {
            token.group.clone()
        };
        Ok(Caller {
            token,
            user,
            group,
            pinned,
        })
    }

    /// The models this caller may use.
    pub fn models_for(&self, caller: &Caller) -> Vec<String> {
        self.s
            .router
            .snapshot()
            .models(&caller.group)
            .into_iter()
            .filter(|m| caller.token.allows_model(m))
            .collect()
    }

    /// Loads the caller's balances into this instance's book on first use.
    pub(crate) async fn ensure_balances(&self, caller: &Caller) -> Result<(), RelayError> {
        Ok(self.s.ledger.lease(caller.payer(), 0).await?)
    }

    /// Refuses a caller whose balance (or key's) is used up, before its body is read; free in
    /// self-use mode.
    pub async fn admits(&self, caller: &Caller) -> Result<(), RelayError> {
        if self
            .s
            .options
            .get_bool(domain::options::SELF_USE_MODE_ENABLED)
        {
            return Ok(());
        }
        let payer = caller.payer();
        // What this instance holds answers without asking anyone.
        let book = self.s.ledger.book();
        if book.has(payer) && payer.accounts().all(|a| book.balance(a).unwrap_or(0) > 0) {
            return Ok(());
        }
        let spendable = self.s.ledger.balance(payer).await?;
        if spendable.user <= 0 {
            return Err(RelayError::Exhausted(Holder::User));
        }
        if spendable.token.is_some_and(|t| t <= 0) {
            return Err(RelayError::Exhausted(Holder::Key));
        }
        Ok(())
    }

    /// The caller's spendable quota (the smaller of the key's and the user's for a limited
    /// key) and what the key (or, for an unlimited key, the user) has used.
    pub async fn balance(&self, caller: &Caller) -> Result<Balance, RelayError> {
        let spendable = self.s.ledger.balance(caller.payer()).await?;
        let db = &self.s.db;
        let used = if caller.token.unlimited {
            persistence::users::find(db, caller.user.id)
                .await?
                .map_or(0, |u| u.used_quota)
        } else {
            persistence::tokens::find_for_user(db, caller.user.id, caller.token.id)
                .await?
                .map_or(0, |t| t.used_quota)
        };
        Ok(Balance {
            remaining: spendable
                .token
                .map_or(spendable.user, |t| t.min(spendable.user)),
            used,
        })
    }

    /// The caller's user's hourly usage statistics from `from` to `to` (Unix seconds): the
    /// statistics are kept per user and model, not per key.
    pub async fn usage_history(
        &self,
        caller: &Caller,
        from: i64,
        to: i64,
    ) -> Result<Vec<UsageEntry>, RelayError> {
        let filter = persistence::quota_data::DataFilter {
            user_id: Some(caller.user.id),
            start_timestamp: Some(from),
            end_timestamp: Some(to),
            ..Default::default()
        };
        Ok(persistence::quota_data::list(&self.s.db, &filter)
            .await?
            .into_iter()
            .map(|row| UsageEntry {
                hour: row.created_at,
                model: row.model_name,
                tokens: row.token_used,
                quota: row.quota,
            })
            .collect())
    }
}

/// One hour of one model's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEntry {
    /// The hour's start, Unix seconds.
    pub hour: i64,
    pub model: String,
    pub tokens: i64,
    pub quota: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_pins() {
        assert_eq!(parse_key("Bearer sk-abc"), Some(("sk-abc".into(), None)));
        assert_eq!(parse_key("sk-abc-12"), Some(("sk-abc".into(), Some(12))));
        assert_eq!(parse_key("abc"), Some(("sk-abc".into(), None)));
        assert_eq!(parse_key("sk-a-b"), Some(("sk-a-b".into(), None)));
        assert_eq!(parse_key("Bearer "), None);
        assert_eq!(parse_key("sk-"), None);
    }
}

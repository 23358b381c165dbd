//! Changes that affect routing or money (a key, user, channel, ability, option or price
//! created, updated, disabled or deleted) go through one path: [`Relay::apply`] updates this
//! instance's caches at once and publishes the change on the [`ChangeBus`] (Redis pub/sub in
//! the server) for the other instances, which apply it with [`Relay::apply_remote`]. The
//! periodic re-read stays as the fallback when a message is lost.

use crate::relay::Relay;
use persistence::DbErr;
use serde::{Deserialize, Serialize};

/// A change made through one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A user changed (status, role, group), and their quota moved by `quota_delta` (a
    /// top-up, an admin's edit, a refund).
    User {
        id: i32,
        quota_delta: i64,
    },
    UserDeleted {
        id: i32,
    },
    /// An API key changed (status, limits, expiry), and its remaining quota moved by
    /// `quota_delta`.
    Token {
        id: i32,
        quota_delta: i64,
    },
    /// An API key switched between limited and unlimited.
    TokenLimitSwitched {
        id: i32,
    },
    TokenDeleted {
        id: i32,
    },
    /// Channels or their abilities changed.
    Channels,
    /// Options (prices among them) changed.
    Options,
}

/// Where changes are published for the other instances.
pub trait ChangeBus: Send + Sync {
    /// Publishes `change`; never waits on the network.
    fn publish(&self, change: &Change);
}

impl Relay {
    /// A change made through this instance: its caches are updated now (a quota that moved
    /// moves the loaded balance by as much) and the other instances are told.
    pub async fn apply(&self, change: Change) -> Result<(), DbErr> {
        // The others are told first: the change is in the database already, whatever this
        // instance's own re-read does next.
        if let Some(bus) = &self.s.bus {
            bus.publish(&change);
        }
        self.take_in(change, true).await
    }

    /// A change another instance made: the caches it touches are read again from the
    /// database, which already holds it (a loaded balance is re-read, less what this instance
    /// took and has not committed, rather than moved).
    pub async fn apply_remote(&self, change: Change) -> Result<(), DbErr> {
        self.take_in(change, false).await
    }

    /// Updates the caches, then the ledger (made here: `local`). Caches first: a ledger that
    /// cannot be reached must not keep a banned user cached.
    async fn take_in(&self, change: Change, local: bool) -> Result<(), DbErr> {
        let refreshed = self.refresh(change).await;
        self.s
            .ledger
            .apply(&change, local)
            .await
            .map_err(|e| DbErr::Custom(e.0))?;
        refreshed
    }

    /// What a change does to this instance's caches (but the ledger), wherever it was made.
    async fn refresh(&self, change: Change) -> Result<(), DbErr> {
        let s = &self.s;
        match change {
            Change::User { id, .. } | Change::UserDeleted { id } => s.directory.forget_user(id),
            Change::Token { id, .. }
            | Change::TokenLimitSwitched { id }
            | Change::TokenDeleted { id } => s.directory.forget_token(id),
            Change::Channels => s.router.reload(&s.db).await?,
            Change::Options => s.options.reload(&s.db).await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_tagged_json() {
        let c = Change::User {
            id: 7,
            quota_delta: -5,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"kind":"user","id":7,"quota_delta":-5}"#);
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), c);
        assert_eq!(
            serde_json::from_str::<Change>(r#"{"kind":"channels"}"#).unwrap(),
            Change::Channels
        );
        assert!(serde_json::from_str::<Change>(r#"{"kind":"drop_tables"}"#).is_err());
    }
}

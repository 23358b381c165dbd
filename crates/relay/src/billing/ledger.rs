//! Balances in memory: the quota of users and API keys moves here atomically during a call; the
//! batch writer later applies the same amounts to the database. A balance is loaded from the
//! database on first use and then kept; the ledger also tracks what this instance took but has
//! not committed yet (`outstanding`), so `ledger = database - outstanding`. Changes made
//! through this instance's `/api` are applied to both as deltas; `resync` re-reads the
//! database, which brings in changes made by other instances sharing it.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Balances {
    users: HashMap<i32, i64>,
    tokens: HashMap<i32, i64>,
    /// Taken by this instance's calls and not yet committed to the database.
    outstanding_users: HashMap<i32, i64>,
    outstanding_tokens: HashMap<i32, i64>,
    /// Moves on whenever the database changes under a loaded balance (a commit, an `/api`
    /// change); a resync whose database read straddles such a change is dropped.
    generation: u64,
}

/// Which balance was too small, and what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    User { available: i64 },
    Token { available: i64 },
}

impl Shortfall {
    /// Whose balance fell short, and what it held.
    pub fn holder(self) -> (crate::error::Holder, i64) {
        match self {
            Shortfall::User { available } => (crate::error::Holder::User, available),
            Shortfall::Token { available } => (crate::error::Holder::Key, available),
        }
    }
}

impl Balances {
    /// Moves `delta` (positive: more quota) on the user and the limited token.
    fn shift(&mut self, user: i32, token: Option<i32>, delta: i64) {
        if let Some(v) = self.users.get_mut(&user) {
            *v += delta;
            *self.outstanding_users.entry(user).or_insert(0) -= delta;
        }
        if let Some(t) = token
            && let Some(v) = self.tokens.get_mut(&t)
        {
            *v += delta;
            *self.outstanding_tokens.entry(t).or_insert(0) -= delta;
        }
    }
}

/// Balances as one instance sees them. Its in-memory implementation is [`MemoryLedger`]; one
/// shared by several instances (Redis) implements the same trait.
pub trait Ledger: Send + Sync {
    /// Whether the user's balance (and the limited token's, when given) is loaded.
    fn has(&self, user: i32, token: Option<i32>) -> bool;
    /// Loads balances read from the database (less what this instance took and has not
    /// committed yet), unless already loaded (the ledger is newer).
    fn load(&self, user: i32, user_quota: i64, token: Option<(i32, i64)>);
    /// Takes `amount` from the user and (when limited) the token, both or neither. A paid call
    /// needs a positive balance even when its estimate rounds to nothing.
    fn reserve(
        &self,
        user: i32,
        token: Option<i32>,
        amount: i64,
        paid: bool,
    ) -> Result<(), Shortfall>;
    /// Gives back `delta` of a reservation to the user and the limited token.
    fn credit(&self, user: i32, token: Option<i32>, delta: i64);
    /// Settles a reservation of `reserved` against a call that cost `cost`: the difference is
    /// given back, or, when the call cost more, taken only as far as both balances reach, so
    /// no balance goes below zero. Returns what the call is charged.
    fn settle(&self, user: i32, token: Option<i32>, reserved: i64, cost: i64) -> i64;
    /// The batch writer committed `quota` of the user's (and limited token's) consumption.
    fn committed(&self, user: i32, token: Option<i32>, quota: i64);
    /// The ids whose balances are loaded: (users, tokens).
    fn loaded(&self) -> (Vec<i32>, Vec<i32>);
    /// The current generation, read before the database values for [`Ledger::resync`].
    fn generation(&self) -> u64;
    /// Re-bases loaded balances on database values read since `generation`:
    /// `balance = database - outstanding`. Returns false (and changes nothing) when the
    /// database changed under the ledger meanwhile.
    fn resync(&self, generation: u64, users: &[(i32, i64)], tokens: &[(i32, i64)]) -> bool;
    /// An `/api` change of a user's quota by `delta`, when the balance is loaded.
    fn adjust_user(&self, user: i32, delta: i64);
    /// An `/api` change of a token's remaining quota by `delta`, when the balance is loaded.
    fn adjust_token(&self, token: i32, delta: i64);
    /// Drops a user's or token's balance but keeps what it took and has not committed, so
    /// that the next load (`database - outstanding`) is right (a key switched between limited
    /// and unlimited, a change another instance made).
    fn unload(&self, user: Option<i32>, token: Option<i32>);
    /// Forgets a deleted user or token.
    fn forget(&self, user: Option<i32>, token: Option<i32>);
    fn user_balance(&self, user: i32) -> Option<i64>;
    fn token_balance(&self, token: i32) -> Option<i64>;
}

#[derive(Debug, Default)]
pub struct MemoryLedger {
    inner: Mutex<Balances>,
}

impl MemoryLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Balances> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Ledger for MemoryLedger {
    fn has(&self, user: i32, token: Option<i32>) -> bool {
        let b = self.lock();
        b.users.contains_key(&user) && token.is_none_or(|t| b.tokens.contains_key(&t))
    }

    fn load(&self, user: i32, user_quota: i64, token: Option<(i32, i64)>) {
        let mut b = self.lock();
        b.generation += 1;
        let taken = b.outstanding_users.get(&user).copied().unwrap_or(0);
        b.users.entry(user).or_insert(user_quota - taken);
        if let Some((id, remain)) = token {
            let taken = b.outstanding_tokens.get(&id).copied().unwrap_or(0);
            b.tokens.entry(id).or_insert(remain - taken);
        }
    }

    fn unload(&self, user: Option<i32>, token: Option<i32>) {
        let mut b = self.lock();
        b.generation += 1;
        if let Some(u) = user {
            b.users.remove(&u);
        }
        if let Some(t) = token {
            b.tokens.remove(&t);
        }
    }

    fn reserve(
        &self,
        user: i32,
        token: Option<i32>,
        amount: i64,
        paid: bool,
    ) -> Result<(), Shortfall> {
        let mut b = self.lock();
        let need = if paid { amount.max(1) } else { amount };
        let user_balance = b.users.get(&user).copied().unwrap_or(0);
        if user_balance < need {
            return Err(Shortfall::User {
                available: user_balance.max(0),
            });
        }
        if let Some(t) = token {
            let token_balance = b.tokens.get(&t).copied().unwrap_or(0);
            if token_balance < need {
                return Err(Shortfall::Token {
                    available: token_balance.max(0),
                });
            }
            *b.tokens.entry(t).or_insert(0) -= amount;
            *b.outstanding_tokens.entry(t).or_insert(0) += amount;
        }
        *b.users.entry(user).or_insert(0) -= amount;
        *b.outstanding_users.entry(user).or_insert(0) += amount;
        Ok(())
    }

    fn credit(&self, user: i32, token: Option<i32>, delta: i64) {
        self.lock().shift(user, token, delta);
    }

    fn settle(&self, user: i32, token: Option<i32>, reserved: i64, cost: i64) -> i64 {
        let mut b = self.lock();
        if cost <= reserved {
            b.shift(user, token, reserved - cost);
            return cost;
        }
        let mut room = b.users.get(&user).copied().unwrap_or(0);
        if let Some(t) = token {
            room = room.min(b.tokens.get(&t).copied().unwrap_or(0));
        }
        let extra = (cost - reserved).min(room.max(0));
        b.shift(user, token, -extra);
        reserved + extra
    }

    fn committed(&self, user: i32, token: Option<i32>, quota: i64) {
        let mut b = self.lock();
        b.generation += 1;
        if let Some(v) = b.outstanding_users.get_mut(&user) {
            *v -= quota;
        }
        if let Some(t) = token
            && let Some(v) = b.outstanding_tokens.get_mut(&t)
        {
            *v -= quota;
        }
    }

    fn loaded(&self) -> (Vec<i32>, Vec<i32>) {
        let b = self.lock();
        (
            b.users.keys().copied().collect(),
            b.tokens.keys().copied().collect(),
        )
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn resync(&self, generation: u64, users: &[(i32, i64)], tokens: &[(i32, i64)]) -> bool {
        let mut b = self.lock();
        if b.generation != generation {
            return false;
        }
        for (id, quota) in users {
            let outstanding = b.outstanding_users.get(id).copied().unwrap_or(0);
            if let Some(v) = b.users.get_mut(id) {
                *v = quota - outstanding;
            }
        }
        for (id, remain) in tokens {
            let outstanding = b.outstanding_tokens.get(id).copied().unwrap_or(0);
            if let Some(v) = b.tokens.get_mut(id) {
                *v = remain - outstanding;
            }
        }
        true
    }

    fn adjust_user(&self, user: i32, delta: i64) {
        let mut b = self.lock();
        b.generation += 1;
        if let Some(v) = b.users.get_mut(&user) {
            *v += delta;
        }
    }

    fn adjust_token(&self, token: i32, delta: i64) {
        let mut b = self.lock();
        b.generation += 1;
        if let Some(v) = b.tokens.get_mut(&token) {
            *v += delta;
        }
    }

    fn forget(&self, user: Option<i32>, token: Option<i32>) {
        let mut b = self.lock();
        b.generation += 1;
        if let Some(u) = user {
            b.users.remove(&u);
            b.outstanding_users.remove(&u);
        }
        if let Some(t) = token {
            b.tokens.remove(&t);
            b.outstanding_tokens.remove(&t);
        }
    }

    fn user_balance(&self, user: i32) -> Option<i64> {
        self.lock().users.get(&user).copied()
    }

    fn token_balance(&self, token: i32) -> Option<i64> {
        self.lock().tokens.get(&token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_takes_both_or_neither() {
        let l = MemoryLedger::default();
        l.load(1, 100, Some((7, 30)));
        assert_eq!(
            l.reserve(1, Some(7), 40, true),
            Err(Shortfall::Token { available: 30 })
        );
        assert_eq!(
            (l.user_balance(1), l.token_balance(7)),
            (Some(100), Some(30))
        );
        assert_eq!(l.reserve(1, Some(7), 30, true), Ok(()));
        assert_eq!((l.user_balance(1), l.token_balance(7)), (Some(70), Some(0)));
        assert_eq!(
            l.reserve(1, None, 71, true),
            Err(Shortfall::User { available: 70 })
        );
        assert_eq!(l.reserve(1, None, 70, true), Ok(()));
        assert_eq!(l.user_balance(1), Some(0));
        // A paid call needs a positive balance; a free one does not.
        assert_eq!(
            l.reserve(1, None, 0, true),
            Err(Shortfall::User { available: 0 })
        );
        assert_eq!(l.reserve(1, None, 0, false), Ok(()));
    }

    #[test]
    fn load_keeps_newer_balances_and_credit_settles() {
        let l = MemoryLedger::default();
        l.load(1, 100, None);
        assert_eq!(l.reserve(1, None, 10, true), Ok(()));
        l.load(1, 100, None);
        assert_eq!(
            l.user_balance(1),
            Some(90),
            "a later load does not overwrite"
        );
        l.credit(1, None, 4);
        assert_eq!(l.settle(1, None, 0, 20), 20);
        assert_eq!(l.user_balance(1), Some(74));
        l.adjust_user(1, 1000);
        l.adjust_user(2, 1000);
        assert_eq!((l.user_balance(1), l.user_balance(2)), (Some(1074), None));
    }

    #[test]
    fn settling_past_the_reservation_stops_at_zero() {
        let l = MemoryLedger::default();
        l.load(1, 100, Some((5, 60)));
        assert_eq!(l.reserve(1, Some(5), 50, true), Ok(()));
        // Cost less than reserved: the rest comes back.
        assert_eq!(l.settle(1, Some(5), 50, 20), 20);
        assert_eq!(
            (l.user_balance(1), l.token_balance(5)),
            (Some(80), Some(40))
        );
        assert_eq!(l.reserve(1, Some(5), 30, true), Ok(()));
        // Cost far more: only what the smaller balance (the key's 10) still holds is taken.
        assert_eq!(l.settle(1, Some(5), 30, 10_000), 40);
        assert_eq!((l.user_balance(1), l.token_balance(5)), (Some(40), Some(0)));
    }

    #[test]
    fn a_reloaded_key_keeps_what_it_took() {
        let l = MemoryLedger::default();
        l.load(1, 1000, Some((5, 100)));
        assert_eq!(l.reserve(1, Some(5), 30, true), Ok(()));
        assert_eq!(l.settle(1, Some(5), 30, 30), 30);
        // Switched to unlimited and back before the 30 were committed.
        l.unload(None, Some(5));
        l.load(1, 1000, Some((5, 100)));
        assert_eq!(l.token_balance(5), Some(70));
        l.committed(1, Some(5), 30);
        assert!(l.resync(l.generation(), &[(1, 970)], &[(5, 70)]));
        assert_eq!(l.token_balance(5), Some(70));
    }

    #[test]
    fn resync_keeps_what_is_not_committed_yet() {
        let l = MemoryLedger::default();
        l.load(1, 1000, Some((5, 500)));
        assert_eq!(l.reserve(1, Some(5), 100, true), Ok(()));
        l.credit(1, Some(5), 30); // settled at 70
        assert_eq!(
            (l.user_balance(1), l.token_balance(5)),
            (Some(930), Some(430))
        );
        // Another instance topped the user up by 1000; nothing of ours is committed yet.
        assert!(l.resync(l.generation(), &[(1, 2000)], &[(5, 500)]));
        assert_eq!(
            (l.user_balance(1), l.token_balance(5)),
            (Some(1930), Some(430))
        );
        // Our 70 is committed: the database now shows it.
        let before = l.generation();
        l.committed(1, Some(5), 70);
        assert!(
            !l.resync(before, &[(1, 2000)], &[(5, 500)]),
            "a read from before the commit is dropped"
        );
        assert!(l.resync(l.generation(), &[(1, 1930)], &[(5, 430)]));
        assert_eq!(
            (l.user_balance(1), l.token_balance(5)),
            (Some(1930), Some(430))
        );
        assert_eq!(l.loaded(), (vec![1], vec![5]));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // threads racing for one balance are the test
    fn concurrent_reservations_never_overdraw() {
        let l = std::sync::Arc::new(MemoryLedger::default());
        l.load(1, 1000, None);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| l.reserve(1, None, 3, true).is_ok())
                        .count()
                })
            })
            .collect();
        let ok: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(ok, 333);
        assert_eq!(l.user_balance(1), Some(1));
    }
}

//! Balances held in one process's memory, moved atomically under one lock: the whole balance
//! for [`super::MemoryLedger`], this instance's leased slices for a shared ledger. Beside each
//! balance the book keeps what this instance took and has not committed to the database yet
//! (`outstanding`).

use super::{Account, Payer, Shortfall, TokenId, UserId};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Inner {
    balances: HashMap<Account, i64>,
    /// Taken by this instance's calls and not yet committed to the database.
    outstanding: HashMap<Account, i64>,
    /// Moves on whenever the database changes under a loaded balance (a commit, an `/api`
    /// change); a resync whose database read straddles such a change is dropped.
    generation: u64,
}

impl Inner {
    /// Moves `delta` (positive: more quota) on each of the payer's accounts that is loaded.
    fn shift(&mut self, payer: Payer, delta: i64) {
        for account in payer.accounts() {
            if let Some(v) = self.balances.get_mut(&account) {
                *v += delta;
                *self.outstanding.entry(account).or_insert(0) -= delta;
            }
        }
    }

    fn balance(&self, account: Account) -> i64 {
        self.balances.get(&account).copied().unwrap_or(0)
    }
}

/// Balances in memory; every method takes the one lock once.
#[derive(Debug, Default)]
pub struct Book {
    inner: Mutex<Inner>,
}

impl Book {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether every account of the payer is loaded.
    pub fn has(&self, payer: Payer) -> bool {
        let b = self.lock();
        payer.accounts().all(|a| b.balances.contains_key(&a))
    }

    /// Loads `amount` for an account (less what this instance took and has not committed),
    /// unless it is loaded already (the book is newer).
    pub fn load(&self, account: Account, amount: i64) {
        let mut b = self.lock();
        b.generation += 1;
        let taken = b.outstanding.get(&account).copied().unwrap_or(0);
        b.balances.entry(account).or_insert(amount - taken);
    }

    /// Takes `amount` from every account of the payer, all or none. A paid call needs a
    /// positive balance even when its estimate rounds to nothing.
    pub fn reserve(&self, payer: Payer, amount: i64, paid: bool) -> Result<(), Shortfall> {
        let mut b = self.lock();
        let need = if paid { amount.max(1) } else { amount };
        for account in payer.accounts() {
            let available = b.balance(account);
            if available < need {
                return Err(Shortfall {
                    account,
                    available: available.max(0),
                });
            }
        }
        b.shift_loaded_or_new(payer, amount);
        Ok(())
    }

    /// Gives back `delta` of a reservation.
    pub fn credit(&self, payer: Payer, delta: i64) {
        self.lock().shift(payer, delta);
    }

    /// Settles a reservation of `reserved` against a call that cost `cost`: the difference is
    /// given back, or, when the call cost more, taken only as far as every balance reaches.
    /// Returns what the call is charged.
    pub fn settle(&self, payer: Payer, reserved: i64, cost: i64) -> i64 {
        let mut b = self.lock();
        if cost <= reserved {
            b.shift(payer, reserved - cost);
            return cost;
        }
        let room = payer.accounts().map(|a| b.balance(a)).min().unwrap_or(0);
        let extra = (cost - reserved).min(room.max(0));
        b.shift(payer, -extra);
        reserved + extra
    }

    /// The batch writer committed `quota` of the payer's consumption.
    pub fn committed(&self, payer: Payer, quota: i64) {
        let mut b = self.lock();
        b.generation += 1;
        for account in payer.accounts() {
            if let Some(v) = b.outstanding.get_mut(&account) {
                *v -= quota;
            }
        }
    }

    /// The loaded accounts.
    pub fn loaded(&self) -> Vec<Account> {
        self.lock().balances.keys().copied().collect()
    }

    /// The current generation, read before the database values for [`Book::resync`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Re-bases loaded balances on database values read since `generation`:
    /// `balance = database - outstanding`. Returns false (and changes nothing) when the
    /// database changed under the book meanwhile.
    pub fn resync(&self, generation: u64, values: &[(Account, i64)]) -> bool {
        let mut b = self.lock();
        if b.generation != generation {
            return false;
        }
        for (account, value) in values {
            let outstanding = b.outstanding.get(account).copied().unwrap_or(0);
            if let Some(v) = b.balances.get_mut(account) {
                *v = value - outstanding;
            }
        }
        true
    }

    /// Moves a loaded balance by `delta` without touching what is outstanding (an `/api`
    /// change, a slice leased or given back).
    pub fn adjust(&self, account: Account, delta: i64) {
        let mut b = self.lock();
        b.generation += 1;
        if let Some(v) = b.balances.get_mut(&account) {
            *v += delta;
        }
    }

    /// Empties a loaded balance and returns what it held (when positive).
    pub fn withdraw(&self, account: Account) -> i64 {
        let mut b = self.lock();
        b.generation += 1;
        match b.balances.get_mut(&account) {
            Some(v) if *v > 0 => std::mem::take(v),
            _ => 0,
        }
    }

    /// Drops a balance but keeps what it took and has not committed, so that the next load
    /// (`database - outstanding`) is right.
    pub fn unload(&self, account: Account) {
        let mut b = self.lock();
        b.generation += 1;
        b.balances.remove(&account);
    }

    /// Forgets an account entirely (its owner was deleted).
    pub fn forget(&self, account: Account) {
        let mut b = self.lock();
        b.generation += 1;
        b.balances.remove(&account);
        b.outstanding.remove(&account);
    }

    /// Empties every balance at once (a shared ledger's slices were reclaimed) and returns
    /// what is outstanding per account, which calls under way still hold or owe.
    pub fn drop_slices(&self) -> Vec<(Account, i64)> {
        let mut b = self.lock();
        b.generation += 1;
        for v in b.balances.values_mut() {
            *v = 0;
        }
        b.outstanding
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(a, v)| (*a, *v))
            .collect()
    }

    pub fn balance(&self, account: Account) -> Option<i64> {
        self.lock().balances.get(&account).copied()
    }

    /// A user's balance (a convenience for tests and views).
    pub fn user_balance(&self, user: UserId) -> Option<i64> {
        self.balance(Account::User(user))
    }

    /// A key's balance.
    pub fn token_balance(&self, token: TokenId) -> Option<i64> {
        self.balance(Account::Token(token))
    }
}

impl Inner {
    /// Takes `amount` from every account of the payer (creating a missing one at zero).
    fn shift_loaded_or_new(&mut self, payer: Payer, amount: i64) {
        for account in payer.accounts() {
            *self.balances.entry(account).or_insert(0) -= amount;
            *self.outstanding.entry(account).or_insert(0) += amount;
        }
    }
}

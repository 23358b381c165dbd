//! Balances: the quota of users and API keys moves here atomically during a call; the batch
//! writer later applies the same amounts to the database, the source of truth.
//!
//! A [`Ledger`] is either this process's alone ([`MemoryLedger`]: the whole balance in
//! memory) or shared by several instances (the server's Redis ledger, which leases each
//! instance slices of a balance). Either way a call's money moves in this instance's
//! [`Book`] without waiting on anything: [`Ledger::lease`] (async) first makes sure the book
//! holds enough, then the synchronous reserve, credit and settle work on the book.

mod book;
mod memory;
#[cfg(test)]
mod tests;

pub use book::Book;
pub use memory::{MemoryLedger, read_accounts};

use crate::changes::Change;
use std::future::Future;
use std::pin::Pin;

/// A user's id, as the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i32);

/// An API key's id, as the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub i32);

/// One balance: a user's or a limited key's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    User(UserId),
    Token(TokenId),
}

/// Who pays for a call: the user, and the key when it is limited (both balances move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payer {
    pub user: UserId,
    pub token: Option<TokenId>,
}

impl Payer {
    /// The balances this payer's calls move.
    pub fn accounts(self) -> impl Iterator<Item = Account> {
        std::iter::once(Account::User(self.user)).chain(self.token.map(Account::Token))
    }
}

/// Which balance was too small, and what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub account: Account,
    pub available: i64,
}

impl Shortfall {
    /// Whose balance fell short, and what it held.
    pub fn holder(self) -> (crate::error::Holder, i64) {
        let holder = match self.account {
            Account::User(_) => crate::error::Holder::User,
            Account::Token(_) => crate::error::Holder::Key,
        };
        (holder, self.available)
    }
}

/// What a ledger could not do: its store (the database, Redis) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LedgerError(pub String);

impl From<persistence::DbErr> for LedgerError {
    fn from(e: persistence::DbErr) -> Self {
        LedgerError(format!("reading balances: {e}"))
    }
}

/// What a ledger's async methods return.
pub type LedgerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LedgerError>> + Send + 'a>>;

/// What a payer can spend: the user's balance, and the limited key's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spendable {
    pub user: i64,
    pub token: Option<i64>,
}

/// Balances as one instance sees them.
pub trait Ledger: Send + Sync {
    /// Makes sure this instance's book holds the payer's balances (read on first use) and,
    /// for a shared ledger, at least `amount` of each where the shared balance allows. It
    /// never fails for want of money: the reservation that follows says so.
    fn lease(&self, payer: Payer, amount: i64) -> LedgerFuture<'_, ()>;
    /// The payer's spendable balances, wherever they are held.
    fn balance(&self, payer: Payer) -> LedgerFuture<'_, Spendable>;
    /// The book a call's money moves in (credit, settle): memory only.
    fn book(&self) -> &Book;
    /// Takes `amount` from what this instance's book holds, without waiting (both balances
    /// or neither). A shared ledger refuses while its lease on the slices is not current.
    fn reserve(&self, payer: Payer, amount: i64, paid: bool) -> Result<(), Shortfall> {
        self.book().reserve(payer, amount, paid)
    }
    /// The batch writer committed `quota` of the payer's consumption to the database.
    fn committed(&self, payer: Payer, quota: i64);
    /// A change that touches money, made through this instance (`local`) or another one.
    fn apply<'a>(&'a self, change: &'a Change, local: bool) -> LedgerFuture<'a, ()>;
    /// Re-reads the database under what is loaded (the fallback when a change is missed).
    fn resync(&self) -> LedgerFuture<'_, ()>;
}

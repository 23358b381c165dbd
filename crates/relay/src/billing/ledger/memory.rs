//! The ledger of a single instance: whole balances in memory, loaded from the database on
//! first use. The book also tracks what this instance took but has not committed yet, so
//! `balance = database - outstanding`; changes made through this instance's `/api` move it by
//! their deltas, and a resync re-reads the database (what another instance sharing it did).

use super::{Account, Book, Ledger, LedgerFuture, Payer, Spendable};
use crate::changes::Change;
use persistence::DatabaseConnection;

pub struct MemoryLedger {
    book: Book,
    db: DatabaseConnection,
}

impl MemoryLedger {
    pub fn new(db: DatabaseConnection) -> Self {
        MemoryLedger {
            book: Book::default(),
            db,
        }
    }
}

/// Reads accounts' balances from the database: users' quota, keys' remaining quota.
pub async fn read_accounts(
    db: &DatabaseConnection,
    accounts: &[Account],
) -> Result<Vec<(Account, i64)>, persistence::DbErr> {
    let (mut users, mut tokens) = (Vec::new(), Vec::new());
    for a in accounts {
        match a {
            Account::User(u) => users.push(u.0),
            Account::Token(t) => tokens.push(t.0),
        }
    }
    let mut out = Vec::with_capacity(accounts.len());
    if !users.is_empty() {
        let read = persistence::users::quotas(db, &users).await?;
        out.extend(
            read.into_iter()
                .map(|(id, q)| (Account::User(super::UserId(id)), q)),
        );
    }
    if !tokens.is_empty() {
        let read = persistence::tokens::remains(db, &tokens).await?;
        out.extend(
            read.into_iter()
                .map(|(id, q)| (Account::Token(super::TokenId(id)), q)),
        );
    }
    Ok(out)
}

/// Loads into `book` the payer's accounts it lacks, read from the database (an account the
/// database lacks holds nothing).
pub async fn load_missing(
    book: &Book,
    db: &DatabaseConnection,
    payer: Payer,
) -> Result<(), persistence::DbErr> {
    if book.has(payer) {
        return Ok(());
    }
    let accounts: Vec<Account> = payer.accounts().collect();
    let read = read_accounts(db, &accounts).await?;
    for account in accounts {
        let value = read.iter().find(|(a, _)| *a == account).map_or(0, |r| r.1);
        book.load(account, value);
    }
    Ok(())
}

impl Ledger for MemoryLedger {
    fn lease(&self, payer: Payer, _amount: i64) -> LedgerFuture<'_, ()> {
        Box::pin(async move { Ok(load_missing(&self.book, &self.db, payer).await?) })
    }

    fn balance(&self, payer: Payer) -> LedgerFuture<'_, Spendable> {
        Box::pin(async move {
            load_missing(&self.book, &self.db, payer).await?;
            Ok(Spendable {
                user: self.book.user_balance(payer.user).unwrap_or(0),
                token: payer.token.map(|t| self.book.token_balance(t).unwrap_or(0)),
            })
        })
    }

    fn book(&self) -> &Book {
        &self.book
    }

    fn committed(&self, payer: Payer, quota: i64) {
        self.book.committed(payer, quota);
    }

    fn apply<'a>(&'a self, change: &'a Change, local: bool) -> LedgerFuture<'a, ()> {
        let book = &self.book;
        match (*change, local) {
            // A quota moved through this instance moves the loaded balance by as much.
            (Change::User { id, quota_delta }, true) => {
                book.adjust(Account::User(super::UserId(id)), quota_delta)
            }
            (Change::Token { id, quota_delta }, true) => {
                book.adjust(Account::Token(super::TokenId(id)), quota_delta)
            }
            // Elsewhere: re-read on next use, less what this instance has not committed.
            (Change::User { id, .. }, false) => book.unload(Account::User(super::UserId(id))),
            (Change::Token { id, .. } | Change::TokenLimitSwitched { id }, _) => {
                book.unload(Account::Token(super::TokenId(id)))
            }
            (Change::UserDeleted { id }, _) => book.forget(Account::User(super::UserId(id))),
            (Change::TokenDeleted { id }, _) => book.forget(Account::Token(super::TokenId(id))),
            (Change::Channels | Change::Options, _) => {}
        }
        Box::pin(async { Ok(()) })
    }

    fn resync(&self) -> LedgerFuture<'_, ()> {
        Box::pin(async move {
            let generation = self.book.generation();
            let accounts = self.book.loaded();
            if accounts.is_empty() {
                return Ok(());
            }
            let values = read_accounts(&self.db, &accounts).await?;
            self.book.resync(generation, &values);
            Ok(())
        })
    }
}

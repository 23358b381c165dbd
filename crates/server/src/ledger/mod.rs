//! The ledger shared by several instances through Redis. Each instance leases slices of a
//! balance into its own [`Book`] and spends them there without touching the network; the
//! sum of what is leased never exceeds the balance (Redis's scripts move `avail` and the
//! instance's holding in one step). Slices unused for a round go back; a commit of the batch
//! writer shrinks the holding it covered.
//!
//! Each process registers under a fresh id and renews it every quarter of the lease time;
//! its slices are spent only while the last renewal is younger than half the lease time.
//! The holdings of an instance that stops renewing (a crash) are reclaimed by the others once
//! the lease time has passed: its account is re-based on the database, so what it spent and
//! never committed is not charged. An instance that finds its registration lapsed (it was
//! cut off from Redis past the lease) drops its slices, registers under a new id and holds
//! again, whatever is left, what its calls under way reserved. Redis must keep these keys
//! (`noeviction`).
//!
//! Where a Redis reply is lost after the script ran (a timeout), the ledger errs towards
//! holding too much, never too little: the slice or commit in doubt stays counted as this
//! instance's until it is reclaimed.

mod scripts;

use deadpool_redis::redis;
use persistence::DatabaseConnection;
use relay::Change;
use relay::Jobs;
use relay::billing::ledger::read_accounts;
use relay::billing::{
    Account, Book, Ledger, LedgerError, LedgerFuture, Payer, Shortfall, Spendable, TokenId, UserId,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What an instance knows of itself.
struct State {
    /// This incarnation's id: a fresh one after a lapse, so old holdings stay apart.
    instance: String,
    /// When the current registration stops covering spending from the book.
    valid_until: Option<Instant>,
    /// What calls under way hold, to be held again under a new id after a lapse.
    owed: Vec<(Account, i64)>,
    /// Accounts leased or spent from since the last round (their slices stay).
    recent: HashSet<Account>,
    /// Commits not yet told to Redis: (incarnation, account) -> quota.
    commits: HashMap<(String, Account), i64>,
}

pub struct RedisLedger {
    book: Book,
    db: DatabaseConnection,
    pool: deadpool_redis::Pool,
    prefix: String,
    lease: Duration,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    /// One renewal at a time: two could otherwise register two ids.
    renewing: tokio::sync::Mutex<()>,
}

fn new_instance() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn redis_error(e: impl std::fmt::Display) -> LedgerError {
    LedgerError(format!("Redis: {e}"))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RedisLedger {
    /// A ledger on `pool`, its keys under the deployment's namespace; `lease` bounds how long a
    /// crashed instance's slices stay out of reach.
    pub fn new(
        db: DatabaseConnection,
        pool: deadpool_redis::Pool,
        session_secret: &[u8],
        lease: Duration,
    ) -> Arc<RedisLedger> {
        let digest = crate::namespace(session_secret);
        Arc::new(RedisLedger {
            book: Book::default(),
            db,
            pool,
            prefix: format!("gateway:{}:ledger:", &digest[..16.min(digest.len())]),
            lease: lease.max(Duration::from_secs(1)),
            state: Mutex::new(State {
                instance: new_instance(),
                valid_until: None,
                owed: Vec::new(),
                recent: HashSet::new(),
                commits: HashMap::new(),
            }),
            wake: tokio::sync::Notify::new(),
            renewing: tokio::sync::Mutex::new(()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(&self, account: Account) -> String {
        match account {
            Account::User(UserId(id)) => format!("{}u:{id}", self.prefix),
            Account::Token(TokenId(id)) => format!("{}t:{id}", self.prefix),
        }
    }

    fn account_of(&self, key: &str) -> Option<Account> {
        let rest = key.strip_prefix(&self.prefix)?;
        let (kind, id) = rest.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "u" => Some(Account::User(UserId(id))),
            "t" => Some(Account::Token(TokenId(id))),
            _ => None,
        }
    }

    fn instances_key(&self) -> String {
        format!("{}instances", self.prefix)
    }

    fn held_key(&self, instance: &str) -> String {
        format!("{}held:{instance}", self.prefix)
    }

    /// A pooled connection; never held while another is awaited (the pool could run dry).
    async fn conn(&self) -> Result<deadpool_redis::Connection, LedgerError> {
        self.pool.get().await.map_err(redis_error)
    }

    /// Runs one command on a connection held only for it.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, LedgerError> {
        let mut conn = self.conn().await?;
        cmd.query_async(&mut conn).await.map_err(redis_error)
    }

    fn valid(&self) -> bool {
        self.state()
            .valid_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// Renews (or makes) this instance's registration; a lapsed one is replaced.
    async fn renew(&self) -> Result<(), LedgerError> {
        let _one = self.renewing.lock().await;
        self.renew_locked().await
    }

    /// A lease found the registration `seen` lapsed: it is replaced (unless that happened
    /// meanwhile).
    async fn lapsed(&self, seen: &str) -> Result<(), LedgerError> {
        let _one = self.renewing.lock().await;
        if self.state().instance == seen {
            self.switch_registration();
        }
        self.renew_locked().await
    }

    async fn renew_locked(&self) -> Result<(), LedgerError> {
        for _ in 0..2 {
            let (instance, fresh) = {
                let s = self.state();
                (s.instance.clone(), s.valid_until.is_none())
            };
            let mut conn = self.conn().await?;
            let sent = Instant::now();
            let renewed: i64 = redis::cmd("EVAL")
                .arg(scripts::heartbeat())
                .arg(1)
                .arg(self.instances_key())
                .arg(&instance)
                .arg(millis(self.lease))
                .arg(if fresh { "1" } else { "0" })
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            drop(conn);
            if renewed == 0 {
                self.switch_registration();
                continue;
            }
            // What calls under way held when a registration lapsed is held again first.
            let owed = std::mem::take(&mut self.state().owed);
            for (i, (account, amount)) in owed.iter().enumerate() {
                if let Err(e) = self.hold_again(&instance, *account, *amount).await {
                    self.state().owed.extend_from_slice(&owed[i..]);
                    return Err(e);
                }
            }
            self.state().valid_until = Some(sent + self.lease / 2);
            return Ok(());
        }
        Err(LedgerError("Redis: the registration lapsed again".into()))
    }

    /// The registration lapsed, so its holdings may be reclaimed already: the book's slices
    /// are dropped and a new id is taken, which is to hold again what calls under way
    /// reserved or spent without a commit yet. Slices, id and that amount change under the
    /// state's lock, so a commit or refund lands wholly on one side of the switch.
    fn switch_registration(&self) {
        tracing::warn!("this instance's ledger registration lapsed; registering anew");
        let mut s = self.state();
        s.owed = self.book.drop_slices();
        s.instance = new_instance();
        s.valid_until = None;
    }

    /// Holds `amount` of an account under `instance`, creating the account when missing.
    async fn hold_again(
        &self,
        instance: &str,
        account: Account,
        amount: i64,
    ) -> Result<(), LedgerError> {
        for _ in 0..2 {
            let mut conn = self.conn().await?;
            let held: i64 = redis::cmd("EVAL")
                .arg(scripts::HOLD)
                .arg(2)
                .arg(self.held_key(instance))
                .arg(self.key(account))
                .arg(instance)
                .arg(amount)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if held == 0 {
                return Ok(());
            }
            drop(conn);
            self.init(&[account]).await?;
        }
        Ok(())
    }

    /// Registers when this instance is not, so that it may lease.
    async fn registered(&self) -> Result<String, LedgerError> {
        if !self.valid() {
            self.renew().await?;
        }
        Ok(self.state().instance.clone())
    }

    /// Creates the payer's missing accounts in Redis from the database.
    async fn init(&self, accounts: &[Account]) -> Result<(), LedgerError> {
        let values = read_accounts(&self.db, accounts).await?;
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        for account in accounts {
            let value = values.iter().find(|(a, _)| a == account).map_or(0, |v| v.1);
            pipe.cmd("EVAL")
                .arg(scripts::INIT)
                .arg(1)
                .arg(self.key(*account))
                .arg(value)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.map_err(redis_error)
    }

    /// Leases what the book lacks of `amount` on each account (plus some ahead).
    async fn lease_more(&self, payer: Payer, amount: i64) -> Result<(), LedgerError> {
        let accounts: Vec<Account> = payer.accounts().collect();
        for account in &accounts {
            if self.book.balance(*account).is_none() {
                self.book.load(*account, 0);
            }
        }
        for _ in 0..3 {
            let needs: Vec<i64> = accounts
                .iter()
                .map(|a| (amount - self.book.balance(*a).unwrap_or(0)).max(0))
                .collect();
            if needs.iter().all(|n| *n == 0) {
                return Ok(());
            }
            let instance = self.registered().await?;
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(scripts::lease())
                .arg(accounts.len() + 2)
                .arg(self.instances_key())
                .arg(self.held_key(&instance));
            for a in &accounts {
                cmd.arg(self.key(*a));
            }
            cmd.arg(&instance);
            for n in &needs {
                cmd.arg(*n).arg(amount);
            }
            let answer: Vec<i64> = self.query(&cmd).await?;
            match answer.first() {
                Some(0) => {
                    for (a, grant) in accounts.iter().zip(answer.iter().skip(1)) {
                        self.book.adjust(*a, *grant);
                    }
                    return Ok(());
                }
                Some(-1) => self.lapsed(&instance).await?,
                Some(-2) => self.init(&accounts).await?,
                // Short: what this instance holds goes back, so that slices scattered over
                // instances come together again; the reservation says what is short.
                _ => {
                    for a in &accounts {
                        self.give_back(*a).await?;
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// What no instance holds of each account (created from the database when missing).
    async fn unheld(&self, accounts: &[Account]) -> Result<Vec<i64>, LedgerError> {
        for attempt in 0..2 {
            let mut conn = self.conn().await?;
            let mut pipe = redis::pipe();
            for a in accounts {
                pipe.cmd("HGET").arg(self.key(*a)).arg("avail");
            }
            let read: Vec<Option<i64>> = pipe.query_async(&mut conn).await.map_err(redis_error)?;
            if read.iter().all(Option::is_some) || attempt == 1 {
                return Ok(read.into_iter().map(Option::unwrap_or_default).collect());
            }
            drop(conn);
            self.init(accounts).await?;
        }
        Ok(vec![0; accounts.len()])
    }

    /// Re-bases accounts on the database (dropping a dead instance's holding when given):
    /// answers the accounts whose re-base a concurrent commit overtook (to try again).
    async fn rebase(
        &self,
        accounts: &[Account],
        dead: Option<&str>,
    ) -> Result<Vec<Account>, LedgerError> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        for a in accounts {
            pipe.cmd("HGET").arg(self.key(*a)).arg("gen");
        }
        let gens: Vec<Option<String>> = pipe.query_async(&mut conn).await.map_err(redis_error)?;
        let values = read_accounts(&self.db, accounts).await?;
        let mut pipe = redis::pipe();
        for (a, generation) in accounts.iter().zip(&gens) {
            let value = values.iter().find(|(v, _)| v == a).map_or(0, |v| v.1);
            pipe.cmd("EVAL")
                .arg(scripts::REBASE)
                .arg(1)
                .arg(self.key(*a))
                .arg(generation.as_deref().unwrap_or(""))
                .arg(value)
                .arg(dead.unwrap_or(""));
        }
        let done: Vec<i64> = pipe.query_async(&mut conn).await.map_err(redis_error)?;
        Ok(accounts
            .iter()
            .zip(done)
            .filter(|(_, d)| *d == 0)
            .map(|(a, _)| *a)
            .collect())
    }

    /// Gives an account's slice back to what no instance holds.
    async fn give_back(&self, account: Account) -> Result<(), LedgerError> {
        if self.book.balance(account).unwrap_or(0) <= 0 {
            return Ok(());
        }
        // The connection first: without one, the slice stays in the book.
        let mut conn = self.conn().await?;
        let amount = self.book.withdraw(account);
        if amount == 0 {
            return Ok(());
        }
        let instance = self.state().instance.clone();
        // A reply lost after the script ran leaves the slice counted as this instance's in
        // Redis: held too long, never spent twice.
        redis::cmd("EVAL")
            .arg(scripts::GIVE_BACK)
            .arg(1)
            .arg(self.key(account))
            .arg(&instance)
            .arg(amount)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    /// Tells Redis the commits the batch writer made. Without a connection they wait for
    /// the next round; a pipeline that failed midway is not sent again (a commit applied twice
    /// would free quota twice; one not applied keeps it held until this instance is gone).
    async fn flush_commits(&self) -> Result<(), LedgerError> {
        let mut conn = self.conn().await?;
        let commits: Vec<((String, Account), i64)> = self.state().commits.drain().collect();
        if commits.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for ((instance, account), quota) in &commits {
            pipe.cmd("EVAL")
                .arg(scripts::COMMIT)
                .arg(1)
                .arg(self.key(*account))
                .arg(instance)
                .arg(*quota)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.map_err(redis_error)
    }

    /// Reclaims the holdings of instances whose registration lapsed.
    async fn sweep(&self) -> Result<(), LedgerError> {
        let mut lapsed = redis::cmd("EVAL");
        lapsed
            .arg(scripts::lapsed())
            .arg(1)
            .arg(self.instances_key());
        let dead: Vec<String> = self.query(&lapsed).await?;
        for instance in dead {
            let keys: Vec<String> = self
                .query(redis::cmd("SMEMBERS").arg(self.held_key(&instance)))
                .await?;
            let accounts: Vec<Account> = keys.iter().filter_map(|k| self.account_of(k)).collect();
            if !self.rebase(&accounts, Some(&instance)).await?.is_empty() {
                continue; // overtaken by a commit: the next round tries again
            }
            let mut conn = self.conn().await?;
            redis::pipe()
                .cmd("DEL")
                .arg(self.held_key(&instance))
                .ignore()
                .cmd("ZREM")
                .arg(self.instances_key())
                .arg(&instance)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(redis_error)?;
            tracing::info!(
                accounts = accounts.len(),
                "reclaimed a lapsed instance's ledger slices"
            );
        }
        Ok(())
    }

    /// One round of upkeep (the loop of [`RedisLedger::maintain`] runs one every quarter
    /// lease): renew, tell commits, give back idle slices, reclaim the dead.
    pub async fn round(&self) -> Result<(), LedgerError> {
        self.renew().await?;
        self.flush_commits().await?;
        let recent = std::mem::take(&mut self.state().recent);
        for account in self.book.loaded() {
            if !recent.contains(&account) {
                self.give_back(account).await?;
            }
        }
        self.sweep().await
    }

    /// Runs the upkeep until the relay stops, then gives every slice back and tells the
    /// commits made so far (later ones are settled when its registration is reclaimed).
    pub async fn maintain(self: Arc<Self>, jobs: Jobs) {
        let mut stop = std::pin::pin!(jobs.cancelled());
        // A fixed beat: commits waking the loop in between never put a round off.
        let mut beat = tokio::time::interval(self.lease / 4);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if let Err(e) = self.round().await {
                        tracing::warn!(error = %e, "ledger upkeep failed");
                    }
                }
                _ = self.wake.notified() => {
                    if let Err(e) = self.flush_commits().await {
                        tracing::warn!(error = %e, "telling Redis of billing commits failed");
                    }
                }
                _ = &mut stop => break,
            }
        }
        for account in self.book.loaded() {
            if let Err(e) = self.give_back(account).await {
                tracing::warn!(error = %e, "giving a ledger slice back failed");
            }
        }
        if let Err(e) = self.flush_commits().await {
            tracing::warn!(error = %e, "telling Redis of billing commits failed");
        }
    }
}

impl Ledger for RedisLedger {
    fn lease(&self, payer: Payer, amount: i64) -> LedgerFuture<'_, ()> {
        Box::pin(async move {
            {
                let mut s = self.state();
                s.recent.extend(payer.accounts());
            }
            self.lease_more(payer, amount).await
        })
    }

    fn balance(&self, payer: Payer) -> LedgerFuture<'_, Spendable> {
        Box::pin(async move {
            let accounts: Vec<Account> = payer.accounts().collect();
            let unheld = self.unheld(&accounts).await?;
            let total = |i: usize| {
                let held = if self.valid() {
                    self.book.balance(accounts[i]).unwrap_or(0).max(0)
                } else {
                    0
                };
                held + unheld[i]
            };
            Ok(Spendable {
                user: total(0),
                token: payer.token.map(|_| total(1)),
            })
        })
    }

    fn book(&self) -> &Book {
        &self.book
    }

    fn reserve(&self, payer: Payer, amount: i64, paid: bool) -> Result<(), Shortfall> {
        if !self.valid() {
            return Err(Shortfall {
                account: Account::User(payer.user),
                available: 0,
            });
        }
        self.book.reserve(payer, amount, paid)
    }

    fn committed(&self, payer: Payer, quota: i64) {
        // Under the state's lock, so the commit is told under the id that holds it.
        let mut s = self.state();
        self.book.committed(payer, quota);
        let instance = s.instance.clone();
        for account in payer.accounts() {
            *s.commits.entry((instance.clone(), account)).or_insert(0) += quota;
        }
        drop(s);
        self.wake.notify_one();
    }

    fn apply<'a>(&'a self, change: &'a Change, local: bool) -> LedgerFuture<'a, ()> {
        Box::pin(async move {
            // A lowered quota takes back what instances hold of it, as a stop does.
            let (account, returned) = match *change {
                Change::User { id, quota_delta } if quota_delta != 0 => {
                    (Account::User(UserId(id)), quota_delta < 0)
                }
                Change::Token { id, quota_delta } if quota_delta != 0 => {
                    (Account::Token(TokenId(id)), quota_delta < 0)
                }
                Change::TokenLimitSwitched { id } | Change::TokenDeleted { id } => {
                    (Account::Token(TokenId(id)), true)
                }
                Change::UserDeleted { id } => (Account::User(UserId(id)), true),
                _ => return Ok(()),
            };
            if returned {
                // Every instance gives back what it holds of an account that stops paying.
                self.give_back(account).await?;
            }
            if local {
                // The database holds the change: the account is re-based on it, once.
                for _ in 0..5 {
                    if self.rebase(&[account], None).await?.is_empty() {
                        break;
                    }
                }
            }
            Ok(())
        })
    }

    fn resync(&self) -> LedgerFuture<'_, ()> {
        Box::pin(async move {
            self.rebase(&self.book.loaded(), None).await?;
            Ok(())
        })
    }
}

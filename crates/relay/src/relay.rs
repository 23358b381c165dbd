//! The relay's shared state: built with [`RelayBuilder`], told about changes made elsewhere
//! through its change methods, and stopped with [`Relay::shutdown`], which waits for its
//! background tasks (the cache refresh and the billing writer).

use crate::billing::{Ledger, MemoryLedger};
use crate::client::HttpClient;
use crate::directory::Directory;
use crate::health::FailureCounter;
use crate::routing::Router;
use domain::pricing::PriceTable;
use persistence::billing::{BillingRecord, BillingWriter};
use persistence::options::OptionStore;
use persistence::{DatabaseConnection, DbErr, users};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// A relay: cheap to clone, every clone the same relay.
#[derive(Clone)]
pub struct Relay {
    pub(crate) s: Arc<Shared>,
}

pub(crate) struct Shared {
    pub db: DatabaseConnection,
    pub options: Arc<OptionStore>,
    pub http: HttpClient,
    pub directory: Directory,
    pub router: Router,
    pub ledger: Arc<dyn Ledger>,
    pub billing: BillingWriter,
    pub failures: FailureCounter,
    prices: RwLock<(usize, Arc<PriceTable>)>,
    background: Mutex<Option<Background>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Builds a [`Relay`] on a database connection.
pub struct RelayBuilder {
    db: DatabaseConnection,
    options: Option<Arc<OptionStore>>,
    http: Option<HttpClient>,
    billing_window: Duration,
    sync_interval: Option<Duration>,
}

impl RelayBuilder {
    /// A relay on `db` (migrated, as `persistence::connect` leaves it).
    pub fn new(db: DatabaseConnection) -> Self {
        RelayBuilder {
            db,
            options: None,
            http: None,
            billing_window: Duration::from_millis(200),
            sync_interval: None,
        }
    }

    /// Shares an option store (by default the relay loads its own).
    pub fn options(mut self, options: Arc<OptionStore>) -> Self {
        self.options = Some(options);
        self
    }

    /// Shares an HTTP client (by default the relay makes its own).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// The longest wait of a billing record before its batch is committed (default 200 ms).
    pub fn billing_window(mut self, window: Duration) -> Self {
        self.billing_window = window.max(Duration::from_millis(1));
        self
    }

    /// Re-reads, every `interval`, what other processes sharing the database changed: routes,
    /// cached keys and users, loaded balances, options. Off by default.
    pub fn sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = Some(interval.max(Duration::from_secs(1)));
        self
    }

    /// Loads routes and options and starts the background thread: the billing writer, and the
    /// sync loop when an interval is set.
    pub async fn build(self) -> Result<Relay, DbErr> {
        let options = match self.options {
            Some(o) => o,
            None => Arc::new(OptionStore::load(&self.db).await?),
        };
        let router = Router::default();
        router.reload(&self.db).await?;
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let (stop, _) = tokio::sync::watch::channel(false);
        let (background, billing) =
            Background::start(self.db.clone(), self.billing_window, ledger.clone()).map_err(
                |e| DbErr::Custom(format!("starting the relay's background thread: {e}")),
            )?;
        let relay = Relay {
            s: Arc::new(Shared {
                db: self.db,
                options,
                http: self.http.unwrap_or_default(),
                directory: Directory::default(),
                router,
                ledger,
                billing,
                failures: FailureCounter::default(),
                prices: RwLock::new((0, Arc::new(PriceTable::default()))),
                background: Mutex::new(Some(background)),
                stop,
            }),
        };
        if let Some(interval) = self.sync_interval
            && let Some(background) = relay.background().as_ref()
        {
            background
                .handle
                .spawn(sync_loop(Arc::downgrade(&relay.s), interval));
        }
        Ok(relay)
    }
}

/// Records per billing commit (a commit also comes when the oldest record has waited the
/// billing window): a commit rewrites the log table's index pages it touches, so under load a
/// larger batch writes far fewer pages per record; the writer runs at the lowest priority, so
/// a longer commit does not hold calls back.
const BILLING_BATCH: usize = 1000;
/// How much lower than calls the background thread runs (Unix niceness, the lowest): calls
/// hold back when billing falls behind (`BILLING_BACKLOG`), so it is never starved for long.
const BACKGROUND_NICENESS: i32 = 19;
/// Records queued for billing past which new calls wait for the writer to catch up.
pub(crate) const BILLING_BACKLOG: usize = 10 * BILLING_BATCH;

/// The relay's background work (billing commits, the sync loop) on a thread of its own, run at
/// a lower CPU priority than request handling: on a busy core a commit then waits for calls
/// instead of calls waiting for the commit (docs/benchmarks.md has the measurements).
struct Background {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Background {
    fn start(
        db: DatabaseConnection,
        window: Duration,
        ledger: Arc<dyn Ledger>,
    ) -> std::io::Result<(Background, BillingWriter)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let on_commit = Box::new(move |r: &BillingRecord| {
            ledger.committed(
                r.user_id,
                (!r.token_unlimited).then_some(r.token_id),
                r.quota,
            );
        });
        let (billing, writer) = {
            let _entered = runtime.enter();
            BillingWriter::start(db, window, BILLING_BATCH, Some(on_commit))
        };
        std::thread::Builder::new()
            .name("relay-background".into())
            .spawn(move || {
                if let Err(e) = rustix::process::setpriority_process(None, BACKGROUND_NICENESS) {
                    tracing::debug!(error = %e, "could not lower the background thread's priority");
                }
                // Runs the tasks until the relay stops, then lets the writer commit what is left.
                runtime.block_on(async {
                    let _ = stop_rx.await;
                    let _ = writer.await;
                });
                drop(runtime);
                let _ = done_tx.send(());
            })?;
        Ok((Background { handle, stop, done }, billing))
    }
}

/// Re-reads what others changed every `interval` until the relay stops (or is dropped: the
/// loop holds it weakly, so a relay dropped without `shutdown` still ends its thread).
async fn sync_loop(shared: std::sync::Weak<Shared>, interval: Duration) {
    let Some(mut stop) = shared.upgrade().map(|s| s.stop.subscribe()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let Some(s) = shared.upgrade() else {
            return;
        };
        if let Err(e) = (Relay { s }).sync().await {
            tracing::warn!(error = %e, "re-reading shared state failed");
        }
    }
}

/// A caller's spendable quota and what it has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub remaining: i64,
    pub used: i64,
}

impl Relay {
    /// A builder on `db`.
    pub fn builder(db: DatabaseConnection) -> RelayBuilder {
        RelayBuilder::new(db)
    }

    fn background(&self) -> std::sync::MutexGuard<'_, Option<Background>> {
        self.s
            .background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-reads routes, cached keys and users, loaded balances and options from the database
    /// (what other instances sharing it changed).
    pub async fn sync(&self) -> Result<(), DbErr> {
        self.s.directory.refresh(&self.s.db).await?;
        self.resync_balances().await?;
        self.s.router.reload(&self.s.db).await?;
        self.s.options.reload(&self.s.db).await
    }

    /// Re-reads the loaded balances, bringing in what other instances changed. Skipped when a
    /// commit or change lands during the read; the next round catches up.
    async fn resync_balances(&self) -> Result<(), DbErr> {
        let ledger = &self.s.ledger;
        let generation = ledger.generation();
        let (user_ids, token_ids) = ledger.loaded();
        if user_ids.is_empty() && token_ids.is_empty() {
            return Ok(());
        }
        let users = users::quotas(&self.s.db, &user_ids).await?;
        let tokens = persistence::tokens::remains(&self.s.db, &token_ids).await?;
        ledger.resync(generation, &users, &tokens);
        Ok(())
    }

    /// Channels or their abilities changed: routes are reloaded now.
    pub async fn channels_changed(&self) -> Result<(), DbErr> {
        self.s.router.reload(&self.s.db).await
    }

    /// Options changed in the database: reloaded now.
    pub async fn options_changed(&self) -> Result<(), DbErr> {
        self.s.options.reload(&self.s.db).await
    }

    /// A user changed (status, role, group): the next call reads them again. `quota_delta` is
    /// how much their quota moved (top-up, admin edit).
    pub fn user_changed(&self, user: i32, quota_delta: i64) {
        self.s.directory.forget_user(user);
        if quota_delta != 0 {
            self.s.ledger.adjust_user(user, quota_delta);
        }
    }

    /// A user was deleted.
    pub fn user_deleted(&self, user: i32) {
        self.s.directory.forget_user(user);
        self.s.ledger.forget(Some(user), None);
    }

    /// An API key changed (status, limits, expiry): the next call reads it again.
    /// `quota_delta` is how much its remaining quota moved.
    pub fn token_changed(&self, token: i32, quota_delta: i64) {
        self.s.directory.forget_token(token);
        if quota_delta != 0 {
            self.s.ledger.adjust_token(token, quota_delta);
        }
    }

    /// An API key switched between limited and unlimited: its view and its balance are read
    /// again on next use (less what it took and has not committed).
    pub fn token_limit_switched(&self, token: i32) {
        self.s.directory.forget_token(token);
        self.s.ledger.unload_token(token);
    }

    /// An API key was deleted: its view and balance are dropped.
    pub fn token_deleted(&self, token: i32) {
        self.s.directory.forget_token(token);
        self.s.ledger.forget(None, Some(token));
    }

    /// A user's quota as this relay's ledger holds it (what the database holds minus what
    /// is not committed yet); `None` until the user's first call.
    pub fn user_quota(&self, user: i32) -> Option<i64> {
        self.s.ledger.user_balance(user)
    }

    /// Commits every billing record queued so far.
    pub async fn flush_billing(&self) {
        self.s.billing.flush().await;
    }

    /// Commits pending billing, stops the sync loop and the billing writer, and waits for the
    /// background thread to end.
    pub async fn shutdown(&self) {
        self.s.billing.flush().await;
        self.s.stop.send_replace(true);
        self.s.billing.stop();
        let background = self.background().take();
        if let Some(background) = background {
            let _ = background.stop.send(());
            let _ = background.done.await;
        }
    }

    /// The price table of the current options (rebuilt only when options changed).
    pub(crate) fn prices(&self) -> Arc<PriceTable> {
        let snapshot = self.s.options.snapshot();
        let tag = Arc::as_ptr(&snapshot) as usize;
        {
            let cached = self
                .s
                .prices
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cached.0 == tag {
                return cached.1.clone();
            }
        }
        let table = Arc::new(PriceTable::from_options(|k| {
            snapshot.get(k).map(String::as_str)
        }));
        *self
            .s
            .prices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (tag, table.clone());
        table
    }
}

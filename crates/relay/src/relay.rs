//! The relay's shared state: built with [`RelayBuilder`], told about changes made elsewhere
//! through its change methods, and stopped with [`Relay::shutdown`], which waits for its
//! background work ([`Jobs`]), the billing writer last.

use crate::billing::{Ledger, MemoryLedger, Payer, TokenId, UserId};
use crate::client::HttpClient;
use crate::directory::Directory;
use crate::jobs::Jobs;
use crate::routing::Router;
use domain::pricing::PriceTable;
use persistence::billing::{BillingRecord, BillingWriter};
use persistence::options::OptionStore;
use persistence::{DatabaseConnection, DbErr};
use std::sync::{Arc, RwLock};
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
    pub jobs: Jobs,
    /// Where changes are published for other instances (none: a single instance).
    pub bus: Option<Arc<dyn crate::changes::ChangeBus>>,
    /// The rate limits' counters (shared through Redis by the server, else in memory).
    pub counters: Arc<dyn crate::limits::Counters>,
    /// The price table and the options version it was built from.
    prices: RwLock<(u64, Arc<PriceTable>)>,
    /// The background thread's runtime (the sync loop and the poller run there).
    pub background: tokio::runtime::Handle,
    shutdown_bound: Duration,
    /// How long upstreams are waited for (the connect timeout is the HTTP client's).
    pub timeouts: crate::client::UpstreamTimeouts,
    /// Set when the shutdown grace is over: streams still open end then.
    pub ending: Arc<std::sync::atomic::AtomicBool>,
    /// Durable billing: a call's bill is committed before the last bytes of its answer leave.
    pub durable: bool,
}

/// Builds a [`Relay`] on a database connection.
pub struct RelayBuilder {
    db: DatabaseConnection,
    options: Option<Arc<OptionStore>>,
    http: Option<HttpClient>,
    billing_window: Duration,
    sync_interval: Option<Duration>,
    shutdown_bound: Duration,
    task_polling: Option<(Duration, Duration)>,
    bus: Option<Arc<dyn crate::changes::ChangeBus>>,
    counters: Option<Arc<dyn crate::limits::Counters>>,
    ledger: Option<Arc<dyn Ledger>>,
    log_retention: Option<Duration>,
    timeouts: crate::client::UpstreamTimeouts,
    durable: bool,
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
            shutdown_bound: Duration::from_secs(30),
            task_polling: Some((Duration::from_secs(15), Duration::from_secs(86_400))),
            bus: None,
            counters: None,
            ledger: None,
            log_retention: Some(Duration::from_secs(3600)),
            timeouts: Default::default(),
            durable: false,
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

    /// How long shutdown waits for background work (answers being read, sessions, checks)
    /// to end, and then for the billing writer's last commit (default 30 s each).
    pub fn shutdown_bound(mut self, bound: Duration) -> Self {
        self.shutdown_bound = bound;
        self
    }

    /// Publishes this instance's changes for the others (they apply them with
    /// [`Relay::apply_remote`]).
    pub fn change_bus(mut self, bus: Arc<dyn crate::changes::ChangeBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Counts rate limits in `counters` (shared by several instances); by default in memory.
    pub fn counters(mut self, counters: Arc<dyn crate::limits::Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Deletes logs past `LogRetentionDays` every `interval` (hourly by default); `None` turns
    /// it off.
    pub fn log_retention(mut self, interval: Option<Duration>) -> Self {
        self.log_retention = interval.map(|i| i.max(Duration::from_secs(1)));
        self
    }

    /// Waits on upstreams this long for their answer's head and between two pieces of a
    /// stream (the connect timeout is the [`HttpClient`]'s own:
    /// [`HttpClient::with_connect_timeout`]).
    pub fn upstream_timeouts(mut self, timeouts: crate::client::UpstreamTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Durable billing: each relay call's bill is committed (with every other queued, one
    /// transaction) before the last bytes of its answer leave, so a crash loses no bill of an
    /// answered call; by default bills are committed within the billing window.
    pub fn durable_billing(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// Keeps balances in `ledger` (shared by several instances); by default in this
    /// process's memory ([`MemoryLedger`]).
    pub fn ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Polls unfinished asynchronous tasks every `interval` (while this instance holds the
    /// poller's lease), failing and refunding those older than `timeout` (default 15 s and
    /// one day); `None` turns polling off.
    pub fn task_polling(mut self, polling: Option<(Duration, Duration)>) -> Self {
        self.task_polling =
            polling.map(|(interval, timeout)| (interval.max(Duration::from_secs(1)), timeout));
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
        let ledger = self
            .ledger
            .unwrap_or_else(|| Arc::new(MemoryLedger::new(self.db.clone())));
        let jobs = Jobs::default();
        let (background, billing) =
            start_background(&jobs, self.db.clone(), self.billing_window, ledger.clone()).map_err(
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
                jobs,
                bus: self.bus,
                counters: self
                    .counters
                    .unwrap_or_else(|| Arc::new(crate::limits::MemoryCounters::default())),
                prices: RwLock::new((u64::MAX, Arc::new(PriceTable::default()))),
                background,
                shutdown_bound: self.shutdown_bound,
                timeouts: self.timeouts,
                ending: Default::default(),
                durable: self.durable,
            }),
        };
        if let Some(interval) = self.sync_interval {
            let s = &relay.s;
            s.jobs.spawn_on(
                sync_loop(Arc::downgrade(s), s.jobs.clone(), interval),
                &s.background,
            );
        }
        if let Some(interval) = self.log_retention {
            let s = &relay.s;
            s.jobs.spawn_on(
                crate::retention::retention_loop(Arc::downgrade(s), s.jobs.clone(), interval),
                &s.background,
            );
        }
        if let Some((interval, timeout)) = self.task_polling {
            let s = &relay.s;
            s.jobs.spawn_on(
                crate::tasks::poll_loop(Arc::downgrade(s), s.jobs.clone(), interval, timeout),
                &s.background,
            );
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

/// Starts the relay's background thread (billing commits, the sync loop, the task poller),
/// run at a lower CPU priority than request handling: on a busy core a commit then waits for
/// calls instead of calls waiting for the commit (docs/benchmarks.md has the measurements). The
/// thread runs the billing writer until it is stopped, and other work spawned on its runtime
/// meanwhile; it is the last of the relay's jobs to end.
fn start_background(
    jobs: &Jobs,
    db: DatabaseConnection,
    window: Duration,
    ledger: Arc<dyn Ledger>,
) -> std::io::Result<(tokio::runtime::Handle, BillingWriter)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let on_commit = Box::new(move |r: &BillingRecord| {
        let payer = Payer {
            user: UserId(r.user_id),
            token: (!r.token_unlimited).then_some(TokenId(r.token_id)),
        };
        ledger.committed(payer, r.quota);
    });
    let (billing, writer) = BillingWriter::new(db, window, BILLING_BATCH, Some(on_commit));
    jobs.spawn_last_thread("relay-background", move || {
        if let Err(e) = rustix::process::setpriority_process(None, BACKGROUND_NICENESS) {
            tracing::debug!(error = %e, "could not lower the background thread's priority");
        }
        // Commits until the writer is stopped (it then commits what is left).
        runtime.block_on(writer);
    })?;
    Ok((handle, billing))
}

/// A background loop's next round: waits `interval`, then hands out the relay, unless it
/// stopped meanwhile (`stop`) or was dropped (loops hold it weakly, so a relay dropped
/// without `shutdown` still ends its loops).
pub(crate) async fn next_round(
    shared: &std::sync::Weak<Shared>,
    stop: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFutureOwned>,
    interval: Duration,
) -> Option<Relay> {
    tokio::select! {
        _ = tokio::time::sleep(interval) => {}
        _ = stop.as_mut() => return None,
    }
    shared.upgrade().map(|s| Relay { s })
}

impl Relay {
    /// Whether this instance holds (took or renewed) the lease row `name` as `holder`.
    pub(crate) async fn holds_lease(&self, name: &str, holder: &str, ttl: i64) -> bool {
        let now = domain::now_ts();
        match persistence::tasks::lease::acquire(&self.s.db, name, holder, now, ttl).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, lease = name, "taking a lease failed");
                false
            }
        }
    }
}

/// Re-reads what others changed every `interval` until the relay stops.
async fn sync_loop(shared: std::sync::Weak<Shared>, jobs: Jobs, interval: Duration) {
    let mut stop = std::pin::pin!(jobs.cancelled());
    while let Some(relay) = next_round(&shared, &mut stop, interval).await {
        if let Err(e) = relay.sync().await {
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

    /// The owner of the relay's background work: spawn through it whatever must outlive the
    /// code that starts it, and watch [`Jobs::cancelled`] in long-lived work.
    pub fn jobs(&self) -> &Jobs {
        &self.s.jobs
    }

    /// Re-reads routes, cached keys and users, loaded balances and options from the database
    /// (what other instances sharing it changed).
    pub async fn sync(&self) -> Result<(), DbErr> {
        self.s.directory.refresh(&self.s.db).await?;
        if let Err(e) = self.s.ledger.resync().await {
            tracing::warn!(error = %e, "re-reading balances failed");
        }
        self.s.router.reload(&self.s.db).await?;
        self.s.options.reload(&self.s.db).await
    }

    /// What the relay knows of a channel (whatever its status), as routes hold it.
    pub fn channel_info(&self, id: i32) -> Option<Arc<crate::routing::ChannelInfo>> {
        self.s.router.snapshot().channel(id)
    }

    /// A user's quota as this instance's book holds it (what the database holds minus what
    /// is not committed yet; for a shared ledger, the slice leased here); `None` until the
    /// user's first call.
    pub fn user_quota(&self, user: i32) -> Option<i64> {
        self.s.ledger.book().user_balance(UserId(user))
    }

    /// Whether the billing writer keeps up: its queue is below the point where calls wait.
    pub fn billing_keeps_up(&self) -> bool {
        self.s.billing.backlog() < BILLING_BACKLOG
    }

    /// The billing writer's queue: records waiting, and how many seconds the oldest waited.
    pub fn billing_queue(&self) -> (usize, i64) {
        self.s.billing.queue()
    }

    /// Commits every billing record queued so far.
    pub async fn flush_billing(&self) {
        self.s.billing.flush().await;
    }

    /// Ends the streams still open with an error event in their callers' dialect (billed for
    /// what they streamed): the shutdown grace is over.
    pub fn end_streams(&self) {
        self.s
            .ending
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Cancels the background work and waits for it (in bounded time), then commits pending
    /// billing, stops the billing writer and waits for its thread to end.
    pub async fn shutdown(&self) {
        let bound = self.s.shutdown_bound;
        self.s.jobs.stop_work(bound).await;
        self.s.billing.stop();
        if !self.s.jobs.wait_last(bound).await {
            tracing::error!("the billing writer did not finish within the shutdown bound");
        }
    }

    /// The price table of the current options (rebuilt only when options changed: keyed on
    /// the options' version, which no later snapshot reuses).
    pub(crate) fn prices(&self) -> Arc<PriceTable> {
        let (tag, snapshot) = self.s.options.versioned();
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

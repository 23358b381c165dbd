//! The write-behind batch writer for billing: relay calls hand it one record each and never
//! wait for the database; it commits many records in one transaction within a bounded window
//! (users, tokens, channels, logs and hourly statistics together), and drains on shutdown.

use crate::{channels, logs, quota_data, tasks, tokens, users};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// One billed call.
#[derive(Debug, Clone, Default)]
pub struct BillingRecord {
    pub user_id: i32,
    pub username: String,
    pub token_id: i32,
    pub token_name: String,
    /// Unlimited tokens keep their `remain_quota`.
    pub token_unlimited: bool,
    pub channel_id: i32,
    pub model_name: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub quota: i64,
    pub group: String,
    pub is_stream: bool,
    /// Seconds.
    pub use_time: i32,
    pub request_id: String,
    pub ip: String,
    pub content: String,
    pub created_at: i64,
    /// The asynchronous task this call submitted: written with its bill, so a task exists
    /// exactly when it was charged (its quota is the record's).
    pub task: Option<Box<tasks::NewTask>>,
}

/// Called with every record once it is committed.
pub type OnCommit = Box<dyn Fn(&BillingRecord) + Send + Sync>;

/// Records waiting for the next commit, and the flush requests.
struct Shared {
    pending: std::sync::Mutex<Vec<BillingRecord>>,
    /// Wakes the writer early when a batch is full.
    full: tokio::sync::Notify,
    /// Wakes callers waiting for the backlog to shrink, after every commit round.
    drained: tokio::sync::Notify,
    max_batch: usize,
    on_commit: Option<OnCommit>,
}

/// What the writer is asked to do besides its timed commits.
enum Command {
    /// Commit now and answer.
    Flush(oneshot::Sender<()>),
    /// Commit now and stop.
    Stop,
}

/// The handle relay calls use; cheap to clone. Submitting only pushes onto a buffer: no wake-up
/// of the writer per call (it commits every `window`, or at once when a batch fills up).
#[derive(Clone)]
pub struct BillingWriter {
    shared: std::sync::Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl BillingWriter {
    /// A writer and the task that commits for it, for the caller to run (it ends once
    /// [`BillingWriter::stop`] is called or every handle is dropped, after committing what was
    /// queued). `window` bounds how long a record waits before its commit.
    pub fn new(
        db: DatabaseConnection,
        window: Duration,
        max_batch: usize,
        on_commit: Option<OnCommit>,
    ) -> (
        BillingWriter,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let shared = std::sync::Arc::new(Shared {
            pending: std::sync::Mutex::new(Vec::new()),
            full: tokio::sync::Notify::new(),
            drained: tokio::sync::Notify::new(),
            max_batch: max_batch.max(1),
            on_commit,
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let task = run(db, shared.clone(), rx, window);
        (BillingWriter { shared, commands }, task)
    }

    /// Queues a record. Never blocks on the database.
    pub fn submit(&self, record: BillingRecord) {
        let len = {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.push(record);
            pending.len()
        };
        if len == self.shared.max_batch {
            self.shared.full.notify_one();
        }
    }

    /// Waits until every record queued before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Records queued and not yet taken for a commit, and the seconds the oldest has waited.
    pub fn queue(&self) -> (usize, i64) {
        let pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let oldest = pending
            .first()
            .map_or(0, |r| Ord::max(domain::now_ts() - r.created_at, 0));
        (pending.len(), oldest)
    }

    /// Records queued and not yet taken for a commit.
    pub fn backlog(&self) -> usize {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Waits until at most `limit` records are queued (at once when they are): callers hold
    /// back while the writer catches up, so the queue stays bounded even when the writer gets
    /// little CPU.
    pub async fn wait_below(&self, limit: usize) {
        loop {
            let drained = self.shared.drained.notified();
            if self.backlog() <= limit {
                return;
            }
            drained.await;
        }
    }

    /// Commits what is queued and stops the writer (its task then ends).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}

fn take_pending(shared: &Shared) -> Vec<BillingRecord> {
    std::mem::take(
        &mut *shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

async fn run(
    db: DatabaseConnection,
    shared: std::sync::Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    window: Duration,
) {
    loop {
        let mut waiters = Vec::new();
        let mut open = true;
        let mut take = |c: Option<Command>, open: &mut bool| match c {
            Some(Command::Flush(w)) => waiters.push(w),
            Some(Command::Stop) | None => *open = false,
        };
        tokio::select! {
            _ = tokio::time::sleep(window) => {}
            _ = shared.full.notified() => {}
            c = commands.recv() => take(c, &mut open),
        };
        while let Ok(c) = commands.try_recv() {
            take(Some(c), &mut open);
        }
        let batch = take_pending(&shared);
        for chunk in batch.chunks(shared.max_batch) {
            commit_with_retry(&db, chunk).await;
            if let Some(hook) = &shared.on_commit {
                chunk.iter().for_each(hook);
            }
        }
        shared.drained.notify_waiters();
        for w in waiters {
            let _ = w.send(());
        }
        if !open {
            // Stopped, or every handle is gone: what was queued is committed; stop.
            return;
        }
    }
}

/// Commits a batch, retrying with backoff: billing records are never dropped while the
/// process lives.
async fn commit_with_retry(db: &DatabaseConnection, batch: &[BillingRecord]) {
    let Some(first) = batch.first() else {
        return;
    };
    // The batch's first log carries this mark: a commit whose answer was lost (the connection
    // broke after the database committed) is recognised and not applied twice.
    let mark = format!(
        r#"{{"billing_batch":"{}"}}"#,
        domain::keys::random_alphanumeric(20)
    );
    let mut delay = Duration::from_millis(100);
    loop {
        let error = match commit(db, batch, &mark).await {
            Ok(()) => return,
            Err(e) => e,
        };
        match logs::marked(db, first.user_id, first.created_at, &mark).await {
            Ok(true) => {
                tracing::warn!(error = %error, "billing batch committed although its commit reported an error");
                return;
            }
            Ok(false) | Err(_) => {
                tracing::error!(error = %error, records = batch.len(), "billing batch failed; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

#[derive(Default)]
struct Totals {
    quota: i64,
    count: i64,
    limited_quota: i64,
}

async fn commit(db: &DatabaseConnection, batch: &[BillingRecord], mark: &str) -> Result<(), DbErr> {
    let mut per_user: BTreeMap<i32, Totals> = BTreeMap::new();
    let mut per_token: BTreeMap<i32, Totals> = BTreeMap::new();
    let mut per_channel: BTreeMap<i32, Totals> = BTreeMap::new();
    for r in batch {
        let u = per_user.entry(r.user_id).or_default();
        u.quota += r.quota;
        u.count += 1;
        let t = per_token.entry(r.token_id).or_default();
        t.quota += r.quota;
        t.count += 1;
        if !r.token_unlimited {
            t.limited_quota += r.quota;
        }
        let c = per_channel.entry(r.channel_id).or_default();
        c.quota += r.quota;
        c.count += 1;
    }
    let now = batch.iter().map(|r| r.created_at).max().unwrap_or_default();
    let txn = db.begin().await?;
    for (id, t) in &per_user {
        users::Entity::update_many()
            .col_expr(
                users::Column::Quota,
                Expr::col(users::Column::Quota).sub(t.quota),
            )
            .col_expr(
                users::Column::UsedQuota,
                Expr::col(users::Column::UsedQuota).add(t.quota),
            )
            .col_expr(
                users::Column::RequestCount,
                Expr::col(users::Column::RequestCount).add(t.count),
            )
            .filter(users::Column::Id.eq(*id))
            .exec(&txn)
            .await?;
    }
    for (id, t) in &per_token {
        tokens::Entity::update_many()
            .col_expr(
                tokens::Column::RemainQuota,
                Expr::col(tokens::Column::RemainQuota).sub(t.limited_quota),
            )
            .col_expr(
                tokens::Column::UsedQuota,
                Expr::col(tokens::Column::UsedQuota).add(t.quota),
            )
            .col_expr(
                tokens::Column::RequestCount,
                Expr::col(tokens::Column::RequestCount).add(t.count),
            )
            .col_expr(tokens::Column::AccessedTime, Expr::value(now))
            .filter(tokens::Column::Id.eq(*id))
            .exec(&txn)
            .await?;
    }
    for (id, t) in &per_channel {
        channels::Entity::update_many()
            .col_expr(
                channels::Column::UsedQuota,
                Expr::col(channels::Column::UsedQuota).add(t.quota),
            )
            .col_expr(
                channels::Column::RequestCount,
                Expr::col(channels::Column::RequestCount).add(t.count),
            )
            .filter(channels::Column::Id.eq(*id))
            .exec(&txn)
            .await?;
    }
    let consume = domain::LogType::Consume.code();
    let rows: Vec<logs::NewLogRef<'_>> = batch
        .iter()
        .map(|r| logs::NewLogRef {
            user_id: r.user_id,
            created_at: r.created_at,
            log_type: consume,
            content: &r.content,
            username: &r.username,
            token_name: &r.token_name,
            model_name: &r.model_name,
            quota: r.quota,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            use_time: r.use_time,
            is_stream: r.is_stream,
            channel_id: r.channel_id,
            token_id: r.token_id,
            group: &r.group,
            ip: &r.ip,
            request_id: &r.request_id,
        })
        .collect();
    logs::insert_batch(&txn, mark, &rows).await?;
    for r in batch {
        if let Some(task) = &r.task {
            tasks::insert(&txn, task, r.quota).await?;
        }
    }
    // One upsert per (user, model, hour) of the batch, not one per call.
    let mut buckets: BTreeMap<(i32, &str, i64), quota_data::Usage> = BTreeMap::new();
    for r in batch {
        let hour = r.created_at - r.created_at.rem_euclid(3600);
        let tokens = i64::from(r.prompt_tokens) + i64::from(r.completion_tokens);
        buckets
            .entry((r.user_id, r.model_name.as_str(), hour))
            .and_modify(|u| {
                u.tokens += tokens;
                u.quota += r.quota;
                u.count += 1;
            })
            .or_insert_with(|| quota_data::Usage {
                user_id: r.user_id,
                username: r.username.clone(),
                model_name: r.model_name.clone(),
                at: hour,
                tokens,
                quota: r.quota,
                count: 1,
            });
    }
    for usage in buckets.values() {
        quota_data::record(&txn, usage).await?;
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn callers_wait_while_the_backlog_is_over_the_limit() {
        let Ok(db) = crate::connect("sqlite::memory:").await else {
            panic!("connecting to SQLite in memory failed");
        };
        let (writer, task) = BillingWriter::new(db, Duration::from_secs(3600), 1000, None);
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(task);
        for _ in 0..10 {
            writer.submit(BillingRecord::default());
        }
        assert_eq!(writer.backlog(), 10);
        let (tx, mut released) = tokio::sync::oneshot::channel();
        {
            let writer = writer.clone();
            tasks.spawn(async move {
                writer.wait_below(5).await;
                let _ = tx.send(());
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            released.try_recv().is_err(),
            "10 queued is over the limit of 5"
        );
        writer.flush().await;
        assert_eq!(writer.backlog(), 0);
        let done = tokio::time::timeout(Duration::from_secs(5), released).await;
        assert!(
            matches!(done, Ok(Ok(()))),
            "released once the writer caught up"
        );
        writer.wait_below(5).await;
    }

    #[tokio::test]
    async fn a_committed_batch_is_recognised_by_its_mark() {
        let Ok(db) = crate::connect("sqlite::memory:").await else {
            panic!("connecting to SQLite in memory failed");
        };
        let record = BillingRecord {
            user_id: 7,
            created_at: 1_700_000_000,
            quota: 5,
            ..Default::default()
        };
        let batch = vec![record.clone(), record];
        let mark = r#"{"billing_batch":"abc"}"#;
        assert!(matches!(
            logs::marked(&db, 7, 1_700_000_000, mark).await,
            Ok(false)
        ));
        assert!(commit(&db, &batch, mark).await.is_ok());
        assert!(matches!(
            logs::marked(&db, 7, 1_700_000_000, mark).await,
            Ok(true)
        ));
        assert!(matches!(
            logs::marked(&db, 7, 1_700_000_000, "other").await,
            Ok(false)
        ));
    }
}

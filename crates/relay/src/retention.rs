//! Log retention: with `LogRetentionDays` above 0, logs older than that many days are deleted
//! in bounded batches, hourly, by one instance at a time (a lease row, as the task poller's).
//! Each batch is one short statement pair with a pause after it, so billing commits and
//! dashboard reads are never held behind a long delete.

use crate::jobs::Jobs;
use crate::relay::{Relay, Shared};
use persistence::DbErr;
use std::sync::Weak;
use std::time::Duration;

/// Logs deleted per statement.
const BATCH: u64 = 5_000;
/// The pause between batches.
const PAUSE: Duration = Duration::from_millis(50);
const LEASE: &str = "log_retention";

impl Relay {
    /// Deletes logs older than `LogRetentionDays` (none when it is 0), batch by batch until
    /// none is left or the relay stops; returns how many went.
    pub async fn prune_logs(&self) -> Result<u64, DbErr> {
        let days = self.s.options.get_i64(domain::options::LOG_RETENTION_DAYS);
        if days <= 0 {
            return Ok(0);
        }
        let before = domain::now_ts().saturating_sub(days.saturating_mul(86_400));
        let mut total = 0;
        loop {
            let gone = persistence::logs::delete_before(&self.s.db, before, BATCH).await?;
            total += gone;
            if gone < BATCH || self.s.jobs.is_cancelled() {
                return Ok(total);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}

/// Prunes every `interval` while this instance holds the retention lease, until the relay
/// stops (or is dropped).
pub(crate) async fn retention_loop(shared: Weak<Shared>, jobs: Jobs, interval: Duration) {
    let holder = domain::keys::random_alphanumeric(24);
    // Held for two rounds: another instance takes over when the holder is gone.
    let ttl = i64::try_from(interval.as_secs().saturating_mul(2))
        .unwrap_or(i64::MAX)
        .max(60);
    let mut stop = std::pin::pin!(jobs.cancelled());
    while let Some(relay) = crate::relay::next_round(&shared, &mut stop, interval).await {
        if !relay.holds_lease(LEASE, &holder, ttl).await {
            continue;
        }
        match relay.prune_logs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "old logs deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting old logs failed"),
        }
    }
}

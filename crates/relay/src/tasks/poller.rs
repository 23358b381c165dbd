//! The task poller: an owned background job that, every interval and while this instance holds
//! the poller's lease (a row in the database; another instance takes over when the holder
//! stops renewing it), polls every unfinished task, batched per channel where the platform has
//! a batch call and a bounded number at once where it does not. It records progress and
//! results, and fails and refunds what failed upstream or ran past the timeout: a refund is
//! one conditional update of the task's settlement, so overlapping sweeps, retries and
//! restarts never refund twice.

use super::submit::strip_id;
use super::{Platform, PollRequest, Polled, adaptor_for};
use crate::jobs::Jobs;
use crate::mask::mask;
use crate::relay::{Relay, Shared};
use futures_util::StreamExt;
use persistence::DbErr;
use persistence::tasks::{self, Model, Progress, lease, status};
use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

/// The lease's name in the `leases` table.
const LEASE: &str = "task_poller";
/// Unfinished tasks read per sweep (the oldest first; the rest wait for the next sweep).
const SWEEP_LIMIT: u64 = 10_000;
/// Tasks asked about in one batch call.
const BATCH: usize = 100;
/// Poll requests in flight at once.
const CONCURRENCY: usize = 16;
/// How long one poll request may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Tasks asked about upstream.
    pub polled: usize,
    /// Tasks that succeeded.
    pub succeeded: usize,
    /// Tasks failed and refunded by this sweep (timeouts included).
    pub refunded: usize,
    /// Of those, the ones that ran past the timeout.
    pub timed_out: usize,
}

impl Relay {
    /// One pass over the unfinished tasks, without the lease (the poller takes the lease
    /// first; a sweep that overlaps another still refunds each task at most once).
    pub async fn sweep_tasks(&self, timeout: Duration) -> Result<Sweep, DbErr> {
        let db = &self.s.db;
        let now = domain::now_ts();
        let limit = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
        let mut sweep = Sweep::default();
        let mut live: Vec<Model> = Vec::new();
        for task in tasks::unfinished(db, SWEEP_LIMIT).await? {
            if now.saturating_sub(task.submit_time) > limit {
                if self.refund(&task, "timeout", None, now).await? {
                    sweep.refunded += 1;
                    sweep.timed_out += 1;
                }
            } else {
                live.push(task);
            }
        }
        let snapshot = self.s.router.snapshot();
        let mut by_channel: HashMap<i32, Vec<&Model>> = HashMap::new();
        for task in &live {
            by_channel.entry(task.channel_id).or_default().push(task);
        }
        let mut requests: Vec<(i32, PollRequest)> = Vec::new();
        for (channel_id, group) in &by_channel {
            // A channel deleted since leaves its tasks to the timeout.
            let Some(channel) = snapshot.channel(*channel_id) else {
                continue;
            };
            let (Some(platform), Some(base)) = (
                group.first().and_then(|t| Platform::parse(&t.platform)),
                crate::providers::base_url(channel.channel_type, &channel.base_url),
            ) else {
                continue;
            };
            let adaptor = adaptor_for(platform);
            for chunk in group.chunks(BATCH) {
                for request in adaptor.poll(&channel, &base, chunk) {
                    sweep.polled += request.ids.len();
                    requests.push((*channel_id, request));
                }
            }
        }
        let http = self.s.http.clone();
        let mut answers = futures_util::stream::iter(requests.into_iter().map(|(channel, r)| {
            let http = http.clone();
            async move {
                let answer = http.fetch(r.request, POLL_TIMEOUT).await;
                (channel, r.ids, answer)
            }
        }))
        .buffer_unordered(CONCURRENCY);
        while let Some((channel_id, ids, answer)) = answers.next().await {
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(channel = channel_id, error = %e, "polling tasks failed");
                    continue;
                }
            };
            let (Some(group), Some(channel)) =
                (by_channel.get(&channel_id), snapshot.channel(channel_id))
            else {
                continue;
            };
            let Some(platform) = group.first().and_then(|t| Platform::parse(&t.platform)) else {
                continue;
            };
            for (upstream_id, polled) in
                adaptor_for(platform).polled(answer.status, &answer.body, &ids)
            {
                let Some(task) = group.iter().find(|t| t.upstream_id == upstream_id) else {
                    continue;
                };
                let strip = |d: Option<serde_json::Value>| {
                    d.map(|d| strip_id(d, &task.upstream_id, &task.task_id).to_string())
                };
                match polled {
                    Polled::Running {
                        status,
                        progress,
                        data,
                    } => {
                        let start = if task.start_time == 0 && status == status::IN_PROGRESS {
                            now
                        } else {
                            0
                        };
                        let p = Progress {
                            status: status.into(),
                            progress,
                            data: strip(data),
                            start_time: start,
                            ..Progress::default()
                        };
                        tasks::record_progress(db, task.id, &p, now).await?;
                    }
                    Polled::Succeeded { urls, data } => {
                        let p = Progress {
                            status: status::SUCCESS.into(),
                            progress: "100%".into(),
                            result_urls: urls,
                            data: strip(data),
                            start_time: if task.start_time == 0 { now } else { 0 },
                            finish_time: now,
                        };
                        if tasks::record_progress(db, task.id, &p, now).await? {
                            sweep.succeeded += 1;
                        }
                    }
                    Polled::Failed { reason, data } => {
                        let reason = mask(&reason, &channel);
                        if self.refund(task, &reason, strip(data), now).await? {
                            sweep.refunded += 1;
                        }
                    }
                }
            }
        }
        Ok(sweep)
    }

    /// Fails a task and refunds it, once: the balances this instance holds are credited only
    /// when this call's update won.
    async fn refund(
        &self,
        task: &Model,
        reason: &str,
        data: Option<String>,
        now: i64,
    ) -> Result<bool, DbErr> {
        let Some(refund) = tasks::fail_and_refund(&self.s.db, task.id, reason, data, now).await?
        else {
            return Ok(false);
        };
        tracing::info!(task = %task.task_id, quota = refund.quota, reason, "task failed; refunded");
        self.user_changed(refund.user_id, refund.quota);
        if let Some(token) = refund.token_id {
            self.token_changed(token, refund.quota);
        }
        Ok(true)
    }
}

/// Polls every `interval` while this instance holds the lease, until shutdown (or the relay
/// is dropped: the loop holds it weakly).
pub(crate) async fn poll_loop(
    shared: Weak<Shared>,
    jobs: Jobs,
    interval: Duration,
    timeout: Duration,
) {
    let holder = domain::keys::random_alphanumeric(24);
    let ttl =
        i64::try_from(interval.as_secs().saturating_mul(3).saturating_add(10)).unwrap_or(i64::MAX);
    let mut stop = std::pin::pin!(jobs.cancelled());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => break,
        }
        let Some(s) = shared.upgrade() else {
            return;
        };
        let relay = Relay { s };
        match lease::acquire(&relay.s.db, LEASE, &holder, domain::now_ts(), ttl).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "taking the task poller's lease failed");
                continue;
            }
        }
        let sweep = tokio::select! {
            sweep = relay.sweep_tasks(timeout) => sweep,
            _ = &mut stop => break,
        };
        match sweep {
            Ok(s) if s.polled + s.refunded > 0 => tracing::debug!(?s, "tasks polled"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "polling tasks failed"),
        }
    }
    // Another instance may take over at once.
    if let Some(s) = shared.upgrade()
        && let Err(e) = lease::release(&s.db, LEASE, &holder).await
    {
        tracing::debug!(error = %e, "releasing the task poller's lease");
    }
}

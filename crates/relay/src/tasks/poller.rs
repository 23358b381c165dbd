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
/// Unfinished tasks read per page of a sweep (oldest first, then the next page).
const PAGE: u64 = 1000;
/// Tasks asked about in one batch call.
const BATCH: usize = 100;
/// Poll requests in flight at once.
const CONCURRENCY: usize = 16;
/// How long one poll request may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest progress text, fail reason and platform view stored (the columns' sizes; a
/// view that does not fit is not kept).
const MAX_PROGRESS: usize = 20;
const MAX_REASON: usize = 1000;
const MAX_VIEW: usize = 60_000;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Unfinished tasks looked at.
    pub seen: usize,
    /// Tasks asked about upstream.
    pub polled: usize,
    /// Tasks that succeeded.
    pub succeeded: usize,
    /// Tasks failed and refunded by this sweep (timeouts included).
    pub refunded: usize,
    /// Of those, the ones that ran past the timeout.
    pub timed_out: usize,
}

impl std::ops::AddAssign for Sweep {
    fn add_assign(&mut self, o: Sweep) {
        self.seen += o.seen;
        self.polled += o.polled;
        self.succeeded += o.succeeded;
        self.refunded += o.refunded;
        self.timed_out += o.timed_out;
    }
}

/// Text as stored: no NUL (PostgreSQL refuses it), at most `max` characters.
fn stored(text: &str, max: usize) -> String {
    text.chars().filter(|c| *c != '\0').take(max).collect()
}

impl Relay {
    /// One pass over every unfinished task, without the lease (the poller takes the lease
    /// first; a sweep that overlaps another still refunds each task at most once).
    pub async fn sweep_tasks(&self, timeout: Duration) -> Result<Sweep, DbErr> {
        let mut total = Sweep::default();
        let mut after = 0;
        loop {
            let (sweep, next) = self.sweep_page(timeout, after).await?;
            total += sweep;
            match next {
                Some(next) => after = next,
                None => return Ok(total),
            }
        }
    }

    /// Sweeps the unfinished tasks with ids above `after`, one page; returns what it did and
    /// where the next page starts (`None`: this was the last).
    async fn sweep_page(
        &self,
        timeout: Duration,
        after: i64,
    ) -> Result<(Sweep, Option<i64>), DbErr> {
        let db = &self.s.db;
        let now = domain::now_ts();
        let limit = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
        let page = tasks::unfinished(db, after, PAGE).await?;
        let next = (page.len() as u64 == PAGE)
            .then(|| page.last().map(|t| t.id))
            .flatten();
        let mut sweep = Sweep {
            seen: page.len(),
            ..Sweep::default()
        };
        let mut live: Vec<Model> = Vec::new();
        for task in page {
            if now.saturating_sub(task.submit_time) > limit {
                if self.refund(&task, "timeout", None, now).await {
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
                // Every task the upstream knows by this id (a Midjourney modal goes on under
                // the id of the action that asked for it).
                for task in group.iter().filter(|t| t.upstream_id == upstream_id) {
                    let outcome = self.record_poll(task, polled.clone(), &channel, now).await;
                    match outcome {
                        Ok(Applied::Succeeded) => sweep.succeeded += 1,
                        Ok(Applied::Refunded) => sweep.refunded += 1,
                        Ok(Applied::Nothing) => {}
                        // One task's trouble does not stop the others'.
                        Err(e) => {
                            tracing::warn!(task = %task.task_id, error = %e, "recording a task's poll failed")
                        }
                    }
                }
            }
        }
        Ok((sweep, next))
    }

    /// Records what a poll told of one task.
    async fn record_poll(
        &self,
        task: &Model,
        polled: Polled,
        channel: &crate::routing::ChannelInfo,
        now: i64,
    ) -> Result<Applied, DbErr> {
        let view = |d: Option<serde_json::Value>| {
            d.and_then(|mut d| {
                strip_id(&mut d, &task.upstream_id, &task.task_id);
                let text = stored(&d.to_string(), MAX_VIEW + 1);
                (text.len() <= MAX_VIEW).then_some(text)
            })
        };
        Ok(match polled {
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
                    progress: stored(&progress, MAX_PROGRESS),
                    data: view(data),
                    start_time: start,
                    ..Progress::default()
                };
                tasks::record_progress(&self.s.db, task.id, &p, now).await?;
                Applied::Nothing
            }
            Polled::Succeeded { urls, data } => {
                let p = Progress {
                    status: status::SUCCESS.into(),
                    progress: "100%".into(),
                    result_urls: urls.iter().map(|u| stored(u, 2048)).collect(),
                    data: view(data),
                    start_time: if task.start_time == 0 { now } else { 0 },
                    finish_time: now,
                };
                if tasks::record_progress(&self.s.db, task.id, &p, now).await? {
                    Applied::Succeeded
                } else {
                    Applied::Nothing
                }
            }
            Polled::Failed { reason, data } => {
                let reason = stored(
                    &mask(&reason, channel).replace(&task.upstream_id, &task.task_id),
                    MAX_REASON,
                );
                if self.refund(task, &reason, view(data), now).await {
                    Applied::Refunded
                } else {
                    Applied::Nothing
                }
            }
        })
    }

    /// Fails a task and refunds it, once: the balances this instance holds are credited only
    /// when this call's update won. A database error is logged; the next sweep tries again.
    async fn refund(&self, task: &Model, reason: &str, data: Option<String>, now: i64) -> bool {
        let refund = match tasks::fail_and_refund(&self.s.db, task.id, reason, data, now).await {
            Ok(Some(refund)) => refund,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(task = %task.task_id, error = %e, "refunding a task failed");
                return false;
            }
        };
        tracing::info!(task = %task.task_id, quota = refund.quota, reason, "task failed; refunded");
        let user = crate::Change::User {
            id: refund.user_id,
            quota_delta: refund.quota,
        };
        let token = refund.token_id.map(|id| crate::Change::Token {
            id,
            quota_delta: refund.quota,
        });
        for change in std::iter::once(user).chain(token) {
            if let Err(e) = self.apply(change).await {
                tracing::warn!(error = %e, "telling the caches of a refund failed");
            }
        }
        true
    }
}

/// What recording a poll did.
enum Applied {
    Nothing,
    Succeeded,
    Refunded,
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
    let mut cursor = 0;
    let mut seen = 0;
    'poll: while let Some(relay) = crate::relay::next_round(&shared, &mut stop, interval).await {
        if !relay.holds_lease(LEASE, &holder, ttl).await {
            continue;
        }
        // Pages until done or half the lease has passed; the next sweep goes on from there,
        // so a backlog larger than a sweep still gets every task polled in turn.
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(u64::try_from(ttl / 2).unwrap_or(1).max(1));
        loop {
            let page = tokio::select! {
                page = relay.sweep_page(timeout, cursor) => page,
                _ = &mut stop => break 'poll,
            };
            match page {
                Ok((s, next)) => {
                    if s.polled + s.refunded > 0 {
                        tracing::debug!(?s, "tasks polled");
                    }
                    seen += s.seen;
                    match next {
                        Some(next) => cursor = next,
                        None => {
                            // A whole pass: what it saw is the backlog.
                            crate::telemetry::task_backlog(std::mem::take(&mut seen));
                            cursor = 0;
                            break;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "polling tasks failed");
                    break;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
    }
    // Another instance may take over at once.
    if let Some(s) = shared.upgrade()
        && let Err(e) = lease::release(&s.db, LEASE, &holder).await
    {
        tracing::debug!(error = %e, "releasing the task poller's lease");
    }
}

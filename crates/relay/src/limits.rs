//! Rate limits of relay calls (the contract's 429): a key's requests and tokens a minute and
//! calls in flight (fields on the key), and a user's model requests in a period (new-api's
//! `ModelRequestRateLimit*` options, per group). Counted in fixed windows by [`Counters`]: in
//! memory for one instance, or atomically in Redis (the server's) so limits hold across
//! instances. A refusal says when to retry.
//!
//! One counter kind serves every limit: `governor` (the field's rate limiter) keeps one quota
//! for all keys of a limiter and no shared state across processes, while here each key has
//! its own numbers, successful requests are counted after the fact, and several instances
//! share the counts.

use crate::auth::Caller;
use crate::error::RelayError;
use crate::jobs::Jobs;
use crate::relay::Relay;
use domain::options as opt;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A boxed future of a counter operation.
pub type CountFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Shared counters.
pub trait Counters: Send + Sync {
    /// Adds `n` (0: reads) to `key` in its current window of `window` (a window starts with
    /// the first add after the last one ended); returns the count after and the time left.
    fn add(&self, key: String, n: i64, window: Duration) -> CountFuture<'_, (i64, Duration)>;
    /// Adds one to `key` in its window; when the count reaches `threshold` it starts over and
    /// this call (only this one) is told so.
    fn hit(&self, key: String, threshold: i64, window: Duration) -> CountFuture<'_, bool>;
    /// Takes one of `limit` slots of `key` (calls in flight); false when all are taken.
    fn acquire(&self, key: String, limit: i64) -> CountFuture<'_, bool>;
    /// Gives a slot of `key` back.
    fn release(&self, key: String) -> CountFuture<'_, ()>;
}

/// Counters in this process's memory.
#[derive(Default)]
pub struct MemoryCounters {
    windows: Mutex<HashMap<String, (Instant, Duration, i64)>>,
    slots: Mutex<HashMap<String, i64>>,
    /// When ended windows were last dropped (at most every 10 s, past 10,000 windows).
    pruned: Mutex<Option<Instant>>,
}

impl Counters for MemoryCounters {
    fn add(&self, key: String, n: i64, window: Duration) -> CountFuture<'_, (i64, Duration)> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > 10_000 {
            let mut pruned = self.pruned.lock().unwrap_or_else(PoisonError::into_inner);
            if pruned.is_none_or(|at| now.duration_since(at) > Duration::from_secs(10)) {
                windows.retain(|_, (start, length, _)| now.duration_since(*start) < *length);
                *pruned = Some(now);
            }
        }
        let entry = windows.entry(key).or_insert((now, window, 0));
        if now.duration_since(entry.0) >= entry.1 {
            *entry = (now, window, 0);
        }
        entry.2 += n;
        let result = (entry.2, entry.1.saturating_sub(now.duration_since(entry.0)));
        Box::pin(std::future::ready(Ok(result)))
    }

    fn hit(&self, key: String, threshold: i64, window: Duration) -> CountFuture<'_, bool> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = windows.entry(key.clone()).or_insert((now, window, 0));
        if now.duration_since(entry.0) >= entry.1 {
            *entry = (now, window, 0);
        }
        entry.2 += 1;
        let crossed = entry.2 >= threshold;
        if crossed {
            windows.remove(&key);
        }
        Box::pin(std::future::ready(Ok(crossed)))
    }

    fn acquire(&self, key: String, limit: i64) -> CountFuture<'_, bool> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = slots.entry(key).or_insert(0);
        let ok = *taken < limit;
        if ok {
            *taken += 1;
        }
        Box::pin(std::future::ready(Ok(ok)))
    }

    fn release(&self, key: String) -> CountFuture<'_, ()> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(taken) = slots.get_mut(&key) {
            *taken -= 1;
            if *taken <= 0 {
                slots.remove(&key);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// The bucket of an address: itself for IPv4, its /64 for IPv6 (one host usually holds a
/// whole /64, so counting single addresses would count nothing).
fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// What a call holds while it runs: its slot among the key's calls in flight (given back when
/// dropped) and where its success is counted.
pub struct Permit {
    counters: Arc<dyn Counters>,
    jobs: Jobs,
    slot: Option<String>,
    success: Option<(String, Duration)>,
}

impl Permit {
    /// The call succeeded: it counts toward the user's successful requests.
    pub fn succeeded(&mut self) {
        if let Some((key, window)) = self.success.take() {
            let counters = self.counters.clone();
            self.jobs.spawn(async move {
                if let Err(e) = counters.add(key, 1, window).await {
                    tracing::warn!(error = %e, "counting a successful request");
                }
            });
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(key) = self.slot.take() else {
            return;
        };
        // The slot is given back by owned work, not here (a shared counter is a network call).
        if tokio::runtime::Handle::try_current().is_ok() {
            let counters = self.counters.clone();
            self.jobs.spawn(async move {
                if let Err(e) = counters.release(key).await {
                    tracing::warn!(error = %e, "giving a call's slot back");
                }
            });
        }
    }
}

/// A count over `max` is a refusal; an unreachable counter lets the call through (logged).
fn over(r: Result<(i64, Duration), String>, max: i64, what: &str) -> Result<(), RelayError> {
    match r {
        Ok((n, left)) if n > max => Err(limited(left)),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, limit = what, "a rate counter is unreachable");
            Ok(())
        }
    }
}

/// Whole seconds until `left` has passed, at least one.
fn seconds(left: Duration) -> u64 {
    u64::try_from(left.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A refusal for `retry_after`.
fn limited(retry_after: Duration) -> RelayError {
    RelayError::RateLimited {
        retry_after: seconds(retry_after),
    }
}

impl Relay {
    /// Checks the caller's limits before a call and takes its slot; a counter that cannot be
    /// reached lets the call through (logged): limits protect capacity, the ledger money.
    pub(crate) async fn limit(&self, caller: &Caller) -> Result<Permit, RelayError> {
        let counters = &self.s.counters;
        let token = &caller.token;
        // Built first: a refusal below drops it, which gives a slot taken back.
        let mut permit = Permit {
            counters: counters.clone(),
            jobs: self.s.jobs.clone(),
            slot: None,
            success: None,
        };
        // What only reads comes first, so a refused call does not use up a count.
        self.check_tokens(caller).await?;
        let user_limits = self.user_limits(&caller.group);
        let user = caller.user.id;
        if let Some((_, successes, window)) = user_limits
            && successes > 0
        {
            let key = format!("rl:ok:{user}");
            let r = counters.add(key.clone(), 0, window).await;
            over(r, successes - 1, "successful requests")?;
            permit.success = Some((key, window));
        }
        if token.concurrency_limit > 0 {
            let key = format!("rl:cc:{}", token.id);
            match counters.acquire(key.clone(), token.concurrency_limit).await {
                Ok(true) => permit.slot = Some(key),
                Ok(false) => return Err(limited(Duration::from_secs(1))),
                Err(e) => tracing::warn!(error = %e, "the in-flight counter is unreachable"),
            }
        }
        self.count_request(caller, user_limits).await?;
        Ok(permit)
    }

    /// Counts one request of the caller against the key's requests a minute and the user's
    /// requests in the period.
    async fn count_request(
        &self,
        caller: &Caller,
        user_limits: Option<(i64, i64, Duration)>,
    ) -> Result<(), RelayError> {
        let counters = &self.s.counters;
        let token = &caller.token;
        let user = caller.user.id;
        if token.rpm_limit > 0 {
            let r = counters
                .add(format!("rl:rpm:{}", token.id), 1, MINUTE)
                .await;
            over(r, token.rpm_limit, "rpm")?;
        }
        if let Some((count, _, window)) = user_limits
            && count > 0
        {
            let r = counters.add(format!("rl:req:{user}"), 1, window).await;
            over(r, count, "requests")?;
        }
        Ok(())
    }

    /// A realtime session's `response.create`: one more request of the caller (the session's
    /// slot was taken when it opened), refused over the key's or the user's limits.
    pub(crate) async fn limit_response(&self, caller: &Caller) -> Result<(), RelayError> {
        self.check_tokens(caller).await?;
        self.count_request(caller, self.user_limits(&caller.group))
            .await
    }

    /// Refuses a key whose tokens this minute reached its limit (reads only).
    async fn check_tokens(&self, caller: &Caller) -> Result<(), RelayError> {
        let token = &caller.token;
        if token.tpm_limit <= 0 {
            return Ok(());
        }
        let r = self
            .s
            .counters
            .add(format!("rl:tpm:{}", token.id), 0, MINUTE)
            .await;
        over(r, token.tpm_limit - 1, "tpm")
    }

    /// The user's request limits when they are on: (requests, successful requests, period).
    fn user_limits(&self, group: &str) -> Option<(i64, i64, Duration)> {
        let options = &self.s.options;
        options
            .get_bool(opt::MODEL_REQUEST_RATE_LIMIT_ENABLED)
            .then(|| {
                let (count, successes) = self.request_limits(group);
                let minutes = options
                    .get_i64(opt::MODEL_REQUEST_RATE_LIMIT_DURATION_MINUTES)
                    .max(1);
                (count, successes, Duration::from_secs(60 * minutes as u64))
            })
    }

    /// The user's request limits in `group`: the group's pair, else the two options.
    fn request_limits(&self, group: &str) -> (i64, i64) {
        let options = &self.s.options;
        let per_group: HashMap<String, (i64, i64)> =
            serde_json::from_str(&options.get(opt::MODEL_REQUEST_RATE_LIMIT_GROUP))
                .unwrap_or_default();
        per_group.get(group).copied().unwrap_or_else(|| {
            (
                options.get_i64(opt::MODEL_REQUEST_RATE_LIMIT_COUNT),
                options.get_i64(opt::MODEL_REQUEST_RATE_LIMIT_SUCCESS_COUNT),
            )
        })
    }

    /// Counts a request from `ip` against `per_minute` (the `/api` limits, by class);
    /// refused with the seconds to wait. An unreachable counter lets it through.
    pub async fn limit_address(
        &self,
        ip: std::net::IpAddr,
        class: &str,
        per_minute: i64,
    ) -> Result<(), u64> {
        if per_minute <= 0 {
            return Ok(());
        }
        match self
            .s
            .counters
            .add(format!("rl:ip:{class}:{}", address_key(ip)), 1, MINUTE)
            .await
        {
            Ok((n, left)) if n > per_minute => Err(seconds(left)),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "the address counter is unreachable");
                Ok(())
            }
        }
    }

    /// Where a call of the caller counts its tokens (when the key has a tokens-a-minute
    /// limit).
    pub(crate) fn token_count(&self, caller: &Caller) -> Option<TokenCount> {
        (caller.token.tpm_limit > 0).then(|| TokenCount {
            counters: self.s.counters.clone(),
            jobs: self.s.jobs.clone(),
            key: format!("rl:tpm:{}", caller.token.id),
        })
    }
}

/// A key's tokens-a-minute counter, fed by the bills of its calls.
#[derive(Clone)]
pub(crate) struct TokenCount {
    counters: Arc<dyn Counters>,
    jobs: Jobs,
    key: String,
}

impl TokenCount {
    /// Counts `tokens` used.
    pub(crate) fn add(&self, tokens: i64) {
        if tokens <= 0 {
            return;
        }
        let (counters, key) = (self.counters.clone(), self.key.clone());
        self.jobs.spawn(async move {
            if let Err(e) = counters.add(key, tokens, MINUTE).await {
                tracing::warn!(error = %e, "counting a key's tokens");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_windows_count_and_end() {
        let c = MemoryCounters::default();
        let w = Duration::from_millis(200);
        assert_eq!(c.add("a".into(), 1, w).await.unwrap().0, 1);
        assert_eq!(c.add("a".into(), 2, w).await.unwrap().0, 3);
        assert_eq!(c.add("b".into(), 0, w).await.unwrap().0, 0);
        let (_, left) = c.add("a".into(), 0, w).await.unwrap();
        assert!(left <= w && left > Duration::ZERO);
        tokio::time::sleep(w).await;
        assert_eq!(c.add("a".into(), 1, w).await.unwrap().0, 1, "a new window");
    }

    #[tokio::test]
    async fn memory_slots_are_taken_and_given_back() {
        let c = MemoryCounters::default();
        assert!(c.acquire("k".into(), 2).await.unwrap());
        assert!(c.acquire("k".into(), 2).await.unwrap());
        assert!(!c.acquire("k".into(), 2).await.unwrap());
        c.release("k".into()).await.unwrap();
        assert!(c.acquire("k".into(), 2).await.unwrap());
    }
}

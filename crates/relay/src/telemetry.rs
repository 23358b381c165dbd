//! The relay's signals for operators, through the `metrics` facade. Nothing is recorded (not
//! even a label built) until the embedding server turns them on with [`enable`] and installs a
//! recorder (the server's Prometheus exporter), so a gateway without metrics pays one relaxed
//! load per signal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the relay's signals on (the recorder is the caller's to install).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether signals are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// An upstream answered (its head arrived) with `status`.
pub(crate) fn upstream_answered(channel: i32, started: Instant, status: u16) {
    if !enabled() {
        return;
    }
    let channel = channel.to_string();
    metrics::histogram!("gateway_upstream_seconds", "channel" => channel.clone())
        .record(started.elapsed().as_secs_f64());
    if !(200..300).contains(&status) {
        metrics::counter!("gateway_upstream_failures_total", "channel" => channel, "reason" => "status")
            .increment(1);
    }
}

/// An upstream could not be reached (or broke before its first event).
pub(crate) fn upstream_unreachable(channel: i32) {
    if enabled() {
        metrics::counter!("gateway_upstream_failures_total", "channel" => channel.to_string(), "reason" => "unreachable")
            .increment(1);
    }
}

/// A call was billed `quota` for `model` on `channel`.
pub(crate) fn billed(model: &str, channel: i32, quota: i64) {
    if !enabled() {
        return;
    }
    let (model, channel) = (model.to_owned(), channel.to_string());
    metrics::counter!("gateway_calls_total", "model" => model.clone(), "channel" => channel.clone())
        .increment(1);
    metrics::counter!("gateway_quota_spent_total", "model" => model, "channel" => channel)
        .increment(u64::try_from(quota).unwrap_or(0));
}

/// Unfinished asynchronous tasks seen by the poller's last full pass.
pub(crate) fn task_backlog(tasks: usize) {
    if enabled() {
        metrics::gauge!("gateway_task_backlog").set(tasks as f64);
    }
}

/// Counts something open (a stream, a realtime session) while it lives.
pub(crate) struct Open(Option<&'static str>);

impl Open {
    pub(crate) fn new(gauge: &'static str) -> Open {
        if !enabled() {
            return Open(None);
        }
        metrics::gauge!(gauge).increment(1.0);
        Open(Some(gauge))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(gauge) = self.0 {
            metrics::gauge!(gauge).decrement(1.0);
        }
    }
}

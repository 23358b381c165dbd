//! Background work with one owner. Every task that outlives the code that starts it (an
//! answer read after its caller hung up, a realtime session, a health check, a channel test,
//! the task poller, the sync loop, the billing writer and its thread) is spawned through
//! [`Jobs`], so shutdown can tell them to stop and wait for them in bounded time.
//!
//! Two tiers: ordinary work is cancelled and waited for first; the billing writer's thread is
//! the last, so that everything the rest billed is committed before the process ends. A bare
//! `tokio::spawn` or `std::thread::spawn` is refused by clippy outside this module
//! (`clippy.toml`).

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// The owner of the relay's background work; cheap to clone, every clone the same owner.
#[derive(Clone, Default)]
pub struct Jobs {
    work: TaskTracker,
    last: TaskTracker,
    cancel: CancellationToken,
}

impl Jobs {
    /// Runs `future` on the current runtime as owned work. Long-lived work ends when
    /// [`Jobs::cancelled`] completes; short work (reading one answer) simply finishes.
    #[allow(clippy::disallowed_methods)]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.work.spawn(future)
    }

    /// Runs `future` on another runtime (the relay's background thread) as owned work.
    #[allow(clippy::disallowed_methods)]
    pub fn spawn_on<F>(&self, future: F, runtime: &tokio::runtime::Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.work.spawn_on(future, runtime)
    }

    /// Runs a future that cannot move between threads (a WebSocket session on the HTTP
    /// server's worker) on the current thread's local task set, as owned work.
    #[allow(clippy::disallowed_methods)]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.work.spawn_local(future)
    }

    /// Runs `f` on a named thread of its own, waited for after all other work (the billing
    /// writer's thread: it commits what the rest billed).
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn spawn_last_thread<F>(&self, name: &str, f: F) -> std::io::Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let token = self.last.token();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                f();
                drop(token);
            })
            .map(drop)
    }

    /// Completes when shutdown has begun: long-lived work ends then.
    pub fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.cancel.clone().cancelled_owned()
    }

    /// Whether shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// How many tasks of ordinary work are running now.
    pub fn running(&self) -> usize {
        self.work.len()
    }

    /// Begins shutdown and waits up to `bound` for the ordinary work to end. Returns whether
    /// it all ended in time (what did not is left to the runtime's end).
    pub(crate) async fn stop_work(&self, bound: Duration) -> bool {
        self.cancel.cancel();
        self.work.close();
        let ended = tokio::time::timeout(bound, self.work.wait()).await.is_ok();
        if !ended {
            tracing::warn!(
                running = self.work.len(),
                "background work still running at the shutdown bound"
            );
        }
        ended
    }

    /// Waits up to `bound` for the last tier (the billing writer's thread) to end.
    pub(crate) async fn wait_last(&self, bound: Duration) -> bool {
        self.last.close();
        tokio::time::timeout(bound, self.last.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn shutdown_cancels_and_waits_for_owned_work() {
        let jobs = Jobs::default();
        let finished = Arc::new(AtomicBool::new(false));
        let (flag, cancelled) = (finished.clone(), jobs.cancelled());
        jobs.spawn(async move {
            cancelled.await;
            // Work that takes a moment to wind down is still waited for.
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        assert_eq!(jobs.running(), 1);
        assert!(jobs.stop_work(Duration::from_secs(5)).await);
        assert!(finished.load(Ordering::SeqCst));
        assert!(jobs.is_cancelled());
        assert_eq!(jobs.running(), 0);
    }

    #[tokio::test]
    async fn shutdown_is_bounded_by_work_that_never_ends() {
        let jobs = Jobs::default();
        jobs.spawn(std::future::pending::<()>());
        let started = std::time::Instant::now();
        assert!(!jobs.stop_work(Duration::from_millis(100)).await);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn the_last_tier_is_waited_for_after_the_work() {
        let jobs = Jobs::default();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        jobs.spawn_last_thread("test-last", move || {
            let _ = rx.recv();
        })
        .unwrap();
        assert!(jobs.stop_work(Duration::from_secs(1)).await);
        assert!(!jobs.wait_last(Duration::from_millis(50)).await);
        tx.send(()).unwrap();
        assert!(jobs.wait_last(Duration::from_secs(5)).await);
    }
}

//! The token counting endpoints (Anthropic's `/v1/messages/count_tokens`, Gemini's
//! `:countTokens`): free, but not unbounded. A key whose (or whose user's) balance is used up
//! is refused like a relay call (403, not in self-use mode); bodies are read up to
//! [`COUNT_BODY_LIMIT`] (413 beyond); counting runs on the blocking pool, never on an async
//! worker; a user counts at most [`COUNTS_PER_USER`] requests at once, whatever keys they use
//! (429 beyond), and the gateway runs at most half its cores' worth of counts (the others
//! wait their turn).

use crate::GatewayState;
use crate::error::relay_error;
use crate::extract::read_body;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use relay::{Caller, RelayError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The largest body a token count reads (a count is an estimate before a call; 2 MiB of text
/// is about half a million tokens, past every model's context).
pub(crate) const COUNT_BODY_LIMIT: usize = 2 << 20;
/// Counts one user may run at once (keys are theirs to make: the limit is not per key).
pub(crate) const COUNTS_PER_USER: usize = 2;

/// Counts the whole gateway runs at once: half its cores, at least one, so counting never
/// takes every core from calls.
fn counts_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Counts under way by user id, and the turns to count on the blocking pool.
#[derive(Clone)]
pub struct CountLimiter {
    running: Arc<Mutex<HashMap<i32, usize>>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Default for CountLimiter {
    fn default() -> Self {
        CountLimiter {
            running: Arc::default(),
            turns: Arc::new(tokio::sync::Semaphore::new(counts_at_once())),
        }
    }
}

/// One count under way; its slot is given back when dropped.
struct Slot {
    running: Arc<Mutex<HashMap<i32, usize>>>,
    user: i32,
}

impl CountLimiter {
    fn take(&self, user: i32) -> Option<Slot> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let n = running.entry(user).or_insert(0);
        if *n >= COUNTS_PER_USER {
            return None;
        }
        *n += 1;
        Some(Slot {
            running: self.running.clone(),
            user,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.user);
            }
        }
    }
}

/// Authenticates, admits, reads the body and runs `count` on it on the blocking pool; the
/// error is answered in the route's dialect.
pub(crate) async fn count_tokens<F>(
    state: &GatewayState,
    req: &HttpRequest,
    payload: web::Payload,
    caller: &Caller,
    count: F,
) -> Result<i64, HttpResponse>
where
    F: FnOnce(&Bytes) -> Result<i64, RelayError> + Send + 'static,
{
    let refuse = |e: RelayError| relay_error(&e, req);
    let slot = state
        .counts
        .take(caller.user.id)
        .ok_or_else(|| refuse(RelayError::Busy))?;
    let body = read_body(req, payload, state.max_body.min(COUNT_BODY_LIMIT))
        .await
        .map_err(refuse)?;
    // The slot goes with the count: a caller that hangs up does not free it before the
    // count is done.
    // A turn on the blocking pool: at most half the cores count at once.
    let turn = state
        .counts
        .turns
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| refuse(RelayError::Internal(format!("token count: {e}"))))?;
    let counted = tokio::task::spawn_blocking(move || {
        let _held = (slot, turn);
        count(&body)
    })
    .await
    .map_err(|e| refuse(RelayError::Internal(format!("token count: {e}"))))?;
    counted.map_err(refuse)
}

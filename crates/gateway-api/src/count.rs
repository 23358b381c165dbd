//! The token counting endpoints (Anthropic's `/v1/messages/count_tokens`, Gemini's
//! `:countTokens`): free, but not unbounded. A key whose (or whose user's) balance is used up
//! is refused like a relay call (403, not in self-use mode); bodies are read up to
//! [`COUNT_BODY_LIMIT`] (413 beyond); counting runs on the blocking pool, never on an async
//! worker; a key counts at most [`COUNTS_PER_KEY`] requests at once (429 beyond).

use crate::GatewayState;
use crate::error::relay_error;
use crate::extract::{caller, read_body};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use relay::RelayError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The largest body a token count reads (a count is an estimate before a call; 2 MiB of text
/// is about half a million tokens, past every model's context).
pub(crate) const COUNT_BODY_LIMIT: usize = 2 << 20;
/// Counts one key may run at once.
pub(crate) const COUNTS_PER_KEY: usize = 2;

/// Counts under way, by key id.
#[derive(Default, Clone)]
pub struct CountLimiter {
    running: Arc<Mutex<HashMap<i32, usize>>>,
}

/// One count under way; its slot is given back when dropped.
struct Slot {
    running: Arc<Mutex<HashMap<i32, usize>>>,
    key: i32,
}

impl CountLimiter {
    fn take(&self, key: i32) -> Option<Slot> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let n = running.entry(key).or_insert(0);
        if *n >= COUNTS_PER_KEY {
            return None;
        }
        *n += 1;
        Some(Slot {
            running: self.running.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.key);
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
    count: F,
) -> Result<i64, HttpResponse>
where
    F: FnOnce(&Bytes) -> Result<i64, RelayError> + Send + 'static,
{
    let caller = caller(state, req).await?;
    let refuse = |e: RelayError| relay_error(&e, req);
    state.relay.admits(&caller).await.map_err(refuse)?;
    let slot = state
        .counts
        .take(caller.token.id)
        .ok_or_else(|| refuse(RelayError::Busy))?;
    let body = read_body(req, payload, state.max_body.min(COUNT_BODY_LIMIT))
        .await
        .map_err(refuse)?;
    // The slot goes with the count: a caller that hangs up does not free it before the
    // count is done.
    let counted = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        count(&body)
    })
    .await
    .map_err(|e| refuse(RelayError::Internal(format!("token count: {e}"))))?;
    counted.map_err(refuse)
}

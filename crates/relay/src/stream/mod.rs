//! Server-sent events: the SSE reader that meters usage as it passes, and the metered stream
//! relayed to the caller.

pub(crate) mod first;
mod metered;
pub mod sse;

pub use metered::MeteredStream;

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// A byte string searched for on every call, its searcher built once.
pub(crate) struct Needle(LazyLock<Finder<'static>>);

impl Needle {
    pub(crate) const fn new(make: fn() -> Finder<'static>) -> Needle {
        Needle(LazyLock::new(make))
    }

    /// Whether `haystack` holds the needle.
    pub(crate) fn in_(&self, haystack: &[u8]) -> bool {
        self.0.find(haystack).is_some()
    }
}

/// `"error"`: an error object or event is only looked for where this is.
pub(crate) static ERROR_KEY: Needle = Needle::new(|| Finder::new(b"\"error\""));

/// Whether an event's data is an error: OpenAI's and Gemini's `error`, Anthropic's error event,
/// a Responses stream's `response.failed` (a non-null `error`, at the top or in the response;
/// a Responses event's `"error": null` is no error). Data that does not parse but names
/// `"error"` counts as one (it is masked, never trusted).
pub(crate) fn is_error_event(data: &[u8]) -> bool {
    ERROR_KEY.in_(data)
        && serde_json::from_slice::<serde_json::Value>(data).map_or(true, |v| {
            [v.get("error"), v.pointer("/response/error")]
                .into_iter()
                .flatten()
                .any(|e| !e.is_null())
        })
}

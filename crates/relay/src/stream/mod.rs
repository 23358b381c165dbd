//! Server-sent events: the SSE reader that meters usage as it passes, and the metered stream
//! relayed to the caller.

pub(crate) mod first;
mod metered;
pub mod sse;

pub use metered::MeteredStream;

//! Talking to upstream providers: the shared HTTP client, per-family request shapes and the
//! rules that judge an upstream failure. Framework-free: no actix types in the public API.

pub mod call;
pub mod channel_test;
pub mod channel_type;
pub mod client;
pub mod directory;
pub mod ledger;
pub mod multipart;
pub mod routing;
pub mod sse;
pub mod tokenizer;
pub mod upstream_error;

pub use call::{Caller, Endpoint, Relay, RelayBody, RelayError, RelayResponse};
pub use channel_test::{TestOutcome, test_channel};
pub use client::{HttpClient, UpstreamError};

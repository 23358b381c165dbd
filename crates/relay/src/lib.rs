//! Talking to upstream providers: the shared HTTP client, per-family request shapes and the
//! rules that judge an upstream failure. Framework-free: no actix types in the public API.

pub mod channel_test;
pub mod channel_type;
pub mod client;
pub mod upstream_error;

pub use channel_test::{TestOutcome, test_channel};
pub use client::{HttpClient, UpstreamError};

//! The relay: authenticates API keys, prices and reserves each call, routes it to an upstream
//! channel through that provider's adaptor, streams the answer back while metering it, and
//! bills it through a batch writer. Framework-free: no actix types in its API, so another Rust
//! service can embed it.
//!
//! ```no_run
//! # async fn embed() -> Result<(), Box<dyn std::error::Error>> {
//! use relay::{CallMeta, Endpoint, Relay, RelayBody, Request};
//!
//! let db = persistence::connect("sqlite://./data/embedded.db").await?;
//! let relay = Relay::builder(db).build().await?;
//! let caller = relay.authenticate(Some("sk-..."), None).await?;
//! let body = br#"{"model":"gpt-4o","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#;
//! let request = Request::openai_json(Endpoint::ChatCompletions, body.to_vec().into())?;
//! let meta = CallMeta { request_id: "req-1".into(), ip: None };
//! let answer = relay.call(&caller, request, &meta).await?;
//! if let RelayBody::Full(bytes) = answer.body {
//!     println!("{}", String::from_utf8_lossy(&bytes));
//! }
//! relay.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embed.rs` runs the same against a mock upstream, streaming included.

pub mod address;
mod answer;
mod audio;
mod auth;
pub mod billing;
mod changes;
mod channel_test;
mod client;
mod convert;
mod dialect;
mod directory;
mod error;
mod health;
mod jobs;
pub mod limits;
mod mask;
mod pipeline;
pub mod providers;
mod realtime;
mod relay;
mod reserve;
mod retention;
mod routing;
mod stream;
pub mod tasks;
pub mod telemetry;
pub mod tokenizer;
mod upload;

pub use auth::{Caller, UsageEntry, parse_key};
pub use changes::{Change, ChangeBus};
pub use channel_test::{TestOutcome, test_channel, test_model};
pub use client::{HttpClient, TransportError, UpstreamTimeouts};
pub use dialect::{Dialect, Endpoint};
pub use directory::{TokenInfo, UserInfo};
pub use error::{Holder, KeyProblem, Refusal, RelayError, UpstreamError, UpstreamKind};
pub use jobs::Jobs;
pub use pipeline::{CallMeta, RelayBody, RelayResponse, Request};
pub use realtime::{Realtime, RealtimeMeter, RealtimeUpstream};
pub use relay::{Balance, Relay, RelayBuilder};
pub use routing::ChannelSpec;
pub use stream::MeteredStream;

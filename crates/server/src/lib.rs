//! The server: configuration, start-up (database, migrations, root user, Redis), the actix app
//! composed of both API crates, the OpenAPI document and its viewer, background jobs.

pub mod address;
pub mod bootstrap;
pub mod changes;
pub mod config;
pub mod cors;
pub mod counters;
pub mod health;
pub mod ledger;
pub mod startup;
pub mod telemetry;

pub use config::Settings;

/// The Redis namespace of a deployment: a labelled digest of its session secret (every
/// instance on one database shares the secret; the digest does not reveal it).
pub fn namespace(session_secret: &[u8]) -> String {
    let mut labelled = b"gateway redis namespace\n".to_vec();
    labelled.extend_from_slice(session_secret);
    domain::keys::digest(&String::from_utf8_lossy(&labelled))
}
pub use startup::{Application, StartupError, openapi};

/// Installs the process's log subscriber: `RUST_LOG` filters (default `info`), `format` says
/// how lines are written.
pub fn init_logging(format: config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match format {
        config::LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        config::LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
    }
}

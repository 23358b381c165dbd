//! The server: configuration, start-up (database, migrations, root user, Redis), the actix app
//! composed of both API crates, the OpenAPI document and its viewer, background jobs.

pub mod address;
pub mod bootstrap;
pub mod changes;
pub mod config;
pub mod cors;
pub mod counters;
pub mod startup;

pub use config::Settings;
pub use startup::{Application, StartupError, openapi};

//! Layered configuration: built-in defaults, an optional TOML file named by `APP_CONFIG`, then
//! `APP__SECTION__KEY` environment variables. Unknown keys are an error.

use config::{Config, ConfigError, Environment, File, FileFormat};
use serde::Deserialize;

/// A secret setting; its Debug never shows the value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    pub bootstrap: BootstrapSettings,
    pub security: SecuritySettings,
    pub tasks: TaskSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub upstream: UpstreamSettings,
}

/// How long upstreams are waited for (`APP__UPSTREAM__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// Seconds to connect.
    pub connect_timeout_secs: u64,
    /// Seconds to an answer's head (and a stream's first event).
    pub first_byte_timeout_secs: u64,
    /// Seconds a stream may send nothing before it is given up (the caller gets an error
    /// event and is billed for what was streamed).
    pub idle_timeout_secs: u64,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        let t = relay::UpstreamTimeouts::default();
        UpstreamSettings {
            connect_timeout_secs: t.connect.as_secs(),
            first_byte_timeout_secs: t.first_byte.as_secs(),
            idle_timeout_secs: t.idle.as_secs(),
        }
    }
}

impl UpstreamSettings {
    pub fn timeouts(&self) -> relay::UpstreamTimeouts {
        let secs = |s: u64| std::time::Duration::from_secs(s.max(1));
        relay::UpstreamTimeouts {
            connect: secs(self.connect_timeout_secs),
            first_byte: secs(self.first_byte_timeout_secs),
            idle: secs(self.idle_timeout_secs),
        }
    }
}

/// `/metrics` (Prometheus' text format).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serves `/metrics` (`APP__METRICS__ENABLED`); off by default.
    #[serde(default)]
    pub enabled: bool,
    /// When set, `/metrics` needs `Authorization: Bearer <token>` (`APP__METRICS__TOKEN`).
    #[serde(default)]
    pub token: Option<Secret>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, with the request's id on each line of a request.
    Json,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (default) or `json` (`APP__LOG__FORMAT`).
    #[serde(default)]
    pub format: LogFormat,
}

/// Asynchronous tasks (Midjourney, Suno, video): how often unfinished ones are polled and
/// when one is given up (failed as "timeout" and refunded).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSettings {
    /// Seconds between sweeps of the poller (one instance polls at a time).
    pub poll_interval_secs: u64,
    /// Seconds after its submit at which an unfinished task fails and is refunded.
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Seconds between reloads of options changed by other instances (without Redis).
    pub option_sync_secs: u64,
    /// Longest wait, in milliseconds, of a billing record before its batch is committed.
    pub billing_window_ms: u64,
    /// Browser origins (comma-separated) allowed to call `/api` with credentials.
    pub cors_origins: String,
    /// The largest relay request body (JSON or multipart upload) read, in bytes; larger ones
    /// are refused with 413.
    pub max_body_bytes: usize,
    /// The largest realtime (WebSocket) client frame read, in bytes; a larger one is answered
    /// with an `error` event and dropped (the session goes on).
    pub realtime_max_frame_bytes: usize,
    /// Reverse proxies (addresses and networks, comma-separated) whose `X-Forwarded-For` or
    /// `Forwarded` header tells the client's address; empty: the peer is the client.
    pub trusted_proxies: String,
    /// `/api` requests a minute from one address (0 = no limit).
    pub api_rate_limit: i64,
    /// Logins, registrations, redemptions and access-token requests a minute from one address
    /// (0 = no limit).
    pub critical_rate_limit: i64,
    /// Seconds in-flight calls and streams may go on after SIGTERM before the streams still
    /// open are ended with an error event.
    pub shutdown_grace_secs: u64,
    /// `batch`: bills are committed within the billing window; `sync`: a relay call's bill is
    /// committed (group commit) before the last bytes of its answer leave.
    pub billing_durability: BillingDurability,
}

/// When a relay call's bill reaches the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingDurability {
    /// Within `billing_window_ms`: a crash can lose that window's bills.
    #[default]
    Batch,
    /// Before the answer's last bytes: a crash loses no bill of an answered call.
    Sync,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path`, `postgres://...` or `mysql://...`.
    pub url: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Option<Secret>,
    /// Seconds an instance's balance slices outlive its last renewal (a crashed instance's
    /// slices come back after this); it renews every quarter of it.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
}

fn default_lease_secs() -> u64 {
    10
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: None,
            lease_secs: default_lease_secs(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    pub root_username: String,
    /// When unset on first start, a random password is generated and logged once.
    pub root_password: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// When unset, generated once and kept in the database (shared by every instance).
    pub session_secret: Option<Secret>,
    pub cookie_secure: bool,
    pub cookie_domain: Option<String>,
    pub bcrypt_cost: u32,
}

const DEFAULTS: &[(&str, &str)] = &[
    ("server.host", "0.0.0.0"),
    ("server.port", "3000"),
    ("server.option_sync_secs", "10"),
    ("server.billing_window_ms", "200"),
    ("server.cors_origins", ""),
    ("server.max_body_bytes", "67108864"),
    ("server.realtime_max_frame_bytes", "16777216"),
    ("server.trusted_proxies", ""),
    ("server.api_rate_limit", "600"),
    ("server.critical_rate_limit", "20"),
    ("server.shutdown_grace_secs", "30"),
    ("server.billing_durability", "batch"),
    ("database.url", "sqlite://./data/gateway.db"),
    ("bootstrap.root_username", "root"),
    ("security.cookie_secure", "false"),
    ("security.bcrypt_cost", "10"),
    ("tasks.poll_interval_secs", "15"),
    ("tasks.timeout_secs", "86400"),
];

impl Settings {
    /// Reads defaults, the file named by `APP_CONFIG` (when set) and the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let file = std::env::var("APP_CONFIG").ok();
        Self::from_sources(file.as_deref(), Environment::with_prefix("APP"))
    }

    fn from_sources(file: Option<&str>, env: Environment) -> Result<Settings, ConfigError> {
        let mut builder = Config::builder();
        for (key, value) in DEFAULTS {
            builder = builder.set_default(*key, *value)?;
        }
        if let Some(path) = file {
            builder = builder.add_source(File::new(path, FileFormat::Toml).required(true));
        }
        let env = env.prefix_separator("__").separator("__").try_parsing(true);
        let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        if let Err(e) = relay::address::parse_networks(&settings.server.trusted_proxies) {
            return Err(ConfigError::Message(format!("server.trusted_proxies: {e}")));
        }
        if !(4..=31).contains(&settings.security.bcrypt_cost) {
            return Err(ConfigError::Message(
                "security.bcrypt_cost must be 4-31".into(),
            ));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::with_prefix("APP").source(Some(map))
    }

    #[test]
    fn defaults() {
        let s = Settings::from_sources(None, env(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.server.port, 3000);
        assert_eq!(s.database.url.0, "sqlite://./data/gateway.db");
        assert_eq!(s.bootstrap.root_username, "root");
        assert!(s.bootstrap.root_password.is_none());
        assert!(s.redis.url.is_none());
    }

    #[test]
    fn environment_overrides() {
        let s = Settings::from_sources(
            None,
            env(&[
                ("APP__SERVER__PORT", "8080"),
                ("APP__DATABASE__URL", "postgres://u@h/db"),
                ("APP__BOOTSTRAP__ROOT_PASSWORD", "12345678"),
                ("APP__REDIS__URL", "redis://127.0.0.1:6379"),
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.url.0, "postgres://u@h/db");
        assert_eq!(s.bootstrap.root_password, Some(Secret("12345678".into())));
        assert!(
            !format!("{s:?}").contains("12345678"),
            "secrets are redacted in Debug"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Settings::from_sources(None, env(&[("APP__SERVER__PROT", "1")])).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("prot"), "{text}");
        assert!(Settings::from_sources(None, env(&[("APP__NOPE__X", "1")])).is_err());
    }

    #[test]
    fn file_layer() {
        let path = std::env::temp_dir().join(format!("gw-config-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[server]\nport = 4000\n[security]\nbcrypt_cost = 5\n",
        )
        .unwrap_or_default();
        let s = Settings::from_sources(path.to_str(), env(&[("APP__SERVER__HOST", "127.0.0.1")]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                s.server.port,
                s.server.host.as_str(),
                s.security.bcrypt_cost
            ),
            (4000, "127.0.0.1", 5)
        );
        let _ = std::fs::remove_file(path);
        assert!(Settings::from_sources(Some("/nonexistent/x.toml"), env(&[])).is_err());
    }
}

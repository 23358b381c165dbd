//! What every `/api` handler can reach.

use persistence::DatabaseConnection;
use persistence::options::OptionStore;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Session and password settings.
#[derive(Clone)]
pub struct AuthSettings {
    /// HS256 key of the session JWT.
    pub session_secret: Vec<u8>,
    /// Adds `Secure` to the session cookie (serve over HTTPS).
    pub cookie_secure: bool,
    /// The cookie's `Domain`, e.g. `.example.com`; none means the request's host.
    pub cookie_domain: Option<String>,
    /// bcrypt cost for new password hashes.
    pub bcrypt_cost: u32,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("session_secret", &"[redacted]")
            .field("cookie_secure", &self.cookie_secure)
            .field("cookie_domain", &self.cookie_domain)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .finish()
    }
}

pub struct AdminState {
    pub db: DatabaseConnection,
    pub options: Arc<OptionStore>,
    pub auth: AuthSettings,
    pub http: relay::HttpClient,
    /// The relay's caches and balances, told about changes made here.
    pub relay: relay::Relay,
    pub version: &'static str,
    pub started_at: i64,
    /// Set while `GET /api/channel/test` runs in the background.
    pub batch_test_running: Arc<AtomicBool>,
}

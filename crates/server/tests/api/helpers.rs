//! `spawn_app()` and typed helpers, after zero2prod's `tests/api/helpers.rs`.

use futures_util::FutureExt;
use mock_upstream::MockUpstream;
use reqwest::{RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use server::config::{
    BootstrapSettings, DatabaseSettings, RedisSettings, Secret, SecuritySettings, ServerSettings,
    TaskSettings,
};
use server::{Application, Settings};
use std::future::Future;
use std::panic::AssertUnwindSafe;

pub const ROOT_PASSWORD: &str = "rootpassword1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(TestApp)`.
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { $crate::helpers::run($crate::helpers::Backend::Sqlite, super::$name).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { $crate::helpers::run($crate::helpers::Backend::Postgres, super::$name).await })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { $crate::helpers::run($crate::helpers::Backend::MySql, super::$name).await })*
        }
    };
}

/// A database made for one test and dropped after it.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    name: String,
    admin_url: Option<String>,
}

fn with_database(url: &str, name: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let cut = base.rfind('/').map_or(base.len(), |i| i);
    let (prefix, _) = base.split_at(cut);
    if prefix.ends_with('/') || !prefix.contains("://") {
        format!("{base}/{name}")
    } else {
        format!("{prefix}/{name}")
    }
}

impl TestDb {
    /// `None` when the backend's URL is not configured.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = format!(
            "gw_test_{}",
            domain::keys::random_alphanumeric(12).to_lowercase()
        );
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Some(TestDb {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    name: path.display().to_string(),
                    admin_url: None,
                })
            }
            Backend::Postgres | Backend::MySql => {
                let var = if backend == Backend::Postgres {
                    "TEST_POSTGRES_URL"
                } else {
                    "TEST_MYSQL_URL"
                };
                let admin_url = std::env::var(var).ok().filter(|v| !v.is_empty())?;
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect admin database");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Some(TestDb {
                    backend,
                    url: with_database(&admin_url, &name),
                    name,
                    admin_url: Some(admin_url),
                })
            }
        }
    }

    pub async fn drop_db(&self) {
        match (&self.backend, &self.admin_url) {
            (Backend::Sqlite, _) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
            (backend, Some(admin_url)) => {
                if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                    let sql = if *backend == Backend::Postgres {
                        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
                    } else {
                        format!("DROP DATABASE IF EXISTS {}", self.name)
                    };
                    let _ = admin.execute_unprepared(&sql).await;
                    admin.close().await.ok();
                }
            }
            _ => {}
        }
    }
}

/// Runs `test` against a fresh app on `backend`, then drops the database (also on failure).
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("{backend:?} not configured; skipped");
        return;
    };
    let outcome = AssertUnwindSafe(async {
        let app = spawn_app_on(&db.url).await;
        test(app).await;
    })
    .catch_unwind()
    .await;
    db.drop_db().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

pub fn test_settings(db_url: &str, redis_url: Option<String>) -> Settings {
    Settings {
        server: ServerSettings {
            host: "127.0.0.1".into(),
            port: 0,
            option_sync_secs: 1,
            billing_window_ms: 200,
            cors_origins: "https://admin.example.com".into(),
            max_body_bytes: 64 << 20,
            realtime_max_frame_bytes: 16 << 20,
            trusted_proxies: String::new(),
            // Tests call `/api` far more than people do; the limits' own tests set them.
            api_rate_limit: 0,
            critical_rate_limit: 0,
            shutdown_grace_secs: 30,
            billing_durability: Default::default(),
        },
        database: DatabaseSettings {
            url: Secret(db_url.into()),
        },
        redis: RedisSettings {
            url: redis_url.map(Secret),
            // A crashed instance's slices come back after two seconds.
            lease_secs: 2,
        },
        bootstrap: BootstrapSettings {
            root_username: "root".into(),
            root_password: Some(Secret(ROOT_PASSWORD.into())),
        },
        security: SecuritySettings {
            session_secret: None,
            cookie_secure: false,
            cookie_domain: None,
            bcrypt_cost: 4,
        },
        // Tests sweep tasks themselves (`Relay::sweep_tasks`).
        tasks: TaskSettings {
            poll_interval_secs: 3600,
            timeout_secs: 86_400,
        },
        log: Default::default(),
        metrics: Default::default(),
        upstream: Default::default(),
    }
}

/// Credentials of one user: a session cookie or an access token, plus the id for `New-Api-User`.
#[derive(Debug, Clone)]
pub struct Auth {
    pub id: i64,
    pub cookie: Option<String>,
    pub token: Option<String>,
}

pub struct TestApp {
    pub server: actix_web::dev::ServerHandle,
    pub running: tokio::task::JoinHandle<std::io::Result<()>>,
    pub relay: relay::Relay,
    pub address: String,
    pub database_url: String,
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
    pub mock: MockUpstream,
}

/// Starts the real app on port 0 against `db_url`, with a mock upstream beside it.
pub async fn spawn_app_on(db_url: &str) -> TestApp {
    spawn_app_with(test_settings(db_url, None)).await
}

/// Starts the real app with `settings` (its database must exist).
pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let db_url = settings.database.url.0.clone();
    let app = Application::build(settings)
        .await
        .expect("build application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let relay = app.relay();
    let server = app.server_handle();
    #[allow(clippy::disallowed_methods)] // runs the server as the binary's main does
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        server,
        running,
        relay,
        address,
        database_url: db_url,
        db,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        mock: MockUpstream::start().await.expect("start mock upstream"),
    }
}

impl TestApp {
    /// Starts the server binary on this app's database (the app made the session secret, so
    /// both share it), with `env` on top and its log written to `log`; returns the process
    /// (killed when dropped) and its address once it answers.
    pub async fn spawn_binary(
        &self,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> (tokio::process::Child, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let output = || match log {
            Some(path) => std::process::Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => std::process::Stdio::null(),
        };
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .env("APP__DATABASE__URL", &self.database_url)
            .env("APP__SERVER__HOST", "127.0.0.1")
            .env("APP__SERVER__PORT", port.to_string())
            .env("APP__BOOTSTRAP__ROOT_PASSWORD", ROOT_PASSWORD)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if self
                .client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok()
            {
                return (child, base);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the server binary did not start");
    }
}

/// Status and JSON body of a response.
pub async fn body(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

impl Auth {
    pub fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        let rb = rb.header("New-Api-User", self.id.to_string());
        let rb = match &self.cookie {
            Some(c) => rb.header("Cookie", format!("session={c}")),
            None => rb,
        };
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }
}

/// The session cookie a response sets.
pub fn session_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, auth: Option<&Auth>, path: &str) -> (StatusCode, Value) {
        self.send(auth, self.client.get(self.url(path))).await
    }

    pub async fn delete(&self, auth: Option<&Auth>, path: &str) -> (StatusCode, Value) {
        self.send(auth, self.client.delete(self.url(path))).await
    }

    pub async fn post(&self, auth: Option<&Auth>, path: &str, json: Value) -> (StatusCode, Value) {
        self.send(auth, self.client.post(self.url(path)).json(&json))
            .await
    }

    pub async fn put(&self, auth: Option<&Auth>, path: &str, json: Value) -> (StatusCode, Value) {
        self.send(auth, self.client.put(self.url(path)).json(&json))
            .await
    }

    pub async fn send(&self, auth: Option<&Auth>, rb: RequestBuilder) -> (StatusCode, Value) {
        let rb = match auth {
            Some(a) => a.apply(rb),
            None => rb,
        };
        body(rb.send().await.unwrap()).await
    }

    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/user/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the session credentials.
    pub async fn login(&self, username: &str, password: &str) -> Auth {
        let resp = self.login_response(username, password).await;
        let cookie = session_cookie(&resp);
        let (status, v) = body(resp).await;
        assert_eq!(status, StatusCode::OK, "login {username}: {v}");
        Auth {
            id: v["data"]["id"].as_i64().unwrap(),
            cookie,
            token: None,
        }
    }

    pub async fn root(&self) -> Auth {
        self.login("root", ROOT_PASSWORD).await
    }

    pub async fn register(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            None,
            "/api/user/register",
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers `username` (password `password123`) and logs in.
    pub async fn new_user(&self, username: &str) -> Auth {
        let (status, v) = self.register(username, "password123").await;
        assert_eq!(status, StatusCode::OK, "register {username}: {v}");
        self.login(username, "password123").await
    }

    /// Creates an admin (role 10) through root and logs in as them.
    pub async fn new_admin(&self, username: &str) -> Auth {
        let root = self.root().await;
        let (status, v) = self
            .post(
                Some(&root),
                "/api/user",
                json!({"username": username, "password": "password123", "role": 10}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create admin: {v}");
        self.login(username, "password123").await
    }

    pub async fn set_option(&self, root: &Auth, key: &str, value: &str) {
        let (status, v) = self
            .put(
                Some(root),
                "/api/option",
                json!({"key": key, "value": value}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "set option {key}: {v}");
    }

    /// Creates a channel through the API against the mock upstream; returns its id.
    pub async fn create_channel(&self, admin: &Auth, extra: Value) -> i64 {
        let mut body = json!({
            "name": "mock", "type": 1, "key": "sk-upstream-secret-key",
            "base_url": self.mock.url(), "models": "gpt-4o,gpt-4o-mini", "group": "default"
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (status, v) = self.post(Some(admin), "/api/channel", body).await;
        assert_eq!(status, StatusCode::OK, "create channel: {v}");
        v["data"]["id"].as_i64().unwrap()
    }

    /// The user's quota as `/api/user/self` reports it.
    pub async fn quota_of(&self, auth: &Auth) -> i64 {
        let (_, v) = self.get(Some(auth), "/api/user/self").await;
        v["data"]["quota"].as_i64().unwrap()
    }
}

/// Asserts the envelope of a failure: `success: false` and a non-empty message.
pub fn assert_failure(status: StatusCode, v: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{v}");
    assert_eq!(v["success"], json!(false), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

/// Relay calls.
impl TestApp {
    /// A new API key of `auth` with these fields; returns the key.
    pub async fn api_key(&self, auth: &Auth, fields: Value) -> String {
        let mut body = json!({"name": "key", "unlimited_quota": true});
        if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                b.insert(k.clone(), v.clone());
            }
        }
        let (status, v) = self.post(Some(auth), "/api/token", body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["data"]["key"].as_str().unwrap().to_owned()
    }

    pub async fn relay_post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        crate::helpers::body(
            self.client
                .post(self.url(path))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A chat call whose body is read whole (streamed or not).
    pub async fn relay_post_any(&self, key: &str, body: Value) -> (StatusCode, String) {
        let resp = self.chat_response(key, &body).await;
        (resp.status(), resp.text().await.unwrap())
    }

    /// The raw answer to a chat call, for reading streams.
    pub async fn chat_response(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn relay_get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        crate::helpers::body(
            self.client
                .get(self.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A user with `quota`, a key, and one channel to the mock serving gpt-4o.
    pub async fn relay_setup(&self, quota: i64) -> (Auth, String, i64) {
        let root = self.root().await;
        let channel = self.create_channel(&root, json!({})).await;
        let (user, key) = self.funded_user("caller", quota).await;
        (user, key, channel)
    }

    /// A new user `name` with `quota` and an unlimited API key of theirs.
    pub async fn funded_user(&self, name: &str, quota: i64) -> (Auth, String) {
        let root = self.root().await;
        let user = self.new_user(name).await;
        let (status, v) = self
            .put(
                Some(&root),
                "/api/user",
                json!({"id": user.id, "quota": quota}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let key = self.api_key(&user, json!({})).await;
        (user, key)
    }

    /// Waits for the billing writer, then reads the user's quota from the database.
    pub async fn settled_quota(&self, user: &Auth) -> i64 {
        self.relay.flush_billing().await;
        self.quota_of(user).await
    }

    /// The consume logs of everyone, as admin sees them.
    pub async fn consume_logs(&self) -> Vec<Value> {
        self.relay.flush_billing().await;
        let root = self.root().await;
        let (_, v) = self.get(Some(&root), "/api/log?type=2&size=100").await;
        v["data"].as_array().unwrap().clone()
    }
}

/// Channels seen through the admin API.
impl TestApp {
    /// Points the channel's `gpt-4o` at another mock model (`mock-long`, `mock-leak`, ...).
    pub async fn map_gpt4o(&self, channel: i64, model: &str) {
        let root = self.root().await;
        let mapping = json!({"gpt-4o": model}).to_string();
        let (status, v) = self
            .put(
                Some(&root),
                "/api/channel",
                json!({"id": channel, "model_mapping": mapping}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }

    /// The channel's status as the admin API shows it.
    pub async fn channel_status(&self, id: i64) -> i64 {
        let root = self.root().await;
        let (_, c) = self.get(Some(&root), &format!("/api/channel/{id}")).await;
        c["data"]["status"].as_i64().unwrap()
    }

    /// Whether the channel is auto-disabled (status 3) within a second.
    pub async fn channel_disabled_soon(&self, id: i64) -> bool {
        for _ in 0..50 {
            if self.channel_status(id).await == 3 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }
}

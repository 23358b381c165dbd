//! Building and running the application.

use crate::bootstrap::{self, BootstrapError};
use crate::config::Settings;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, body::MessageBody, web};
use admin_api::{AdminApiDoc, AdminState, AuthSettings};
use gateway_api::GatewayState;
use persistence::DatabaseConnection;
use persistence::options::OptionStore;
use relay::Relay;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] persistence::DbError),
    #[error("database: {0}")]
    Query(#[from] persistence::DbErr),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("Redis at APP__REDIS__URL: {0}")]
    Redis(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The whole OpenAPI document the server serves at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = AdminApiDoc::openapi();
    doc.merge(gateway_api::GatewayApiDoc::openapi());
    doc.merge(crate::health::HealthApiDoc::openapi());
    doc
}

/// The running app: its port and the server future.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    relay: Relay,
    /// How long in-flight calls and streams may go on after a stop signal.
    grace: Duration,
}

/// Gives every request an id (the caller's `X-Request-Id` when it is sane, else a new one), put
/// on the request for handlers to read and on every response.
async fn request_id(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    const HEADER: HeaderName = HeaderName::from_static("x-request-id");
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| domain::keys::random_alphanumeric(24));
    if let Ok(value) = HeaderValue::from_str(&id) {
        // Handlers read the id from the request, whoever set it.
        req.headers_mut().insert(HEADER, value);
    }
    // Every line logged while the request is handled carries its id; one access line ends
    // it (the path without its query, which can hold a key).
    let span = tracing::info_span!("request", id = %id);
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    crate::telemetry::request_done(res.request(), res.status().as_u16(), started);
    span.in_scope(|| {
        tracing::info!(
            target: "access",
            method = %method,
            path,
            status = res.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
        )
    });
    Ok(res)
}

async fn connect_redis(url: &str) -> Result<deadpool_redis::Pool, StartupError> {
    let mut config = deadpool_redis::Config::from_url(url);
    // Calls lease balances through this pool: enough connections for a burst, and a
    // bounded wait, so a dry pool is an error, not a hang.
    let mut pool_config = deadpool_redis::PoolConfig::new(64);
    pool_config.timeouts.wait = Some(Duration::from_secs(5));
    pool_config.timeouts.create = Some(Duration::from_secs(5));
    config.pool = Some(pool_config);
    let pool = config
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .map_err(|e| StartupError::Redis(e.to_string()))?;
    let mut conn = pool
        .get()
        .await
        .map_err(|e| StartupError::Redis(e.to_string()))?;
    deadpool_redis::redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|e| StartupError::Redis(e.to_string()))?;
    Ok(pool)
}

impl Application {
    /// Connects everything and binds the listener; `port` 0 picks a free port.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let db = persistence::connect(&settings.database.url.0).await?;
        let redis = match &settings.redis.url {
            Some(url) => Some((url.0.clone(), connect_redis(&url.0).await?)),
            None => None,
        };
        bootstrap::ensure_root(&db, &settings.bootstrap, settings.security.bcrypt_cost).await?;
        let session_secret = bootstrap::session_secret(&db, &settings.security).await?;
        let options = Arc::new(OptionStore::load(&db).await?);
        let timeouts = settings.upstream.timeouts();
        let http = relay::HttpClient::with_connect_timeout(timeouts.connect);
        let bus = match &redis {
            Some((url, pool)) => Some(
                crate::changes::Bus::new(url, pool.clone(), &session_secret)
                    .map_err(|e| StartupError::Redis(e.to_string()))?,
            ),
            None => None,
        };
        let mut builder = Relay::builder(db.clone());
        if let Some(bus) = &bus {
            builder = builder.change_bus(bus.relay_side());
        }
        let mut ledger = None;
        if let Some((_, pool)) = &redis {
            let counters = crate::counters::RedisCounters::new(pool.clone(), &session_secret);
            builder = builder.counters(std::sync::Arc::new(counters));
            let shared = crate::ledger::RedisLedger::new(
                db.clone(),
                pool.clone(),
                &session_secret,
                Duration::from_secs(settings.redis.lease_secs),
            );
            builder = builder.ledger(shared.clone());
            ledger = Some(shared);
        }
        let relay = builder
            .options(options.clone())
            .http(http.clone())
            .upstream_timeouts(timeouts)
            .durable_billing(
                settings.server.billing_durability == crate::config::BillingDurability::Sync,
            )
            .billing_window(Duration::from_millis(settings.server.billing_window_ms))
            .sync_interval(Duration::from_secs(settings.server.option_sync_secs))
            .task_polling(Some((
                Duration::from_secs(settings.tasks.poll_interval_secs),
                Duration::from_secs(settings.tasks.timeout_secs),
            )))
            .build()
            .await?;
        if let Some(ledger) = ledger {
            let jobs = relay.jobs().clone();
            relay.jobs().spawn(ledger.maintain(jobs));
        }
        if let Some(bus) = bus {
            bus.start(&relay)
                .await
                .map_err(|e| StartupError::Redis(e.to_string()))?;
        }
        let gateway_state = web::Data::new(GatewayState {
            relay: relay.clone(),
            max_body: settings.server.max_body_bytes,
            realtime_max_frame: settings.server.realtime_max_frame_bytes,
            counts: Default::default(),
        });
        let addressing = web::Data::new(crate::address::Addressing {
            proxies: relay::address::parse_networks(&settings.server.trusted_proxies)
                .unwrap_or_default(),
            api_per_minute: settings.server.api_rate_limit,
            critical_per_minute: settings.server.critical_rate_limit,
        });
        let probes = web::Data::new(crate::health::Probes {
            db: db.clone(),
            relay: relay.clone(),
            redis: redis.as_ref().map(|(_, pool)| pool.clone()),
        });
        let exporter = web::Data::new(crate::telemetry::Exporter {
            handle: settings
                .metrics
                .enabled
                .then(crate::telemetry::install)
                .flatten(),
            token: settings.metrics.token.as_ref().map(|t| t.0.clone()),
            relay: relay.clone(),
        });
        let api_origins = web::Data::new(crate::cors::ApiOrigins::parse(
            &settings.server.cors_origins,
        ));

        let admin_state = web::Data::new(AdminState {
            db: db.clone(),
            options,
            auth: AuthSettings {
                session_secret,
                cookie_secure: settings.security.cookie_secure,
                cookie_domain: settings.security.cookie_domain.clone(),
                bcrypt_cost: settings.security.bcrypt_cost,
            },
            http,
            relay: relay.clone(),
            version: VERSION,
            started_at: domain::now_ts(),
            batch_test_running: Arc::new(AtomicBool::new(false)),
        });

        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: addr.clone(),
                source,
            })?
            .port();
        let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
        let doc = openapi();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(crate::address::addressing))
                .wrap(from_fn(crate::cors::cors))
                .wrap(from_fn(request_id))
                .app_data(addressing.clone())
                .app_data(api_origins.clone())
                .app_data(admin_state.clone())
                .app_data(gateway_state.clone())
                .app_data(probes.clone())
                .app_data(exporter.clone())
                // The relay first: its routes are the hot ones, and actix tries them in order.
                .configure(gateway_api::configure)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", doc.clone()))
                .configure(admin_api::configure)
                .configure(crate::health::configure)
        })
        .on_connect(|conn, _| {
            // Streamed events leave at once instead of waiting on Nagle and delayed ACKs.
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr, source })?
        // The server's own bound comes after the grace: streams still open then end with an
        // error event, which is given a few seconds to leave.
        .shutdown_timeout(grace.as_secs() + 5)
        .disable_signals()
        .run();
        Ok(Application {
            port,
            server,
            db,
            relay,
            grace,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database connection (tests use it to look behind the API).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Stops the server from outside (like a shutdown signal does).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The relay (tests flush its billing through it).
    pub fn relay(&self) -> Relay {
        self.relay.clone()
    }

    /// Serves until a shutdown signal (SIGTERM or Ctrl-C): stops accepting, lets in-flight
    /// calls and streams go on for the grace (`APP__SERVER__SHUTDOWN_GRACE_SECS`), then ends
    /// the streams still open with an error event in their dialect (billed for what they
    /// streamed), and commits every pending billing record.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (handle, relay, grace) = (self.server.handle(), self.relay.clone(), self.grace);
        let jobs = self.relay.jobs().clone();
        self.relay.jobs().spawn(async move {
            tokio::select! {
                _ = stop_signal() => {}
                _ = jobs.cancelled() => return,
            }
            tracing::info!(grace_secs = grace.as_secs(), "stopping: no new connections");
            let stopped = handle.stop(true);
            tokio::pin!(stopped);
            tokio::select! {
                _ = &mut stopped => return,
                _ = tokio::time::sleep(grace) => {}
            }
            tracing::info!("shutdown grace over: ending the streams still open");
            relay.end_streams();
            stopped.await;
        });
        let result = self.server.await;
        self.relay.shutdown().await;
        result
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

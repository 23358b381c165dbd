//! Liveness and readiness for orchestrators and load balancers: `/healthz` answers while the
//! process serves; `/readyz` checks what a call needs (the database reachable and migrated,
//! the billing writer keeping up, Redis when configured) and answers 503 naming the check
//! that failed (details go to the log, not to the anonymous caller).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

/// What `/readyz` found.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unready`.
    pub status: &'static str,
    /// `ok` or `failed` per check: `database`, `migrations`, `billing`, and `redis` when
    /// configured.
    pub checks: std::collections::BTreeMap<&'static str, &'static str>,
}

/// The process is alive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    pub status: &'static str,
}

/// Why `/metrics` refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeError {
    pub error: String,
}

impl ProbeError {
    pub fn answer(status: u16, error: &str) -> HttpResponse {
        let status = actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = HttpResponse::build(status);
        if status == actix_web::http::StatusCode::UNAUTHORIZED {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        resp.json(ProbeError {
            error: error.to_owned(),
        })
    }
}

/// What the readiness checks need.
pub struct Probes {
    pub db: persistence::DatabaseConnection,
    pub relay: relay::Relay,
    pub redis: Option<deadpool_redis::Pool>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Liveness, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "ok" })
}

/// The instance can serve calls.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, body = Readiness, description = "Every check passed"),
        (status = 503, body = Readiness, description = "A check failed; `checks` says which"),
    ))]
pub async fn readyz(probes: web::Data<Probes>) -> HttpResponse {
    let mut checks = std::collections::BTreeMap::new();
    let mut verdict = |name: &'static str, ok: bool| {
        checks.insert(name, if ok { "ok" } else { "failed" });
        ok
    };
    let database = match probes.db.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            false
        }
    };
    let mut ready = verdict("database", database);
    let migrated = database
        && match persistence::pending_migrations(&probes.db).await {
            Ok(pending) => pending == 0,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: reading the migrations failed");
                false
            }
        };
    ready &= verdict("migrations", migrated);
    ready &= verdict("billing", probes.relay.billing_keeps_up());
    if let Some(pool) = &probes.redis {
        let answered = match pool.get().await {
            Ok(mut conn) => deadpool_redis::redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &answered {
            tracing::warn!(error = %e, "readiness: Redis does not answer");
        }
        ready &= verdict("redis", answered.is_ok());
    }
    let body = Readiness {
        status: if ready { "ready" } else { "unready" },
        checks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The health routes and their document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, crate::telemetry::metrics_text),
    components(schemas(Liveness, Readiness, ProbeError)),
    tags((name = "health", description = "Liveness and readiness probes, and metrics")))]
pub struct HealthApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources, so another method answers 405 with `Allow`.
    use web::{get, resource};
    cfg.service(resource("/healthz").route(get().to(healthz)))
        .service(resource("/readyz").route(get().to(readyz)))
        .service(resource("/metrics").route(get().to(crate::telemetry::metrics_text)));
}

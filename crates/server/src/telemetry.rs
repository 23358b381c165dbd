//! `/metrics` in Prometheus' text format, when `APP__METRICS__ENABLED` is set: the relay's
//! signals (upstream latency and failures by channel, calls and quota by model and channel,
//! open streams and realtime sessions, the task poller's backlog), requests and latency by
//! route and status, and the billing writer's queue. With `APP__METRICS__TOKEN` the route
//! needs `Authorization: Bearer <token>`.

use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Latency buckets in seconds: a relay call's overhead is sub-millisecond, an upstream's
/// answer up to minutes.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// The process's recorder (one per process, whatever number of apps it builds).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once) and turns the relay's signals on.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "a metrics recorder is installed already");
                return None;
            }
            relay::telemetry::enable();
            Some(handle)
        })
        .clone()
}

/// What `/metrics` needs.
pub struct Exporter {
    pub handle: Option<PrometheusHandle>,
    pub token: Option<String>,
    pub relay: relay::Relay,
}

/// A request's route (its pattern, not its path) and status, and how long it took.
pub fn request_done(req: &HttpRequest, status: u16, started: Instant) {
    if !relay::telemetry::enabled() {
        return;
    }
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    metrics::histogram!("gateway_request_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("gateway_requests_total", "route" => route, "status" => status.to_string())
        .increment(1);
}

/// Compares in time independent of where the values differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The gateway's metrics in Prometheus' text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, content_type = "text/plain", body = String,
            description = "Prometheus' text exposition format"),
        (status = 401, body = crate::health::ProbeError,
            description = "`APP__METRICS__TOKEN` is set and the bearer token is not it"),
        (status = 404, body = crate::health::ProbeError,
            description = "Metrics are off (`APP__METRICS__ENABLED`)"),
    ))]
pub async fn metrics_text(exporter: web::Data<Exporter>, req: HttpRequest) -> HttpResponse {
    let Some(handle) = &exporter.handle else {
        return crate::health::ProbeError::answer(404, "metrics are off");
    };
    if let Some(token) = &exporter.token {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same(given.as_bytes(), token.as_bytes()) {
            return crate::health::ProbeError::answer(401, "a bearer token is needed");
        }
    }
    let (backlog, lag) = exporter.relay.billing_queue();
    metrics::gauge!("gateway_billing_backlog").set(backlog as f64);
    metrics::gauge!("gateway_billing_lag_seconds").set(lag as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

//! Liveness and readiness: `/healthz` while the process serves, `/readyz` with each check,
//! and 503 naming the check that failed when the database is gone; `/metrics` off by default,
//! and behind its token when on.

use crate::helpers::TestApp;
use reqwest::StatusCode;

async fn probes_tell_alive_and_ready_and_say_what_failed(app: TestApp) {
    let (status, v) = app.get(None, "/healthz").await;
    assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    for path in ["/healthz", "/readyz", "/metrics"] {
        let resp = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(resp.headers()["allow"], "GET", "{path}");
    }
    let (status, v) = app.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ready");
    for check in ["database", "migrations", "billing"] {
        assert_eq!(v["checks"][check], "ok", "{v}");
    }
    assert!(
        v["checks"].get("redis").is_none(),
        "no Redis configured: {v}"
    );
    // The database goes away: not ready, and the check says which; still alive.
    app.db.clone().close().await.unwrap();
    let (status, v) = app.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "unready");
    assert_eq!(v["checks"]["database"], "failed", "{v}");
    assert!(
        !v.to_string().contains(&app.database_url),
        "no detail leaks: {v}"
    );
    assert_eq!(app.get(None, "/healthz").await.0, StatusCode::OK);
}

async fn metrics_are_off_by_default_and_need_their_token(app: TestApp) {
    let (status, v) = app.get(None, "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let mut settings = crate::helpers::test_settings(&app.database_url, None);
    settings.metrics.enabled = true;
    settings.metrics.token = Some(server::config::Secret("m-token-1".into()));
    let on = crate::helpers::spawn_app_with(settings).await;
    let (_, key, _) = on.relay_setup(10_000_000).await;
    for stream in [false, true] {
        let (status, _) = on
            .relay_post_any(&key, crate::relay::chat("gpt-4o", stream))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    on.relay.flush_billing().await;
    let scrape = |token: Option<&'static str>| {
        let mut rb = on.client.get(on.url("/metrics"));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    for token in [None, Some("m-token-2")] {
        let resp = scrape(token).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    let resp = scrape(Some("m-token-1")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    for needle in [
        r#"gateway_requests_total{route="/v1/chat/completions",status="200"} 2"#,
        r#"gateway_calls_total{model="gpt-4o",channel="#,
        r#"gateway_quota_spent_total{model="gpt-4o",channel="#,
        "gateway_upstream_seconds_bucket{channel=",
        "gateway_request_seconds_bucket{route=",
        "gateway_billing_backlog 0",
        "gateway_open_streams 0",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}

db_tests!(
    probes_tell_alive_and_ready_and_say_what_failed,
    metrics_are_off_by_default_and_need_their_token
);

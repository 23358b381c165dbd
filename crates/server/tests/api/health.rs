//! Liveness and readiness: `/healthz` while the process serves, `/readyz` with each check,
//! and 503 naming the check that failed when the database is gone.

use crate::helpers::TestApp;
use reqwest::StatusCode;

async fn probes_tell_alive_and_ready_and_say_what_failed(app: TestApp) {
    let (status, v) = app.get(None, "/healthz").await;
    assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("ok")));
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

db_tests!(probes_tell_alive_and_ready_and_say_what_failed);

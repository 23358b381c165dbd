//! What a hostile caller of `/api` tries: nonsense pages, timing logins, overflowing amounts.

use crate::helpers::{TestApp, assert_failure, spawn_app_with, test_settings};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// Huge page numbers are refused with 400 on every list instead of panicking in SQL.
async fn pages_far_out_are_refused(app: TestApp) {
    let root = app.root().await;
    for path in [
        "/api/token",
        "/api/user",
        "/api/channel",
        "/api/log",
        "/api/log/self",
        "/api/redemption",
    ] {
        let (status, v) = app
            .get(
                Some(&root),
                &format!("{path}?p=1000000000000000000&size=100"),
            )
            .await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
        let (status, v) = app
            .get(Some(&root), &format!("{path}?p=1000000000&size=100"))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        assert_eq!(v["data"], json!([]), "{path}: {v}");
    }
    // The server is still up.
    let (status, _) = app.get(Some(&root), "/api/token").await;
    assert_eq!(status, StatusCode::OK);
}

/// A login for an unknown user takes as long as a wrong password for a known one (both run a
/// bcrypt check at the configured cost).
async fn login_timing_does_not_tell_users_apart(app: TestApp) {
    let mut settings = test_settings(&app.database_url, None);
    settings.security.bcrypt_cost = 11;
    let slow = spawn_app_with(settings).await;
    let (status, v) = slow.register("timed", "password123").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let time = |name: &'static str| {
        let slow = &slow;
        async move {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let started = Instant::now();
                let resp = slow.login_response(name, "wrong-password").await;
                assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
                best = best.min(started.elapsed());
            }
            best
        }
    };
    let known = time("timed").await;
    let unknown = time("nobody-here").await;
    assert!(
        unknown * 2 >= known,
        "unknown user answered in {unknown:?}, known in {known:?}"
    );
}

impl TestApp {
    /// Creates `count` codes worth `quota` each; returns (ids, keys).
    async fn codes(
        &self,
        admin: &crate::helpers::Auth,
        quota: i64,
        count: usize,
    ) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        for _ in 0..count {
            let (status, v) = self
                .post(
                    Some(admin),
                    "/api/redemption",
                    json!({"name": "code", "quota": quota, "count": 1}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            out.push((
                v["data"]["id"].as_i64().unwrap(),
                v["data"]["key"].as_str().unwrap().to_owned(),
            ));
        }
        out
    }
}

/// Amounts past the documented maximum (10^15 quota) are refused everywhere, and a top-up that
/// would pass it changes nothing; ratios and counts are bounded too.
async fn quota_amounts_cannot_overflow(app: TestApp) {
    const MAX: i64 = 1_000_000_000_000_000;
    let root = app.root().await;
    let (status, v) = app
        .post(
            Some(&root),
            "/api/redemption",
            json!({"name": "huge", "quota": i64::MAX, "count": 1}),
        )
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    let user = app.new_user("rich").await;
    let codes = app.codes(&root, MAX, 2).await;
    let (status, v) = app
        .post(Some(&user), "/api/user/topup", json!({"key": codes[0].1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .post(Some(&user), "/api/user/topup", json!({"key": codes[1].1}))
        .await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    assert_eq!(app.quota_of(&user).await, MAX);
    // The second code is still unused: the refused top-up changed nothing.
    let (_, list) = app
        .get(
            Some(&root),
            &format!("/api/redemption?keyword={}", codes[1].1),
        )
        .await;
    assert_eq!(list["data"][0]["status"], 1, "{list}");
    // Login and admin lists still work for that user.
    let again = app.login("rich", "password123").await;
    assert_eq!(again.id, user.id);
    let (status, _) = app.get(Some(&root), "/api/user?size=100").await;
    assert_eq!(status, StatusCode::OK);

    for (path, body) in [
        ("/api/user", json!({"id": user.id, "quota": MAX + 1})),
        ("/api/user", json!({"id": user.id, "quota": -1})),
    ] {
        let (status, v) = app.put(Some(&root), path, body).await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
    }
    let (status, v) = app
        .post(
            Some(&user),
            "/api/token",
            json!({"name": "k", "remain_quota": MAX + 1}),
        )
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    for (key, value) in [
        ("CompletionRatio", r#"{"gpt-4o":1e308}"#),
        ("ModelRatio", r#"{"gpt-4o":1e20}"#),
        ("RetryTimes", "100000"),
        ("QuotaForNewUser", "1000000000000000000"),
    ] {
        let (status, v) = app
            .put(
                Some(&root),
                "/api/option",
                json!({"key": key, "value": value}),
            )
            .await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
    }
}

/// An admin re-enabling a code while it is being redeemed cannot make it redeemable again:
/// every code ends used exactly once.
async fn re_enabling_a_code_races_no_second_redeem(app: TestApp) {
    let root = app.root().await;
    let user = app.new_user("racer").await;
    let codes = app.codes(&root, 100, 8).await;
    for (id, key) in &codes {
        let redeem = app.post(Some(&user), "/api/user/topup", json!({"key": key}));
        let enable = app.put(
            Some(&root),
            "/api/redemption",
            json!({"id": id, "status": 1, "name": "renamed"}),
        );
        let ((redeemed, _), _) = tokio::join!(redeem, enable);
        assert_eq!(redeemed, StatusCode::OK);
        // Whatever the order, the code is used now and cannot be redeemed again.
        let (status, v) = app
            .post(Some(&user), "/api/user/topup", json!({"key": key}))
            .await;
        assert_failure(status, &v, StatusCode::CONFLICT);
    }
    assert_eq!(app.quota_of(&user).await, 800);
}

db_tests!(
    pages_far_out_are_refused,
    login_timing_does_not_tell_users_apart,
    quota_amounts_cannot_overflow,
    re_enabling_a_code_races_no_second_redeem
);

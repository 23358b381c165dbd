//! Options: root only, validated, secrets hidden, changes seen by every instance.

use crate::helpers::{TestApp, assert_failure, spawn_app_with, test_settings};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn get_hides_secrets_and_shows_aliases(app: TestApp) {
    let root = app.root().await;
    let (status, v) = app.get(Some(&root), "/api/option").await;
    assert_eq!(status, StatusCode::OK);
    let data = v["data"].as_object().unwrap();
    assert_eq!(data["system_name"], "New API");
    assert_eq!(data["SystemName"], "New API");
    for key in [
        "logo",
        "footer",
        "top_up_link",
        "chat_link",
        "RegisterEnabled",
        "GroupRatio",
    ] {
        assert!(data.contains_key(key), "missing {key}");
    }
    assert!(!data.contains_key("SessionSecret"));
    assert!(
        data.keys()
            .all(|k| !k.ends_with("Secret") && !k.ends_with("Token") && !k.ends_with("Key"))
    );
}

async fn put_seed_map_and_single_pair(app: TestApp) {
    let root = app.root().await;
    let (status, v) = app
        .put(
            Some(&root),
            "/api/option",
            json!({"system_name": "New API Pro", "logo": "/new-logo.png"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "系统选项更新成功");
    let (_, s) = app.get(None, "/api/status").await;
    assert_eq!(s["data"]["system_name"], "New API Pro");
    assert_eq!(s["data"]["logo"], "/new-logo.png");

    app.set_option(&root, "Notice", "系统公告内容").await;
    let (_, n) = app.get(None, "/api/notice").await;
    assert_eq!(n["data"], "系统公告内容");
    // Non-string values are stored as their text.
    let (status, _) = app.put(Some(&root), "/api/option", json!({"QuotaForNewUser": 42, "RegisterEnabled": false, "GroupRatio": {"default": 1, "vip": 0.8}})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = app.get(Some(&root), "/api/option").await;
    assert_eq!(v["data"]["QuotaForNewUser"], "42");
    assert_eq!(v["data"]["RegisterEnabled"], "false");
    let (_, g) = app.get(None, "/api/user/groups").await;
    assert_eq!(g["data"], json!(["default", "vip"]));
}

async fn invalid_values_change_nothing(app: TestApp) {
    let root = app.root().await;
    let (status, v) = app
        .put(
            Some(&root),
            "/api/option",
            json!({"system_name": "Changed", "RegisterEnabled": "maybe"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    let (_, s) = app.get(None, "/api/status").await;
    assert_eq!(s["data"]["system_name"], "New API", "no partial write");
    let (status, v) = app
        .put(
            Some(&root),
            "/api/option",
            json!({"key": "SessionSecret", "value": "x"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    for bad in [
        json!({"QuotaForNewUser": -5}),
        json!({"GroupRatio": "[]"}),
        json!({}),
        json!({"bad key": "x"}),
    ] {
        let (status, v) = app.put(Some(&root), "/api/option", bad).await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
    }
}

/// Other instances on the same database see an option change without a restart: through
/// Redis within about a second (the fallback reload is set to an hour here, so only Redis can
/// carry it), or without Redis on their reload interval.
async fn changes_reach_other_instances(app: TestApp) {
    let redis = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let sync_secs = if redis.is_some() { 3600 } else { 1 };
    let spawn = || async {
        let mut settings = test_settings(&app.database_url, redis.clone());
        settings.server.option_sync_secs = sync_secs;
        spawn_app_with(settings).await
    };
    let (first, second) = (spawn().await, spawn().await);
    let root = first.root().await;
    first.set_option(&root, "SystemName", "Shared Name").await;
    let mut seen = false;
    for _ in 0..50 {
        let (_, s) = second.get(None, "/api/status").await;
        if s["data"]["system_name"] == "Shared Name" {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen,
        "the other instance picked the change up (redis: {})",
        redis.is_some()
    );
    // Sessions made by one instance are accepted by the other (shared secret in the database).
    let (status, _) = second.get(Some(&root), "/api/user/self").await;
    assert_eq!(status, StatusCode::OK);
}

db_tests!(
    get_hides_secrets_and_shows_aliases,
    put_seed_map_and_single_pair,
    invalid_values_change_nothing,
    changes_reach_other_instances,
);

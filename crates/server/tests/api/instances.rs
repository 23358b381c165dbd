//! Several instances on one database and one Redis: a change made through one (a channel, a
//! key, a user, an option) applies on the other within a second, carried by Redis (the
//! fallback re-read is an hour here). Without Redis in the suite, the fallback re-read (one
//! second) carries it within a few.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::relay::chat;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// Calls `probe` until it says yes, for up to `within`; returns how long that took.
async fn until<F, Fut>(within: Duration, mut probe: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        if probe().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn changes_on_one_instance_apply_on_the_other_within_a_second(app: TestApp) {
    let redis = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let (sync_secs, within) = match redis {
        Some(_) => (3600, Duration::from_secs(1)),
        None => (1, Duration::from_secs(4)),
    };
    let spawn = || async {
        let mut settings = test_settings(&app.database_url, redis.clone());
        settings.server.option_sync_secs = sync_secs;
        spawn_app_with(settings).await
    };
    let (a, b) = (spawn().await, spawn().await);
    let root = a.root().await;
    let (user, key) = a.funded_user("traveller", 10_000_000).await;
    // B has seen the key and the user before the changes (they are cached there).
    let (status, _) = b
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no channel yet");

    // A channel created on A routes on B.
    let mut body = json!({"name": "shared", "type": 1, "key": "sk-upstream", "base_url": a.mock.url(),
        "models": "gpt-4o", "group": "default"});
    body["name"] = json!("shared");
    let (status, v) = a.post(Some(&root), "/api/channel", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let routed = until(within, || async {
        b.relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
            .await
            .0
            == StatusCode::OK
    })
    .await;
    assert!(routed.is_some(), "a channel made on A routes on B");

    // A key disabled on A is refused on B.
    let (_, tokens) = a.get(Some(&user), "/api/token").await;
    let id = tokens["data"][0]["id"].as_i64().unwrap();
    let (status, v) = a
        .put(Some(&user), "/api/token", json!({"id": id, "status": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let refused = until(within, || async {
        b.relay_get(&key, "/v1/models").await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused.is_some(), "a key disabled on A is refused on B");
    a.put(Some(&user), "/api/token", json!({"id": id, "status": 1}))
        .await;
    let back = until(within, || async {
        b.relay_get(&key, "/v1/models").await.0 == StatusCode::OK
    })
    .await;
    assert!(back.is_some(), "and enabled again");

    // A user banned on A is refused on B.
    let (status, v) = a
        .put(
            Some(&root),
            "/api/user",
            json!({"id": user.id, "status": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let banned = until(within, || async {
        b.relay_get(&key, "/v1/models").await.0 == StatusCode::FORBIDDEN
    })
    .await;
    assert!(banned.is_some(), "a user banned on A is refused on B");

    // An option (a price) changed on A applies on B.
    a.set_option(&root, "SystemName", "Everywhere").await;
    let named = until(within, || async {
        b.get(None, "/api/status").await.1["data"]["system_name"] == "Everywhere"
    })
    .await;
    assert!(named.is_some(), "an option set on A applies on B");
}

db_tests!(changes_on_one_instance_apply_on_the_other_within_a_second);

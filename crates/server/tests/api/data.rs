//! Usage statistics from `quota_data`.

use crate::helpers::TestApp;
use persistence::quota_data::{self, Usage};
use reqwest::StatusCode;

async fn record(app: &TestApp, user_id: i64, username: &str, model: &str, at: i64, quota: i64) {
    quota_data::record(
        &app.db,
        &Usage {
            user_id: user_id as i32,
            username: username.into(),
            model_name: model.into(),
            at,
            tokens: 30,
            quota,
            count: 1,
        },
    )
    .await
    .unwrap();
}

async fn hourly_buckets_per_user(app: TestApp) {
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    // 2024-01-01T00:10Z and 00:50Z share a bucket; 01:10Z starts the next.
    record(&app, alice.id, "alice", "gpt-4", 1_704_067_800, 100).await;
    record(&app, alice.id, "alice", "gpt-4", 1_704_070_200, 50).await;
    record(&app, alice.id, "alice", "gpt-4", 1_704_071_400, 7).await;
    record(&app, bob.id, "bob", "gpt-4", 1_704_067_800, 999).await;

    let (status, v) = app.get(Some(&alice), "/api/data/self").await;
    assert_eq!(status, StatusCode::OK);
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["date"], "2024-01-01");
    assert_eq!(rows[0]["created_at"], 1_704_067_200);
    assert_eq!(rows[0]["quota"], 150);
    assert_eq!(rows[0]["used_quota"], 150);
    assert_eq!(rows[0]["request_count"], 2);
    assert_eq!(rows[0]["token_used"], 60);
    assert_eq!(rows[1]["quota"], 7);

    let (_, v) = app
        .get(Some(&alice), "/api/data/self?start_timestamp=1704070800")
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    let root = app.root().await;
    let (_, v) = app.get(Some(&root), "/api/data").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let (_, v) = app.get(Some(&root), "/api/data?username=bob").await;
    assert_eq!(v["data"][0]["quota"], 999);
    let (status, _) = app.get(Some(&alice), "/api/data").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

db_tests!(hourly_buckets_per_user);

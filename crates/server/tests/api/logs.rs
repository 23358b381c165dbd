//! Logs: a user's own, and everyone's with filters for admins.

use crate::helpers::TestApp;
use persistence::logs::{self, NewLog};
use reqwest::StatusCode;
use serde_json::json;

async fn seed(
    app: &TestApp,
    user_id: i64,
    username: &str,
    log_type: i32,
    model: &str,
    at: i64,
    quota: i64,
) {
    logs::insert(
        &app.db,
        NewLog {
            user_id: user_id as i32,
            username: username.into(),
            log_type,
            content: "用户消费".into(),
            model_name: model.into(),
            token_name: "默认Token".into(),
            quota,
            prompt_tokens: 10,
            completion_tokens: 20,
            channel_id: 1,
            token_id: 1,
            group: "default".into(),
            created_at: at,
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn own_logs_only_and_admin_filters(app: TestApp) {
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    seed(&app, alice.id, "alice", 2, "gpt-4", 1_000, 100).await;
    seed(&app, alice.id, "alice", 2, "gpt-4o", 2_000, 200).await;
    seed(&app, bob.id, "bob", 2, "gpt-4", 3_000, 300).await;
    seed(&app, bob.id, "bob", 1, "", 4_000, 400).await;

    let (status, v) = app.get(Some(&alice), "/api/log/self").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["total"], 2);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["user_id"].as_i64() == Some(alice.id))
    );
    let first = &v["data"][0];
    for field in [
        "id",
        "user_id",
        "created_at",
        "type",
        "content",
        "username",
        "token_name",
        "model_name",
        "quota",
        "prompt_tokens",
        "completion_tokens",
        "channel_id",
        "token_id",
        "group",
    ] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    assert_eq!(first["created_at"], 2_000, "newest first");
    // username on /self cannot reach someone else's logs.
    let (_, v) = app.get(Some(&alice), "/api/log/self?username=bob").await;
    assert_eq!(v["total"], 2);
    let (_, v) = app
        .get(Some(&alice), "/api/log/self?model_name=gpt-4o")
        .await;
    assert_eq!(v["total"], 1);

    let root = app.root().await;
    let (_, v) = app.get(Some(&root), "/api/log").await;
    assert_eq!(v["total"], 4);
    let (_, v) = app.get(Some(&root), "/api/log?username=bob").await;
    assert_eq!(v["total"], 2);
    let (_, v) = app
        .get(Some(&root), "/api/log?type=2&model_name=gpt-4")
        .await;
    assert_eq!(v["total"], 2);
    let (_, v) = app
        .get(
            Some(&root),
            "/api/log?start_timestamp=1500&end_timestamp=3000",
        )
        .await;
    assert_eq!(v["total"], 2);
    let (_, v) = app.get(Some(&root), "/api/log?p=2&size=3").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["total"], 4);
    let (status, v) = app
        .get(Some(&root), "/api/log?start_timestamp=yesterday")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["success"], json!(false));
}

db_tests!(own_logs_only_and_admin_filters);

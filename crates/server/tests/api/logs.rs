//! Logs: a user's own, and everyone's with filters for admins; old ones deleted past
//! `LogRetentionDays`.

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

/// With `LogRetentionDays`, logs older than that go (in batches: more than one batch here),
/// newer ones stay; 0 keeps everything.
async fn logs_past_their_retention_are_deleted(app: TestApp) {
    let alice = app.new_user("alice").await;
    let now = domain::now_ts();
    let old = now - 3 * 86_400;
    let rows: Vec<logs::ActiveModel> = (0..5_006)
        .map(|i| {
            logs::ActiveModel::from(NewLog {
                user_id: alice.id as i32,
                username: "alice".into(),
                log_type: 2,
                created_at: old - i,
                ..Default::default()
            })
        })
        .collect();
    for chunk in rows.chunks(500) {
        use sea_orm::EntityTrait;
        logs::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
    seed(&app, alice.id, "alice", 2, "gpt-4", now - 86_400 + 60, 1).await;
    seed(&app, alice.id, "alice", 2, "gpt-4", now, 1).await;
    let root = app.root().await;
    let count = || async {
        let (_, v) = app.get(Some(&root), "/api/log?size=1").await;
        v["total"].as_i64().unwrap()
    };
    assert_eq!(count().await, 5_008);
    assert_eq!(
        app.relay.prune_logs().await.unwrap(),
        0,
        "kept for ever by default"
    );
    app.set_option(&root, "LogRetentionDays", "2").await;
    assert_eq!(app.relay.prune_logs().await.unwrap(), 5_006);
    assert_eq!(count().await, 2, "the last day's stay");
    let (status, v) = app
        .put(
            Some(&root),
            "/api/option",
            json!({"key": "LogRetentionDays", "value": "-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

db_tests!(
    own_logs_only_and_admin_filters,
    logs_past_their_retention_are_deleted
);

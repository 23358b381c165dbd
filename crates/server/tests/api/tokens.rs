//! API keys: shown once, stored as a digest, invisible to other users.

use crate::helpers::{TestApp, assert_failure};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

async fn create_shows_key_once_and_stores_a_digest(app: TestApp) {
    let alice = app.new_user("alice").await;
    let (status, v) = app
        .post(Some(&alice), "/api/token", json!({"name": "我的Token", "remain_quota": 1000, "unlimited_quota": false, "expired_time": -1, "group": "default"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "Token创建成功");
    let key = v["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["name"], "我的Token");
    assert!(key.starts_with("sk-") && key.len() == 51, "{key}");
    let id = v["data"]["id"].as_i64().unwrap();

    let (status, list) = app.get(Some(&alice), "/api/token").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);
    let row = &list["data"][0];
    assert_eq!(row["id"].as_i64(), Some(id));
    assert_eq!(row["remain_quota"], 1000);
    assert_eq!(row["unlimited_quota"], false);
    assert_eq!(row["expired_time"], -1);
    assert_eq!(row["status"], 1);
    let shown = row["key"].as_str().unwrap();
    assert!(
        shown.starts_with(&key[..7])
            && shown.ends_with(&key[key.len() - 4..])
            && shown.contains("...")
    );
    assert!(
        !list.to_string().contains(&key[3..]),
        "the full key is never listed"
    );
    let (_, one) = app.get(Some(&alice), &format!("/api/token/{id}")).await;
    assert!(!one.to_string().contains(&key[3..]));

    // The database holds the SHA-256 digest and the mask, not the key.
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT key_digest, key_mask FROM tokens",
        ))
        .await
        .unwrap()
        .unwrap();
    let digest: String = row.try_get("", "key_digest").unwrap();
    assert_eq!(digest, domain::keys::digest(&key));
    let mask: String = row.try_get("", "key_mask").unwrap();
    assert!(!mask.contains(&key[7..47]));
}

async fn other_users_tokens_are_invisible(app: TestApp) {
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let (_, v) = app
        .post(
            Some(&alice),
            "/api/token",
            json!({"name": "a", "remain_quota": 10}),
        )
        .await;
    let alice_token = v["data"]["id"].as_i64().unwrap();
    let (_, v) = app
        .post(Some(&bob), "/api/token", json!({"name": "b"}))
        .await;
    let bob_token = v["data"]["id"].as_i64().unwrap();

    let (_, list) = app.get(Some(&bob), "/api/token").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["id"].as_i64(), Some(bob_token));
    let (status, v) = app
        .get(Some(&bob), &format!("/api/token/{alice_token}"))
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
    let (status, v) = app
        .put(
            Some(&bob),
            "/api/token",
            json!({"id": alice_token, "name": "stolen", "remain_quota": 999999}),
        )
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
    let (status, v) = app
        .delete(Some(&bob), &format!("/api/token/{alice_token}"))
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
    let (status, v) = app
        .post(
            Some(&bob),
            "/api/token/batch",
            json!({"ids": [alice_token, bob_token]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "成功删除 1 个Token");
    assert_eq!(v["data"], 1);

    let (_, list) = app.get(Some(&alice), "/api/token").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["name"], "a");
    assert_eq!(list["data"][0]["remain_quota"], 10);
    let (_, list) = app.get(Some(&bob), "/api/token").await;
    assert_eq!(list["total"], 0);
}

async fn update_and_delete(app: TestApp) {
    let alice = app.new_user("alice").await;
    let (_, v) = app
        .post(
            Some(&alice),
            "/api/token",
            json!({"name": "t", "remain_quota": 5}),
        )
        .await;
    let id = v["data"]["id"].as_i64().unwrap();
    let (status, v) = app
        .put(Some(&alice), "/api/token", json!({"id": id, "name": "更新的Token名称", "status": 2, "remain_quota": 500, "allow_ips": "10.0.0.0/8\n1.2.3.4", "model_limits_enabled": true, "model_limits": "gpt-4o, gpt-4o-mini"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "Token更新成功");
    let (_, v) = app.get(Some(&alice), &format!("/api/token/{id}")).await;
    let t = &v["data"];
    assert_eq!(
        (
            t["name"].as_str(),
            t["status"].as_i64(),
            t["remain_quota"].as_i64()
        ),
        (Some("更新的Token名称"), Some(2), Some(500))
    );
    assert_eq!(t["allow_ips"], "10.0.0.0/8,1.2.3.4");
    assert_eq!(t["model_limits"], "gpt-4o,gpt-4o-mini");

    // An expired or exhausted token cannot be enabled.
    let (status, _) = app
        .put(
            Some(&alice),
            "/api/token",
            json!({"id": id, "status": 1, "remain_quota": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .put(Some(&alice), "/api/token", json!({"id": id, "status": 3}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .put(Some(&alice), "/api/token", json!({"id": id, "status": 1}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, v) = app.delete(Some(&alice), &format!("/api/token/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["message"], "Token删除成功");
    let (status, _) = app.delete(Some(&alice), &format!("/api/token/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = app.delete(Some(&alice), "/api/token/not-a-number").await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
}

async fn validation(app: TestApp) {
    let alice = app.new_user("alice").await;
    let cases = [
        json!({"name": ""}),
        json!({"name": "x".repeat(31)}),
        json!({"name": "t", "remain_quota": -1}),
        json!({"name": "t", "expired_time": -2}),
        json!({"name": "t", "allow_ips": "not-an-ip"}),
        json!({"name": 5}),
    ];
    for case in cases {
        let (status, v) = app.post(Some(&alice), "/api/token", case.clone()).await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
    }
    for (case, expected) in [
        (
            json!({"name": "t", "expired_time": 1000}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"name": "t", "group": "no-such-group"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, v) = app.post(Some(&alice), "/api/token", case).await;
        assert_failure(status, &v, expected);
    }
    let (status, v) = app
        .post(Some(&alice), "/api/token/batch", json!({"ids": []}))
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    let (_, list) = app.get(Some(&alice), "/api/token").await;
    assert_eq!(list["total"], 0, "nothing was created");
    // Only one's own group (admins: any).
    let (status, v) = app
        .post(
            Some(&alice),
            "/api/token",
            json!({"name": "t", "group": "vip"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            Some(&alice),
            "/api/token",
            json!({"name": "t", "expired_time": domain::now_ts() + 3600, "group": "default"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let root = app.root().await;
    let (status, _) = app
        .post(
            Some(&root),
            "/api/token",
            json!({"name": "t", "group": "vip"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn pagination(app: TestApp) {
    let alice = app.new_user("alice").await;
    for i in 0..12 {
        let (status, _) = app
            .post(Some(&alice), "/api/token", json!({"name": format!("t{i}")}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, first) = app.get(Some(&alice), "/api/token").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 10);
    assert_eq!(first["total"], 12);
    let (_, second) = app.get(Some(&alice), "/api/token?p=2").await;
    assert_eq!(second["data"].as_array().unwrap().len(), 2);
    let (_, sized) = app.get(Some(&alice), "/api/token?p=3&size=5").await;
    assert_eq!(sized["data"].as_array().unwrap().len(), 2);
    let (_, sized) = app.get(Some(&alice), "/api/token?page_size=5").await;
    assert_eq!(sized["data"].as_array().unwrap().len(), 5);
    let (_, big) = app.get(Some(&alice), "/api/token?size=100000").await;
    assert_eq!(big["data"].as_array().unwrap().len(), 12);
    let (status, v) = app.get(Some(&alice), "/api/token?p=abc").await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
}

db_tests!(
    create_shows_key_once_and_stores_a_digest,
    other_users_tokens_are_invisible,
    update_and_delete,
    validation,
    pagination,
);

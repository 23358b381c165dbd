//! Redemption codes: created by admins, redeemed exactly once.

use crate::helpers::{TestApp, assert_failure};
use reqwest::StatusCode;
use serde_json::json;

async fn create_list_update_delete(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let (status, v) = app
        .post(
            Some(&admin),
            "/api/redemption",
            json!({"name": "活动兑换码", "quota": 500, "count": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "兑换码创建成功");
    let keys: Vec<String> = v["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k.len() == 32));
    assert_eq!(v["data"]["key"].as_str(), Some(keys[0].as_str()));
    assert!(v["data"]["id"].as_i64().is_some());

    let (_, list) = app.get(Some(&admin), "/api/redemption").await;
    assert_eq!(list["total"], 3);
    let row = &list["data"][0];
    for field in [
        "id",
        "name",
        "key",
        "created_time",
        "quota",
        "count",
        "used_count",
        "status",
    ] {
        assert!(row.get(field).is_some(), "missing {field}: {row}");
    }
    assert_eq!(row["status"], 1);
    assert_eq!(row["used_count"], 0);
    let id = row["id"].as_i64().unwrap();

    let (status, v) = app
        .put(
            Some(&admin),
            "/api/redemption",
            json!({"id": id, "name": "改名", "quota": 800, "status": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, list) = app.get(Some(&admin), "/api/redemption?keyword=改名").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["quota"], 800);
    assert_eq!(list["data"][0]["status"], 2);

    let (status, v) = app
        .delete(Some(&admin), &format!("/api/redemption/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .delete(Some(&admin), &format!("/api/redemption/{id}"))
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);

    for bad in [
        json!({"name": "x", "quota": 0}),
        json!({"name": "x", "quota": 10, "count": 0}),
        json!({"name": "x", "quota": 10, "count": 101}),
        json!({"name": "", "quota": 10}),
        json!({"name": " ", "quota": 10}),
        json!({"name": "x", "quota": 10, "expired_time": -1}),
    ] {
        let (status, v) = app.post(Some(&admin), "/api/redemption", bad).await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
    }
    // A time in the past is a conflict with the clock, not a malformed value.
    let past = json!({"name": "x", "quota": 10, "expired_time": 5});
    let (status, v) = app.post(Some(&admin), "/api/redemption", past).await;
    assert_failure(status, &v, StatusCode::CONFLICT);
}

async fn redeem_once(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let (_, v) = app
        .post(
            Some(&admin),
            "/api/redemption",
            json!({"name": "gift", "quota": 1234}),
        )
        .await;
    let key = v["data"]["key"].as_str().unwrap().to_owned();
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let before = app.quota_of(&alice).await;

    let (status, v) = app
        .post(Some(&alice), "/api/user/topup", json!({"key": key}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"], 1234);
    assert_eq!(app.quota_of(&alice).await, before + 1234);
    let (status, v) = app
        .post(Some(&alice), "/api/user/topup", json!({"key": key}))
        .await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    assert_eq!(v["message"], "该兑换码已被使用");
    let (status, _) = app
        .post(Some(&bob), "/api/user/topup", json!({"key": key}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.quota_of(&alice).await, before + 1234);

    let (_, logs) = app.get(Some(&alice), "/api/log/self?type=1").await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["data"][0]["quota"], 1234);
    let (_, list) = app.get(Some(&admin), "/api/redemption").await;
    assert_eq!(list["data"][0]["status"], 3);
    assert_eq!(list["data"][0]["used_count"], 1);
    assert_eq!(list["data"][0]["used_user_id"].as_i64(), Some(alice.id));
    // A used code cannot be edited back to unused.
    let id = list["data"][0]["id"].as_i64().unwrap();
    let (status, _) = app
        .put(
            Some(&admin),
            "/api/redemption",
            json!({"id": id, "status": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, v) = app
        .post(
            Some(&bob),
            "/api/user/topup",
            json!({"key": "does-not-exist"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "无效的兑换码");

    // Disabled codes do not redeem.
    let (_, v) = app
        .post(
            Some(&admin),
            "/api/redemption",
            json!({"name": "off", "quota": 5}),
        )
        .await;
    let (off_id, off_key) = (
        v["data"]["id"].as_i64().unwrap(),
        v["data"]["key"].as_str().unwrap().to_owned(),
    );
    app.put(
        Some(&admin),
        "/api/redemption",
        json!({"id": off_id, "status": 2}),
    )
    .await;
    let (status, v) = app
        .post(Some(&bob), "/api/user/topup", json!({"key": off_key}))
        .await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    assert_eq!(v["message"], "该兑换码已被禁用");
}

async fn concurrent_redeems_exactly_one_wins(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let (_, v) = app
        .post(
            Some(&admin),
            "/api/redemption",
            json!({"name": "race", "quota": 777, "count": 5}),
        )
        .await;
    let keys: Vec<String> = v["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let start = app.quota_of(&alice).await + app.quota_of(&bob).await;
    for key in &keys {
        let a = app.post(Some(&alice), "/api/user/topup", json!({"key": key}));
        let b = app.post(Some(&bob), "/api/user/topup", json!({"key": key}));
        let ((sa, va), (sb, vb)) = tokio::join!(a, b);
        let wins = [sa, sb].iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(wins, 1, "{va} {vb}");
        assert!([sa, sb].contains(&StatusCode::CONFLICT), "{va} {vb}");
    }
    let end = app.quota_of(&alice).await + app.quota_of(&bob).await;
    assert_eq!(end - start, 777 * 5, "each code credited exactly once");
    let (_, la) = app.get(Some(&alice), "/api/log/self?type=1").await;
    let (_, lb) = app.get(Some(&bob), "/api/log/self?type=1").await;
    assert_eq!(
        la["total"].as_i64().unwrap() + lb["total"].as_i64().unwrap(),
        5
    );
}

db_tests!(
    create_list_update_delete,
    redeem_once,
    concurrent_redeems_exactly_one_wins
);

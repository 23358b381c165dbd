//! User management by admins.

use crate::helpers::{TestApp, assert_failure, body};
use reqwest::StatusCode;
use serde_json::json;

async fn list_create_update_delete(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let (status, v) = app
        .post(Some(&admin), "/api/user", json!({"username": "newuser", "password": "password123", "email": "newuser@example.com", "role": 1, "quota": 1000, "group": "default"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "用户创建成功");
    assert_eq!(v["data"]["username"], "newuser");
    let id = v["data"]["id"].as_i64().unwrap();

    let (status, v) = app.get(Some(&admin), "/api/user?p=1&page_size=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["total"], 3, "root, admin1, newuser");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let text = v.to_string();
    assert!(
        !text.contains("\"password\"") && !text.contains("$2"),
        "no hashes: {text}"
    );
    let (_, v) = app.get(Some(&admin), "/api/user?username=newu").await;
    assert_eq!(v["total"], 1);
    let row = &v["data"][0];
    for field in [
        "id",
        "username",
        "email",
        "role",
        "status",
        "quota",
        "used_quota",
        "group",
        "created_at",
    ] {
        assert!(row.get(field).is_some(), "missing {field}");
    }
    assert_eq!(row["quota"], 1000);
    let (_, v) = app.get(Some(&admin), "/api/user?group=vip").await;
    assert_eq!(v["total"], 0);

    let (status, v) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": id, "username": "updateduser", "quota": 2000, "status": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "用户更新成功");
    let user = app.login("updateduser", "password123").await;
    assert_eq!(app.quota_of(&user).await, 2000);
    let (_, logs) = app.get(Some(&admin), "/api/log?type=3").await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["data"][0]["quota"], 1000, "the change, 1000 -> 2000");

    // The created user's tokens go with them.
    app.post(Some(&user), "/api/token", json!({"name": "t"}))
        .await;
    let (status, v) = app.delete(Some(&admin), &format!("/api/user/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, v) = app
        .get(Some(&admin), "/api/user?username=updateduser")
        .await;
    assert_eq!(v["total"], 0);
    let (status, _) = app.get(Some(&user), "/api/token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, v) = app.delete(Some(&admin), &format!("/api/user/{id}")).await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
}

async fn role_rules(app: TestApp) {
    let root = app.root().await;
    let admin = app.new_admin("admin1").await;
    let other_admin = app.new_admin("admin2").await;
    // An admin cannot make admins or root; root can make admins, not roots.
    let (status, _) = app
        .post(
            Some(&admin),
            "/api/user",
            json!({"username": "x1", "password": "password123", "role": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            Some(&root),
            "/api/user",
            json!({"username": "x2", "password": "password123", "role": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            Some(&root),
            "/api/user",
            json!({"username": "x3", "password": "password123", "role": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An admin cannot edit or delete an equal or higher role.
    let (status, v) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": other_admin.id, "quota": 5}),
        )
        .await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    let (status, _) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": root.id, "status": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .delete(Some(&admin), &format!("/api/user/{}", other_admin.id))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Root is never deleted, not even by root.
    let (status, v) = app
        .delete(Some(&admin), &format!("/api/user/{}", root.id))
        .await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    let (status, _) = app
        .delete(Some(&root), &format!("/api/user/{}", root.id))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An admin cannot promote a user to admin.
    let user = app.new_user("plain").await;
    let (status, _) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": user.id, "role": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Root can.
    let (status, _) = app
        .put(Some(&root), "/api/user", json!({"id": user.id, "role": 10}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = app.get(Some(&user), "/api/channel").await;
    assert_eq!(v["success"], true);
}

async fn validation_and_conflicts(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let (status, v) = app
        .post(
            Some(&admin),
            "/api/user",
            json!({"username": "root", "password": "password123"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            Some(&admin),
            "/api/user",
            json!({"username": "short", "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            Some(&admin),
            "/api/user",
            json!({"username": "q", "password": "password123", "quota": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            Some(&admin),
            "/api/user",
            json!({"username": "g", "password": "password123", "group": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let user = app.new_user("plain").await;
    let (status, _) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": user.id, "username": "admin1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": user.id, "status": 9}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .put(Some(&admin), "/api/user", json!({"id": 424242, "quota": 1}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Password reset by an admin works and revokes the user's sessions.
    let (status, _) = app
        .put(
            Some(&admin),
            "/api/user",
            json!({"id": user.id, "password": "resetpass99"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(Some(&user), "/api/user/self").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = body(app.login_response("plain", "resetpass99").await).await;
    assert_eq!(status, StatusCode::OK);
}

db_tests!(
    list_create_update_delete,
    role_rules,
    validation_and_conflicts
);

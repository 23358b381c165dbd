//! Registration, login and a user's own account.

use crate::helpers::{TestApp, assert_failure, body};
use reqwest::StatusCode;
use serde_json::json;

async fn register_and_login_shapes(app: TestApp) {
    let (status, v) = app
        .post(
            None,
            "/api/user/register",
            json!({"username": "alice", "password": "password123", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"success": true, "message": "注册成功"}));
    let resp = app.login_response("alice", "password123").await;
    let (status, v) = body(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["success"], true);
    assert_eq!(v["message"], "登录成功");
    let data = &v["data"];
    assert!(data["id"].as_i64().unwrap() > 1);
    assert_eq!(data["username"], "alice");
    assert_eq!(data["role"], 1);
    assert_eq!(data["group"], "default");
    assert!(data.get("password").is_none());
}

async fn registration_errors(app: TestApp) {
    app.register("alice", "password123").await;
    let (status, v) = app.register("alice", "password456").await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    assert_eq!(v["message"], "用户名已存在");

    let (status, _) = app
        .post(
            None,
            "/api/user/register",
            json!({"username": "bob", "password": "password123", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = app
        .post(
            None,
            "/api/user/register",
            json!({"username": "carol", "password": "password123", "email": "x@example.com"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    assert_eq!(v["message"], "邮箱已被注册");

    for bad in ["1234567", "123456789012345678901"] {
        let (status, v) = app.register("dave", bad).await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().contains("8-20"), "{v}");
    }
    let (status, _) = app.register("dave", "12345678").await;
    assert_eq!(status, StatusCode::OK, "8 characters is enough");
    let (status, v) = app.register("name with space", "password123").await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .post(
            None,
            "/api/user/register",
            json!({"username": "erin", "password": "password123", "email": "nope"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);

    // Malformed JSON and missing fields: 400 in the envelope, never text/plain.
    let resp = app
        .client
        .post(app.url("/api/user/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let (status, v) = body(resp).await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .post(None, "/api/user/register", json!({"username": "frank"}))
        .await;
    assert_failure(status, &v, StatusCode::BAD_REQUEST);
    // Nothing was created by the failures.
    let (status, _) = body(app.login_response("erin", "password123").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn registration_options_and_invitations(app: TestApp) {
    let root = app.root().await;
    app.set_option(&root, "QuotaForNewUser", "1000").await;
    app.set_option(&root, "QuotaForInviter", "300").await;
    app.set_option(&root, "QuotaForInvitee", "200").await;
    let inviter = app.new_user("inviter").await;
    assert_eq!(app.quota_of(&inviter).await, 1000);
    let (_, me) = app.get(Some(&inviter), "/api/user/self").await;
    let code = me["data"]["aff_code"].as_str().unwrap().to_owned();
    assert!(!code.is_empty());

    let (status, v) = app
        .post(
            None,
            "/api/user/register",
            json!({"username": "invitee", "password": "password123", "aff_code": "nope!!"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
    let (status, v) = app
        .post(
            None,
            "/api/user/register",
            json!({"username": "invitee", "password": "password123", "aff_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let invitee = app.login("invitee", "password123").await;
    assert_eq!(app.quota_of(&invitee).await, 1200);
    assert_eq!(app.quota_of(&inviter).await, 1300);
    let (_, me) = app.get(Some(&inviter), "/api/user/self").await;
    assert_eq!(me["data"]["aff_count"], 1);
    assert_eq!(me["data"]["aff_history_quota"], 300);
    let (_, v) = app.get(Some(&invitee), "/api/user/self").await;
    assert_eq!(v["data"]["inviter_id"].as_i64(), Some(inviter.id));
    // Top-up logs for both sides of the invitation.
    let (_, logs) = app.get(Some(&inviter), "/api/log/self?type=1").await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["data"][0]["quota"], 300);
    let (_, logs) = app.get(Some(&invitee), "/api/log/self?type=1").await;
    assert_eq!(logs["data"][0]["quota"], 200);

    app.set_option(&root, "RegisterEnabled", "false").await;
    let (status, v) = app.register("late", "password123").await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
}

async fn self_get_update_delete(app: TestApp) {
    let alice = app.new_user("alice").await;
    let (status, v) = app.get(Some(&alice), "/api/user/self").await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "id",
        "username",
        "display_name",
        "email",
        "role",
        "status",
        "quota",
        "used_quota",
        "group",
        "aff_code",
    ] {
        assert!(v["data"].get(field).is_some(), "missing {field}: {v}");
    }
    let text = v.to_string();
    assert!(!text.contains("password") && !text.contains("$2"), "{text}");

    let (status, v) = app
        .put(
            Some(&alice),
            "/api/user/self",
            json!({"display_name": "Alice A.", "email": "alice@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "用户信息更新成功");
    let (_, v) = app.get(Some(&alice), "/api/user/self").await;
    assert_eq!(v["data"]["display_name"], "Alice A.");
    assert_eq!(v["data"]["email"], "alice@example.com");

    let bob = app.new_user("bob").await;
    let (status, v) = app
        .put(
            Some(&bob),
            "/api/user/self",
            json!({"email": "alice@example.com"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::CONFLICT);
    let (status, _) = app
        .put(
            Some(&bob),
            "/api/user/self",
            json!({"display_name": "x".repeat(21)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, v) = app.delete(Some(&bob), "/api/user/self").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "用户删除成功");
    let (status, _) = app.get(Some(&bob), "/api/user/self").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = body(app.login_response("bob", "password123").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let root = app.root().await;
    let (status, v) = app.delete(Some(&root), "/api/user/self").await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    app.root().await;
}

async fn models_and_groups(app: TestApp) {
    let (status, v) = app.get(None, "/api/user/groups").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"], json!(["default", "svip", "vip"]));

    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"models": "gpt-4o,claude-3-5-sonnet", "group": "default,vip"}),
    )
    .await;
    app.create_channel(&root, json!({"models": "only-vip", "group": "vip"}))
        .await;
    app.create_channel(&root, json!({"models": "disabled-model", "status": 2}))
        .await;
    let alice = app.new_user("alice").await;
    let (status, v) = app.get(Some(&alice), "/api/user/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"], json!(["claude-3-5-sonnet", "gpt-4o"]));
}

db_tests!(
    register_and_login_shapes,
    registration_errors,
    registration_options_and_invitations,
    self_get_update_delete,
    models_and_groups,
);

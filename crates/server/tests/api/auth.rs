//! Authentication and authorisation of `/api`.

use crate::helpers::{Auth, TestApp, assert_failure, body, session_cookie};
use reqwest::StatusCode;
use serde_json::json;

/// Endpoints that need a logged-in user, with a method and a body where they take one.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/user/self"),
    ("PUT", "/api/user/self"),
    ("DELETE", "/api/user/self"),
    ("GET", "/api/user/token"),
    ("GET", "/api/user/models"),
    ("POST", "/api/user/topup"),
    ("GET", "/api/token"),
    ("POST", "/api/token"),
    ("PUT", "/api/token"),
    ("DELETE", "/api/token/1"),
    ("POST", "/api/token/batch"),
    ("GET", "/api/log/self"),
    ("GET", "/api/data/self"),
];

/// Endpoints for admins (role 10) and up.
const ADMIN_ONLY: &[(&str, &str)] = &[
    ("GET", "/api/user"),
    ("POST", "/api/user"),
    ("PUT", "/api/user"),
    ("DELETE", "/api/user/1"),
    ("GET", "/api/channel"),
    ("POST", "/api/channel"),
    ("PUT", "/api/channel"),
    ("GET", "/api/channel/1"),
    ("DELETE", "/api/channel/1"),
    ("GET", "/api/channel/test/1"),
    ("GET", "/api/channel/test"),
    ("GET", "/api/log"),
    ("GET", "/api/redemption"),
    ("POST", "/api/redemption"),
    ("PUT", "/api/redemption"),
    ("DELETE", "/api/redemption/1"),
    ("GET", "/api/data"),
];

/// Endpoints for root only.
const ROOT_ONLY: &[(&str, &str)] = &[("GET", "/api/option"), ("PUT", "/api/option")];

async fn call(
    app: &TestApp,
    auth: Option<&Auth>,
    method: &str,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    let rb = match method {
        "GET" => app.client.get(app.url(path)),
        "DELETE" => app.client.delete(app.url(path)),
        "POST" => app.client.post(app.url(path)).json(&json!({})),
        _ => app.client.put(app.url(path)).json(&json!({})),
    };
    app.send(auth, rb).await
}

async fn anonymous_calls_are_401(app: TestApp) {
    for (method, path) in PROTECTED.iter().chain(ADMIN_ONLY).chain(ROOT_ONLY) {
        let (status, v) = call(&app, None, method, path).await;
        assert_failure(status, &v, StatusCode::UNAUTHORIZED);
        assert!(v.get("data").is_none(), "{method} {path}: {v}");
    }
}

async fn missing_or_wrong_user_header_is_401(app: TestApp) {
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    // No header at all.
    let rb = app.client.get(app.url("/api/user/self")).header(
        "Cookie",
        format!("session={}", alice.cookie.clone().unwrap()),
    );
    let (status, v) = body(rb.send().await.unwrap()).await;
    assert_failure(status, &v, StatusCode::UNAUTHORIZED);
    // Someone else's id.
    let spoof = Auth {
        id: bob.id,
        ..alice.clone()
    };
    let (status, v) = app.get(Some(&spoof), "/api/user/self").await;
    assert_failure(status, &v, StatusCode::UNAUTHORIZED);
    // A forged cookie.
    let forged = Auth {
        cookie: Some("eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjF9.bad".into()),
        ..alice.clone()
    };
    let (status, _) = app.get(Some(&forged), "/api/user/self").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The real thing works.
    let (status, v) = app.get(Some(&alice), "/api/user/self").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["username"], "alice");
}

async fn wrong_role_is_403(app: TestApp) {
    let user = app.new_user("plain").await;
    let admin = app.new_admin("admin1").await;
    for (method, path) in ADMIN_ONLY.iter().chain(ROOT_ONLY) {
        let (status, v) = call(&app, Some(&user), method, path).await;
        assert_failure(status, &v, StatusCode::FORBIDDEN);
    }
    for (method, path) in ROOT_ONLY {
        let (status, v) = call(&app, Some(&admin), method, path).await;
        assert_failure(status, &v, StatusCode::FORBIDDEN);
    }
    let (status, _) = app.get(Some(&admin), "/api/channel").await;
    assert_eq!(status, StatusCode::OK);
}

async fn access_token_flow(app: TestApp) {
    let alice = app.new_user("alice").await;
    let (status, v) = app.get(Some(&alice), "/api/user/token").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let token = v["data"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));

    let by_token = Auth {
        id: alice.id,
        cookie: None,
        token: Some(token.clone()),
    };
    let (status, v) = app.get(Some(&by_token), "/api/user/self").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["id"].as_i64(), Some(alice.id));
    // A bare token (no "Bearer ") is accepted too.
    let rb = app
        .client
        .get(app.url("/api/user/self"))
        .header("Authorization", token.clone())
        .header("New-Api-User", alice.id.to_string());
    assert_eq!(rb.send().await.unwrap().status(), StatusCode::OK);
    // Generating a token needs the session, not a token.
    let (status, v) = app.get(Some(&by_token), "/api/user/token").await;
    assert_failure(status, &v, StatusCode::UNAUTHORIZED);
    // A new token replaces the old one.
    let (_, v) = app.get(Some(&alice), "/api/user/token").await;
    assert_ne!(v["data"].as_str().unwrap(), token);
    let (status, _) = app.get(Some(&by_token), "/api/user/self").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The token is stored only as a digest.
    let (_, dump) = app.get(Some(&alice), "/api/user/self").await;
    assert!(!dump.to_string().contains(&token));
}

async fn session_cookie_attributes(app: TestApp) {
    let resp = app
        .login_response("root", crate::helpers::ROOT_PASSWORD)
        .await;
    let header = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session="))
        .unwrap()
        .to_owned();
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Lax"), "{header}");
    assert!(header.contains("Max-Age=2592000"), "{header}");
    assert!(header.contains("Path=/"), "{header}");
    assert!(!header.contains("Secure"), "not configured: {header}");
}

async fn logout_revokes_the_session(app: TestApp) {
    let alice = app.new_user("alice").await;
    let resp = alice
        .apply(app.client.get(app.url("/api/user/logout")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        session_cookie(&resp).as_deref(),
        Some(""),
        "the cookie is cleared"
    );
    let (status, _) = app.get(Some(&alice), "/api/user/self").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old cookie no longer works"
    );
    // Logging out without a session is fine.
    let resp = app
        .client
        .get(app.url("/api/user/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn password_change_revokes_other_sessions(app: TestApp) {
    let first = app.new_user("alice").await;
    let second = app.login("alice", "password123").await;
    let (status, v) = app
        .put(
            Some(&first),
            "/api/user/self",
            json!({"password": "newpassword1", "original_password": "wrong-one"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    let resp = first
        .apply(app.client.put(app.url("/api/user/self")))
        .json(&json!({"password": "newpassword1", "original_password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let renewed = Auth {
        cookie: session_cookie(&resp),
        ..first.clone()
    };
    let (status, _) = app.get(Some(&second), "/api/user/self").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get(Some(&renewed), "/api/user/self").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the browser that changed it stays logged in"
    );
    let (status, _) = body(app.login_response("alice", "password123").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login("alice", "newpassword1").await;
}

async fn banned_user_is_refused(app: TestApp) {
    let alice = app.new_user("alice").await;
    let root = app.root().await;
    let (status, v) = app
        .put(
            Some(&root),
            "/api/user",
            json!({"id": alice.id, "status": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app.get(Some(&alice), "/api/user/self").await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
        "{status} {v}"
    );
    let (status, v) = body(app.login_response("alice", "password123").await).await;
    assert_failure(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(v["message"], "用户已被封禁");
}

async fn english_messages_on_request(app: TestApp) {
    let (status, v) = body(
        app.client
            .post(app.url("/api/user/login"))
            .header("Accept-Language", "en-US,en;q=0.9")
            .json(&json!({"username": "root", "password": "wrong-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_failure(status, &v, StatusCode::UNAUTHORIZED);
    assert_eq!(v["message"], "Wrong username or password");
    let (_, v) = body(app.login_response("root", "wrong-password").await).await;
    assert_eq!(v["message"], "密码错误");
}

db_tests!(
    anonymous_calls_are_401,
    missing_or_wrong_user_header_is_401,
    wrong_role_is_403,
    access_token_flow,
    session_cookie_attributes,
    logout_revokes_the_session,
    password_change_revokes_other_sessions,
    banned_user_is_refused,
    english_messages_on_request,
);

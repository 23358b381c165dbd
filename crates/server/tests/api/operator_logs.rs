//! What operators read: with `APP__LOG__FORMAT=json` every log line is one JSON object and a
//! request's lines carry its id; at debug level, a whole scenario (logins, a registration, a
//! key, a channel, relay calls with the key in a header and in a query) logs no secret.

use crate::helpers::{Auth, ROOT_PASSWORD, TestApp, body, session_cookie};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CHANNEL_KEY: &str = "sk-upstream-LEAKCHECK-93f1c2";
const USER_PASSWORD: &str = "hunter2-LEAKCHECK-pw";

/// Logs in on the instance at `base`.
async fn login(app: &TestApp, base: &str, username: &str, password: &str) -> Auth {
    let resp = app
        .client
        .post(format!("{base}/api/user/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&resp);
    let (status, v) = body(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    Auth {
        id: v["data"]["id"].as_i64().unwrap(),
        cookie,
        token: None,
    }
}

async fn json_logs_carry_request_ids_and_no_secret(app: TestApp) {
    let dir = std::env::temp_dir().join(format!("gw-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!(
        "{}.log",
        app.database_url.len() ^ app.mock.url().len()
    ));
    let _ = std::fs::remove_file(&log);
    let env = [("APP__LOG__FORMAT", "json"), ("RUST_LOG", "debug")];
    let (mut server, base) = app.spawn_binary(&env, Some(&log)).await;
    let url = |path: &str| format!("{base}{path}");

    let root = login(&app, &base, "root", ROOT_PASSWORD).await;
    let channel = json!({"name": "logged", "type": 1, "key": CHANNEL_KEY, "base_url": app.mock.url(),
        "models": "gpt-4o", "group": "default"});
    let (status, v) = app
        .send(
            Some(&root),
            app.client.post(url("/api/channel")).json(&channel),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .send(
            None,
            app.client
                .post(url("/api/user/register"))
                .json(&json!({"username": "watched", "password": USER_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let user = login(&app, &base, "watched", USER_PASSWORD).await;
    let (status, v) = app
        .send(
            Some(&root),
            app.client
                .put(url("/api/user"))
                .json(&json!({"id": user.id, "quota": 10_000_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .send(
            Some(&user),
            app.client
                .post(url("/api/token"))
                .json(&json!({"name": "k", "unlimited_quota": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let key = v["data"]["key"].as_str().unwrap().to_owned();
    let resp = app
        .client
        .post(url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-request-id", "trace-me-4711")
        .json(&crate::relay::chat("gpt-4o", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bare = key.trim_start_matches("sk-").to_owned();
    let resp = app
        .client
        .post(url(&format!(
            "/v1beta/models/gpt-4o:generateContent?key={bare}"
        )))
        .json(&json!({"contents": [{"parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // A refused login logs the attempt, not the password tried.
    let resp = app
        .client
        .post(url("/api/user/login"))
        .json(&json!({"username": "watched", "password": "wrong-LEAKCHECK-guess"}))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), StatusCode::OK);
    server.start_kill().unwrap();
    let _ = server.wait().await;

    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "{} lines", lines.len());
    let traced: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["id"] == "trace-me-4711")
        .collect();
    assert!(
        traced.iter().any(|l| l["target"] == "access"
            && l["fields"]["status"] == 200
            && l["fields"]["path"] == "/v1/chat/completions"),
        "the call's access line carries its id: {traced:?}"
    );
    let session_secret =
        persistence::options::get_or_insert(&app.db, domain::options::SESSION_SECRET, "unused")
            .await
            .unwrap();
    for (what, secret) in [
        ("root password", ROOT_PASSWORD),
        ("user password", USER_PASSWORD),
        ("tried password", "wrong-LEAKCHECK-guess"),
        ("API key", bare.as_str()),
        ("channel key", CHANNEL_KEY),
        ("session secret", session_secret.as_str()),
    ] {
        assert!(!text.contains(secret), "the log shows the {what}");
    }
}

db_tests!(json_logs_carry_request_ids_and_no_secret);

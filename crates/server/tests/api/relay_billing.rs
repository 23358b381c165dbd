//! Billing across instances, shutdown and load: every quota unit that leaves a balance is
//! logged exactly once.

use crate::helpers::{Auth, TestApp, spawn_app_with, test_settings};
use crate::relay::{GPT4O_CALL, assert_openai_error, chat};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Two instances on one database: a top-up made through one reaches the other's ledger, and each
/// one's spending reaches the other's, within the sync interval (1 s in tests).
async fn balances_follow_other_instances(app: TestApp) {
    let (user, key, _) = app.relay_setup(0).await;
    let other = spawn_app_with(test_settings(&app.database_url, None)).await;
    let (status, v) = other
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "both ledgers hold the user now"
    );
    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": user.id, "quota": 1_000_000}),
    )
    .await;
    let status = other
        .chat_until(&key, &chat("gpt-4o", false), StatusCode::OK)
        .await;
    assert_eq!(status, StatusCode::OK, "the other instance saw the top-up");
    other.relay.flush_billing().await;
    let uid = user.id as i32;
    let mut seen = None;
    for _ in 0..40 {
        seen = app.relay.user_quota(uid);
        if seen == Some(1_000_000 - GPT4O_CALL) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        Some(1_000_000 - GPT4O_CALL),
        "this instance saw the other's spending"
    );
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - GPT4O_CALL);

    // A key disabled through one instance stops working on the other.
    let (_, list) = app.get(Some(&user), "/api/token").await;
    let id = list["data"][0]["id"].as_i64().unwrap();
    app.put(Some(&user), "/api/token", json!({"id": id, "status": 2}))
        .await;
    let status = other
        .chat_until(&key, &chat("gpt-4o", false), StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the other instance refreshed the key"
    );
}

/// Consume logs in the database, read directly.
async fn consume_log_count(db: &sea_orm::DatabaseConnection) -> u64 {
    let filter = persistence::logs::LogFilter {
        log_type: Some(2),
        ..Default::default()
    };
    let page = persistence::Page { number: 1, size: 1 };
    persistence::logs::list(db, &filter, page)
        .await
        .unwrap()
        .total
}

/// Billing records still waiting for their batch are committed when the server stops
/// gracefully: the batch window is an hour here, so only the shutdown can commit them.
async fn shutdown_commits_pending_billing(app: TestApp) {
    let mut settings = test_settings(&app.database_url, None);
    settings.server.billing_window_ms = 3_600_000;
    let slow = spawn_app_with(settings).await;
    let root = slow.root().await;
    slow.create_channel(&root, json!({"base_url": app.mock.url()}))
        .await;
    let key = slow.api_key(&root, json!({})).await;
    for stream in [false, true] {
        let (status, _) = slow.relay_post_any(&key, chat("gpt-4o", stream)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let pending = consume_log_count(&slow.db).await;
    assert_eq!(pending, 0, "nothing committed before the window");
    slow.server.stop(true).await;
    slow.running.await.unwrap().unwrap();
    let committed = consume_log_count(&app.db).await;
    assert_eq!(committed, 2, "both calls billed at shutdown");
}

/// The money invariant: 200 concurrent mixed calls (stream and not, upstream failures, clients
/// that hang up mid-stream); afterwards the logged quota equals what left the balance, in the
/// database and in the ledger.
async fn logged_quota_equals_spent_quota_under_load(app: TestApp) {
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", r#"{"mock-slow": 1, "mock-500": 1}"#)
        .await;
    let start = 50_000_000;
    let (user, key, _) = app.relay_setup(start).await;
    app.create_channel(&root, json!({"models": "mock-slow,mock-500"}))
        .await;
    let mut calls = Vec::new();
    for i in 0..200 {
        let app = &app;
        let key = key.clone();
        calls.push(async move {
            let (model, stream) = match i % 5 {
                0 => ("gpt-4o", false),
                1 => ("gpt-4o", true),
                2 => ("mock-500", false),
                3 => ("mock-slow", true),
                _ => ("gpt-4o-mini", true),
            };
            let resp = app.chat_response(&key, &chat(model, stream)).await;
            if model == "mock-slow" && i % 2 == 1 {
                // Hang up after the first event.
                let mut resp = resp;
                let _ = resp.chunk().await;
                drop(resp);
            } else {
                let _ = resp.bytes().await;
            }
        });
    }
    futures_util::future::join_all(calls).await;
    // Dropped streams bill when the server notices the hang-up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = app.consume_logs_all(&root).await;
    let logged: i64 = logs.iter().map(|l| l["quota"].as_i64().unwrap()).sum();
    let end = app.settled_quota(&user).await;
    assert!(logged > 0);
    assert_eq!(
        start - end,
        logged,
        "every quota unit that left the balance is logged"
    );
    assert_eq!(
        app.relay.user_quota(user.id as i32),
        Some(end),
        "ledger and database agree"
    );
    assert_eq!(
        logs.len(),
        160,
        "every call but the 40 upstream failures is billed once"
    );
}

impl TestApp {
    async fn consume_logs_all(&self, root: &Auth) -> Vec<Value> {
        self.relay.flush_billing().await;
        let mut all = Vec::new();
        for p in 1.. {
            let (_, v) = self
                .get(Some(root), &format!("/api/log?type=2&size=100&p={p}"))
                .await;
            let page = v["data"].as_array().unwrap().clone();
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        all
    }
}

/// The niceness of this process's threads whose name starts with `prefix`.
fn niceness_of(prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
            // Fields after the parenthesised name; niceness is field 19 of the whole line.
            let rest = stat.rsplit_once(')').unwrap().1;
            out.push(rest.split_whitespace().nth(16).unwrap().parse().unwrap());
        }
    }
    out
}

/// Billing commits and the sync loop run on a thread below calls in CPU priority (and so does
/// SQLite's worker, which runs the commits), so on a busy core they wait for calls.
async fn background_work_runs_below_calls(app: TestApp) {
    let (status, _) = app.get(None, "/api/status").await;
    assert_eq!(status, StatusCode::OK, "the workers are up");
    let background = niceness_of("relay-backgroun");
    assert!(
        !background.is_empty() && background.iter().all(|n| *n == 19),
        "{background:?}"
    );
    if app.database_url.starts_with("sqlite:") {
        let sqlite = niceness_of("sqlx-sqlite-wor");
        assert!(sqlite.contains(&19), "{sqlite:?}");
    }
    let workers = niceness_of("actix-server wo");
    assert!(
        !workers.is_empty() && workers.iter().all(|n| *n == 0),
        "{workers:?}"
    );
}

/// Prompt tokens the provider read from its cache cost the model's cache ratio (gpt-4o: 0.5).
async fn cached_prompt_tokens_are_billed_at_the_cache_ratio(app: TestApp) {
    let (user, key, channel) = app.relay_setup(1_000_000).await;
    app.map_gpt4o(channel, "mock-cached").await;
    for stream in [false, true] {
        let (status, text) = app
            .relay_post_any(&key, crate::relay::chat("gpt-4o", stream))
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{text}");
    }
    // (8 - 6 + 6 * 0.5 + 12 * 4) * 1.25 = 66.25 -> 66 a call, where 8 uncached tokens cost 70.
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 2);
    for log in &logs {
        assert_eq!(log["quota"], 66, "{log}");
        assert!(
            log["content"]
                .as_str()
                .unwrap()
                .contains("缓存读取 6 tokens"),
            "{log}"
        );
    }
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 2 * 66);
}

db_tests!(
    cached_prompt_tokens_are_billed_at_the_cache_ratio,
    background_work_runs_below_calls,
    logged_quota_equals_spent_quota_under_load,
    shutdown_commits_pending_billing,
    balances_follow_other_instances,
);

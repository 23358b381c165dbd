//! Rate limits (the contract's 429, with `Retry-After`, in the caller's dialect): a key's
//! requests and tokens a minute and calls in flight, a user's model requests in a period
//! (new-api's options, per group), and a key's limit held across two instances through Redis.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::relay::{assert_openai_error, chat};
use reqwest::StatusCode;
use serde_json::json;

impl TestApp {
    /// A user, a channel to the mock, and a key with these limits.
    async fn limited_key(&self, limits: serde_json::Value) -> (crate::helpers::Auth, String) {
        let (user, _, _) = self.relay_setup(100_000_000).await;
        let key = self.api_key(&user, limits).await;
        (user, key)
    }
}

async fn a_keys_requests_a_minute_are_limited(app: TestApp) {
    let (user, key) = app.limited_key(json!({"rpm_limit": 3})).await;
    for _ in 0..3 {
        let (status, v) = app
            .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let resp = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap();
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (status, v) = crate::helpers::body(resp).await;
    assert_openai_error(status, &v, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    // Anthropic's callers get Anthropic's shape.
    let (status, v) = app
        .relay_post(&key, "/v1/messages", json!({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    // A refused upload is refused before its body is read (no upstream, nothing parsed).
    let calls = app.mock.calls();
    let upload = crate::relay_hostile::form(&[
        ("model", None, b"whisper-1"),
        ("file", Some("a.wav"), &[0u8; 4096]),
    ]);
    let (status, _) = app.upload(&key, "/v1/audio/transcriptions", upload).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.mock.calls(), calls);
    // Another key of the same user is not held to it; the limit is listed on the key.
    let other = app.api_key(&user, json!({})).await;
    let (status, _) = app
        .relay_post(&other, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tokens) = app.get(Some(&user), "/api/token").await;
    let listed: Vec<i64> = tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rpm_limit"].as_i64().unwrap())
        .collect();
    assert!(listed.contains(&3), "{tokens}");
    // Limits are whole numbers from 0.
    for bad in [
        json!({"name": "x", "rpm_limit": -1}),
        json!({"name": "x", "tpm_limit": 1.5}),
        json!({"name": "x", "concurrency_limit": 1_000_000_000}),
    ] {
        let (status, v) = app.post(Some(&user), "/api/token", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    }
}

async fn a_keys_tokens_a_minute_are_limited(app: TestApp) {
    // A mock answer is 8 prompt + 12 completion tokens.
    let (_, key) = app.limited_key(json!({"tpm_limit": 30})).await;
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = app
        .chat_until(&key, &chat("gpt-4o", false), StatusCode::TOO_MANY_REQUESTS)
        .await;
    assert_eq!(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "40 tokens counted against 30"
    );
}

async fn a_keys_calls_in_flight_are_limited(app: TestApp) {
    let (_, key) = app.limited_key(json!({"concurrency_limit": 1})).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "mock-slow"}))
        .await;
    app.set_option(&root, "ModelRatio", r#"{"mock-slow": 1}"#)
        .await;
    let mut held = app.chat_response(&key, &chat("mock-slow", true)).await;
    assert_eq!(held.status(), StatusCode::OK);
    let first = held.chunk().await.unwrap();
    assert!(first.is_some());
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::TOO_MANY_REQUESTS);
    // The stream's end gives the slot back.
    while held.chunk().await.unwrap().is_some() {}
    let status = app
        .chat_until(&key, &chat("gpt-4o", false), StatusCode::OK)
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_users_model_requests_are_limited_per_group(app: TestApp) {
    let root = app.root().await;
    let (_, key) = app.limited_key(json!({})).await;
    app.set_option(&root, "ModelRequestRateLimitEnabled", "true")
        .await;
    app.set_option(&root, "ModelRequestRateLimitCount", "2")
        .await;
    app.set_option(&root, "ModelRequestRateLimitSuccessCount", "0")
        .await;
    for want in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (status, v) = app
            .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
            .await;
        assert_eq!(status, want, "{v}");
    }
    // The group's own pair wins: here one successful request.
    let (_, key2) = app.funded_user("second", 100_000_000).await;
    app.set_option(
        &root,
        "ModelRequestRateLimitGroup",
        r#"{"default": [0, 1]}"#,
    )
    .await;
    let (status, _) = app
        .relay_post(&key2, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = app
        .chat_until(&key2, &chat("gpt-4o", false), StatusCode::TOO_MANY_REQUESTS)
        .await;
    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    let (status, v) = app
        .put(
            Some(&root),
            "/api/option",
            json!({"key": "ModelRequestRateLimitGroup", "value": r#"{"default": [1]}"#}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

/// Two instances on one Redis hold one key to one limit.
async fn a_keys_limit_holds_across_instances(app: TestApp) {
    let Some(redis) = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        // Without Redis each instance counts alone (docs/decisions.md); nothing to hold here.
        return;
    };
    let spawn =
        || async { spawn_app_with(test_settings(&app.database_url, Some(redis.clone()))).await };
    let (a, b) = (spawn().await, spawn().await);
    let (_, key) = a.limited_key(json!({"rpm_limit": 4})).await;
    let mut ok = 0;
    for i in 0..8 {
        let instance = if i % 2 == 0 { &a } else { &b };
        let (status, _) = instance
            .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
            .await;
        if status == StatusCode::OK {
            ok += 1;
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    assert_eq!(ok, 4, "four calls a minute across both instances");
}

/// `/api` is limited by address, logins and the like more strictly, in its own envelope.
async fn an_address_is_limited_on_the_management_api(app: TestApp) {
    let mut settings = test_settings(&app.database_url, None);
    settings.server.api_rate_limit = 6;
    settings.server.critical_rate_limit = 2;
    let limited = spawn_app_with(settings).await;
    let login = json!({"username": "root", "password": crate::helpers::ROOT_PASSWORD});
    for _ in 0..2 {
        let (status, v) = limited.post(None, "/api/user/login", login.clone()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let resp = limited
        .client
        .post(limited.url("/api/user/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    let (status, v) = crate::helpers::body(resp).await;
    crate::helpers::assert_failure(status, &v, StatusCode::TOO_MANY_REQUESTS);
    // A percent-encoded path reaches the same route and the same count.
    let (status, _) = limited
        .post(None, "/%61pi/user/%6Cogin", login.clone())
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Other routes have their own, larger count.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(limited.get(None, "/api/status").await.0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

/// A client's address comes from `X-Forwarded-For` only through a trusted proxy: a key bound
/// to an address cannot be used by a caller who merely claims it.
async fn forwarded_addresses_count_only_from_trusted_proxies(app: TestApp) {
    let (user, _, _) = app.relay_setup(1_000_000).await;
    let key = app
        .api_key(&user, json!({"allow_ips": "203.0.113.9"}))
        .await;
    let call = |app: &TestApp, forwarded: Option<&str>| {
        let mut rb = app.client.get(app.url("/v1/models")).bearer_auth(&key);
        if let Some(f) = forwarded {
            rb = rb.header("x-forwarded-for", f);
        }
        rb.send()
    };
    // Not trusted (the default): the header is the caller's claim.
    let resp = call(&app, Some("203.0.113.9")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let mut settings = test_settings(&app.database_url, None);
    settings.server.trusted_proxies = "127.0.0.1/32, ::1".into();
    let behind = spawn_app_with(settings).await;
    let resp = call(&behind, Some("203.0.113.9")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = call(&behind, Some("198.51.100.1")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A forged entry before the client's own is not taken.
    let resp = call(&behind, Some("203.0.113.9, 198.51.100.1"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// A realtime session is held to its key's requests a minute response by response: opening it
/// is one request, each `response.create` another.
async fn realtime_responses_count_as_requests(app: TestApp) {
    use crate::realtime::{connect, next_of, send, setup};
    let (user, _) = setup(&app, 1_000_000, "gpt-realtime").await;
    let key = app.api_key(&user, json!({"rpm_limit": 2})).await;
    let (mut socket, _) = connect(&app, &key).await;
    next_of(&mut socket, "session.created").await.unwrap();
    send(&mut socket, json!({"type": "response.create"})).await;
    let done = next_of(&mut socket, "response.done").await.unwrap();
    assert_eq!(done["type"], "response.done");
    send(&mut socket, json!({"type": "response.create"})).await;
    let refused = next_of(&mut socket, "error").await.unwrap();
    assert_eq!(refused["error"]["code"], "rate_limit_exceeded", "{refused}");
}

db_tests!(
    realtime_responses_count_as_requests,
    an_address_is_limited_on_the_management_api,
    forwarded_addresses_count_only_from_trusted_proxies,
    a_keys_requests_a_minute_are_limited,
    a_keys_tokens_a_minute_are_limited,
    a_keys_calls_in_flight_are_limited,
    a_users_model_requests_are_limited_per_group,
    a_keys_limit_holds_across_instances,
);

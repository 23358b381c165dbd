//! What a hostile caller of the relay tries: uploads that name one model and run another,
//! overdrawing by concurrency, switching off channels with echoed text, unpriced images,
//! reading upstream secrets, huge unauthenticated bodies, case-variant keys, and keys that
//! keep working after they were disabled.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::relay::{assert_openai_error, chat};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A multipart body from parts `(name, filename, data)`.
pub(crate) fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "hostileboundary";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        let file = filename.map_or(String::new(), |f| format!("; filename=\"{f}\""));
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl TestApp {
    pub(crate) async fn upload(
        &self,
        key: &str,
        path: &str,
        (ct, body): (String, Vec<u8>),
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// The model and `n` priced are the ones the upstream receives, wherever they are in the form;
/// a form naming them twice is refused; uploads follow `model_mapping`.
async fn uploads_price_what_the_upstream_runs(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"models": "dall-e-2,dall-e-3,whisper-1", "model_mapping": "{\"whisper-1\":\"whisper-large\"}"}),
    )
    .await;
    let decoy: &[u8] =
        b"--hostileboundary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ndall-e-2\r\n";
    let (status, v) = app
        .upload(
            &key,
            "/v1/images/edits",
            form(&[
                ("x", Some("model"), b"dall-e-2"),
                ("image", Some("a.png"), decoy),
                ("prompt", None, b"a hat"),
                ("model", None, b"dall-e-3"),
                ("n", None, b"3"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.body["model"], "dall-e-3", "{:?}", seen.body);
    assert_eq!(seen.body["n"], "3");
    assert_eq!(
        seen.body["image"]["bytes"],
        decoy.len(),
        "the file arrives whole"
    );
    let logs = app.consume_logs().await;
    assert_eq!(logs[0]["model_name"], "dall-e-3");
    // dall-e-3: 0.04 USD a picture, three pictures.
    assert_eq!(logs[0]["quota"], 3 * 20_000);
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 60_000);

    let calls = app.mock.calls();
    for parts in [
        vec![
            ("model", None, &b"dall-e-2"[..]),
            ("model", None, b"dall-e-3"),
        ],
        vec![
            ("model", None, &b"dall-e-2"[..]),
            ("Model", None, b"dall-e-3"),
        ],
        vec![
            ("model", None, &b"dall-e-2"[..]),
            ("n", None, b"1"),
            ("n", None, b"9"),
        ],
        vec![("model", None, &b"dall-e-2"[..]), ("n", None, b"50")],
        vec![("model", None, &b"dall-e-2"[..]), ("n", None, b"two")],
    ] {
        let (status, v) = app.upload(&key, "/v1/images/edits", form(&parts)).await;
        assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.mock.calls(), calls, "refused before any upstream call");

    let (status, v) = app
        .upload(
            &key,
            "/v1/audio/transcriptions",
            form(&[
                ("file", Some("a.mp3"), b"ID3audio"),
                ("model", None, b"whisper-1"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        app.mock.seen().pop().unwrap().body["model"],
        "whisper-large"
    );
}

/// Bodies past the configured size are refused with 413, uploads and JSON alike.
async fn bodies_past_the_limit_are_refused(app: TestApp) {
    let mut settings = test_settings(&app.database_url, None);
    settings.server.max_body_bytes = 1 << 20;
    let small = spawn_app_with(settings).await;
    let (_, key, _) = small.relay_setup(1_000_000).await;
    let root = small.root().await;
    small
        .create_channel(&root, json!({"models": "whisper-1"}))
        .await;
    let big = vec![b'x'; 2 << 20];
    let (status, v) = small
        .upload(
            &key,
            "/v1/audio/transcriptions",
            form(&[("model", None, b"whisper-1"), ("file", Some("a.mp3"), &big)]),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::PAYLOAD_TOO_LARGE);
    let mut body = chat("gpt-4o", false);
    body["messages"][0]["content"] = json!("x".repeat(2 << 20));
    let (status, v) = small.relay_post(&key, "/v1/chat/completions", body).await;
    assert_openai_error(status, &v, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(small.mock.calls(), 0);
}

/// Without `max_tokens` the model's whole output is reserved; a balance that cannot cover it
/// is refused before any upstream call with how many output tokens it affords.
async fn the_worst_case_is_reserved(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000).await;
    let calls = app.mock.calls();
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "insufficient_user_quota");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("output tokens"), "{message}");
    assert_eq!(app.mock.calls(), calls);
    // With a small max_tokens the same balance is enough.
    let mut body = chat("gpt-4o", false);
    body["max_tokens"] = json!(10);
    let (status, v) = app.relay_post(&key, "/v1/chat/completions", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // A key's own limit works the same way.
    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": user.id, "quota": 10_000_000}),
    )
    .await;
    let limited = app
        .api_key(
            &user,
            json!({"unlimited_quota": false, "remain_quota": 500}),
        )
        .await;
    let (status, v) = app
        .relay_post(&limited, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "insufficient_token_quota");
}

/// 20 concurrent calls to an upstream that ignores `max_tokens` and bills 16 000 output
/// tokens each: the user's and the key's balances never go below zero, and what is logged is
/// what left them.
async fn concurrency_cannot_overdraw(app: TestApp) {
    let (user, _, channel) = app.relay_setup(5_000).await;
    app.map_gpt4o(channel, "mock-long").await;
    let key = app
        .api_key(
            &user,
            json!({"unlimited_quota": false, "remain_quota": 1_000}),
        )
        .await;
    // Each call reserves about 130: the key covers at most 8 at once, whatever the timing.
    let calls = (0..20).map(|i| {
        let mut body = chat("gpt-4o", i % 2 == 0);
        body["max_tokens"] = json!(10);
        let app = &app;
        let key = key.clone();
        async move { app.relay_post_any(&key, body).await.0 }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::FORBIDDEN), "{statuses:?}");
    let balance = app.settled_quota(&user).await;
    assert!(balance >= 0, "user balance {balance}");
    let (_, tokens) = app.get(Some(&user), "/api/token").await;
    let remain = tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["unlimited_quota"] == false)
        .unwrap()["remain_quota"]
        .as_i64()
        .unwrap();
    assert!(remain >= 0, "key balance {remain}");
    let logged: i64 = app
        .consume_logs()
        .await
        .iter()
        .map(|l| l["quota"].as_i64().unwrap())
        .sum();
    assert_eq!(logged, 5_000 - balance);
    assert_eq!(logged, 1_000 - remain);
}

/// A stream that runs past what was reserved for it (the upstream ignored `max_tokens`) is cut
/// with an error event; the balance stays at or above zero.
async fn streams_past_their_reservation_are_cut(app: TestApp) {
    let (user, key, channel) = app.relay_setup(1_000).await;
    app.map_gpt4o(channel, "mock-long").await;
    let mut body = chat("gpt-4o", true);
    body["max_tokens"] = json!(5);
    let (status, text) = app.relay_post_any(&key, body).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert!(
        events.len() < mock_upstream::LONG_CHUNKS,
        "cut before the end: {} events",
        events.len()
    );
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "insufficient_user_quota", "{text}");
    assert!(app.settled_quota(&user).await >= 0);
}

/// Echoed caller text in an upstream 4xx never disables a channel, nor does a key error code
/// the model list does not confirm; a revoked key does, after the configured number of
/// failures.
async fn only_key_failures_disable_channels(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.set_option(&root, "AutomaticDisableChannelEnabled", "true")
        .await;
    for field in ["permission denied", "insufficient_quota", "invalid_api_key"] {
        let mut body = chat("gpt-4o", false);
        body[field] = json!(1);
        let (status, v) = app.relay_post(&key, "/v1/chat/completions", body).await;
        assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.channel_status(channel).await, 1, "still enabled");

    // A 403 with a key error's code that the caller caused (a resource of another project):
    // the model list takes the key, so the channel stays.
    app.map_gpt4o(channel, "mock-403-resource").await;
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.channel_status(channel).await, 1, "the key is fine");
    assert!(
        app.mock
            .seen()
            .iter()
            .any(|s| s.path == "/v1/models" && s.credential.is_some()),
        "the key was checked on the model list"
    );

    app.set_option(&root, "AutomaticDisableChannelThreshold", "2")
        .await;
    app.map_gpt4o(channel, "mock-401").await;
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.channel_status(channel).await, 1, "one failure of two");
    app.relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert!(
        app.channel_disabled_soon(channel).await,
        "disabled after the second failure"
    );
}

/// Images are priced for exactly the `n` sent upstream; out-of-range values are refused.
async fn images_price_the_n_sent(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "dall-e-2"}))
        .await;
    let calls = app.mock.calls();
    for n in [json!(50), json!(0), json!(-1), json!(1.5), json!("3")] {
        let (status, v) = app
            .relay_post(
                &key,
                "/v1/images/generations",
                json!({"model": "dall-e-2", "prompt": "cat", "n": n}),
            )
            .await;
        assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.mock.calls(), calls);
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/images/generations",
            json!({"model": "dall-e-2", "prompt": "cat", "n": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(app.mock.seen().pop().unwrap().body["n"], 7);
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 7 * 10_000);
}

/// An upstream message that repeats the channel's key, host or addresses reaches the caller
/// masked.
async fn upstream_secrets_are_masked(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000_000).await;
    app.map_gpt4o(channel, "mock-leak").await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    let message = v["error"]["message"].as_str().unwrap();
    let host = app.mock.url().trim_start_matches("http://").to_owned();
    let port = host.rsplit(':').next().unwrap().to_owned();
    for secret in [
        "sk-upstream-secret-key",
        "upstream-secret",
        "127.0.0.1",
        &port,
        "10.20.30.40",
        "Bearer",
    ] {
        assert!(!message.contains(secret), "{secret} shown in: {message}");
    }
    assert!(
        message.contains("rejected"),
        "the rest of the message stays: {message}"
    );

    // An error event in the middle of a stream, passed through or converted; also when the
    // upstream cuts it in two inside the key.
    for upstream in ["mock-leak-stream", "mock-leak-split"] {
        app.map_gpt4o(channel, upstream).await;
        let (status, text) = app.relay_post_any(&key, chat("gpt-4o", true)).await;
        assert_eq!(status, StatusCode::OK);
        let anthropic = app
            .client
            .post(app.url("/v1/messages"))
            .header("x-api-key", &key)
            .json(&json!({"model": "gpt-4o", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for (stream, ending) in [(text, "data: {\"error\""), (anthropic, "event: error")] {
            assert!(
                stream.contains("w0 ") && stream.contains(ending),
                "{stream}"
            );
            assert!(stream.contains("rejected"), "{stream}");
            for secret in [
                "sk-upstream-secret-key",
                "127.0.0.1",
                &port,
                "10.20.30.40",
                "Bearer",
            ] {
                assert!(!stream.contains(secret), "{secret} shown in: {stream}");
            }
        }
    }
}

impl TestApp {
    /// The status of a chat call with `key` whose body never ends, when it comes within 5 s.
    async fn endless_chat(&self, key: &str) -> StatusCode {
        let endless = futures_util::stream::iter(0..).then(|i| async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<_, std::io::Error>(vec![b' '; 1 << 20])
        });
        let request = self
            .client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(endless))
            .send();
        tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .expect("answered without waiting for the body")
            .unwrap()
            .status()
    }
}

/// An unauthenticated body is not read: the 401 comes while the body is still being sent; so
/// is the body of a key whose balance is used up (403).
async fn bodies_are_read_after_the_key(app: TestApp) {
    assert_eq!(
        app.endless_chat("sk-not-a-key").await,
        StatusCode::UNAUTHORIZED
    );
    let (_, broke, _) = app.relay_setup(0).await;
    assert_eq!(app.endless_chat(&broke).await, StatusCode::FORBIDDEN);
}

/// A caller that hangs up while a whole answer is on its way is billed for it all the same
/// (the upstream produced it).
async fn hanging_up_before_a_whole_answer_still_bills(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", r#"{"mock-slow": 1}"#)
        .await;
    app.create_channel(&root, json!({"models": "mock-slow"}))
        .await;
    let mut body = chat("mock-slow", false);
    body["max_tokens"] = json!(100);
    let sent = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&body)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up first");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["model_name"], "mock-slow");
    let quota = logs[0]["quota"].as_i64().unwrap();
    assert!(quota > 0);
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - quota);
}

/// Keys that differ from a priced field only by case are refused: a case-insensitive upstream
/// would run the value the gateway did not price.
async fn case_variant_keys_are_refused(app: TestApp) {
    let (_, key, _) = app.relay_setup(1_000_000).await;
    let calls = app.mock.calls();
    for (path, body) in [
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","Model":"gpt-4o","messages":[]}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"MODEL":"gpt-4","model":"gpt-4o","messages":[]}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[],"max_tokens":5,"Max_Tokens":100000}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","model":"gpt-4o-mini","messages":[]}"#,
        ),
        (
            "/v1/images/generations",
            r#"{"Model":"dall-e-3","prompt":"cat"}"#,
        ),
        (
            "/v1/images/generations",
            r#"{"model":"dall-e-2","prompt":"cat","N":10}"#,
        ),
    ] {
        let resp = app
            .client
            .post(app.url(path))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, v) = crate::helpers::body(resp).await;
        assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.mock.calls(), calls);
}

/// A disabled key or a banned user is refused on the very next call, even when calls were
/// loading the key from the database while the change landed.
async fn disabling_takes_effect_at_once(app: TestApp) {
    let (user, key, _) = app.relay_setup(10_000_000).await;
    let root = app.root().await;
    for _ in 0..10 {
        let (status, v) = app
            .put(
                Some(&root),
                "/api/user",
                json!({"id": user.id, "status": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let calls = (0..4).map(|_| {
            let mut body = chat("gpt-4o", false);
            body["max_tokens"] = json!(10);
            app.relay_post(&key, "/v1/chat/completions", body)
        });
        let ban = app.put(
            Some(&root),
            "/api/user",
            json!({"id": user.id, "status": 2}),
        );
        let (_, (status, _)) = tokio::join!(futures_util::future::join_all(calls), ban);
        assert_eq!(status, StatusCode::OK);
        let (status, v) = app
            .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
            .await;
        assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    }
}

db_tests!(
    uploads_price_what_the_upstream_runs,
    bodies_past_the_limit_are_refused,
    the_worst_case_is_reserved,
    concurrency_cannot_overdraw,
    streams_past_their_reservation_are_cut,
    only_key_failures_disable_channels,
    images_price_the_n_sent,
    upstream_secrets_are_masked,
    bodies_are_read_after_the_key,
    case_variant_keys_are_refused,
    disabling_takes_effect_at_once,
    hanging_up_before_a_whole_answer_still_bills,
);

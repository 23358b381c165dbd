//! The OpenAI-compatible relay: routing, streaming, errors, and exact billing.

use crate::helpers::{Auth, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// gpt-4o's built-in price: (8 + 12 * 4) * 1.25 for the mock's usage.
pub(crate) const GPT4O_CALL: i64 = 70;

impl TestApp {
    /// Sends the chat `body` until it answers `want` (up to 4 s); returns the last status.
    pub async fn chat_until(&self, key: &str, body: &Value, want: StatusCode) -> StatusCode {
        let mut status = StatusCode::IM_A_TEAPOT;
        for _ in 0..40 {
            (status, _) = self
                .relay_post(key, "/v1/chat/completions", body.clone())
                .await;
            if status == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        status
    }
}

pub(crate) fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "你好，请介绍一下自己"}], "stream": stream,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})
}

pub(crate) fn assert_openai_error(status: StatusCode, v: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{v}");
    let e = &v["error"];
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("request id")),
        "{v}"
    );
    assert!(
        e.get("type").is_some() && e.get("code").is_some() && e.get("param").is_some(),
        "{v}"
    );
}

async fn models_follow_group_and_limits(app: TestApp) {
    let (user, key, _) = app.relay_setup(1000).await;
    let (status, v) = app.relay_get(&key, "/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"][0]["owned_by"], "openai");
    let (status, v) = app.relay_get(&key, "/v1/models/gpt-4o").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["id"], "gpt-4o");
    let (status, v) = app.relay_get(&key, "/v1/models/claude-3-opus").await;
    assert_openai_error(status, &v, StatusCode::NOT_FOUND);

    let limited = app
        .api_key(
            &user,
            json!({"model_limits_enabled": true, "model_limits": "gpt-4o-mini"}),
        )
        .await;
    let (_, v) = app.relay_get(&limited, "/v1/models").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (status, v) = app
        .relay_post(&limited, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);

    let (status, v) = app.relay_get("sk-wrong", "/v1/models").await;
    assert_openai_error(status, &v, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let resp = app.client.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("x-request-id"));
    // Other dialects' key headers.
    let resp = app
        .client
        .get(app.url("/v1/models"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .client
        .get(app.url(&format!("/v1/models?key={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn chat_bills_exactly(app: TestApp) {
    let (user, key, channel) = app.relay_setup(1_000_000).await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello");
    assert_eq!(v["usage"]["completion_tokens"], 12);
    // The request went upstream untouched: tools and all, with the channel's key.
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.body["tools"][0]["function"]["name"], "f");
    assert_eq!(
        seen.credential.as_deref(),
        Some("Bearer sk-upstream-secret-key")
    );

    assert_eq!(app.settled_quota(&user).await, 1_000_000 - GPT4O_CALL);
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log["quota"], GPT4O_CALL);
    assert_eq!(
        (
            log["prompt_tokens"].as_i64(),
            log["completion_tokens"].as_i64()
        ),
        (Some(8), Some(12))
    );
    assert_eq!(log["model_name"], "gpt-4o");
    assert_eq!(log["channel_id"].as_i64(), Some(channel));
    assert_eq!(log["token_name"], "key");
    assert_eq!(log["is_stream"], false);
    assert!(log["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    let (_, me) = app.get(Some(&user), "/api/user/self").await;
    assert_eq!(me["data"]["used_quota"], GPT4O_CALL);
    assert_eq!(me["data"]["request_count"], 1);
    let (_, tokens) = app.get(Some(&user), "/api/token").await;
    assert_eq!(tokens["data"][0]["used_quota"], GPT4O_CALL);
    assert_eq!(tokens["data"][0]["request_count"], 1);
    let root = app.root().await;
    let (_, c) = app
        .get(Some(&root), &format!("/api/channel/{channel}"))
        .await;
    assert_eq!(c["data"]["used_quota"], GPT4O_CALL);
    let (_, data) = app.get(Some(&user), "/api/data/self").await;
    assert_eq!(data["data"][0]["quota"], GPT4O_CALL);
}

async fn stream_passes_through_and_bills(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let resp = app.chat_response(&key, &chat("gpt-4o", true)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| e.starts_with("data: "))
        .collect();
    assert_eq!(
        events.len(),
        mock_upstream::CHUNKS + 2,
        "content, usage, [DONE]: {text}"
    );
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(
        seen.body["stream_options"]["include_usage"], true,
        "usage was asked for"
    );
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - GPT4O_CALL);
    let logs = app.consume_logs().await;
    assert_eq!(logs[0]["is_stream"], true);
    assert_eq!(logs[0]["quota"], GPT4O_CALL);
}

async fn stream_without_usage_counts_locally(app: TestApp) {
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", r#"{"mock-nousage": 1}"#)
        .await;
    let (user, key, _) = app.relay_setup(1_000_000).await;
    app.create_channel(&root, json!({"models": "mock-nousage"}))
        .await;
    let body = chat("mock-nousage", true);
    let resp = app.chat_response(&key, &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap();
    // Counted with tiktoken: the prompt's text (plus OpenAI's per-message overhead) and the
    // streamed content.
    let prompt =
        relay::tokenizer::prompt_tokens("mock-nousage", &serde_json::to_vec(&body).unwrap());
    let streamed: String = (0..mock_upstream::CHUNKS)
        .map(|i| format!("w{i} "))
        .collect();
    let completion = relay::tokenizer::count("mock-nousage", &streamed);
    assert!(
        prompt > 6 && completion > mock_upstream::CHUNKS as i64 / 2,
        "{prompt} {completion}"
    );
    let logs = app.consume_logs().await;
    assert_eq!(logs[0]["prompt_tokens"].as_i64(), Some(prompt));
    assert_eq!(logs[0]["completion_tokens"].as_i64(), Some(completion));
    assert_eq!(logs[0]["quota"].as_i64(), Some(prompt + completion));
    assert_eq!(
        app.settled_quota(&user).await,
        1_000_000 - prompt - completion
    );
}

async fn short_quota_is_refused_before_any_upstream_call(app: TestApp) {
    let (user, key, _) = app.relay_setup(0).await;
    let calls = app.mock.calls();
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "insufficient_user_quota");
    assert_eq!(app.mock.calls(), calls, "no upstream call");

    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": user.id, "quota": 100_000}),
    )
    .await;
    let small = app
        .api_key(&user, json!({"unlimited_quota": false, "remain_quota": 10}))
        .await;
    let (status, v) = app
        .relay_post(
            &small,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [], "max_tokens": 1000}),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "insufficient_token_quota");
    assert_eq!(app.mock.calls(), calls);
    // The top-up through /api is seen by the relay at once.
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.settled_quota(&user).await, 100_000 - GPT4O_CALL);
}

async fn bad_requests_and_unknown_models(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let calls = app.mock.calls();
    let resp = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, v) = crate::helpers::body(resp).await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", json!({"messages": []}))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("no-such-model", false))
        .await;
    assert_openai_error(status, &v, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "model_not_found", "{v}");
    // A channel serves it, but it has no price.
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "unpriced-model"}))
        .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("unpriced-model", false))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    assert_eq!(app.mock.calls(), calls, "no upstream call for bad requests");
    app.set_option(&root, "SelfUseModeEnabled", "true").await;
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("unpriced-model", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.settled_quota(&user).await,
        1_000_000,
        "free in self-use mode"
    );
    let (status, v) = app.relay_post(&key, "/v1/nothing-here", json!({})).await;
    assert_openai_error(status, &v, StatusCode::NOT_FOUND);
}

async fn upstream_failure_refunds_and_retries(app: TestApp) {
    let (user, key, first) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    // The first channel maps gpt-4o to a model the mock fails.
    app.put(
        Some(&root),
        "/api/channel",
        json!({"id": first, "model_mapping": "{\"gpt-4o\": \"mock-500\"}", "priority": 10}),
    )
    .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        app.settled_quota(&user).await,
        1_000_000,
        "refunded in full"
    );
    assert!(app.consume_logs().await.is_empty());

    let second = app.create_channel(&root, json!({"priority": 0})).await;
    app.set_option(&root, "RetryTimes", "1").await;
    let calls = app.mock.calls();
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        app.mock.calls(),
        calls + 2,
        "failed once, then the second channel"
    );
    let seen = app.mock.seen();
    assert_eq!(
        seen[seen.len() - 2].body["model"],
        "mock-500",
        "mapped upstream"
    );
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["channel_id"].as_i64(), Some(second));
    assert_eq!(
        logs[0]["model_name"], "gpt-4o",
        "billing keeps the requested name"
    );
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - GPT4O_CALL);
}

/// A stream whose first event is an error fails over before anything reaches the caller.
async fn stream_error_before_first_event_fails_over(app: TestApp) {
    let (user, key, first) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.put(Some(&root), "/api/channel", json!({"id": first, "model_mapping": "{\"gpt-4o\": \"mock-stream-error\"}", "priority": 10})).await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", true))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_GATEWAY);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overloaded"),
        "{v}"
    );
    stream_fails_over_to_a_second_channel(&app, &user, &key).await;
}

/// With a second channel and a retry, a stream the first channel failed is served whole by
/// the second, and billed once.
pub(crate) async fn stream_fails_over_to_a_second_channel(app: &TestApp, user: &Auth, key: &str) {
    let root = app.root().await;
    let second = app.create_channel(&root, json!({})).await;
    app.set_option(&root, "RetryTimes", "1").await;
    let resp = app.chat_response(key, &chat("gpt-4o", true)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains("overloaded") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["channel_id"].as_i64(), Some(second));
    assert_eq!(app.settled_quota(user).await, 1_000_000 - GPT4O_CALL);
}

async fn revoked_key_disables_the_channel(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.set_option(&root, "AutomaticDisableChannelEnabled", "true")
        .await;
    app.map_gpt4o(channel, "mock-401").await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_GATEWAY);
    assert!(app.channel_disabled_soon(channel).await, "auto-disabled");
    // The routes reload right after the status change: no enabled channel lists the model now.
    let status = app
        .chat_until(&key, &chat("gpt-4o", false), StatusCode::NOT_FOUND)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no channel left");
}

/// Channels of a dialect the call cannot be converted to are passed over without using up an
/// attempt: embeddings to Anthropic or Gemini channels (only text generation is converted).
async fn other_dialect_channels_are_passed_over(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    for channel_type in [14, 24] {
        app.create_channel(
            &root,
            json!({"type": channel_type, "priority": 10, "models": "text-embedding-3-small"}),
        )
        .await;
    }
    let embeddings = app
        .create_channel(&root, json!({"models": "text-embedding-3-small"}))
        .await;
    for _ in 0..4 {
        let (status, v) = app
            .relay_post(
                &key,
                "/v1/embeddings",
                json!({"model": "text-embedding-3-small", "input": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 4);
    for log in &logs {
        assert_eq!(log["channel_id"].as_i64(), Some(embeddings), "{log}");
    }
    let seen = app.mock.seen();
    assert!(
        seen.iter().all(|s| s.path.starts_with("/v1/embeddings")),
        "no Anthropic or Gemini call"
    );
    // The embedding's 8 tokens at ratio 0.01 cost nothing.
    assert_eq!(app.settled_quota(&user).await, 1_000_000);
}

/// Azure channels: the deployment path, `api-version` and the `api-key` header.
async fn azure_channels_use_deployments(app: TestApp) {
    let (_, key, openai) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/channel",
        json!({"id": openai, "status": 2}),
    )
    .await;
    app.create_channel(
        &root,
        json!({"type": 3, "models": "gpt-4o", "other": "2024-06-01"}),
    )
    .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.path, "/openai/deployments/gpt-4o/chat/completions");
    assert_eq!(seen.credential.as_deref(), Some("sk-upstream-secret-key"));
}

/// An expired key is refused, even when its cached view is older than the expiry.
async fn expired_keys_are_refused(app: TestApp) {
    use sea_orm::{ActiveModelTrait, Set};
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get(Some(&user), "/api/token").await;
    let id = list["data"][0]["id"].as_i64().unwrap() as i32;
    let token = persistence::tokens::find_for_user(&app.db, user.id as i32, id)
        .await
        .unwrap()
        .unwrap();
    let mut am: persistence::tokens::ActiveModel = token.into();
    am.expired_time = Set(domain::now_ts() + 1);
    am.update(&app.db).await.unwrap();
    app.relay
        .apply(relay::Change::Token { id, quota_delta: 0 })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::UNAUTHORIZED);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("过期"),
        "{v}"
    );
}

async fn pinned_channels_are_for_admins(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000_000).await;
    let (status, v) = app
        .relay_post(
            &format!("{key}-{channel}"),
            "/v1/chat/completions",
            chat("gpt-4o", false),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    let root = app.root().await;
    let other = app.create_channel(&root, json!({"models": "gpt-4o"})).await;
    let root_key = app.api_key(&root, json!({})).await;
    for _ in 0..3 {
        let (status, _) = app
            .relay_post(
                &format!("{root_key}-{other}"),
                "/v1/chat/completions",
                chat("gpt-4o", false),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let logs = app.consume_logs().await;
    assert!(logs.iter().all(|l| l["channel_id"].as_i64() == Some(other)));
}

async fn key_checks(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let (_, list) = app.get(Some(&user), "/api/token").await;
    let id = list["data"][0]["id"].as_i64().unwrap();
    app.put(Some(&user), "/api/token", json!({"id": id, "status": 2}))
        .await;
    let (status, v) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::UNAUTHORIZED);
    app.put(Some(&user), "/api/token", json!({"id": id, "status": 1}))
        .await;
    let (status, _) = app
        .relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    let fenced = app.api_key(&user, json!({"allow_ips": "10.1.2.3"})).await;
    let (status, v) = app
        .relay_post(&fenced, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    // A key in another group stops working when its user may no longer use that group.
    let root = app.root().await;
    app.put(Some(&root), "/api/user", json!({"id": user.id, "role": 10}))
        .await;
    app.create_channel(&root, json!({"group": "vip"})).await;
    let vip = app.api_key(&user, json!({"group": "vip"})).await;
    let (status, _) = app
        .relay_post(&vip, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.put(Some(&root), "/api/user", json!({"id": user.id, "role": 1}))
        .await;
    let (status, v) = app
        .relay_post(&vip, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "group_not_usable");
    let local = app
        .api_key(&user, json!({"allow_ips": "127.0.0.0/8"}))
        .await;
    let (status, _) = app
        .relay_post(&local, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    assert_eq!(status, StatusCode::OK);
}

db_tests!(
    models_follow_group_and_limits,
    chat_bills_exactly,
    stream_passes_through_and_bills,
    stream_without_usage_counts_locally,
    short_quota_is_refused_before_any_upstream_call,
    bad_requests_and_unknown_models,
    upstream_failure_refunds_and_retries,
    stream_error_before_first_event_fails_over,
    revoked_key_disables_the_channel,
    other_dialect_channels_are_passed_over,
    azure_channels_use_deployments,
    expired_keys_are_refused,
    pinned_channels_are_for_admins,
    key_checks,
);

//! Gemini's API in, Gemini channels out: the body untouched, the (mapped) model in the URL,
//! usage with cached content and thinking billed, streams as events or as a JSON array, and
//! errors in Google's shape.

use crate::helpers::{TestApp, body};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MODEL: &str = "gemini-test";
/// Ratio 1, completion ratio 2, cache ratio 0.5: (8 - 6 + 6 * 0.5 + 12 * 2) = 29.
const CACHED_CALL: i64 = 29;

fn request() -> Value {
    json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"maxOutputTokens": 64}})
}

/// A key, and a Gemini channel that runs `MODEL` as `upstream` at known ratios.
async fn setup(app: &TestApp, upstream: &str) -> (crate::helpers::Auth, String) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", &json!({MODEL: 1}).to_string())
        .await;
    app.set_option(&root, "CompletionRatio", &json!({MODEL: 2}).to_string())
        .await;
    app.set_option(&root, "CacheRatio", &json!({MODEL: 0.5}).to_string())
        .await;
    let mapping = json!({MODEL: upstream}).to_string();
    app.create_channel(
        &root,
        json!({"name": "gemini", "type": 24, "key": "goog-upstream", "models": MODEL,
            "model_mapping": mapping}),
    )
    .await;
    (user, key)
}

async fn post(app: &TestApp, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(key) = key {
        req = req.header("x-goog-api-key", key);
    }
    req.send().await.unwrap()
}

async fn native_calls_pass_through_and_bill(app: TestApp) {
    let (user, key) = setup(&app, "mock-cached").await;
    // Both prefixes, and the key in the query as the REST samples send it.
    let (status, v) = body(
        post(
            &app,
            &format!("/v1beta/models/{MODEL}:generateContent"),
            Some(&key),
            &request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "Hello");
    let (status, v) = body(
        post(
            &app,
            &format!("/v1/models/{MODEL}:generateContent?key={key}"),
            None,
            &request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let resp = post(
        &app,
        &format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"),
        Some(&key),
        &request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert_eq!(text.matches("data: ").count(), 12, "{text}");

    let resp = post(
        &app,
        &format!("/v1beta/models/{MODEL}:streamGenerateContent"),
        Some(&key),
        &request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let array: Vec<Value> = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(array.len(), 12, "one element per event");
    assert_eq!(array[11]["candidates"][0]["finishReason"], "STOP");

    let seen = app.mock.seen();
    let calls: Vec<_> = seen
        .iter()
        .filter(|s| s.path.contains("/models/"))
        .collect();
    assert_eq!(calls.len(), 4);
    for call in &calls {
        assert!(
            call.path.starts_with("/v1beta/models/mock-cached:"),
            "{}",
            call.path
        );
        assert_eq!(call.credential.as_deref(), Some("goog-upstream"));
        assert_eq!(call.body, request(), "the body untouched");
    }
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 4);
    assert!(logs.iter().all(|l| l["quota"] == CACHED_CALL), "{logs:?}");
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 4 * CACHED_CALL);
}

/// Thinking tokens are billed as output: (8 + (12 + 20) * 2) = 72.
async fn thinking_is_billed_as_output(app: TestApp) {
    let (_, key) = setup(&app, "mock-thinking").await;
    let path = format!("/v1beta/models/{MODEL}:generateContent");
    let (status, v) = body(post(&app, &path, Some(&key), &request()).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let logs = app.consume_logs().await;
    assert_eq!(logs[0]["quota"], 72, "{logs:?}");
    assert_eq!(logs[0]["completion_tokens"], 32, "{logs:?}");
}

async fn errors_models_and_counting(app: TestApp) {
    let (_, key) = setup(&app, "mock-cached").await;
    let generate = format!("/v1beta/models/{MODEL}:generateContent");
    let twice = json!({"contents": [], "generationConfig": {"maxOutputTokens": 5, "max_output_tokens": 99999}});
    for (path, key, request, status, name) in [
        (
            generate.as_str(),
            None,
            request(),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        ),
        (
            "/v1beta/models/no-such-model:generateContent",
            Some(key.as_str()),
            request(),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            generate.as_str(),
            Some(key.as_str()),
            twice,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        ),
    ] {
        let (got, v) = body(post(&app, path, key, &request).await).await;
        assert_eq!(got, status, "{path}: {v}");
        assert_eq!(v["error"]["code"], status.as_u16(), "{v}");
        assert_eq!(v["error"]["status"], name, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("request id")),
            "{v}"
        );
    }
    let count = format!("/v1beta/models/{MODEL}:countTokens");
    let (status, v) = body(post(&app, &count, Some(&key), &request()).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["totalTokens"].as_i64().is_some_and(|n| n > 0), "{v}");
    let resp = app
        .client
        .get(app.url("/v1beta/models"))
        .header("x-goog-api-key", &key)
        .send()
        .await
        .unwrap();
    let (status, v) = body(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"models/gemini-test"), "{v}");
    // OpenAI's model routes under /v1 are untouched by Gemini's.
    let (status, v) = app.relay_get(&key, &format!("/v1/models/{MODEL}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "model");
}

/// Embeddings pass through untouched and are billed for their input, counted locally (Gemini
/// reports no usage for them): nothing is reserved for output.
async fn embeddings_pass_through_and_bill_their_input(app: TestApp) {
    let (user, key) = setup(&app, "mock-embed").await;
    let one = json!({"content": {"parts": [{"text": "Hello there, how are you today?"}]}});
    let path = format!("/v1beta/models/{MODEL}:embedContent");
    let (status, v) = body(post(&app, &path, Some(&key), &one).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["embedding"]["values"], json!([0.1, 0.2, 0.3]));
    let batch = json!({"requests": [
        {"model": format!("models/{MODEL}"), "content": {"parts": [{"text": "first text"}]}},
        {"model": format!("models/{MODEL}"), "content": {"parts": [{"text": "second text"}]}}]});
    let path = format!("/v1/models/{MODEL}:batchEmbedContents");
    let (status, v) = body(post(&app, &path, Some(&key), &batch).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["embeddings"].as_array().map(Vec::len), Some(2));
    let seen = app.mock.seen();
    let calls: Vec<_> = seen
        .iter()
        .filter(|s| s.path.contains("Embed") || s.path.contains("embed"))
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].path, "/v1beta/models/mock-embed:embedContent");
    assert_eq!(calls[0].body, one, "untouched");
    assert_eq!(
        calls[1].path,
        "/v1beta/models/mock-embed:batchEmbedContents"
    );
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 2);
    for log in &logs {
        let prompt = log["prompt_tokens"].as_i64().unwrap();
        assert!(prompt > 0, "counted locally: {log}");
        assert_eq!(log["completion_tokens"], 0, "{log}");
        assert_eq!(log["quota"], prompt, "ratio 1, input only: {log}");
    }
    let spent: i64 = logs.iter().map(|l| l["quota"].as_i64().unwrap()).sum();
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - spent);
}

db_tests!(
    embeddings_pass_through_and_bill_their_input,
    native_calls_pass_through_and_bill,
    thinking_is_billed_as_output,
    errors_models_and_counting,
);

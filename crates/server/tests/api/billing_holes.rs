//! Holes in the reservation (issue 13): what reaches the upstream is reserved at its worst case
//! before the call, and no usage an upstream reports can lower a bill.

use crate::helpers::{TestApp, body};
use crate::hostile_review2::priced_setup;
use crate::relay::assert_openai_error;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Prices `gpt-4o` at ratio 1, completion ratio 1 (one quota a token).
pub(crate) async fn one_quota_a_token(app: &TestApp) {
    let root = app.root().await;
    app.set_option(&root, "ModelRatio", r#"{"gpt-4o": 1}"#)
        .await;
    app.set_option(&root, "CompletionRatio", r#"{"gpt-4o": 1}"#)
        .await;
}

/// A text completion with a list of prompts runs each of them (`n` times): 100 prompts of
/// 700 tokens are 70 000 tokens the upstream may produce, which a 1 200-quota user cannot
/// cover; a list of two is reserved and billed for both answers.
async fn prompt_lists_reserve_every_answer(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_200).await;
    one_quota_a_token(&app).await;
    let calls = app.mock.calls();
    let prompts: Vec<String> = (0..100).map(|i| format!("Poem {i}")).collect();
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/completions",
            json!({"model": "gpt-4o", "prompt": prompts, "max_tokens": 700}),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/completions",
            json!({"model": "gpt-4o", "prompt": ["a", "b"], "max_tokens": 500, "n": 2}),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(
        app.mock.calls(),
        calls,
        "nothing refused reached the upstream"
    );
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/completions",
            json!({"model": "gpt-4o", "prompt": ["a", "b"], "max_tokens": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"].as_array().map(Vec::len), Some(2), "{v}");
    // 8 prompt tokens and two answers of 5.
    assert_eq!(1_200 - app.settled_quota(&user).await, 8 + 2 * 5);
}

/// An upstream that reports negative usage (prompt 5 000, completion -100 000) is billed its
/// prompt, not nothing, streamed or not.
async fn negative_usage_never_lowers_the_bill(app: TestApp) {
    let quota = 1_000_000;
    let (user, key, channel) = app.relay_setup(quota).await;
    one_quota_a_token(&app).await;
    app.map_gpt4o(channel, "mock-negative").await;
    let (prompt, _) = mock_upstream::NEGATIVE_USAGE;
    for stream in [false, true] {
        let request = json!({"model": "gpt-4o", "max_tokens": 10, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]});
        let (status, text) = app.relay_post_any(&key, request).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    assert_eq!(quota - app.settled_quota(&user).await, 2 * prompt);
}

/// A whole answer without usage is billed its prompt and the text it holds, counted here:
/// not the prompt alone.
async fn whole_answers_without_usage_bill_their_text(app: TestApp) {
    let (_, key, channel) = app.relay_setup(1_000_000).await;
    one_quota_a_token(&app).await;
    app.map_gpt4o(channel, "mock-nousage").await;
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v.get("usage").is_none(), "{v}");
    let logs = app.consume_logs().await;
    assert_eq!(
        logs[0]["completion_tokens"], 1,
        "the answer's \"Hello\": {logs:?}"
    );
    assert!(logs[0]["prompt_tokens"].as_i64().unwrap() > 0);

    // A stream without usage carrying two images: their tokens are billed with the text's
    // (1 500 each, as reserved), not the text alone.
    let image = json!({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}});
    let (status, text) = app
        .relay_post_any(
            &key,
            json!({"model": "gpt-4o", "stream": true, "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image, image]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let logs = app.consume_logs().await;
    let streamed = logs.iter().find(|l| l["is_stream"] == true).unwrap();
    assert!(
        streamed["prompt_tokens"].as_i64().unwrap() > 3_000,
        "{logs:?}"
    );
}

/// A Gemini part that names an hour of video by URI is reserved at the video worst case
/// (1M tokens by default, `MediaReferenceTokens` sets it): a 20 000-quota key is refused it,
/// while an image by URI still runs.
async fn media_by_reference_is_reserved_at_its_worst_case(app: TestApp) {
    let model = "gemini-test";
    let (_, key) = priced_setup(&app, 20_000, 24, model, "gemini-2.5-flash").await;
    let call = |mime: &str| {
        json!({"contents": [{"role": "user", "parts": [{"text": "What happens here?"},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x", "mimeType": mime}}]}],
            "generationConfig": {"maxOutputTokens": 10}})
    };
    let send = |request: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            let resp = app
                .client
                .post(app.url(&format!("/v1beta/models/{model}:generateContent")))
                .header("x-goog-api-key", &key)
                .json(&request)
                .send()
                .await
                .unwrap();
            body(resp).await
        }
    };
    let calls = app.mock.calls();
    for mime in ["video/mp4", "audio/mpeg", "application/pdf"] {
        let (status, v) = send(call(mime)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{mime}: {v}");
        assert_eq!(v["error"]["status"], "PERMISSION_DENIED", "{v}");
    }
    assert_eq!(
        app.mock.calls(),
        calls,
        "nothing refused reached the upstream"
    );
    let (status, v) = send(call("image/png")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let root = app.root().await;
    app.set_option(&root, "MediaReferenceTokens", r#"{"video": 2000}"#)
        .await;
    let (status, v) = send(call("video/mp4")).await;
    assert_eq!(status, StatusCode::OK, "an operator's worst case: {v}");
}

/// A zero output limit is no limit (the upstream's default, the model's maximum): it reserves
/// the model's most output, so a balance that cannot cover it is refused, in every dialect.
/// Token-count options take whole positive numbers only.
async fn a_zero_output_limit_reserves_the_models_most(app: TestApp) {
    let (_, key, _) = app.relay_setup(10_000).await;
    one_quota_a_token(&app).await;
    let calls = app.mock.calls();
    let chat = |limit: i64| json!({"model": "gpt-4o", "max_tokens": limit, "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = app.relay_post(&key, "/v1/chat/completions", chat(0)).await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    assert_eq!(
        app.mock.calls(),
        calls,
        "nothing refused reached the upstream"
    );
    let (status, v) = app.relay_post(&key, "/v1/chat/completions", chat(10)).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let root = app.root().await;
    for bad in [
        r#"{"gpt-4o": 0.5}"#,
        r#"{"gpt-4o": 0}"#,
        r#"{"gpt-4o": -3}"#,
    ] {
        let (status, v) = app
            .put(
                Some(&root),
                "/api/option",
                json!({"key": "ModelMaxOutputTokens", "value": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // A whole limit below the balance lets the unlimited call run.
    app.set_option(&root, "ModelMaxOutputTokens", r#"{"gpt-4o": 100}"#)
        .await;
    let (status, v) = app.relay_post(&key, "/v1/chat/completions", chat(0)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Gemini's `maxOutputTokens: 0` is the model's maximum too.
async fn a_zero_gemini_limit_reserves_the_models_most(app: TestApp) {
    let model = "gemini-test";
    let (_, key) = priced_setup(&app, 20_000, 24, model, "gemini-2.5-flash").await;
    let root = app.root().await;
    app.set_option(&root, "ModelMaxOutputTokens", r#"{"gemini-test": 65536}"#)
        .await;
    let resp = app
        .client
        .post(app.url(&format!("/v1beta/models/{model}:generateContent")))
        .header("x-goog-api-key", &key)
        .json(
            &json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"maxOutputTokens": 0}}),
        )
        .send()
        .await
        .unwrap();
    let (status, v) = body(resp).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
}

db_tests!(
    prompt_lists_reserve_every_answer,
    negative_usage_never_lowers_the_bill,
    whole_answers_without_usage_bill_their_text,
    media_by_reference_is_reserved_at_its_worst_case,
    a_zero_output_limit_reserves_the_models_most,
    a_zero_gemini_limit_reserves_the_models_most,
);

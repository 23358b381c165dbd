//! The bill is the provider's invoice (issue 13): images by model, quality and size; service
//! tiers; server-side tools per call; the long-context premium; Responses work the answer
//! does not show.

use crate::billing_holes::one_quota_a_token;
use crate::helpers::{Auth, TestApp, body};
use crate::hostile_review2::priced_setup;
use crate::relay::assert_openai_error;
use domain::quota::QUOTA_PER_USD;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Quota of `usd`.
fn usd(usd: f64) -> i64 {
    (usd * QUOTA_PER_USD as f64).round() as i64
}

/// What one call costs the caller: the balance before less the balance after.
async fn spent<F, Fut>(app: &TestApp, user: &Auth, call: F) -> i64
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let before = app.settled_quota(user).await;
    let (status, v) = call().await;
    assert_eq!(status, StatusCode::OK, "{v}");
    before - app.settled_quota(user).await
}

/// DALL-E is priced per image by quality and size (hd 1792x1024 is 0.12 USD, not 0.04); the
/// gpt-image models by the image tokens they report, text and image input apart; a quality
/// named twice is refused.
async fn images_are_priced_by_quality_and_size(app: TestApp) {
    let (user, key, _) = app.relay_setup(10_000_000).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "dall-e-2,dall-e-3,gpt-image-1"}))
        .await;
    let generate = |body: Value| {
        let (app, key) = (&app, key.clone());
        move || async move { app.relay_post(&key, "/v1/images/generations", body).await }
    };
    let hd = json!({"model": "dall-e-3", "prompt": "a cat", "quality": "hd", "size": "1792x1024", "n": 2});
    assert_eq!(spent(&app, &user, generate(hd)).await, 2 * usd(0.12));
    let plain = json!({"model": "dall-e-3", "prompt": "a cat"});
    assert_eq!(spent(&app, &user, generate(plain)).await, usd(0.04));
    let unknown = json!({"model": "dall-e-3", "prompt": "a cat", "size": "4096x4096"});
    assert_eq!(
        spent(&app, &user, generate(unknown)).await,
        usd(0.12),
        "a size the list does not know: the dearest"
    );
    // gpt-image-1 (5 USD per 1M text tokens in, 10 image in, 40 out): by its reported usage.
    let high = json!({"model": "gpt-image-1", "prompt": "a cat", "quality": "high", "n": 2});
    let (text, image) = mock_upstream::fees::IMAGE_PROMPT;
    let out = 2 * mock_upstream::fees::image_tokens("high");
    let expected = (text as f64 * 2.5 + image as f64 * 5.0 + out as f64 * 20.0).round() as i64;
    assert_eq!(spent(&app, &user, generate(high)).await, expected);
    // An edit's images are prompt tokens to gpt-image (1 500 reserved each): two images and a
    // low-quality result (about 13 000 quota) are more than 6 000 covers.
    use crate::relay_hostile::form;
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": user.id, "quota": 6_000}),
    )
    .await;
    let image = vec![0x89_u8; 2_000];
    let parts: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("model", None, b"gpt-image-1"),
        ("prompt", None, b"a hat"),
        ("quality", None, b"low"),
        ("size", None, b"1024x1024"),
        ("image[]", Some("a.png"), &image),
        ("image[]", Some("b.png"), &image),
    ];
    let (status, v) = app.upload(&key, "/v1/images/edits", form(&parts)).await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    for twice in [
        r#"{"model":"dall-e-3","prompt":"a","quality":"standard","Quality":"hd"}"#,
        r#"{"model":"dall-e-3","prompt":"a","size":"1024x1024","size":"1792x1024"}"#,
    ] {
        let resp = app
            .client
            .post(app.url("/v1/images/generations"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(twice)
            .send()
            .await
            .unwrap();
        let (status, v) = body(resp).await;
        assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    }
}

/// A call in the priority tier costs the tier's price (gpt-4o: 1.7x), in flex half: the tier
/// the answer reports.
async fn service_tiers_are_priced(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    one_quota_a_token(&app).await;
    let chat = |tier: &str, stream: bool| {
        let body = json!({"model": "gpt-4o", "max_tokens": 10, "service_tier": tier, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]});
        let (app, key) = (&app, key.clone());
        move || async move {
            let (status, text) = app.relay_post_any(&key, body).await;
            (status, Value::String(text))
        }
    };
    // 8 prompt and 10 output tokens at one quota each.
    let standard = spent(&app, &user, chat("default", false)).await;
    assert_eq!(standard, 18);
    assert_eq!(spent(&app, &user, chat("priority", false)).await, 31);
    assert_eq!(spent(&app, &user, chat("flex", false)).await, 9);
    // A stream here does not say its tier: billed standard, whatever was asked (an upstream
    // that ignores `service_tier` runs it standard; no discount on the request's word).
    assert_eq!(spent(&app, &user, chat("flex", true)).await, 18);
    assert_eq!(spent(&app, &user, chat("priority", true)).await, 18);
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "Service_Tier": "flex", "messages": []}),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
}

/// Server-side tools cost per call on top of the tokens: Responses web searches (0.01 USD
/// each) and a code interpreter container (0.03), a search model's call (0.035), Gemini's
/// grounding (0.035 a grounded prompt; Gemini 3: 0.014 a query), Anthropic's code execution
/// (a five-minute minimum).
async fn server_side_tools_are_priced(app: TestApp) {
    let quota = 100_000_000;
    let (user, key) = priced_setup(
        &app,
        quota,
        24,
        "gemini-3-pro-preview",
        "gemini-3-pro-preview",
    )
    .await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"name": "flash", "type": 24, "key": "upstream-key-1234", "models": "gemini-2.5-flash"}),
    )
    .await;
    app.create_channel(
        &root,
        json!({"name": "claude", "type": 14, "key": "upstream-key-1234", "models": "claude-opus-4-1"}),
    )
    .await;
    let post = |path: &'static str, body: Value| {
        let (app, key) = (&app, key.clone());
        move || async move {
            let resp = app
                .client
                .post(app.url(path))
                .bearer_auth(&key)
                .header("x-goog-api-key", &key)
                .header("x-api-key", &key)
                .header("anthropic-version", "2023-06-01")
                .json(&body)
                .send()
                .await
                .unwrap();
            body_of(resp).await
        }
    };
    // The fee is what a call with the tool costs beyond the same call without it.
    let fee = async |path: &'static str, plain: Value, with: Value| {
        let base = spent(&app, &user, post(path, plain)).await;
        spent(&app, &user, post(path, with)).await - base
    };
    let responses = |tools: Value| json!({"model": "gpt-4o", "input": "news?", "max_output_tokens": 10, "tools": tools});
    let searches = mock_upstream::fees::WEB_SEARCH_CALLS as f64;
    for (tool, expected, why) in [
        (
            json!({"type": "web_search"}),
            usd(0.01 * searches),
            "0.01 a search",
        ),
        (
            json!({"type": "web_search_preview"}),
            usd(0.025 * searches),
            "gpt-4o is no reasoning model: the preview tool's price",
        ),
        (
            json!({"type": "code_interpreter", "container": {"type": "auto"}}),
            usd(0.03),
            "two calls in one container",
        ),
    ] {
        let with = responses(json!([tool]));
        let charged = fee("/v1/responses", responses(json!([])), with).await;
        assert_eq!(charged, expected, "{tool}: {why}");
    }
    let chat = json!({"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "news?"}]});
    let mut searching = chat.clone();
    searching["web_search_options"] = json!({});
    assert_eq!(
        fee("/v1/chat/completions", chat.clone(), searching).await,
        usd(0.035)
    );
    // A search model searches on every call, asked to or not.
    app.set_option(
        &root,
        "ModelRatio",
        r#"{"gemini-3-pro-preview": 1, "gpt-4o": 1.25, "gpt-4o-search-preview": 1.25}"#,
    )
    .await;
    app.set_option(
        &root,
        "CompletionRatio",
        r#"{"gemini-3-pro-preview": 2, "gpt-4o-search-preview": 4}"#,
    )
    .await;
    app.create_channel(
        &root,
        json!({"name": "search", "models": "gpt-4o-search-preview"}),
    )
    .await;
    let mut search_model = chat.clone();
    search_model["model"] = json!("gpt-4o-search-preview");
    assert_eq!(
        fee("/v1/chat/completions", chat.clone(), search_model).await,
        usd(0.035)
    );
    let gemini = |tools: Value| {
        json!({"contents": [{"role": "user", "parts": [{"text": "news?"}]}],
        "generationConfig": {"maxOutputTokens": 10}, "tools": tools})
    };
    let queries = mock_upstream::fees::GROUNDING_QUERIES as f64;
    assert_eq!(
        fee(
            "/v1beta/models/gemini-3-pro-preview:generateContent",
            gemini(json!([])),
            gemini(json!([{"googleSearch": {}}]))
        )
        .await,
        usd(0.014 * queries)
    );
    assert_eq!(
        fee(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            gemini(json!([])),
            gemini(json!([{"googleSearch": {}}]))
        )
        .await,
        usd(0.035)
    );
    let claude = |tools: Value| {
        json!({"model": "claude-opus-4-1", "max_tokens": 10, "tools": tools,
        "messages": [{"role": "user", "content": "run it"}]})
    };
    assert_eq!(
        fee(
            "/v1/messages",
            claude(json!([])),
            claude(json!([{"type": "code_execution_20250522", "name": "code_execution"}]))
        )
        .await,
        usd(0.05 / 12.0)
    );
    // An operator's price (0 frees a tool).
    app.set_option(&root, "ToolCallPrice", r#"{"web_search": 0}"#)
        .await;
    assert_eq!(
        fee(
            "/v1/responses",
            responses(json!([])),
            responses(json!([{"type": "web_search"}]))
        )
        .await,
        0
    );
}

async fn body_of(resp: reqwest::Response) -> (StatusCode, Value) {
    body(resp).await
}

/// Claude Sonnet 4 past 200 000 prompt tokens costs twice per input token and 1.5 times per
/// output token.
async fn the_long_context_premium_is_priced(app: TestApp) {
    let model = "claude-sonnet-4-20250514";
    let (user, key) = priced_setup(&app, 10_000_000, 14, model, "mock-long-context").await;
    let call = || {
        let (app, key) = (&app, key.clone());
        move || async move {
            let resp = app
                .client
                .post(app.url("/v1/messages"))
                .header("x-api-key", &key)
                .header("anthropic-version", "2023-06-01")
                .json(&json!({"model": model, "max_tokens": 10,
                    "messages": [{"role": "user", "content": "the whole book"}]}))
                .send()
                .await
                .unwrap();
            body(resp).await
        }
    };
    // Ratio 1, completion ratio 2 (priced_setup): 250 000 x 2 + 10 x 2 x 1.5.
    let prompt = mock_upstream::fees::LONG_CONTEXT_PROMPT;
    assert_eq!(spent(&app, &user, call()).await, prompt * 2 + 30);
    let root = app.root().await;
    app.set_option(
        &root,
        "LongContextPricing",
        r#"{"claude-sonnet-4": [200000, 1, 1]}"#,
    )
    .await;
    assert_eq!(
        spent(&app, &user, call()).await,
        prompt + 20,
        "the premium switched off"
    );
}

/// A background response is refused (it runs and is billed after the answer the gateway
/// sees); a stored conversation or prompt is reserved at its worst case (272 000 tokens), so
/// a small balance cannot continue a conversation of unknown length.
async fn responses_work_beyond_the_answer(app: TestApp) {
    let (_, key, _) = app.relay_setup(20_000).await;
    one_quota_a_token(&app).await;
    let calls = app.mock.calls();
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/responses",
            json!({"model": "gpt-4o", "input": "hi", "background": true}),
        )
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
    for stored in [
        json!({"previous_response_id": "resp_123"}),
        json!({"conversation": "conv_123"}),
        json!({"prompt": {"id": "pmpt_123"}}),
    ] {
        let mut request = json!({"model": "gpt-4o", "input": "and then?", "max_output_tokens": 10});
        for (k, v) in stored.as_object().unwrap() {
            request[k] = v.clone();
        }
        let (status, v) = app.relay_post(&key, "/v1/responses", request).await;
        assert_openai_error(status, &v, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.mock.calls(),
        calls,
        "nothing refused reached the upstream"
    );
}

/// whisper-1 is priced by the minute (0.006 USD, by the second): reserved for the length read
/// from the upload (or, unreadable, the most its size could play) and settled on the seconds
/// the upstream reports; gpt-4o-transcribe by its tokens, audio at its ratio.
async fn transcriptions_are_priced_by_length(app: TestApp) {
    use crate::relay_hostile::form;
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "whisper-1,gpt-4o-transcribe"}))
        .await;
    let minute = mock_upstream::fees::wav(90);
    let upload = |model: &'static str, file: Vec<u8>, seconds: Option<&'static str>| {
        let (app, key) = (&app, key.clone());
        move || async move {
            let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![
                ("model", None, model.as_bytes()),
                ("file", Some("talk.wav"), &file),
            ];
            if let Some(s) = seconds {
                parts.push(("mock_seconds", None, s.as_bytes()));
            }
            app.upload(&key, "/v1/audio/transcriptions", form(&parts))
                .await
        }
    };
    // 0.006 USD a minute is 50 quota a second.
    assert_eq!(
        spent(&app, &user, upload("whisper-1", minute.clone(), None)).await,
        90 * 50
    );
    assert_eq!(
        spent(
            &app,
            &user,
            upload("whisper-1", minute.clone(), Some("61.2"))
        )
        .await,
        62 * 50,
        "the upstream's seconds"
    );
    let (audio, text, output) = mock_upstream::fees::TRANSCRIBE_USAGE;
    let tokens = (text as f64 * 1.25 + audio as f64 * 1.25 * 2.4 + output as f64 * 5.0).round();
    assert_eq!(
        spent(&app, &user, upload("gpt-4o-transcribe", minute, None)).await,
        tokens as i64
    );
    // A user with 800 quota (16 seconds): a readable 10-second file runs; 20 000 bytes that
    // no reader knows could be 20 seconds, and are refused.
    let (status, _) = app
        .put(
            Some(&root),
            "/api/user",
            json!({"id": user.id, "quota": 800}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = upload("whisper-1", mock_upstream::fees::wav(10), None)().await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = upload("whisper-1", vec![7_u8; 20_000], None)().await;
    assert_openai_error(status, &v, StatusCode::FORBIDDEN);

    // A header that claims one second of two megabytes: at least what the size plays at the
    // highest bitrate (200 000 bytes a second) is billed. Two file parts are refused.
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": user.id, "quota": 1_000_000}),
    )
    .await;
    let mut lying = mock_upstream::fees::wav(250);
    lying[40..44].copy_from_slice(&8_000_u32.to_le_bytes());
    assert!(spent(&app, &user, upload("whisper-1", lying, None)).await >= 10 * 50);
    let wav = mock_upstream::fees::wav(1);
    let parts: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("model", None, b"whisper-1"),
        ("file", Some("a.wav"), &wav),
        ("File", Some("b.wav"), &wav),
    ];
    let (status, v) = app
        .upload(&key, "/v1/audio/transcriptions", form(&parts))
        .await;
    assert_openai_error(status, &v, StatusCode::BAD_REQUEST);
}

db_tests!(
    images_are_priced_by_quality_and_size,
    service_tiers_are_priced,
    server_side_tools_are_priced,
    the_long_context_premium_is_priced,
    responses_work_beyond_the_answer,
    transcriptions_are_priced_by_length,
);

//! The relay's other OpenAI endpoints: embeddings, moderations, images, audio (uploads and
//! speech) and the billing dashboard.

use crate::helpers::TestApp;
use crate::relay::{GPT4O_CALL, chat};
use reqwest::StatusCode;
use serde_json::json;

async fn other_json_endpoints(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "gpt-3.5-turbo-instruct,text-embedding-3-small,omni-moderation-latest,dall-e-3"})).await;
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/completions",
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": "请写一首诗"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"][0]["object"], "embedding");
    let (status, v) = app
        .relay_post(&key, "/v1/moderations", json!({"input": "x"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["flagged"], false);
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "cat", "n": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"][0]["url"], "https://example.com/image.png");
    let logs = app.consume_logs().await;
    let quota_of = |model: &str| {
        logs.iter().find(|l| l["model_name"] == model).unwrap()["quota"]
            .as_i64()
            .unwrap()
    };
    // (8 + 12 * 4/3) * 0.75 = 18; 8 * 0.01 rounds to 0; moderation is free; 2 images * 0.04 USD.
    assert_eq!(quota_of("gpt-3.5-turbo-instruct"), 18);
    assert_eq!(quota_of("text-embedding-3-small"), 0);
    assert_eq!(quota_of("omni-moderation-latest"), 0);
    assert_eq!(quota_of("dall-e-3"), 40_000);
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 18 - 40_000);
}

async fn dashboard_billing(app: TestApp) {
    let (_, key, _) = app.relay_setup(1_000_000).await;
    app.relay_post(&key, "/v1/chat/completions", chat("gpt-4o", false))
        .await;
    app.relay.flush_billing().await;
    for prefix in ["", "/v1"] {
        let (status, v) = app
            .relay_get(&key, &format!("{prefix}/dashboard/billing/subscription"))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["object"], "billing.subscription");
        let hard = v["hard_limit_usd"].as_f64().unwrap();
        assert!(
            (hard - 2.0).abs() < 1e-9,
            "remaining + used = 1 000 000 quota = 2 USD: {v}"
        );
        for f in [
            "soft_limit_usd",
            "system_hard_limit_usd",
            "access_until",
            "has_payment_method",
            "plan",
        ] {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        let (status, v) = app
            .relay_get(&key, &format!("{prefix}/dashboard/billing/usage"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["object"], "billing.usage");
        let cents = GPT4O_CALL as f64 / 5000.0;
        // Exact to the printed digit: no binary noise.
        assert_eq!(v["total_usage"].as_f64(), Some(cents), "{v}");
        let today = v["daily_costs"][0]["date"].as_str().unwrap_or_default();
        assert_eq!(today.len(), 10, "YYYY-MM-DD: {v}");
        assert_eq!(v["daily_costs"][0]["cost"].as_f64(), Some(cents), "{v}");
        assert_eq!(v["models_usage"][0]["model"], "gpt-4o", "{v}");
        assert_eq!(v["models_usage"][0]["cost"].as_f64(), Some(cents), "{v}");
        assert!(v["models_usage"][0]["usage"].as_i64() > Some(0), "{v}");
        // A range without the call has no days and no models; a bad date is a 400.
        let (status, v) = app
            .relay_get(
                &key,
                &format!(
                    "{prefix}/dashboard/billing/usage?start_date=2020-01-01&end_date=2020-01-31"
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["daily_costs"], json!([]), "{v}");
        assert_eq!(v["models_usage"], json!([]), "{v}");
        let (status, v) = app
            .relay_get(
                &key,
                &format!("{prefix}/dashboard/billing/usage?start_date=yesterday"),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["error"]["message"].as_str().is_some(), "{v}");
    }
}

/// A multipart body with text fields, then a file of `file_len` bytes.
fn multipart(fields: &[(&str, &str)], file_len: usize) -> (String, Vec<u8>) {
    let boundary = "gatewaytestboundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend(std::iter::repeat_n(b'x', file_len));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn uploads_and_speech(app: TestApp) {
    let (user, key, _) = app.relay_setup(1_000_000).await;
    let root = app.root().await;
    app.create_channel(&root, json!({"models": "whisper-1,dall-e-2,tts-1"}))
        .await;
    let upload = |path: &'static str, fields: Vec<(&'static str, &'static str)>, len: usize| {
        let (ct, body) = multipart(&fields, len);
        let req = app
            .client
            .post(app.url(path))
            .bearer_auth(&key)
            .header("content-type", ct)
            .body(body);
        async move { crate::helpers::body(req.send().await.unwrap()).await }
    };
    let (status, v) = upload(
        "/v1/audio/transcriptions",
        vec![("model", "whisper-1"), ("language", "zh")],
        3 << 20,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["text"], "transcribed text");
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.path, "/v1/audio/transcriptions");
    assert_eq!(
        seen.body["file"]["bytes"],
        3 << 20,
        "the whole file arrived"
    );
    assert_eq!(seen.body["language"], "zh");
    assert!(
        seen.content_type
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    let (status, _) = upload("/v1/audio/translations", vec![("model", "whisper-1")], 1000).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = upload(
        "/v1/images/edits",
        vec![("model", "dall-e-2"), ("prompt", "hat"), ("n", "2")],
        5000,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"][0]["url"], "https://example.com/image.png");
    let (status, _) = upload("/v1/images/variations", vec![("n", "1")], 5000).await;
    assert_eq!(status, StatusCode::OK, "no model field at all: dall-e-2");
    // A model named after a large file is found all the same.
    let (ct, mut body) = multipart(&[], 4 << 20);
    body.extend_from_slice(b"--gatewaytestboundary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--gatewaytestboundary--\r\n");
    let resp = app
        .client
        .post(app.url("/v1/audio/transcriptions"))
        .bearer_auth(&key)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, v) = crate::helpers::body(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let resp = app
        .client
        .post(app.url("/v1/audio/speech"))
        .bearer_auth(&key)
        .json(&json!({"model": "tts-1", "input": "hello world", "voice": "alloy", "response_format": "mp3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    assert_eq!(
        resp.bytes().await.unwrap().len(),
        mock_upstream::SPEECH_BYTES
    );

    let logs = app.consume_logs().await;
    let quota_of = |model: &str| {
        logs.iter()
            .filter(|l| l["model_name"] == model)
            .map(|l| l["quota"].as_i64().unwrap())
            .sum::<i64>()
    };
    // 0.006 USD a minute (50 quota a second); files no reader knows (and a mock that reports
    // no seconds) are billed for the most their size could play, at 1 000 bytes a second.
    let whisper: i64 = [3 << 20, 1000, 4 << 20]
        .iter()
        .map(|b: &i64| (b + 999) / 1000)
        .sum();
    assert_eq!(quota_of("whisper-1"), whisper * 50, "by the second");
    assert_eq!(
        quota_of("dall-e-2"),
        2 * 10_000 + 10_000,
        "0.02 USD an image"
    );
    assert_eq!(quota_of("tts-1"), 83, "11 characters at ratio 7.5");
    assert_eq!(
        app.settled_quota(&user).await,
        1_000_000 - whisper * 50 - 30_000 - 83
    );
}

/// OpenAI's Responses API: the caller's bytes to an OpenAI channel (no `stream_options`, which
/// it refuses), billed from its usage (cached input at the cache ratio), streamed or not.
async fn responses_pass_through_and_bill(app: TestApp) {
    let (user, key, channel) = app.relay_setup(1_000_000).await;
    app.map_gpt4o(channel, "mock-cached").await;
    let request = |stream: bool| {
        json!({"model": "gpt-4o", "input": [{"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "hi"}], "store": false, "stream": stream,
            "max_output_tokens": 64})
    };
    let (status, v) = app.relay_post(&key, "/v1/responses", request(false)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "response");
    assert_eq!(v["output"][0]["content"][0]["text"], "Hello");
    let resp = app
        .client
        .post(app.url("/v1/responses"))
        .bearer_auth(&key)
        .json(&request(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: response.completed\n"), "{text}");
    let seen = app.mock.seen();
    let calls: Vec<_> = seen.iter().filter(|s| s.path == "/v1/responses").collect();
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert!(call.body.get("stream_options").is_none(), "{}", call.body);
        assert_eq!(call.body["store"], false);
        assert_eq!(call.body["model"], "mock-cached");
    }
    // (8 - 6 + 6 * 0.5 + 12 * 4) * 1.25 = 66.25 a call.
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 2);
    assert!(logs.iter().all(|l| l["quota"] == 66), "{logs:?}");
    assert_eq!(app.settled_quota(&user).await, 1_000_000 - 2 * 66);
    // Two output limits are refused, as two priced fields would be.
    let both = json!({"model": "gpt-4o", "input": "x", "max_output_tokens": 5, "max_tokens": 5});
    let (status, v) = app.relay_post(&key, "/v1/responses", both).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

db_tests!(
    other_json_endpoints,
    dashboard_billing,
    uploads_and_speech,
    responses_pass_through_and_bill,
);

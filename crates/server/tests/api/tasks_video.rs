//! Video tasks: Kling (its JWT, seconds and pro mode priced, uploads passed on byte for byte)
//! and OpenAI-style video upstreams (OpenAI's shapes, content read through the gateway).

use crate::helpers::TestApp;
use crate::relay_hostile::form;
use reqwest::StatusCode;
use serde_json::json;

/// `kling-v1` for its default 5 seconds: 0.14 USD.
const KLING_5S: i64 = 70_000;
/// `sora-2` for its default 4 seconds: 0.4 USD.
const SORA_4S: i64 = 200_000;

async fn kling_videos_are_priced_by_seconds_and_mode(app: TestApp) {
    let key_pair = format!(
        "{}|{}",
        mock_upstream::KLING_ACCESS,
        mock_upstream::KLING_SECRET
    );
    let (user, key) = app
        .task_setup(10_000_000, 50, "kling-v1,kling-v1-6", &key_pair)
        .await;
    let (status, v) = app
        .relay_post(
            &key,
            "/kling/v1/videos/text2video",
            json!({"prompt": "a cat", "duration": "10"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["code"].as_i64(), v["data"]["task_status"].as_str()),
        (Some(0), Some("submitted")),
        "{v}"
    );
    let id = v["data"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.quota_of(&user).await,
        10_000_000 - 2 * KLING_5S,
        "10 s is twice 5 s"
    );
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(
        (
            seen.body["model_name"].as_str(),
            seen.body["duration"].as_str()
        ),
        (Some("kling-v1"), Some("10"))
    );
    assert_eq!(app.mock.kling_auth_failures(), 0, "a valid JWT");
    assert!(
        !seen
            .credential
            .unwrap()
            .contains(mock_upstream::KLING_SECRET)
    );
    app.sweep().await;
    app.sweep().await;
    let (status, v) = app
        .relay_get(&key, &format!("/kling/v1/videos/text2video/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["data"]["task_status"].as_str(),
            v["data"]["status"].as_str()
        ),
        (Some("succeed"), Some("finished")),
        "{v}"
    );
    assert!(
        v["data"]["task_result"]["videos"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with(".mp4")
    );
    // Pro mode is priced as `<model>-pro`.
    let before = app.quota_of(&user).await;
    let (status, v) = app
        .relay_post(
            &key,
            "/kling/v1/videos/text2video",
            json!({"prompt": "a cat", "model": "kling-v1-6", "mode": "pro"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(before - app.quota_of(&user).await, 245_000);
    // An image uploaded in a form goes on as base64, byte for byte.
    let image: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let upload = form(&[("prompt", None, b"waves"), ("image", Some("a.png"), &image)]);
    let (status, v) = app
        .upload(&key, "/kling/v1/videos/image2video", upload)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.path, "/v1/videos/image2video");
    let sent = seen.body["image"].as_str().unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(sent)
            .unwrap(),
        image
    );
    // A failing video: refunded with Kling's real reason.
    let before = app.quota_of(&user).await;
    let (_, v) = app
        .relay_post(
            &key,
            "/kling/v1/videos/text2video",
            json!({"prompt": "mock-fail"}),
        )
        .await;
    let id = v["data"]["task_id"].as_str().unwrap().to_owned();
    app.sweep().await;
    app.sweep().await;
    assert_eq!(app.quota_of(&user).await, before);
    let (_, v) = app
        .relay_get(&key, &format!("/kling/v1/videos/text2video/{id}"))
        .await;
    assert_eq!(
        v["data"]["task_status_msg"], "mock failure: content policy",
        "{v}"
    );
}

async fn videos_on_an_openai_channel(app: TestApp) {
    let (user, key) = app.task_setup(10_000_000, 1, "sora-2", "sk-video").await;
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/video/generations",
            json!({"model": "sora-2", "prompt": "sunset", "duration": 8, "aspect_ratio": "16:9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["status"], "pending", "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.quota_of(&user).await,
        10_000_000 - 2 * SORA_4S,
        "8 s is twice 4 s"
    );
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.path, "/v1/videos");
    assert_eq!(
        (seen.body["seconds"].as_str(), seen.body["size"].as_str()),
        (Some("8"), Some("1280x720"))
    );
    // OpenAI's shape on OpenAI's route.
    let (status, v) = app.relay_get(&key, &format!("/v1/videos/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["object"].as_str(),
            v["status"].as_str(),
            v["seconds"].as_str()
        ),
        (Some("video"), Some("queued"), Some("8")),
        "{v}"
    );
    app.sweep().await;
    app.sweep().await;
    let (_, v) = app
        .relay_get(&key, &format!("/v1/video/generations/{id}"))
        .await;
    assert_eq!(v["data"]["status"], "finished", "{v}");
    assert_eq!(v["data"]["video_url"], format!("/v1/videos/{id}/content"));
    // The content, read through the gateway with the channel's key, for its owner only.
    let resp = app
        .client
        .get(app.url(&format!("/v1/videos/{id}/content")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    assert!(!resp.bytes().await.unwrap().is_empty());
    assert_eq!(
        app.mock.seen().pop().unwrap().credential.as_deref(),
        Some("Bearer sk-video")
    );
    let stranger = app.new_user("stranger").await;
    let stranger_key = app.api_key(&stranger, json!({})).await;
    let (status, _) = app
        .relay_get(&stranger_key, &format!("/v1/videos/{id}/content"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = app
        .relay_post(
            &key,
            "/v1/videos",
            json!({"prompt": "a wave", "seconds": "4"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["object"].as_str(), v["model"].as_str()),
        (Some("video"), Some("sora-2")),
        "{v}"
    );
    // An unknown id is OpenAI's 404 there.
    let (status, v) = app.relay_get(&key, "/v1/videos/task_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "task_not_found", "{v}");
}

db_tests!(
    kling_videos_are_priced_by_seconds_and_mode,
    videos_on_an_openai_channel,
);

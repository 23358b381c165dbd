//! Asynchronous tasks (Midjourney, Suno, Kling, video): charged once when the upstream takes
//! them, polled from the gateway's own table, refunded exactly once when they fail or time
//! out; refused submits charge nothing; a caller sees only their own tasks.

use crate::helpers::{Auth, TestApp};
use crate::relay_hostile::form;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// `mj_imagine`'s built-in price: 0.1 USD.
const IMAGINE: i64 = 50_000;
/// `mj_upscale`'s: 0.05 USD.
const UPSCALE: i64 = 25_000;
/// `suno_music`'s: 0.1 USD.
const MUSIC: i64 = 50_000;
/// `kling-v1` for its default 5 seconds: 0.14 USD.
const KLING_5S: i64 = 70_000;
/// `sora-2` for its default 4 seconds: 0.4 USD.
const SORA_4S: i64 = 200_000;

const DAY: Duration = Duration::from_secs(86_400);

impl TestApp {
    /// A user with `quota`, an API key, and a channel of `channel_type` to the mock serving
    /// `models` with `key`.
    async fn task_setup(
        &self,
        quota: i64,
        channel_type: i64,
        models: &str,
        key: &str,
    ) -> (Auth, String) {
        let root = self.root().await;
        self.create_channel(
            &root,
            json!({"type": channel_type, "models": models, "key": key, "name": format!("tasks-{channel_type}")}),
        )
        .await;
        let user = self.new_user("tasker").await;
        let (status, v) = self
            .put(
                Some(&root),
                "/api/user",
                json!({"id": user.id, "quota": quota}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let api_key = self.api_key(&user, json!({})).await;
        (user, api_key)
    }

    /// A task submit with the key in midjourney-proxy's header.
    async fn mj_post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        crate::helpers::body(
            self.client
                .post(self.url(path))
                .header("mj-api-secret", key)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn sweep(&self) -> relay::tasks::Sweep {
        self.relay.sweep_tasks(DAY).await.unwrap()
    }

    /// The refund logs (type 6), as admin sees them.
    async fn refund_logs(&self) -> Vec<Value> {
        let root = self.root().await;
        let (_, v) = self.get(Some(&root), "/api/log?type=6&size=100").await;
        v["data"].as_array().unwrap().clone()
    }
}

async fn midjourney_tasks_run_to_their_images(app: TestApp) {
    let (user, key) = app
        .task_setup(1_000_000, 2, "mj_imagine,mj_upscale", "mj-channel-secret")
        .await;
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/submit/imagine",
            json!({"prompt": "a red fox", "notifyHook": "http://evil.test/hook"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // midjourney-proxy's answer and the seed's envelope together.
    assert_eq!(
        (v["code"].as_i64(), v["success"].as_bool()),
        (Some(1), Some(true)),
        "{v}"
    );
    let id = v["result"].as_str().unwrap().to_owned();
    assert!(id.starts_with("task_") && id.len() == 37, "{id}");
    assert_eq!(v["data"]["task_id"], id.as_str());
    assert_eq!(v["data"]["status"], "pending");
    // Charged once, with the channel's secret upstream and no hook passed on.
    assert_eq!(app.quota_of(&user).await, 1_000_000 - IMAGINE);
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.path, "/mj/submit/imagine");
    assert_eq!(seen.credential.as_deref(), Some("mj-channel-secret"));
    assert!(seen.body.get("notifyHook").is_none(), "{}", seen.body);
    let logs = app.consume_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(
        (logs[0]["model_name"].as_str(), logs[0]["quota"].as_i64()),
        (Some("mj_imagine"), Some(IMAGINE))
    );

    // Fetched from the gateway's table: no upstream call.
    let calls = app.mock.calls();
    let (status, v) = app.relay_get(&key, &format!("/mj/task/{id}/fetch")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["status"].as_str()),
        (Some(id.as_str()), Some("SUBMITTED"))
    );
    assert_eq!(v["data"]["status"], "pending");
    assert_eq!(app.mock.calls(), calls);

    let sweep = app.sweep().await;
    assert_eq!(sweep.polled, 1);
    let (_, v) = app.relay_get(&key, &format!("/mj/task/{id}/fetch")).await;
    assert_eq!(
        (v["status"].as_str(), v["progress"].as_str()),
        (Some("IN_PROGRESS"), Some("50%")),
        "{v}"
    );
    assert_eq!(v["data"]["status"], "processing");
    assert_eq!(app.sweep().await.succeeded, 1);
    let (_, v) = app.relay_get(&key, &format!("/mj/task/{id}/fetch")).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    let image = v["imageUrl"].as_str().unwrap();
    assert!(image.starts_with("https://cdn.mock.test/"), "{v}");
    assert_eq!(v["data"]["image_url"], image);
    assert_eq!(v["data"]["status"], "finished");
    // The upstream's own id never shows.
    let row = persistence::tasks::find_for_user(&app.db, user.id as i32, &id)
        .await
        .unwrap()
        .unwrap();
    let mut shown = v.clone();
    for url in ["imageUrl", "data"] {
        // The result URL is the upstream's own (it may carry its id).
        shown[url] = Value::Null;
    }
    assert!(
        !row.upstream_id.is_empty() && !shown.to_string().contains(&row.upstream_id),
        "{v}"
    );
    // Finished tasks are not polled again.
    assert_eq!(app.sweep().await.polled, 0);

    // An upscale of it (the seed's `content` form): priced as mj_upscale, sent with the
    // upstream's id of the task it acts on.
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/submit/change",
            json!({"taskId": id, "action": "UPSCALE", "content": "U2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let seen = app.mock.seen().pop().unwrap();
    assert_eq!(seen.path, "/mj/submit/change");
    assert_eq!(
        (seen.body["action"].as_str(), seen.body["index"].as_i64()),
        (Some("UPSCALE"), Some(2))
    );
    assert_ne!(seen.body["taskId"], id.as_str());
    assert_eq!(app.quota_of(&user).await, 1_000_000 - IMAGINE - UPSCALE);

    // The batch fetch: the caller's tasks only.
    let other = app.new_user("other").await;
    let other_key = app.api_key(&other, json!({})).await;
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/task/list-by-condition",
            json!({"ids": [id, "task_unknown"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, v) = app
        .mj_post(
            &other_key,
            "/mj/task/list-by-condition",
            json!({"ids": [id]}),
        )
        .await;
    assert_eq!(
        (status, v.as_array().map(Vec::len)),
        (StatusCode::OK, Some(0)),
        "{v}"
    );
    let (status, v) = app
        .relay_get(&other_key, &format!("/mj/task/{id}/fetch"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(
        (v["success"].as_bool(), v["code"].as_i64()),
        (Some(false), Some(3)),
        "{v}"
    );
}

async fn a_refused_submit_charges_nothing(app: TestApp) {
    let (user, key) = app
        .task_setup(1_000_000, 2, "mj_imagine,mj_upscale", "mj-secret")
        .await;
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/submit/imagine",
            json!({"prompt": "mock-refuse this"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        (v["success"].as_bool(), v["code"].as_i64()),
        (Some(false), Some(4)),
        "{v}"
    );
    assert!(
        v["description"].as_str().unwrap().contains("Banned prompt"),
        "{v}"
    );
    assert_eq!(app.quota_of(&user).await, 1_000_000);
    assert!(app.consume_logs().await.is_empty());
    let (_, v) = app.get(Some(&user), "/api/task/self").await;
    assert_eq!(v["total"], 0, "{v}");

    // Another user's task id cannot be acted on: 404, nothing charged, nothing sent.
    let (status, v) = app
        .mj_post(&key, "/mj/submit/imagine", json!({"prompt": "ok"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let id = v["result"].as_str().unwrap().to_owned();
    let thief = app.new_user("thief").await;
    let root = app.root().await;
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": thief.id, "quota": 1_000_000}),
    )
    .await;
    let thief_key = app.api_key(&thief, json!({})).await;
    let calls = app.mock.calls();
    let (status, v) = app
        .mj_post(
            &thief_key,
            "/mj/submit/change",
            json!({"taskId": id, "action": "UPSCALE", "index": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(app.mock.calls(), calls);
    assert_eq!(app.quota_of(&thief).await, 1_000_000);
    // Fetch floods cost no upstream call.
    for _ in 0..20 {
        app.relay_get(&thief_key, &format!("/mj/task/{id}/fetch"))
            .await;
    }
    assert_eq!(app.mock.calls(), calls);
    // A balance that cannot cover the price is refused before the upstream.
    let poor = app.new_user("poor").await;
    app.put(
        Some(&root),
        "/api/user",
        json!({"id": poor.id, "quota": IMAGINE - 1}),
    )
    .await;
    let poor_key = app.api_key(&poor, json!({})).await;
    let (status, v) = app
        .mj_post(&poor_key, "/mj/submit/imagine", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(app.mock.calls(), calls);
    assert_eq!(app.quota_of(&poor).await, IMAGINE - 1);
}

async fn a_failed_task_is_refunded_exactly_once(app: TestApp) {
    let (user, key) = app
        .task_setup(1_000_000, 2, "mj_imagine", "mj-secret")
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, v) = app
            .mj_post(
                &key,
                "/mj/submit/imagine",
                json!({"prompt": "mock-fail please"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        ids.push(v["result"].as_str().unwrap().to_owned());
    }
    assert_eq!(app.quota_of(&user).await, 1_000_000 - 3 * IMAGINE);
    assert_eq!(app.sweep().await.refunded, 0, "first poll: in progress");
    // Two pollers at once over the same failing tasks (two instances, or a retry): each task
    // is refunded once.
    let other = relay::Relay::builder(app.db.clone())
        .task_polling(None)
        .build()
        .await
        .unwrap();
    let (a, b) = tokio::join!(app.relay.sweep_tasks(DAY), other.sweep_tasks(DAY));
    assert_eq!(a.unwrap().refunded + b.unwrap().refunded, 3);
    // A restart (a new relay on the same database) and more sweeps refund nothing more.
    assert_eq!(other.sweep_tasks(DAY).await.unwrap().refunded, 0);
    assert_eq!(app.sweep().await.refunded, 0);
    other.shutdown().await;
    assert_eq!(app.quota_of(&user).await, 1_000_000);
    let refunds = app.refund_logs().await;
    assert_eq!(refunds.len(), 3, "{refunds:?}");
    assert!(refunds.iter().all(|l| l["quota"] == IMAGINE));
    // What was consumed minus what was refunded is what left the balance: nothing.
    let consumed: i64 = app
        .consume_logs()
        .await
        .iter()
        .map(|l| l["quota"].as_i64().unwrap())
        .sum();
    let refunded: i64 = refunds.iter().map(|l| l["quota"].as_i64().unwrap()).sum();
    assert_eq!(consumed - refunded, 1_000_000 - app.quota_of(&user).await);
    let (_, self_view) = app.get(Some(&user), "/api/user/self").await;
    assert_eq!(self_view["data"]["used_quota"], 0, "{self_view}");
    let (_, v) = app
        .relay_get(&key, &format!("/mj/task/{}/fetch", ids[0]))
        .await;
    assert_eq!(v["status"], "FAILURE", "{v}");
    assert_eq!(v["failReason"], "mock failure: content policy");
    assert_eq!(v["data"]["status"], "failed");
    // The relay's own view of the balance moved with the refund (the refunds the other
    // instance made arrive with the periodic re-read): the user can spend it.
    app.relay.sync().await.unwrap();
    for _ in 0..20 {
        let (status, _) = app
            .mj_post(&key, "/mj/submit/imagine", json!({"prompt": "x"}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .mj_post(&key, "/mj/submit/imagine", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "1,000,000 pays for 20");
}

async fn a_task_past_the_timeout_fails_and_is_refunded(app: TestApp) {
    let (user, key) = app
        .task_setup(1_000_000, 2, "mj_imagine", "mj-secret")
        .await;
    let (_, v) = app
        .mj_post(
            &key,
            "/mj/submit/imagine",
            json!({"prompt": "mock-never ends"}),
        )
        .await;
    let id = v["result"].as_str().unwrap().to_owned();
    app.sweep().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sweep = app.relay.sweep_tasks(Duration::ZERO).await.unwrap();
    assert_eq!((sweep.refunded, sweep.timed_out), (1, 1));
    assert_eq!(
        app.relay
            .sweep_tasks(Duration::ZERO)
            .await
            .unwrap()
            .refunded,
        0
    );
    assert_eq!(app.quota_of(&user).await, 1_000_000);
    let (_, v) = app.relay_get(&key, &format!("/mj/task/{id}/fetch")).await;
    assert_eq!(
        (v["status"].as_str(), v["failReason"].as_str()),
        (Some("FAILURE"), Some("timeout")),
        "{v}"
    );
    assert_eq!(v["data"]["fail_reason"], "timeout");
    assert_eq!(app.refund_logs().await.len(), 1);
}

async fn suno_makes_music(app: TestApp) {
    let (user, key) = app
        .task_setup(1_000_000, 36, "suno_music,suno_lyrics", "suno-key")
        .await;
    let (status, v) = app
        .relay_post(
            &key,
            "/suno/submit/music",
            json!({"prompt": "a happy pop song", "mv": "chirp-v3-5"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["code"].as_str(), v["success"].as_bool()),
        (Some("success"), Some(true)),
        "{v}"
    );
    let id = v["data"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(app.quota_of(&user).await, 1_000_000 - MUSIC);
    assert_eq!(
        app.mock.seen().pop().unwrap().credential.as_deref(),
        Some("Bearer suno-key")
    );
    app.sweep().await;
    app.sweep().await;
    assert_eq!(
        app.mock.seen().pop().unwrap().path,
        "/suno/fetch",
        "polled in a batch"
    );
    let (status, v) = app.relay_get(&key, &format!("/suno/fetch/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["status"], "finished", "{v}");
    assert!(
        v["data"]["audio_url"].as_str().unwrap().ends_with(".mp3"),
        "{v}"
    );
    assert_eq!(
        v["data"]["data"].as_array().map(Vec::len),
        Some(2),
        "the clips: {v}"
    );
    let (status, v) = app
        .relay_post(&key, "/suno/fetch", json!({"ids": [id]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"][0]["task_id"], id.as_str());
}

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

async fn hostile_task_submits_are_refused_before_any_charge(app: TestApp) {
    let key_pair = format!(
        "{}|{}",
        mock_upstream::KLING_ACCESS,
        mock_upstream::KLING_SECRET
    );
    let (user, key) = app.task_setup(10_000_000, 50, "kling-v1", &key_pair).await;
    let calls = app.mock.calls();
    for body in [
        r#"{"prompt":"x","duration":"5","duration":"10"}"#,
        r#"{"prompt":"x","duration":"5","Duration":"10"}"#,
        r#"{"prompt":"x","duration":-5}"#,
        r#"{"prompt":"x","duration":"1e9"}"#,
        r#"{"prompt":"x","duration":"ten"}"#,
        r#"{"prompt":"x","duration":100000}"#,
        r#"{"prompt":"x","model":"kling-v1","Model_Name":"kling-v2-master"}"#,
        r#"{"prompt":"x","mode":"pro","MODE":"std"}"#,
    ] {
        let resp = app
            .client
            .post(app.url("/kling/v1/videos/text2video"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, v) = crate::helpers::body(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(
            (v["success"].as_bool(), v["code"].as_i64()),
            (Some(false), Some(1201)),
            "{v}"
        );
    }
    // A duration smuggled in a second form part.
    let upload = form(&[
        ("prompt", None, b"x"),
        ("duration", None, b"5"),
        ("duration", None, b"10"),
    ]);
    let (status, v) = app
        .upload(&key, "/kling/v1/videos/text2video", upload)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(app.mock.calls(), calls, "nothing reached the upstream");
    assert_eq!(app.quota_of(&user).await, 10_000_000);
    // A model no channel lists is not found.
    let (status, v) = app
        .relay_post(
            &key,
            "/kling/v1/videos/text2video",
            json!({"prompt": "x", "model": "kling-v9"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    // A wrong key is refused in the family's envelope.
    let (status, v) = app
        .relay_post("sk-wrong", "/suno/submit/music", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (v["success"].as_bool(), v["code"].as_str()),
        (Some(false), Some("invalid_request")),
        "{v}"
    );
}

db_tests!(
    midjourney_tasks_run_to_their_images,
    a_refused_submit_charges_nothing,
    a_failed_task_is_refunded_exactly_once,
    a_task_past_the_timeout_fails_and_is_refunded,
    suno_makes_music,
    kling_videos_are_priced_by_seconds_and_mode,
    videos_on_an_openai_channel,
    hostile_task_submits_are_refused_before_any_charge,
);

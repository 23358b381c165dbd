//! Asynchronous tasks (Midjourney, Suno, Kling, video): charged once when the upstream takes
//! them, polled from the gateway's own table, refunded exactly once when they fail or time
//! out; refused submits charge nothing; a caller sees only their own tasks.

use crate::helpers::{Auth, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// `mj_imagine`'s built-in price: 0.1 USD.
pub(crate) const IMAGINE: i64 = 50_000;
/// `mj_upscale`'s: 0.05 USD.
const UPSCALE: i64 = 25_000;
/// `suno_music`'s: 0.1 USD.
const MUSIC: i64 = 50_000;

pub(crate) const DAY: Duration = Duration::from_secs(86_400);

impl TestApp {
    /// A user with `quota`, an API key, and a channel of `channel_type` to the mock serving
    /// `models` with `key`.
    pub(crate) async fn task_setup(
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
        let (user, api_key) = self.funded_user("tasker", quota).await;
        (user, api_key)
    }

    /// A task submit with the key in midjourney-proxy's header.
    pub(crate) async fn mj_post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
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

    pub(crate) async fn sweep(&self) -> relay::tasks::Sweep {
        self.relay.sweep_tasks(DAY).await.unwrap()
    }

    /// The refund logs (type 6), as admin sees them.
    pub(crate) async fn refund_logs(&self) -> Vec<Value> {
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
    let (thief, thief_key) = app.funded_user("thief", 1_000_000).await;
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
    let (poor, poor_key) = app.funded_user("poor", IMAGINE - 1).await;
    let (status, v) = app
        .mj_post(&poor_key, "/mj/submit/imagine", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(app.mock.calls(), calls);
    assert_eq!(app.quota_of(&poor).await, IMAGINE - 1);
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

async fn task_lists_are_filtered_and_private(app: TestApp) {
    let (user, key) = app
        .task_setup(1_000_000, 2, "mj_imagine,mj_upscale", "mj-secret")
        .await;
    let (_, v) = app
        .mj_post(&key, "/mj/submit/imagine", json!({"prompt": "fine"}))
        .await;
    let good = v["result"].as_str().unwrap().to_owned();
    let (_, v) = app
        .mj_post(&key, "/mj/submit/imagine", json!({"prompt": "mock-fail"}))
        .await;
    let bad = v["result"].as_str().unwrap().to_owned();
    app.sweep().await;
    app.sweep().await;
    let (status, v) = app.get(Some(&user), "/api/task/self").await;
    assert_eq!(
        (status, v["total"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    assert!(v["data"][0].get("upstream_id").is_none(), "{v}");
    assert_eq!(v["data"][0]["task_id"], bad.as_str(), "newest first");
    let (_, v) = app.get(Some(&user), "/api/task/self?status=FAILURE").await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(
        (
            v["data"][0]["settlement"].as_str(),
            v["data"][0]["fail_reason"].as_str()
        ),
        (Some("refunded"), Some("mock failure: content policy"))
    );
    let (_, v) = app.get(Some(&user), "/api/task/self?platform=suno").await;
    assert_eq!(v["total"], 0, "{v}");
    let other = app.new_user("nosy").await;
    let (_, v) = app.get(Some(&other), "/api/task/self").await;
    assert_eq!(v["total"], 0, "{v}");
    let (status, _) = app.get(Some(&user), "/api/task").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let root = app.root().await;
    let (status, v) = app
        .get(Some(&root), &format!("/api/task?task_id={good}"))
        .await;
    assert_eq!(
        (status, v["total"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    assert_eq!(
        (
            v["data"][0]["user_id"].as_i64(),
            v["data"][0]["status"].as_str()
        ),
        (Some(user.id), Some("SUCCESS"))
    );
    assert!(v["data"][0]["result_urls"][0].as_str().is_some(), "{v}");
    // A button of the finished task: priced by what it does, sent with the upstream's ids.
    let (_, view) = app.relay_get(&key, &format!("/mj/task/{good}/fetch")).await;
    let button = view["buttons"][1]["customId"].as_str().unwrap().to_owned();
    assert!(
        button.starts_with("MJ::JOB::upsample::2::") && button.contains(&good),
        "{view}"
    );
    let before = app.quota_of(&user).await;
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/submit/action",
            json!({"taskId": good, "customId": button}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(before - app.quota_of(&user).await, UPSCALE);
    let seen = app.mock.seen().pop().unwrap();
    assert!(!seen.body.to_string().contains(&good), "{}", seen.body);
}

async fn the_poller_runs_on_its_own_and_stops_with_the_relay(app: TestApp) {
    let (_, key) = app
        .task_setup(1_000_000, 2, "mj_imagine", "mj-secret")
        .await;
    let (_, v) = app
        .mj_post(&key, "/mj/submit/imagine", json!({"prompt": "x"}))
        .await;
    let id = v["result"].as_str().unwrap().to_owned();
    // A second instance polling every second (the app's own polls hourly in tests).
    let poller = relay::Relay::builder(app.db.clone())
        .task_polling(Some((Duration::from_secs(1), DAY)))
        .build()
        .await
        .unwrap();
    let mut status = String::new();
    for _ in 0..80 {
        let (_, v) = app.relay_get(&key, &format!("/mj/task/{id}/fetch")).await;
        status = v["status"].as_str().unwrap_or_default().to_owned();
        if status == "SUCCESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "SUCCESS");
    let started = std::time::Instant::now();
    poller.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // It gave its lease up: another instance takes it at once.
    let now = domain::now_ts();
    let taken = persistence::tasks::lease::acquire(&app.db, "task_poller", "next", now, 60).await;
    assert!(taken.unwrap());
    assert!(
        !persistence::tasks::lease::acquire(&app.db, "task_poller", "third", now, 60)
            .await
            .unwrap()
    );
}

db_tests!(
    midjourney_tasks_run_to_their_images,
    a_refused_submit_charges_nothing,
    suno_makes_music,
    task_lists_are_filtered_and_private,
    the_poller_runs_on_its_own_and_stops_with_the_relay,
);

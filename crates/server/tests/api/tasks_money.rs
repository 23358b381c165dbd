//! The money of tasks: a failed or timed-out task is refunded exactly once whoever polls;
//! hostile submits are refused before any charge.

use crate::helpers::TestApp;
use crate::relay_hostile::form;
use crate::tasks::{DAY, IMAGINE};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

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

/// An inpaint is free at its button and charged at its modal (`mj_modal`), which goes on under
/// the same upstream task: polling finishes both; actions need a finished task.
async fn a_modal_is_charged_once_and_finishes_with_its_task(app: TestApp) {
    let (user, key) = app
        .task_setup(
            1_000_000,
            2,
            "mj_imagine,mj_inpaint,mj_modal,mj_upscale",
            "mj-secret",
        )
        .await;
    let (_, v) = app
        .mj_post(
            &key,
            "/mj/submit/imagine",
            json!({"prompt": "a cat --turbo"}),
        )
        .await;
    let grid = v["result"].as_str().unwrap().to_owned();
    assert_eq!(
        app.mock.seen().pop().unwrap().body["prompt"],
        "a cat",
        "speed is the channel's"
    );
    // Not finished yet: no action on it, nothing charged.
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/submit/change",
            json!({"taskId": grid, "action": "UPSCALE", "index": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(app.quota_of(&user).await, 1_000_000 - IMAGINE);
    app.sweep().await;
    app.sweep().await;
    let custom = format!("MJ::Inpaint::1::{grid}::SOLO");
    let (status, v) = app
        .mj_post(
            &key,
            "/mj/submit/action",
            json!({"taskId": grid, "customId": custom}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_i64()),
        (StatusCode::OK, Some(21)),
        "{v}"
    );
    let inpaint = v["result"].as_str().unwrap().to_owned();
    assert_eq!(
        app.quota_of(&user).await,
        1_000_000 - IMAGINE,
        "the button is free"
    );
    app.sweep().await;
    let (_, v) = app
        .relay_get(&key, &format!("/mj/task/{inpaint}/fetch"))
        .await;
    assert_eq!(v["status"], "MODAL", "{v}");
    let (status, v) = app
        .mj_post(&key, "/mj/submit/modal", json!({"taskId": inpaint, "prompt": "a hat", "maskBase64": "data:image/png;base64,AAAA"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let modal = v["result"].as_str().unwrap().to_owned();
    assert_eq!(
        app.quota_of(&user).await,
        1_000_000 - IMAGINE - 50_000,
        "mj_modal"
    );
    app.sweep().await;
    app.sweep().await;
    for id in [&inpaint, &modal] {
        let (_, v) = app.relay_get(&key, &format!("/mj/task/{id}/fetch")).await;
        assert_eq!(v["status"], "SUCCESS", "{id}: {v}");
    }
    assert!(app.refund_logs().await.is_empty());
}

db_tests!(
    a_modal_is_charged_once_and_finishes_with_its_task,
    a_failed_task_is_refunded_exactly_once,
    a_task_past_the_timeout_fails_and_is_refunded,
    hostile_task_submits_are_refused_before_any_charge,
);

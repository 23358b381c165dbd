//! Channels: CRUD, abilities, the write-only key, and real tests against the mock upstream.

use crate::helpers::{TestApp, assert_failure};
use persistence::abilities;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "sk-upstream-secret-key";

async fn crud_and_key_never_returned(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let (status, v) = app
        .post(Some(&admin), "/api/channel", json!({"name": "新渠道", "type": 1, "key": SECRET, "base_url": "", "models": "gpt-4,gpt-3.5-turbo", "group": "default", "status": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "渠道添加成功");
    assert_eq!(v["data"]["name"], "新渠道");
    let id = v["data"]["id"].as_i64().unwrap();
    assert!(!v.to_string().contains(SECRET));

    let (_, list) = app.get(Some(&admin), "/api/channel").await;
    assert_eq!(list["total"], 1);
    let c = &list["data"][0];
    for field in [
        "id",
        "type",
        "name",
        "status",
        "created_time",
        "test_time",
        "response_time",
        "base_url",
        "models",
        "group",
        "used_quota",
        "priority",
        "tag",
    ] {
        assert!(c.get(field).is_some(), "missing {field}: {c}");
    }
    assert!(c.get("key").is_none());
    assert!(!list.to_string().contains(SECRET));
    let (_, one) = app.get(Some(&admin), &format!("/api/channel/{id}")).await;
    assert!(!one.to_string().contains(SECRET));
    assert_eq!(one["data"]["models"], "gpt-4,gpt-3.5-turbo");

    let (status, v) = app
        .put(Some(&admin), "/api/channel", json!({"id": id, "name": "更新的渠道名称", "status": 1, "models": "gpt-4,gpt-3.5-turbo,claude-3", "group": "default,vip"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "渠道更新成功");
    let rows = abilities::for_channel(&app.db, id as i32).await.unwrap();
    assert_eq!(rows.len(), 6, "2 groups x 3 models");
    assert!(rows.iter().all(|r| r.enabled));

    // Disabling the channel disables its abilities.
    let (status, _) = app
        .put(Some(&admin), "/api/channel", json!({"id": id, "status": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows = abilities::for_channel(&app.db, id as i32).await.unwrap();
    assert!(rows.iter().all(|r| !r.enabled));
    // An update without key keeps the old key (the test sends it upstream below).
    let (_, one) = app.get(Some(&admin), &format!("/api/channel/{id}")).await;
    assert_eq!(one["data"]["status"], 2);

    let (status, v) = app
        .delete(Some(&admin), &format!("/api/channel/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["message"], "渠道删除成功");
    assert!(
        abilities::for_channel(&app.db, id as i32)
            .await
            .unwrap()
            .is_empty()
    );
    let (status, v) = app
        .delete(Some(&admin), &format!("/api/channel/{id}"))
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
    let (status, v) = app
        .put(
            Some(&admin),
            "/api/channel",
            json!({"id": 9999, "name": "x"}),
        )
        .await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
}

async fn validation(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let cases = [
        json!({"name": "a", "type": 1, "models": "gpt-4"}),
        json!({"name": "a", "type": 1, "key": "k", "models": " , "}),
        json!({"name": "a", "type": 3, "key": "k", "models": "gpt-4"}),
        json!({"name": "a", "type": 1, "key": "k", "models": "gpt-4", "base_url": "ftp://x"}),
        json!({"name": "a", "type": 1, "key": "k", "models": "gpt-4", "model_mapping": "[1,2]"}),
        json!({"name": "a", "type": 1, "key": "k", "models": "gpt-4", "status": 7}),
        json!({"name": "", "type": 1, "key": "k", "models": "gpt-4"}),
        json!({"name": "a", "type": "one", "key": "k", "models": "gpt-4"}),
    ];
    for case in cases {
        let (status, v) = app.post(Some(&admin), "/api/channel", case.clone()).await;
        assert_failure(status, &v, StatusCode::BAD_REQUEST);
    }
    let (_, list) = app.get(Some(&admin), "/api/channel").await;
    assert_eq!(list["total"], 0);
    let (status, v) = app
        .post(Some(&admin), "/api/channel", json!({"name": "a", "key": "k", "models": "gpt-4", "model_mapping": "{\"gpt-4\":\"gpt-4o\"}"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

async fn test_sends_a_real_request(app: TestApp) {
    let admin = app.new_admin("admin1").await;
    let id = app.create_channel(&admin, json!({})).await;
    let (status, v) = app
        .get(Some(&admin), &format!("/api/channel/test/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["message"], "渠道测试成功");
    assert_eq!(v["data"]["status"], "success");
    assert!(v["data"]["response_time"].as_i64().is_some());
    let seen = app.mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].credential.as_deref(),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(seen[0].body["model"], "gpt-4o");
    let (_, c) = app.get(Some(&admin), &format!("/api/channel/{id}")).await;
    assert!(c["data"]["test_time"].as_i64().unwrap() > 0);

    let (_, v) = app
        .get(
            Some(&admin),
            &format!("/api/channel/test/{id}?model=gpt-4o-mini"),
        )
        .await;
    assert_eq!(v["success"], true);
    assert_eq!(app.mock.seen()[1].body["model"], "gpt-4o-mini");
    assert!(!v.to_string().contains(SECRET));

    // Azure: deployment path, api-version and the api-key header.
    let azure = app
        .create_channel(
            &admin,
            json!({"type": 3, "models": "gpt-4.1", "other": "2024-06-01"}),
        )
        .await;
    let (_, v) = app
        .get(Some(&admin), &format!("/api/channel/test/{azure}"))
        .await;
    assert_eq!(v["success"], true, "{v}");
    let last = app.mock.seen().pop().unwrap();
    assert_eq!(last.path, "/openai/deployments/gpt-41/chat/completions");
    assert_eq!(last.credential.as_deref(), Some(SECRET));

    // Anthropic and Gemini channels are tested in their own dialects.
    let claude = app
        .create_channel(&admin, json!({"type": 14, "models": "claude-3-5-haiku"}))
        .await;
    let (_, v) = app
        .get(Some(&admin), &format!("/api/channel/test/{claude}"))
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(app.mock.seen().pop().unwrap().path, "/v1/messages");
    let gemini = app
        .create_channel(&admin, json!({"type": 24, "models": "gemini-2.0-flash"}))
        .await;
    let (_, v) = app
        .get(Some(&admin), &format!("/api/channel/test/{gemini}"))
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(
        app.mock.seen().pop().unwrap().path,
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
}

async fn failed_test_auto_disables_and_success_re_enables(app: TestApp) {
    let root = app.root().await;
    let id = app.create_channel(&root, json!({})).await;
    // Without the option a 401 does not disable.
    let (status, v) = app
        .get(
            Some(&root),
            &format!("/api/channel/test/{id}?model=mock-401"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["success"], false, "{v}");
    assert_eq!(v["data"]["status"], "failed");
    assert!(v["message"].as_str().unwrap().contains("401"), "{v}");
    let (_, c) = app.get(Some(&root), &format!("/api/channel/{id}")).await;
    assert_eq!(c["data"]["status"], 1);

    app.set_option(&root, "AutomaticDisableChannelEnabled", "true")
        .await;
    // A 500 is not the key's fault: still enabled.
    let (_, v) = app
        .get(
            Some(&root),
            &format!("/api/channel/test/{id}?model=mock-500"),
        )
        .await;
    assert_eq!(v["success"], false);
    let (_, c) = app.get(Some(&root), &format!("/api/channel/{id}")).await;
    assert_eq!(c["data"]["status"], 1);
    // Out of upstream quota: disabled automatically (status 3).
    let (_, v) = app
        .get(
            Some(&root),
            &format!("/api/channel/test/{id}?model=mock-quota"),
        )
        .await;
    assert_eq!(v["success"], false);
    let (_, c) = app.get(Some(&root), &format!("/api/channel/{id}")).await;
    assert_eq!(c["data"]["status"], 3);
    let alice = app.new_user("alice").await;
    let (_, models) = app.get(Some(&alice), "/api/user/models").await;
    assert_eq!(models["data"], json!([]));
    // A later successful test re-enables it.
    let (_, v) = app
        .get(Some(&root), &format!("/api/channel/test/{id}"))
        .await;
    assert_eq!(v["success"], true);
    let (_, c) = app.get(Some(&root), &format!("/api/channel/{id}")).await;
    assert_eq!(c["data"]["status"], 1);
    let (_, models) = app.get(Some(&alice), "/api/user/models").await;
    assert_eq!(models["data"], json!(["gpt-4o", "gpt-4o-mini"]));

    // An unreachable upstream is a failed test with a reason, not a server error.
    let dead = app
        .create_channel(&root, json!({"base_url": "http://127.0.0.1:9"}))
        .await;
    let (status, v) = app
        .get(Some(&root), &format!("/api/channel/test/{dead}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["success"], false);
    let (status, v) = app.get(Some(&root), "/api/channel/test/424242").await;
    assert_failure(status, &v, StatusCode::NOT_FOUND);
}

async fn batch_test_runs_in_background(app: TestApp) {
    let root = app.root().await;
    let a = app.create_channel(&root, json!({})).await;
    let b = app.create_channel(&root, json!({})).await;
    let manual = app.create_channel(&root, json!({"status": 2})).await;
    let (status, v) = app.get(Some(&root), "/api/channel/test").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "开始批量测试渠道");
    let mut tested = false;
    for _ in 0..100 {
        let (_, ca) = app.get(Some(&root), &format!("/api/channel/{a}")).await;
        let (_, cb) = app.get(Some(&root), &format!("/api/channel/{b}")).await;
        if ca["data"]["test_time"].as_i64() > Some(0) && cb["data"]["test_time"].as_i64() > Some(0)
        {
            tested = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tested, "both enabled channels were tested");
    let (_, cm) = app
        .get(Some(&root), &format!("/api/channel/{manual}"))
        .await;
    assert_eq!(
        cm["data"]["test_time"], 0,
        "a manually disabled channel is skipped"
    );
    assert_eq!(app.mock.calls(), 2);
}

async fn list_filters_and_pages(app: TestApp) {
    let root = app.root().await;
    for i in 0..3 {
        app.create_channel(&root, json!({"name": format!("c{i}"), "tag": "openai"}))
            .await;
    }
    app.create_channel(&root, json!({"name": "ds", "type": 43, "tag": "deepseek"}))
        .await;
    let (_, v) = app.get(Some(&root), "/api/channel?size=2").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["total"], 4);
    let (_, v) = app.get(Some(&root), "/api/channel?type=43").await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["data"][0]["type"], 43);
    let (_, v) = app.get(Some(&root), "/api/channel?tag=openai").await;
    assert_eq!(v["total"], 3);
}

/// Channel tests and relay calls follow one health policy: their key failures count together
/// toward `AutomaticDisableChannelThreshold` within the window.
async fn tests_and_calls_share_one_health_policy(app: TestApp) {
    let root = app.root().await;
    app.set_option(&root, "AutomaticDisableChannelEnabled", "true")
        .await;
    app.set_option(&root, "AutomaticDisableChannelThreshold", "2")
        .await;
    app.set_option(&root, "ModelRatio", r#"{"mock-401": 1}"#)
        .await;
    let id = app
        .create_channel(&root, json!({"models": "mock-401,gpt-4o"}))
        .await;
    let status_of = || async {
        let (_, c) = app.get(Some(&root), &format!("/api/channel/{id}")).await;
        c["data"]["status"].as_i64()
    };
    // One test finding the key refused: counted, not yet disabled.
    app.get(
        Some(&root),
        &format!("/api/channel/test/{id}?model=mock-401"),
    )
    .await;
    assert_eq!(status_of().await, Some(1));
    // A relay call's key failure is the second within the window: disabled.
    let (_, key) = app.funded_user("caller", 1_000_000).await;
    let (status, _) = app
        .relay_post(
            &key,
            "/v1/chat/completions",
            crate::relay::chat("mock-401", false),
        )
        .await;
    assert_ne!(status, StatusCode::OK);
    let mut disabled = false;
    for _ in 0..50 {
        if status_of().await == Some(3) {
            disabled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(disabled, "the second key failure disables the channel");
}

db_tests!(
    tests_and_calls_share_one_health_policy,
    crud_and_key_never_returned,
    validation,
    test_sends_a_real_request,
    failed_test_auto_disables_and_success_re_enables,
    batch_test_runs_in_background,
    list_filters_and_pages,
);

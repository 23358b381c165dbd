//! Graceful shutdown of the server binary: on SIGTERM a stream in flight goes on for the
//! grace, then ends with an error event in its dialect (not a cut socket); the process exits
//! in bounded time with the stream's bill committed.

use crate::helpers::TestApp;
use futures_util::StreamExt;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

async fn a_stream_open_at_sigterm_ends_with_an_error_event_and_is_billed(app: TestApp) {
    let (user, key, channel) = app.relay_setup(10_000_000).await;
    // Two seconds between events: the stream outlives the grace.
    app.map_gpt4o(channel, "mock-hold").await;
    let env = [("APP__SERVER__SHUTDOWN_GRACE_SECS", "1")];
    let (mut server, base) = app.spawn_binary(&env, None).await;
    let resp = app
        .client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&crate::relay::chat("gpt-4o", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("w0 "));

    let pid = server.id().unwrap().to_string();
    let signalled = Instant::now();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    // The rest of the stream reads whole (a cut socket fails here) and ends with the error.
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.expect("the stream ends cleanly, not cut"));
    }
    let rest = String::from_utf8_lossy(&rest).into_owned();
    let last = rest.trim_end().lines().last().unwrap_or_default();
    let event: serde_json::Value =
        serde_json::from_str(last.trim_start_matches("data: ")).unwrap_or_default();
    assert_eq!(event["error"]["code"], "server_shutting_down", "{rest}");
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "ended after the grace"
    );
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("the process exits in bounded time")
        .unwrap();
    assert!(status.success(), "{status}");
    // Its bill was committed before it exited.
    let logs = app.consume_logs().await;
    let billed: Vec<_> = logs.iter().filter(|l| l["user_id"] == user.id).collect();
    assert_eq!(billed.len(), 1, "{logs:?}");
    assert!(billed[0]["completion_tokens"].as_i64().unwrap_or(0) > 0);
}

db_tests!(a_stream_open_at_sigterm_ends_with_an_error_event_and_is_billed);

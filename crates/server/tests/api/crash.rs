//! A crash (`SIGKILL`) under load with `APP__SERVER__BILLING_DURABILITY=sync`: every call whose
//! answer arrived whole is billed in the database, though the billing window is long enough
//! that batch mode would lose them all.

use crate::helpers::TestApp;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One call through `base`: whether its answer arrived whole.
async fn answered(client: &reqwest::Client, base: &str, key: &str, stream: bool) -> bool {
    let Ok(resp) = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&crate::relay::chat("gpt-4o", stream))
        .send()
        .await
    else {
        return false;
    };
    if resp.status() != StatusCode::OK {
        return false;
    }
    let Ok(text) = resp.text().await else {
        return false;
    };
    if stream {
        text.trim_end().ends_with("data: [DONE]") && !text.contains("\"error\"")
    } else {
        serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v["choices"].is_array())
    }
}

async fn a_crash_loses_no_bill_of_an_answered_call_in_sync_mode(app: TestApp) {
    let (user, key, _) = app.relay_setup(100_000_000).await;
    let env = [
        ("APP__SERVER__BILLING_DURABILITY", "sync"),
        ("APP__SERVER__BILLING_WINDOW_MS", "10000"),
    ];
    let (mut server, base) = app.spawn_binary(&env, None).await;
    let count = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (count, key, base) = (count.clone(), key.clone(), base.clone());
            async move {
                let client = reqwest::Client::new();
                while answered(&client, &base, &key, i % 2 == 0).await {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .collect();
    let kill = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.start_kill().unwrap();
        let _ = server.wait().await;
    };
    tokio::join!(futures_util::future::join_all(workers), kill);
    let answered = count.load(Ordering::SeqCst) as u64;
    let billed = persistence::logs::Entity::find()
        .filter(persistence::logs::Column::UserId.eq(user.id as i32))
        .filter(persistence::logs::Column::LogType.eq(2))
        .count(&app.db)
        .await
        .unwrap();
    assert!(answered >= 8, "{answered} answers before the kill");
    assert!(
        billed >= answered,
        "{answered} answers arrived whole, {billed} were billed"
    );
}

db_tests!(a_crash_loses_no_bill_of_an_answered_call_in_sync_mode);

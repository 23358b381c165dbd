//! One balance across instances (Redis's shared ledger): calls spread over two instances
//! never spend more than the balance holds, every success is charged once, and an instance
//! killed mid-load strands nothing past the lease time. Without Redis in the suite these
//! tests have nothing to share and end early.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::relay::chat;
use reqwest::StatusCode;
use std::time::Duration;

/// One call's price: `ModelPrice` 0.002 USD is 1,000 quota, reserved and charged exactly.
const CALL: i64 = 1_000;

fn redis() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Another instance on the test's database, with Redis.
async fn second(app: &TestApp, redis: &str) -> TestApp {
    spawn_app_with(test_settings(&app.database_url, Some(redis.to_owned()))).await
}

/// A chat call (streamed or not) through `base`: whether it was served in full.
async fn served(client: &reqwest::Client, base: &str, key: &str, stream: bool) -> bool {
    let Ok(resp) = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat("gpt-4o", stream))
        .send()
        .await
    else {
        return false;
    };
    let ok = resp.status() == StatusCode::OK;
    let text = resp.text().await.unwrap_or_default();
    ok && !text.contains("\"error\"")
}

async fn eighty_calls_over_two_instances_never_overspend_a_budget_of_twenty(app: TestApp) {
    let Some(redis) = redis() else { return };
    let (a, b) = (second(&app, &redis).await, second(&app, &redis).await);
    let root = a.root().await;
    a.create_channel(&root, serde_json::json!({})).await;
    a.set_option(&root, "ModelPrice", r#"{"gpt-4o": 0.002}"#)
        .await;
    let (user, key) = a.funded_user("budget", 20 * CALL).await;
    let calls = (0..80).map(|i| {
        let (base, client, key) = match i % 2 {
            0 => (a.address.clone(), a.client.clone(), key.clone()),
            _ => (b.address.clone(), b.client.clone(), key.clone()),
        };
        async move { served(&client, &base, &key, i % 4 < 2).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let successes = results.iter().filter(|ok| **ok).count() as i64;
    assert!(
        successes <= 20,
        "{successes} calls served on a budget of 20"
    );
    assert!(successes >= 1, "the budget serves calls");
    b.relay.flush_billing().await;
    let logs = a.consume_logs().await;
    let charged: Vec<i64> = logs
        .iter()
        .filter(|l| l["username"] == "budget")
        .map(|l| l["quota"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(charged.len() as i64, successes, "every success logged once");
    assert!(charged.iter().all(|q| *q == CALL), "{charged:?}");
    let left = a.quota_of(&user).await;
    assert_eq!(left, 20 * CALL - successes * CALL, "charged once each");
    assert!(left >= 0);
    // Once the slices are back, the rest of the budget is spendable on either instance.
    let mut more = 0;
    for i in 0..40 {
        let (base, client) = match i % 2 {
            0 => (&a.address, &a.client),
            _ => (&b.address, &b.client),
        };
        if served(client, base, &key, false).await {
            more += 1;
        } else if more + successes == 20 {
            break;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(
        more + successes,
        20,
        "the whole budget, and no more, is spent"
    );
    b.relay.flush_billing().await;
    assert_eq!(a.quota_of(&user).await, 0);
}

async fn a_killed_instance_strands_no_balance_past_the_lease(app: TestApp) {
    let Some(redis) = redis() else { return };
    let a = second(&app, &redis).await;
    let root = a.root().await;
    a.create_channel(&root, serde_json::json!({})).await;
    a.set_option(&root, "ModelPrice", r#"{"gpt-4o": 0.002}"#)
        .await;
    let (user, key) = a.funded_user("survivor", 100 * CALL).await;
    let env = [
        ("APP__REDIS__URL", redis.as_str()),
        ("APP__REDIS__LEASE_SECS", "2"),
    ];
    let (mut b, base) = a.spawn_binary(&env, None).await;
    // B leases slices of the balance and is killed with calls in flight.
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert!(served(&client, &base, &key, false).await);
    }
    let in_flight = (0..8).map(|_| served(&client, &base, &key, true));
    let killed = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        b.start_kill().unwrap();
    };
    let _ = tokio::join!(futures_util::future::join_all(in_flight), killed);
    let _ = b.wait().await;
    // What the database holds is what is left: B's uncommitted bills died with it.
    let left = a.quota_of(&user).await;
    assert!(left > 0 && left % CALL == 0, "{left}");
    // Past the lease, A can spend every bit of it, and no more.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut spent = 0;
    while spent <= left {
        if !served(&a.client, &a.address, &key, false).await {
            break;
        }
        spent += CALL;
    }
    assert_eq!(
        spent, left,
        "B's slices came back; A spent the rest exactly"
    );
    a.relay.flush_billing().await;
    assert_eq!(a.quota_of(&user).await, 0);
}

/// The Redis state of one account: (avail, sum of the instances' holdings).
async fn account_state(
    conn: &mut deadpool_redis::Connection,
    prefix: &str,
    user: i64,
) -> (i64, i64) {
    let fields: std::collections::HashMap<String, i64> = deadpool_redis::redis::cmd("HGETALL")
        .arg(format!("{prefix}u:{user}"))
        .query_async(conn)
        .await
        .unwrap();
    let held = fields
        .iter()
        .filter(|(k, _)| k.starts_with("o:"))
        .map(|(_, v)| *v)
        .sum();
    (fields["avail"], held)
}

/// An instance cut off past its lease, with a call under way: the others reclaim its slices,
/// it registers anew and holds again what the call reserved, and once the call settles and
/// commits, Redis and the database agree to the unit.
async fn a_lapsed_instance_holds_its_calls_again(app: TestApp) {
    use relay::billing::{Ledger, Payer, Session, UserId};
    use server::ledger::RedisLedger;
    let Some(redis) = redis() else { return };
    let (user, _) = app.funded_user("lapsed", 10 * CALL).await;
    let pool = deadpool_redis::Config::from_url(&redis)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let secret = format!("lapse-{}", app.database_url);
    let digest = server::namespace(secret.as_bytes());
    let prefix = format!("gateway:{}:ledger:", &digest[..16]);
    let lease = Duration::from_secs(2);
    let one = RedisLedger::new(app.db.clone(), pool.clone(), secret.as_bytes(), lease);
    let other = RedisLedger::new(app.db.clone(), pool.clone(), secret.as_bytes(), lease);
    let payer = Payer {
        user: UserId(user.id as i32),
        token: None,
    };
    one.lease(payer, CALL).await.unwrap();
    let shared: std::sync::Arc<dyn Ledger> = one.clone();
    let call = Session::reserve(shared, payer, CALL, true).unwrap();
    let mut conn = pool.get().await.unwrap();
    // Cut off: its registration expires, and the other instance reclaims it.
    let _: () = deadpool_redis::redis::cmd("ZADD")
        .arg(format!("{prefix}instances"))
        .arg(0)
        .arg(
            deadpool_redis::redis::cmd("ZRANGE")
                .arg(format!("{prefix}instances"))
                .arg(0)
                .arg(0)
                .query_async::<Vec<String>>(&mut conn)
                .await
                .unwrap(),
        )
        .query_async(&mut conn)
        .await
        .unwrap();
    other.round().await.unwrap();
    assert_eq!(
        account_state(&mut conn, &prefix, user.id).await,
        (10 * CALL, 0),
        "reclaimed: the whole balance is free"
    );
    // Back: it registers anew and holds the call's reservation again.
    one.round().await.unwrap();
    assert_eq!(
        account_state(&mut conn, &prefix, user.id).await,
        (9 * CALL, CALL)
    );
    // The call costs 400 and is committed (as the batch writer would).
    assert_eq!(call.settle(400), 400);
    persistence::users::add_quota(&app.db, user.id as i32, -400)
        .await
        .unwrap();
    one.committed(payer, 400);
    for _ in 0..3 {
        one.round().await.unwrap();
    }
    assert_eq!(
        account_state(&mut conn, &prefix, user.id).await,
        (10 * CALL - 400, 0),
        "Redis and the database agree"
    );
}

db_tests!(
    eighty_calls_over_two_instances_never_overspend_a_budget_of_twenty,
    a_killed_instance_strands_no_balance_past_the_lease,
    a_lapsed_instance_holds_its_calls_again
);

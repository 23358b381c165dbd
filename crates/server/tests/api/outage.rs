//! The database briefly unreachable (a TCP forwarder the test cuts and restores between the
//! gateway and PostgreSQL or MySQL): `/api` answers 503 in its envelope, relay calls keep
//! working from caches, nothing panics, and when the database is back every call of the
//! outage is billed.

use crate::helpers::{TestApp, spawn_app_with, test_settings};
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Forwards connections to `target` while up; cutting it drops every connection.
struct Forwarder {
    address: String,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Forwarder {
    #[allow(clippy::disallowed_methods)] // the fault injector's own tasks, ended by the test
    async fn start(target: String) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (flag, held) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // refused: dropped at once
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().unwrap().push(link.abort_handle());
            }
        });
        Forwarder { address, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn a_database_outage_is_a_503_and_loses_no_bill(app: TestApp) {
    let url = app.database_url.clone();
    let Some(host) = ["127.0.0.1:5432", "127.0.0.1:3306"]
        .into_iter()
        .find(|h| url.contains(h))
    else {
        return; // SQLite is a file: nothing to cut
    };
    let forwarder = Forwarder::start(host.to_owned()).await;
    let through = url.replacen(host, &forwarder.address, 1);
    let gw = spawn_app_with(test_settings(&through, None)).await;
    let (user, key, _) = gw.relay_setup(10_000_000).await;
    let chat = || crate::relay::chat("gpt-4o", false);
    let (status, _) = gw.relay_post(&key, "/v1/chat/completions", chat()).await;
    assert_eq!(status, StatusCode::OK);
    gw.relay.flush_billing().await;

    forwarder.cut();
    let (status, v) = gw.get(Some(&user), "/api/user/self").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["success"], false);
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    // Relay calls go on from caches; their bills wait.
    for _ in 0..3 {
        let (status, v) = gw.relay_post(&key, "/v1/chat/completions", chat()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    // Readiness says so.
    let (status, v) = gw.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");

    forwarder.restore();
    let mut back = false;
    for _ in 0..100 {
        if gw.get(Some(&user), "/api/user/self").await.0 == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "/api answers again once the database is back");
    tokio::time::timeout(Duration::from_secs(30), gw.relay.flush_billing())
        .await
        .expect("the bills of the outage are committed");
    let logs = gw.consume_logs().await;
    let billed = logs.iter().filter(|l| l["user_id"] == user.id).count();
    assert_eq!(billed, 4, "every call billed once: {logs:?}");
}

db_tests!(a_database_outage_is_a_503_and_loses_no_bill);

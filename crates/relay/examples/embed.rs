//! Embedding the relay in another Rust service: a relay on the service's own database, a
//! channel registered in code, a key for one of the service's users, then a chat call (whole
//! and streamed) against a mock upstream, and what each call was billed.
//!
//! Run with `cargo run -p relay --example embed` (the test suite does); it exits non-zero when
//! anything is off.

use futures_util::StreamExt;
use relay::{CallMeta, ChannelSpec, Endpoint, Relay, RelayBody, Request};
use sea_orm::{ActiveModelTrait, Set};
use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The service's own database (any of sqlite://, postgres://, mysql://), migrated on connect.
    let path = std::env::temp_dir().join(format!(
        "relay-embed-{}.db",
        domain::keys::random_alphanumeric(8)
    ));
    let db = persistence::connect(&format!("sqlite://{}", path.display())).await?;
    let upstream = mock_upstream::MockUpstream::start().await?;

    let relay = Relay::builder(db.clone()).build().await?;
    let channel = relay
        .add_channel(ChannelSpec {
            name: "upstream".into(),
            channel_type: relay::providers::OPENAI,
            key: "sk-upstream".into(),
            base_url: upstream.url(),
            models: vec!["gpt-4o".into()],
            group: "default".into(),
        })
        .await?;

    // One of the service's users, with 1 USD of quota and an API key.
    let user = persistence::users::insert(
        &db,
        persistence::users::NewUser {
            username: "service-user".into(),
            password_hash: String::new(),
            display_name: "service user".into(),
            email: None,
            role: domain::Role::USER.0,
            quota: 500_000,
            group: "default".into(),
            aff_code: domain::keys::random_alphanumeric(4),
            inviter_id: 0,
            created_at: domain::now_ts(),
        },
    )
    .await?;
    let key = domain::keys::ApiKey::generate();
    persistence::tokens::ActiveModel {
        user_id: Set(user.id),
        key_digest: Set(key.digest()),
        key_mask: Set(key.mask()),
        name: Set("embedded".into()),
        status: Set(domain::TokenStatus::Enabled.code()),
        created_time: Set(domain::now_ts()),
        accessed_time: Set(0),
        expired_time: Set(-1),
        remain_quota: Set(0),
        unlimited_quota: Set(true),
        used_quota: Set(0),
        request_count: Set(0),
        model_limits_enabled: Set(false),
        model_limits: Set(String::new()),
        allow_ips: Set(String::new()),
        group: Set(String::new()),
        ..Default::default()
    }
    .insert(&db)
    .await?;

    let caller = relay.authenticate(Some(key.expose()), None).await?;
    let meta = CallMeta {
        request_id: "embed-1".into(),
        ip: None,
    };
    let mut spent = Vec::new();
    for stream in [false, true] {
        let body = format!(
            r#"{{"model":"gpt-4o","max_tokens":100,"stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
        );
        let request = Request::openai_json(Endpoint::ChatCompletions, body.into())?;
        let before = relay.balance(&caller).await?.remaining;
        let answer = relay.call(&caller, request, &meta).await?;
        let text = match answer.body {
            RelayBody::Full(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            RelayBody::Stream(mut events) => {
                let mut text = String::new();
                while let Some(chunk) = events.next().await {
                    text.push_str(&String::from_utf8_lossy(&chunk?));
                }
                text
            }
        };
        let billed = before - relay.balance(&caller).await?.remaining;
        println!(
            "stream={stream}: status {}, {} bytes, billed {billed} quota",
            answer.status,
            text.len()
        );
        if answer.status != 200 || billed <= 0 {
            return Err(format!("unexpected answer: {} {text}", answer.status).into());
        }
        spent.push(billed);
    }

    // Billing is written behind the calls; once flushed, the database agrees.
    relay.flush_billing().await;
    let stored = persistence::users::find(&db, user.id)
        .await?
        .ok_or("the user vanished")?;
    let total: i64 = spent.iter().sum();
    println!(
        "channel {channel}: user quota {} -> {}, used {}",
        500_000, stored.quota, stored.used_quota
    );
    if stored.quota != 500_000 - total || stored.used_quota != total {
        return Err("the database does not show what was billed".into());
    }
    relay.shutdown().await;
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(())
}

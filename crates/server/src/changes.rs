//! Changes made through one instance reach the others through Redis pub/sub: the relay
//! publishes every [`Change`] on the bus, a publisher job sends them, and a subscriber job
//! applies the other instances' ones (`Relay::apply_remote`), usually within milliseconds.
//! The channel is named after the session secret's digest, which every instance on one
//! database shares and no other database has. Both jobs are the relay's owned work.

use deadpool_redis::redis;
use futures_util::StreamExt;
use relay::{Change, ChangeBus, Relay};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;

/// A change on the wire, with the instance it came from.
#[derive(Serialize, Deserialize)]
struct Message {
    from: String,
    change: Change,
}

/// The relay's side of the bus: changes are queued for the publisher job.
pub struct RedisBus {
    queue: mpsc::UnboundedSender<Change>,
}

impl ChangeBus for RedisBus {
    fn publish(&self, change: &Change) {
        let _ = self.queue.send(*change);
    }
}

/// The bus before the relay exists: give [`Bus::relay_side`] to the relay's builder, then
/// [`Bus::start`] the jobs on the built relay.
pub struct Bus {
    channel: String,
    from: String,
    queue: mpsc::UnboundedReceiver<Change>,
    sender: mpsc::UnboundedSender<Change>,
    client: redis::Client,
    pool: deadpool_redis::Pool,
}

impl Bus {
    /// A bus on Redis at `url` for the instances sharing `session_secret`.
    pub fn new(
        url: &str,
        pool: deadpool_redis::Pool,
        session_secret: &[u8],
    ) -> Result<Bus, redis::RedisError> {
        let digest = crate::namespace(session_secret);
        let (sender, queue) = mpsc::unbounded_channel();
        Ok(Bus {
            channel: format!("gateway:changes:{}", &digest[..16.min(digest.len())]),
            from: domain::keys::random_alphanumeric(16),
            queue,
            sender,
            client: redis::Client::open(url)?,
            pool,
        })
    }

    pub fn relay_side(&self) -> std::sync::Arc<RedisBus> {
        std::sync::Arc::new(RedisBus {
            queue: self.sender.clone(),
        })
    }

    /// Subscribes (before returning, so no change made after start-up is missed) and starts
    /// the publisher and subscriber jobs.
    pub async fn start(self, relay: &Relay) -> Result<(), redis::RedisError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let jobs = relay.jobs();
        jobs.spawn(publish(
            self.pool,
            self.channel.clone(),
            self.from.clone(),
            self.queue,
            jobs.clone(),
        ));
        jobs.spawn(subscribe(
            self.client,
            pubsub,
            self.channel,
            self.from,
            relay.clone(),
        ));
        Ok(())
    }
}

/// Sends queued changes until shutdown (then what is queued).
async fn publish(
    pool: deadpool_redis::Pool,
    channel: String,
    from: String,
    mut queue: mpsc::UnboundedReceiver<Change>,
    jobs: relay::Jobs,
) {
    let mut stop = std::pin::pin!(jobs.cancelled());
    loop {
        let change = tokio::select! {
            change = queue.recv() => change,
            _ = &mut stop => queue.try_recv().ok(),
        };
        let Some(change) = change else {
            return;
        };
        let text = match serde_json::to_string(&Message {
            from: from.clone(),
            change,
        }) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "encoding a change");
                continue;
            }
        };
        let sent = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&text)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = sent {
            // The others catch up on their periodic re-read.
            tracing::warn!(error = %e, "publishing a change through Redis failed");
        }
    }
}

/// Applies the other instances' changes until shutdown, resubscribing after a lost
/// connection (what was missed meanwhile arrives with the periodic re-read).
async fn subscribe(
    client: redis::Client,
    mut pubsub: redis::aio::PubSub,
    channel: String,
    from: String,
    relay: Relay,
) {
    let jobs = relay.jobs().clone();
    let mut stop = std::pin::pin!(jobs.cancelled());
    loop {
        {
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    m = messages.next() => m,
                    _ = &mut stop => return,
                };
                let Some(message) = message else {
                    break;
                };
                let Ok(text) = message.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Message>(&text) {
                    Ok(m) if m.from == from => {}
                    Ok(m) => {
                        if let Err(e) = relay.apply_remote(m.change).await {
                            tracing::warn!(error = %e, "applying another instance's change");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "an unreadable change on the bus"),
                }
            }
        }
        tracing::warn!("the Redis subscription ended; resubscribing");
        pubsub = loop {
            let attempt = async {
                let mut p = client.get_async_pubsub().await?;
                p.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(p)
            };
            tokio::select! {
                p = attempt => match p {
                    Ok(p) => break p,
                    Err(e) => tracing::warn!(error = %e, "resubscribing to Redis failed"),
                },
                _ = &mut stop => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = &mut stop => return,
            }
        };
    }
}

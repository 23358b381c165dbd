//! The rate limits' counters in Redis, so limits hold across instances: each operation is one
//! Lua script (one round trip, atomic). Keys are prefixed per deployment (the session
//! secret's digest, as the change bus's channel).

use deadpool_redis::redis;
use relay::limits::{CountFuture, Counters};
use std::time::Duration;

/// A window's count after an add, and the milliseconds left in it.
const ADD: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {v, ttl}
";

/// Adds one; at ARGV[1] the count starts over and 1 is answered (to this caller only).
const HIT: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if v >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// Takes a slot when fewer than ARGV[1] are taken; slots a crashed instance held expire.
const ACQUIRE: &str = r"
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

const RELEASE: &str = r"
local v = redis.call('DECR', KEYS[1])
if v <= 0 then redis.call('DEL', KEYS[1]) end
return 0
";

/// How long the slots of calls in flight outlive their last taker (a crashed instance's are
/// freed after this).
const SLOT_TTL: Duration = Duration::from_secs(600);

pub struct RedisCounters {
    pool: deadpool_redis::Pool,
    prefix: String,
}

impl RedisCounters {
    pub fn new(pool: deadpool_redis::Pool, session_secret: &[u8]) -> RedisCounters {
        let digest = crate::namespace(session_secret);
        RedisCounters {
            pool,
            prefix: format!("gateway:{}:", &digest[..16.min(digest.len())]),
        }
    }

    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &str,
        key: &str,
        args: &[i64],
    ) -> Result<T, String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(1).arg(format!("{}{key}", self.prefix));
        for a in args {
            cmd.arg(*a);
        }
        cmd.query_async::<T>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl Counters for RedisCounters {
    fn add(&self, key: String, n: i64, window: Duration) -> CountFuture<'_, (i64, Duration)> {
        Box::pin(async move {
            let (count, left): (i64, i64) = self.eval(ADD, &key, &[n, millis(window)]).await?;
            Ok((
                count,
                Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            ))
        })
    }

    fn hit(&self, key: String, threshold: i64, window: Duration) -> CountFuture<'_, bool> {
        Box::pin(async move {
            let crossed: i64 = self.eval(HIT, &key, &[threshold, millis(window)]).await?;
            Ok(crossed == 1)
        })
    }

    fn acquire(&self, key: String, limit: i64) -> CountFuture<'_, bool> {
        Box::pin(async move {
            let taken: i64 = self.eval(ACQUIRE, &key, &[limit, millis(SLOT_TTL)]).await?;
            Ok(taken == 1)
        })
    }

    fn release(&self, key: String) -> CountFuture<'_, ()> {
        Box::pin(async move {
            let _: i64 = self.eval(RELEASE, &key, &[]).await?;
            Ok(())
        })
    }
}

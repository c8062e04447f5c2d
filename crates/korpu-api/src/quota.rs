//! Rate limits per application and API: a token bucket (`burst` calls at once, refilled at
//! `rate_per_sec`), kept in this process by default or in Redis, where every hub replica takes
//! from the same bucket. In Redis the whole take is one Lua script on the server's clock, so two
//! replicas cannot both spend the last token and their clocks do not matter.
//!
//! When Redis does not answer, calls are refused (503) rather than let through uncounted: a
//! limit that silently disappears under failure protects nothing.
//!
//! Deliberately not here: monthly quotas and usage metering for the developer portal (to come
//! with it).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Tokens added per second.
    pub rate_per_sec: f64,
    /// The bucket's size: how many calls may come at once.
    pub burst: u32,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            rate_per_sec: 10.0,
            burst: 20,
        }
    }
}

/// What a take answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call may go on; `remaining` whole tokens are left.
    Allowed {
        /// Tokens left after this call.
        remaining: u32,
    },
    /// The bucket is empty; a token will be there in `retry_after_ms`.
    Limited {
        /// Milliseconds until the next token.
        retry_after_ms: u64,
    },
}

/// Why the counters could not be consulted.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// The Redis server refused or did not answer.
    #[error("the shared rate-limit store (Redis) did not answer: {0}")]
    Redis(#[from] redis::RedisError),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Takes tokens from the buckets, wherever they live.
pub struct Limiter(Store);

enum Store {
    /// In this process (one hub replica).
    Local(Mutex<HashMap<String, Bucket>>),
    /// In Redis, shared by every replica.
    Redis(redis::aio::ConnectionManager, redis::Script),
}

/// KEYS[1] the bucket; ARGV rate per second, burst. Returns {allowed, remaining, retry_ms}.
/// `TIME` is the server's clock, so replicas with skewed clocks share one view.
const TAKE: &str = r#"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local allowed, retry = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, math.floor(tokens), retry}
"#;

impl Limiter {
    /// Buckets in this process.
    pub fn local() -> Limiter {
        Limiter(Store::Local(Mutex::new(HashMap::new())))
    }

    /// The limiter a configuration's `quota_store` names: `memory`, or a Redis URL.
    pub async fn from_store(store: &str) -> Result<Limiter, QuotaError> {
        if store == "memory" {
            Ok(Limiter::local())
        } else {
            Limiter::redis(store).await
        }
    }

    /// Buckets in the Redis server at `url` (`redis://127.0.0.1:6379`).
    pub async fn redis(url: &str) -> Result<Limiter, QuotaError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Limiter(Store::Redis(conn, redis::Script::new(TAKE))))
    }

    /// Takes one token from the bucket `key`.
    pub async fn take(&self, key: &str, limit: Limit) -> Result<Decision, QuotaError> {
        match &self.0 {
            Store::Local(buckets) => {
                let mut buckets = buckets.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let b = buckets.entry(key.to_owned()).or_insert(Bucket {
                    tokens: f64::from(limit.burst),
                    at: now,
                });
                let elapsed = now.duration_since(b.at).as_secs_f64();
                b.tokens = (b.tokens + elapsed * limit.rate_per_sec).min(f64::from(limit.burst));
                b.at = now;
                Ok(if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    Decision::Allowed {
                        remaining: b.tokens as u32,
                    }
                } else {
                    Decision::Limited {
                        retry_after_ms: ((1.0 - b.tokens) * 1000.0 / limit.rate_per_sec).ceil()
                            as u64,
                    }
                })
            }
            Store::Redis(conn, script) => {
                let mut conn = conn.clone();
                let (allowed, remaining, retry): (i64, i64, i64) = script
                    .key(format!("korpu:api:bucket:{key}"))
                    .arg(limit.rate_per_sec)
                    .arg(limit.burst)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(if allowed == 1 {
                    Decision::Allowed {
                        remaining: remaining.max(0) as u32,
                    }
                } else {
                    Decision::Limited {
                        retry_after_ms: retry.max(1) as u64,
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_bucket_allows_the_burst_then_refuses_with_a_retry_time() {
        let l = Limiter::local();
        let limit = Limit {
            rate_per_sec: 1.0,
            burst: 3,
        };
        for want in [2, 1, 0] {
            assert_eq!(
                l.take("a", limit).await.unwrap(),
                Decision::Allowed { remaining: want }
            );
        }
        match l.take("a", limit).await.unwrap() {
            Decision::Limited { retry_after_ms } => assert!((1..=1000).contains(&retry_after_ms)),
            other => panic!("{other:?}"),
        }
        // Another application's bucket is its own.
        assert_eq!(
            l.take("b", limit).await.unwrap(),
            Decision::Allowed { remaining: 2 }
        );
    }
}

//! Per-client token buckets for the public endpoints that sign for anyone (the TSA): each
//! client IP may spend `burst` requests at once and earns `per_second` back, so one client
//! cannot have the registry sign without end while others wait.
//!
//! Pure apart from a mutex: the caller passes the time, tests pin it. Deliberately not here:
//! limits shared between several registry processes (each counts its own), and IPv6 prefix
//! grouping (a client with many addresses gets a bucket per address).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle ones are dropped; a full bucket carries no state worth keeping.
const MAX_BUCKETS: usize = 100_000;

/// A token bucket per client address.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` requests on average, `burst` at once, per client address.
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` at `now`: `Ok(())`, or `Err(wait)` with how long until
    /// the next token (for `Retry-After`).
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        // A panic elsewhere leaves plain numbers behind: keep using them.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        let refilled = (*tokens
            + now.saturating_duration_since(*at).as_secs_f64() * self.per_second)
            .min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            let wait = if self.per_second > 0.0 {
                (1.0 - refilled) / self.per_second
            } else {
                f64::from(u32::MAX)
            };
            Err(Duration::from_secs_f64(wait.min(f64::from(u32::MAX))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let limiter = RateLimiter::new(2.0, 3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(a, t0).is_ok());
        }
        let wait = limiter.check(a, t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(
            limiter.check(b, t0).is_ok(),
            "another client has its own bucket"
        );
        // Half a second earns one token back (2 per second), not more.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check(a, t1).is_ok());
        assert!(limiter.check(a, t1).is_err());
        // A long pause refills up to the burst only.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limiter.check(a, t2).is_ok());
        }
        assert!(limiter.check(a, t2).is_err());
    }
}

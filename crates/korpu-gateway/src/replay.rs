//! Refusing replayed requests on the provider's side: a signed request is accepted once. Its
//! signature covers its message id and creation time (`protocol`), so a captured request can
//! be sent again only unchanged; the guard refuses it when its creation time is outside the
//! acceptance window, and when its (client, message id) was already accepted within it.
//!
//! Memory is bounded by time: an id is remembered only as long as a message carrying it could
//! still pass the time check (window plus twice the allowed clock skew after it arrived), and
//! at most `capacity` ids are kept; beyond that, new requests are refused (fail closed) until
//! old ids expire, rather than forgetting ids that could still be replayed.
//!
//! **Across a restart** the remembered ids are gone, so the guard refuses every request
//! created before it started: any message accepted before the restart was necessarily created
//! before it. A calling gateway whose clock lags ours by `d` sees its requests refused for
//! `d` after our start (its next requests are created later and pass).
//!
//! Deliberately not here: checking the signature (that must happen first, or anyone could burn
//! another client's message ids) and the error form (the gateway maps [`Refused`]).

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("message {0:?} was already accepted from this client: a replay")]
    Replayed(String),
    #[error("the message was signed at {created_ms} (Unix ms), {why}")]
    OutOfWindow { created_ms: u64, why: String },
    #[error("more than {0} messages are inside the replay window; refusing until some expire")]
    Full(usize),
}

/// The provider side's memory of accepted message ids.
pub struct ReplayGuard {
    window: Duration,
    skew: Duration,
    capacity: usize,
    /// Wall-clock Unix milliseconds when the guard started (see the module doc).
    started_ms: u64,
    /// Keyed hashes of (client, message id): a random key, so no one can aim a collision.
    hasher: std::collections::hash_map::RandomState,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<u64>,
    /// In order of arrival, so the oldest expire first.
    order: VecDeque<(Instant, u64)>,
}

impl ReplayGuard {
    /// A guard accepting creation times within `window` before now, and `skew` after it.
    pub fn new(window: Duration, skew: Duration, capacity: usize, started_ms: u64) -> Self {
        Self {
            window,
            skew,
            capacity: capacity.max(1),
            started_ms,
            hasher: Default::default(),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Checks a request whose signature has been verified, and remembers its id when it is
    /// accepted. `now_ms` is the wall clock, `now` the monotonic one.
    pub fn accept(
        &self,
        client: &str,
        message_id: &str,
        created_ms: u64,
        now_ms: u64,
        now: Instant,
    ) -> Result<(), Refused> {
        let out = |why: String| Refused::OutOfWindow { created_ms, why };
        if created_ms > now_ms.saturating_add(self.skew.as_millis() as u64) {
            return Err(out(format!(
                "{} ms in the future (more than the allowed clock skew)",
                created_ms - now_ms
            )));
        }
        // A restart is the more specific reason (the window may also have passed while the
        // gateway was starting), so it is named first.
        if created_ms < self.started_ms {
            return Err(out(
                "before this gateway started: it may have been accepted before the restart".into(),
            ));
        }
        let oldest = now_ms.saturating_sub((self.window + self.skew).as_millis() as u64);
        if created_ms < oldest {
            return Err(out(format!(
                "{} s ago: older than the acceptance window",
                (now_ms - created_ms) / 1000
            )));
        }
        let key = self.hasher.hash_one((client, message_id));
        let keep = self.window + self.skew * 2;
        let mut seen = self.seen.lock().expect("lock");
        while let Some(&(at, k)) = seen.order.front() {
            if now.duration_since(at) <= keep {
                break;
            }
            seen.order.pop_front();
            seen.ids.remove(&k);
        }
        if seen.ids.contains(&key) {
            return Err(Refused::Replayed(message_id.to_owned()));
        }
        if seen.ids.len() >= self.capacity {
            return Err(Refused::Full(self.capacity));
        }
        seen.ids.insert(key);
        seen.order.push_back((now, key));
        Ok(())
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.lock().expect("lock").ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(300);
    const S: Duration = Duration::from_secs(30);
    const T0: u64 = 1_800_000_000_000;

    #[test]
    fn a_message_id_is_accepted_once_per_client() {
        let g = ReplayGuard::new(W, S, 100, T0);
        let now = Instant::now();
        assert_eq!(g.accept("A/B/C/d", "m1", T0 + 1, T0 + 2, now), Ok(()));
        assert_eq!(
            g.accept("A/B/C/d", "m1", T0 + 1, T0 + 3, now),
            Err(Refused::Replayed("m1".into()))
        );
        // Another client's id is another message.
        assert_eq!(g.accept("A/B/C/e", "m1", T0 + 1, T0 + 3, now), Ok(()));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn creation_times_outside_the_window_are_refused() {
        let g = ReplayGuard::new(W, S, 100, T0);
        let now = Instant::now();
        let later = T0 + 3_600_000;
        let refused = |r: Result<(), Refused>| matches!(r, Err(Refused::OutOfWindow { .. }));
        assert!(refused(g.accept("c", "old", later - 331_000, later, now)));
        assert!(g.accept("c", "edge", later - 329_000, later, now).is_ok());
        assert!(refused(g.accept("c", "future", later + 31_000, later, now)));
        assert!(g.accept("c", "skewed", later + 29_000, later, now).is_ok());
        // Created before the guard started: possibly accepted by the previous process.
        assert!(refused(g.accept("c", "before", T0 - 1, T0 + 10, now)));
    }

    #[test]
    fn remembered_ids_expire_and_memory_is_bounded() {
        let g = ReplayGuard::new(W, S, 3, T0);
        let t = Instant::now();
        for id in ["a", "b", "c"] {
            g.accept("c", id, T0 + 1, T0 + 1, t).unwrap();
        }
        assert_eq!(g.accept("c", "d", T0 + 1, T0 + 1, t), Err(Refused::Full(3)));
        // Once they could no longer pass the time check, they are forgotten.
        let much_later = t + W + S * 2 + Duration::from_secs(1);
        let now_ms = T0 + (W + S * 2).as_millis() as u64 + 1_000;
        g.accept("c", "d", now_ms, now_ms, much_later).unwrap();
        assert_eq!(g.len(), 1);
        // And "a" again is refused by time, not by memory.
        assert!(matches!(
            g.accept("c", "a", T0 + 1, now_ms, much_later),
            Err(Refused::OutOfWindow { .. })
        ));
    }
}

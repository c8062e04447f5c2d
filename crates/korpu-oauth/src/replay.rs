//! One-time use of `jti` values (DPoP proofs, client assertions) within their lifetime.
//!
//! A proof or assertion seen once is refused again until it expires; after that its own time
//! checks refuse it, so the cache forgets it. The cache is bounded: when it is full of live
//! entries it refuses new ones (fails closed) rather than forgetting one still able to be
//! replayed.
//!
//! Deliberately not here: sharing between hub replicas (the hub puts the same contract on Redis
//! or PostgreSQL; this in-process cache is the single-node default).
use std::collections::{BTreeMap, HashMap};

/// What [`ReplayCache::first_use`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Never seen: now remembered until its expiry.
    First,
    /// Seen before and not yet expired: a replay.
    Replay,
    /// The cache is full of live entries: refuse and retry later.
    Full,
}

/// Remembers keys until their expiry (Unix seconds).
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    expiry: HashMap<String, i64>,
    by_time: BTreeMap<(i64, u64), String>,
    seq: u64,
}

impl ReplayCache {
    /// A cache that holds at most `capacity` live keys.
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity,
            expiry: HashMap::new(),
            by_time: BTreeMap::new(),
            seq: 0,
        }
    }

    fn prune(&mut self, now: i64) {
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().0 >= now {
                break;
            }
            let key = entry.remove();
            self.expiry.remove(&key);
        }
    }

    /// Records `key` as used until `expires_at`, unless it was already used.
    pub fn first_use(&mut self, key: &str, expires_at: i64, now: i64) -> Use {
        self.prune(now);
        if self.expiry.contains_key(key) {
            return Use::Replay;
        }
        if self.expiry.len() >= self.capacity {
            return Use::Full;
        }
        self.seq += 1;
        self.expiry.insert(key.to_owned(), expires_at);
        self.by_time.insert((expires_at, self.seq), key.to_owned());
        Use::First
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_until_it_expires_and_a_full_cache_fails_closed() {
        let mut c = ReplayCache::new(2);
        assert_eq!(c.first_use("a", 100, 0), Use::First);
        assert_eq!(c.first_use("a", 100, 50), Use::Replay);
        assert_eq!(c.first_use("b", 200, 50), Use::First);
        assert_eq!(c.first_use("c", 200, 50), Use::Full);
        // "a" expired at 100: forgotten, which frees room.
        assert_eq!(c.first_use("c", 300, 101), Use::First);
        assert_eq!(c.len(), 2);
        assert_eq!(c.first_use("b", 300, 150), Use::Replay);
    }
}

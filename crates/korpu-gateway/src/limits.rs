//! Limits that keep one caller's load or fault from reaching the others (issue 13, items 7
//! and 9): concurrency per side and per caller, and the size of a request's headers.
//!
//! - [`Limiter`]: each side of a gateway (client side, provider side) has its own limit on
//!   exchanges in progress, and within it each caller (a client subsystem on the client side,
//!   a calling gateway on the provider side) has a smaller one. A thousand slow uploads from one
//!   information system then hold at most its own share, never the provider side's, and never
//!   all of the client side's.
//! - [`check_headers`]: headers are counted as HTTP/2 counts them (RFC 9113 §6.5.2) before
//!   anything is sent on the HTTP/2 connection that all callers share to a provider gateway,
//!   so an oversized request is refused to its sender alone.
//!
//! It does not decide what a caller is (the flows do, after authenticating it): a key is
//! created only for a caller the global configuration knows, which bounds the map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The HTTP/2 size of a header list: each field's name and value plus 32 bytes
/// (RFC 9113 §6.5.2, SETTINGS_MAX_HEADER_LIST_SIZE).
pub fn header_list_bytes(h: &HeaderMap) -> usize {
    h.iter().map(|(n, v)| n.as_str().len() + v.len() + 32).sum()
}

/// A header list over one of the limits; the message names the limit that was passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderLimitError {
    #[error("the request has {count} header fields, more than this gateway accepts ({max}, max_header_count)")]
    TooMany { count: usize, max: usize },
    #[error("the request's headers are {bytes} bytes (counted as HTTP/2 does), more than this gateway accepts ({max}, max_header_bytes)")]
    TooLarge { bytes: usize, max: usize },
}

/// Refuses a header list larger than `max_bytes` (counted as [`header_list_bytes`]) or with
/// more than `max_count` fields.
pub fn check_headers(
    h: &HeaderMap,
    max_bytes: usize,
    max_count: usize,
) -> Result<(), HeaderLimitError> {
    if h.len() > max_count {
        return Err(HeaderLimitError::TooMany {
            count: h.len(),
            max: max_count,
        });
    }
    let bytes = header_list_bytes(h);
    if bytes > max_bytes {
        return Err(HeaderLimitError::TooLarge {
            bytes,
            max: max_bytes,
        });
    }
    Ok(())
}

/// The header list (counted as [`header_list_bytes`]) that gateways accept from each other
/// on their HTTP/2 connections, in both directions. A client side's `max_header_bytes` plus
/// the gateway's own headers must fit in it, so a request the client side let through is
/// never refused by the provider's gateway on the connection all callers share.
pub const PEER_HEADER_LIST_BYTES: usize = 64 << 10;

/// Past this many callers with an entry, entries not in use are dropped.
const KEYS_KEPT: usize = 10_000;

/// Concurrency limits for one side: `side` exchanges in all, `per_key` per caller.
pub struct Limiter {
    side: Arc<Semaphore>,
    per_key: usize,
    keys: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// An exchange's place under both limits, given back when dropped.
pub struct Permit {
    _key: OwnedSemaphorePermit,
    _side: OwnedSemaphorePermit,
}

impl Limiter {
    pub fn new(side: usize, per_key: usize) -> Self {
        Self {
            side: Arc::new(Semaphore::new(side.max(1))),
            per_key: per_key.max(1),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a place for one exchange of `key`. The caller's own limit is taken first, so
    /// a caller over its share waits without holding any of the side's places.
    pub async fn enter(&self, key: &str) -> Permit {
        let sem = {
            let mut keys = self.keys.lock().expect("lock");
            if keys.len() >= KEYS_KEPT && !keys.contains_key(key) {
                let per_key = self.per_key;
                keys.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < per_key);
            }
            match keys.get(key) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(Semaphore::new(self.per_key));
                    keys.insert(key.to_owned(), s.clone());
                    s
                }
            }
        };
        let key = sem.acquire_owned().await.expect("never closed");
        let side = self
            .side
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        Permit {
            _key: key,
            _side: side,
        }
    }

    /// Places in use by `key` (for tests and metrics).
    pub fn in_use(&self, key: &str) -> usize {
        self.keys
            .lock()
            .expect("lock")
            .get(key)
            .map_or(0, |s| self.per_key - s.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_caller_over_its_share_does_not_hold_up_another() {
        let l = Arc::new(Limiter::new(6, 3));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(l.enter("flood").await);
        }
        // More from the same caller wait...
        let waiting: Vec<_> = (0..20)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    let _in = l.enter("flood").await;
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(waiting.iter().all(|w| !w.is_finished()));
        // ...without taking the side's places from others.
        let mut others = Vec::new();
        for _ in 0..3 {
            others.push(
                tokio::time::timeout(Duration::from_secs(1), l.enter("other"))
                    .await
                    .expect("another caller gets in"),
            );
        }
        assert_eq!(l.in_use("flood"), 3);
        // The side's limit still holds for everyone together.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.enter("third"))
                .await
                .is_err(),
            "6 in use, the side is full"
        );
        drop(held);
        drop(others);
        for w in waiting {
            tokio::time::timeout(Duration::from_secs(1), w)
                .await
                .expect("the waiting ones get in in turn")
                .unwrap();
        }
    }

    #[test]
    fn headers_are_counted_as_http2_does_and_limited() {
        let mut h = HeaderMap::new();
        h.insert("x-a", "12345".parse().unwrap());
        assert_eq!(header_list_bytes(&h), 3 + 5 + 32);
        assert!(check_headers(&h, 40, 1).is_ok());
        let e = check_headers(&h, 39, 1).unwrap_err();
        assert_eq!(e, HeaderLimitError::TooLarge { bytes: 40, max: 39 });
        assert!(e.to_string().contains("max_header_bytes"));
        h.insert("x-b", "".parse().unwrap());
        let e = check_headers(&h, 1000, 1).unwrap_err();
        assert_eq!(e, HeaderLimitError::TooMany { count: 2, max: 1 });
        assert!(e.to_string().contains("max_header_count"));
    }
}

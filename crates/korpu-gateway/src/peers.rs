//! The pool of connections to other gateways, keyed by peer (and slot): connecting happens
//! outside the pool's lock, one attempt per key at a time, and every caller asking for that
//! key meanwhile waits for that attempt's result instead of starting its own.
//!
//! Why: a connection to a peer is a TCP connect, a TLS handshake and an HTTP/2 handshake. Held
//! under one lock for the whole map, one unreachable provider (an address that never answers)
//! stalled new connections to *every* provider until its connect timed out. Here the lock is
//! held only to look a key up or change its slot, never across I/O.
//!
//! The attempt runs in a task of its own, so a caller that gives up (its information system
//! hung up) does not cancel the attempt the others are waiting for. It does not decide how to
//! connect (the caller passes the connecting future, with its own timeout) nor when to retry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::protocol::{ErrorKind, XRoadError};

/// What an attempt delivers: `None` while it runs.
type Outcome<T> = Option<Result<Arc<T>, XRoadError>>;

enum Slot<T> {
    Ready(Arc<T>),
    Connecting(watch::Receiver<Outcome<T>>),
}

/// Connections by key; `T` is one connection.
///
/// The lock is a `std::sync::Mutex` on purpose, and it is never held across an `.await` or
/// any I/O: each critical section in [`Pool::get`], [`Pool::forget`] and `forget_attempt` only
/// looks up, inserts or removes a slot, and may call `alive` (a flag read such as
/// `SendRequest::is_closed`) and `connect()`, which only *builds* the connecting future: it
/// runs in a task spawned there, and waiting for its outcome (`wait_for`) happens after the
/// guard's scope has ended. The compiler holds us to this too: a `MutexGuard` is not `Send`,
/// so a guard alive across an `.await` would make the exchange's future unspawnable.
pub struct Pool<T> {
    slots: Mutex<HashMap<String, Slot<T>>>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Send + Sync + 'static> Pool<T> {
    /// The connection for `key`: the pooled one if `alive` says it still is, the result of the
    /// attempt under way if there is one, or else the result of a new attempt, `connect()`.
    pub async fn get<F, Fut>(
        &self,
        key: &str,
        alive: impl Fn(&T) -> bool,
        connect: F,
    ) -> Result<Arc<T>, XRoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<T>, XRoadError>> + Send + 'static,
    {
        let mut connect = Some(connect);
        // Twice at most: a second pass only when an attempt vanished without an outcome (its
        // task panicked), and then this caller starts the next attempt itself.
        for _ in 0..2 {
            let mut rx = {
                let mut slots = self.slots.lock().expect("lock");
                let seen = match slots.get(key) {
                    Some(Slot::Ready(c)) if alive(c) => return Ok(c.clone()),
                    Some(Slot::Connecting(rx)) => {
                        let outcome = rx.borrow().clone();
                        match outcome {
                            None => Some(rx.clone()),
                            // Finished, and nobody has collected it yet.
                            Some(Ok(c)) if alive(&c) => {
                                slots.insert(key.to_owned(), Slot::Ready(c.clone()));
                                return Ok(c);
                            }
                            // A failed or dead result is stale for a new caller: try again.
                            Some(_) => None,
                        }
                    }
                    _ => None,
                };
                match seen {
                    Some(rx) => rx,
                    None => {
                        let Some(connect) = connect.take() else {
                            break;
                        };
                        let (tx, rx) = watch::channel(None);
                        slots.insert(key.to_owned(), Slot::Connecting(rx.clone()));
                        let attempt = connect();
                        tokio::spawn(async move {
                            let outcome = attempt.await;
                            let _ = tx.send(Some(outcome));
                        });
                        rx
                    }
                }
            };
            let waited = rx.wait_for(Option::is_some).await.map(|o| o.clone());
            let outcome = match waited {
                Ok(o) => o.expect("waited for Some"),
                // The attempt's task ended without an outcome.
                Err(_) => {
                    self.forget_attempt(key, &rx);
                    continue;
                }
            };
            let mut slots = self.slots.lock().expect("lock");
            // Collect the outcome into the slot unless someone else already has (or replaced it).
            if let Some(Slot::Connecting(current)) = slots.get(key) {
                if current.same_channel(&rx) {
                    match &outcome {
                        Ok(c) => {
                            slots.insert(key.to_owned(), Slot::Ready(c.clone()));
                        }
                        Err(_) => {
                            slots.remove(key);
                        }
                    }
                }
            }
            return outcome;
        }
        Err(XRoadError::new(
            ErrorKind::CpNetwork,
            "connecting to the provider gateway was abandoned",
        ))
    }

    fn forget_attempt(&self, key: &str, rx: &watch::Receiver<Outcome<T>>) {
        let mut slots = self.slots.lock().expect("lock");
        if matches!(slots.get(key), Some(Slot::Connecting(c)) if c.same_channel(rx)) {
            slots.remove(key);
        }
    }

    /// Makes `conn` the connection for `key`, as if an attempt had made it.
    pub fn insert(&self, key: &str, conn: Arc<T>) {
        self.slots
            .lock()
            .expect("lock")
            .insert(key.to_owned(), Slot::Ready(conn));
    }

    /// Drops `conn` from the pool (it failed), so the next caller connects anew.
    pub fn forget(&self, conn: &Arc<T>) {
        self.slots
            .lock()
            .expect("lock")
            .retain(|_, s| !matches!(s, Slot::Ready(c) if Arc::ptr_eq(c, conn)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    type Attempt = Result<Arc<u32>, XRoadError>;

    /// A caller asking `pool` for `key` in a task of its own, connecting with `connect`.
    fn spawn_get<Fut>(
        pool: &Arc<Pool<u32>>,
        key: &'static str,
        connect: impl FnOnce() -> Fut + Send + 'static,
    ) -> tokio::task::JoinHandle<Attempt>
    where
        Fut: Future<Output = Attempt> + Send + 'static,
    {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get(key, |_| true, connect).await })
    }

    #[tokio::test]
    async fn a_peer_that_never_answers_does_not_hold_up_connections_to_others() {
        let pool: Arc<Pool<u32>> = Arc::new(Pool::default());
        let hanging = spawn_get(&pool, "unreachable", std::future::pending);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let other = tokio::time::timeout(
            Duration::from_secs(2),
            pool.get("other", |_| true, || async { Ok(Arc::new(7)) }),
        )
        .await
        .expect("another peer is connected while the first one hangs");
        assert_eq!(*other.unwrap(), 7);
        assert!(!hanging.is_finished());
        hanging.abort();
    }

    #[tokio::test]
    async fn callers_arriving_during_an_attempt_share_it_and_its_failure() {
        let pool: Arc<Pool<u32>> = Arc::new(Pool::default());
        let attempts = Arc::new(AtomicUsize::new(0));
        let (go, gate) = watch::channel(false);
        let mut callers = Vec::new();
        for _ in 0..10 {
            let pool = pool.clone();
            let attempts = attempts.clone();
            let mut gate = gate.clone();
            callers.push(tokio::spawn(async move {
                pool.get(
                    "p",
                    |_| true,
                    move || async move {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        let _ = gate.wait_for(|g| *g).await;
                        Err::<Arc<u32>, _>(XRoadError::new(ErrorKind::CpNetwork, "refused"))
                    },
                )
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        go.send(true).unwrap();
        for c in callers {
            let e = c.await.unwrap().unwrap_err();
            assert_eq!(e.message, "refused");
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "one attempt for all");
        // The failure is not remembered: the next caller tries again, and its success is kept.
        let c = pool
            .get("p", |_| true, || async { Ok(Arc::new(1)) })
            .await
            .unwrap();
        let again = pool
            .get("p", |_| true, || async { Ok(Arc::new(2)) })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&c, &again));
        pool.forget(&c);
        let fresh = pool
            .get("p", |_| true, || async { Ok(Arc::new(3)) })
            .await
            .unwrap();
        assert_eq!(*fresh, 3);
        // A connection that is no longer alive is replaced.
        let replaced = pool
            .get("p", |_| false, || async { Ok(Arc::new(4)) })
            .await
            .unwrap();
        assert_eq!(*replaced, 4);
    }

    #[tokio::test]
    async fn an_abandoned_caller_does_not_cancel_the_attempt_others_wait_for() {
        let pool: Arc<Pool<u32>> = Arc::new(Pool::default());
        let first = spawn_get(&pool, "p", || async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Arc::new(5))
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = spawn_get(&pool, "p", || async { Ok(Arc::new(6)) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        assert_eq!(*second.await.unwrap().unwrap(), 5);
    }
}

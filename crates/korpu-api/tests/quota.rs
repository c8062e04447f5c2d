//! Rate limits shared by hub replicas through the real Redis on 127.0.0.1:6379: two limiters
//! (two replicas) take from one bucket, so the burst is spent once, not once per replica; and a
//! limiter whose Redis is gone refuses rather than counts nothing.
use korpu_api::quota::{Decision, Limit, Limiter};

const REDIS: &str = "redis://127.0.0.1:6379";

#[tokio::test]
async fn two_replicas_share_one_bucket() {
    let a = Limiter::redis(REDIS)
        .await
        .expect("Redis answers on 127.0.0.1:6379 (scripts/test starts it)");
    let b = Limiter::redis(REDIS).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let key = format!("test-{}-{nanos}", std::process::id());
    let limit = Limit {
        rate_per_sec: 0.001,
        burst: 5,
    };
    let mut allowed = 0;
    let mut limited = Vec::new();
    for i in 0..10 {
        let replica = if i % 2 == 0 { &a } else { &b };
        match replica.take(&key, limit).await.unwrap() {
            Decision::Allowed { .. } => allowed += 1,
            Decision::Limited { retry_after_ms } => limited.push(retry_after_ms),
        }
    }
    assert_eq!(allowed, 5, "the burst is spent once across both replicas");
    assert_eq!(limited.len(), 5);
    assert!(
        limited.iter().all(|ms| (1..=1_000_000).contains(ms)),
        "{limited:?}"
    );

    // Another application's bucket is untouched.
    let other = format!("{key}-other");
    assert_eq!(
        a.take(&other, limit).await.unwrap(),
        Decision::Allowed { remaining: 4 }
    );
}

#[tokio::test]
async fn without_its_store_the_limiter_refuses() {
    // Nothing listens on port 1: connecting fails, and the hub refuses to start or to count.
    assert!(Limiter::redis("redis://127.0.0.1:1").await.is_err());
}

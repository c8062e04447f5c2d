//! Helpers for the tests of crates that serve through these listeners (enabled by the
//! `test-util` feature, which only dev-dependencies turn on): how long a listener takes to
//! drop a connection. Not for production code.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Reads until the server closes; the time it took, or `None` if it was still open after
/// `limit`.
pub async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

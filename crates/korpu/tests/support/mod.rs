//! Helpers shared by the end-to-end tests of the `korpu` binary.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};

/// Ports below Linux's ephemeral range (32768–60999 by default), so that the many outgoing
/// connections a test makes can never take a port between our choosing it and a child process
/// binding it — the race that `bind(0)`-then-close has.
const PORTS: std::ops::Range<u16> = 20000..32000;

/// A loopback port nobody listens on, distinct from every other port this process handed out.
/// Test binaries run one at a time, but their tests run on parallel threads: the shared counter
/// keeps those apart, the pid-derived start keeps concurrent binaries (if any) apart.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = PORTS.end - PORTS.start;
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % u32::from(span)) as u16 + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = PORTS.start + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {PORTS:?}");
}

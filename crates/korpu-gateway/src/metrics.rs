//! Prometheus text-format metrics: exchanges by role and HTTP status class, errors by X-Road
//! error type, bytes moved, and a latency histogram per role. Counters are plain atomics and a
//! small mutex-guarded map of errors; counting an exchange allocates nothing.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The roles a gateway counts exchanges for, in the order they are rendered.
const ROLES: [&str; 2] = ["client", "provider"];

#[derive(Default)]
pub struct Metrics {
    /// By role (as [`ROLES`]) and HTTP status class (1xx to 5xx).
    exchanges: [[AtomicU64; 5]; 2],
    errors: Mutex<BTreeMap<String, u64>>,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    client_latency: Histogram,
    provider_latency: Histogram,
}

/// Appends one counter to a Prometheus text exposition: its HELP and TYPE lines and its value.
pub fn write_counter(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

impl Metrics {
    pub fn inc_error(&self, kind: &str) {
        *self
            .errors
            .lock()
            .expect("lock")
            .entry(kind.to_owned())
            .or_default() += 1;
    }

    pub fn add_bytes(&self, direction: &str, n: u64) {
        let c = if direction == "request" {
            &self.request_bytes
        } else {
            &self.response_bytes
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one finished exchange (or refusal) of `role` (`"client"` or `"provider"`) with
    /// HTTP `status`.
    pub fn observe(&self, role: &str, status: u16, took: Duration) {
        let r = usize::from(role != "client");
        let class = (usize::from(status / 100)).clamp(1, 5) - 1;
        self.exchanges[r][class].fetch_add(1, Ordering::Relaxed);
        let h = if role == "client" {
            &self.client_latency
        } else {
            &self.provider_latency
        };
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP korpu_exchanges_total Exchanges handled, by role and HTTP status class.\n# TYPE korpu_exchanges_total counter\n");
        for (role, classes) in ROLES.iter().zip(&self.exchanges) {
            for (class, n) in classes.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        s,
                        "korpu_exchanges_total{{role=\"{role}\",status=\"{}xx\"}} {n}",
                        class + 1
                    );
                }
            }
        }
        s.push_str("# HELP korpu_errors_total Errors, by X-Road error type.\n# TYPE korpu_errors_total counter\n");
        for (kind, n) in self.errors.lock().expect("lock").iter() {
            let _ = writeln!(s, "korpu_errors_total{{type=\"{kind}\"}} {n}");
        }
        s.push_str("# HELP korpu_body_bytes_total Body bytes relayed, by direction.\n# TYPE korpu_body_bytes_total counter\n");
        let _ = writeln!(
            s,
            "korpu_body_bytes_total{{direction=\"request\"}} {}",
            self.request_bytes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "korpu_body_bytes_total{{direction=\"response\"}} {}",
            self.response_bytes.load(Ordering::Relaxed)
        );
        s.push_str("# HELP korpu_exchange_duration_seconds Time to handle an exchange.\n# TYPE korpu_exchange_duration_seconds histogram\n");
        for (role, h) in [
            ("client", &self.client_latency),
            ("provider", &self.provider_latency),
        ] {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "korpu_exchange_duration_seconds_bucket{{role=\"{role}\",le=\"{b}\"}} {}",
                    h.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "korpu_exchange_duration_seconds_bucket{{role=\"{role}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                s,
                "korpu_exchange_duration_seconds_sum{{role=\"{role}\"}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "korpu_exchange_duration_seconds_count{{role=\"{role}\"}} {count}"
            );
        }
        s
    }
}

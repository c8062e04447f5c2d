//! The gateway's Prometheus metrics, kept in a [`korpu_service::metrics::Registry`]: exchanges
//! by role and HTTP status class, errors by X-Road error type, body bytes moved, and a latency
//! histogram per role. The signer's, verifier's and recorder's own counters are sampled when
//! `/metrics` is scraped (see `Gateway::signature_metrics` and `Recorder::metrics`).

use std::time::Duration;

use korpu_service::metrics::{Buckets, Counter, Family, Histogram, Registry};
pub use korpu_service::metrics::{Scrape, CONTENT_TYPE};

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// HTTP status classes, by the status's first digit less one.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

type Labels<const N: usize> = [(&'static str, &'static str); N];

pub struct Metrics {
    registry: Registry,
    /// By role and HTTP status class.
    exchanges: Family<Labels<2>, Counter>,
    /// By X-Road error type (`type`).
    errors: Family<[(&'static str, String); 1], Counter>,
    /// By direction (`request`, `response`).
    body_bytes: Family<Labels<1>, Counter>,
    /// By role.
    latency: Family<Labels<1>, Histogram, Buckets>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let exchanges = registry.counter_family(
            "korpu_exchanges_total",
            "Exchanges handled, by role and HTTP status class.",
        );
        let errors = registry.counter_family("korpu_errors_total", "Errors, by X-Road error type.");
        let body_bytes = registry.counter_family(
            "korpu_body_bytes_total",
            "Body bytes relayed, by direction.",
        );
        let latency = registry.histogram_family(
            "korpu_exchange_duration_seconds",
            "Time to handle an exchange.",
            &BUCKETS,
        );
        // Shown from the start, at zero, as before the move onto the registry.
        for direction in ["request", "response"] {
            let _ = body_bytes.get_or_create(&[("direction", direction)]);
        }
        for role in ["client", "provider"] {
            let _ = latency.get_or_create(&[("role", role)]);
        }
        Self {
            registry,
            exchanges,
            errors,
            body_bytes,
            latency,
        }
    }
}

/// `"client"` or `"provider"`, as the label value.
fn role_label(role: &str) -> &'static str {
    if role == "client" {
        "client"
    } else {
        "provider"
    }
}

impl Metrics {
    pub fn inc_error(&self, kind: &str) {
        self.errors
            .get_or_create(&[("type", kind.to_owned())])
            .inc();
    }

    pub fn add_bytes(&self, direction: &str, n: u64) {
        let direction = if direction == "request" {
            "request"
        } else {
            "response"
        };
        self.body_bytes
            .get_or_create(&[("direction", direction)])
            .inc_by(n);
    }

    /// Counts one finished exchange (or refusal) of `role` (`"client"` or `"provider"`) with
    /// HTTP `status`.
    pub fn observe(&self, role: &str, status: u16, took: Duration) {
        let role = role_label(role);
        let class = CLASSES[usize::from(status / 100).clamp(1, 5) - 1];
        self.exchanges
            .get_or_create(&[("role", role), ("status", class)])
            .inc();
        self.latency
            .get_or_create(&[("role", role)])
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text ([`CONTENT_TYPE`]) of these metrics and of those `sample` adds.
    pub fn render(&self, sample: impl FnOnce(&mut Scrape)) -> String {
        self.registry.render(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_keeps_the_names_and_labels_that_scrapers_read() {
        let m = Metrics::default();
        for status in [200, 200, 502] {
            m.observe("client", status, Duration::from_millis(3));
        }
        m.observe("provider", 200, Duration::from_millis(1));
        m.inc_error("Server.ClientProxy.NetworkError");
        m.add_bytes("request", 10);
        let text = m.render(|s| s.counter("korpu_ledger_commits_total", "Commits.", 2));
        for line in [
            "korpu_exchanges_total{role=\"client\",status=\"2xx\"} 2\n",
            "korpu_exchanges_total{role=\"client\",status=\"5xx\"} 1\n",
            "korpu_exchanges_total{role=\"provider\",status=\"2xx\"} 1\n",
            "korpu_errors_total{type=\"Server.ClientProxy.NetworkError\"} 1\n",
            "korpu_body_bytes_total{direction=\"request\"} 10\n",
            "korpu_body_bytes_total{direction=\"response\"} 0\n",
            "korpu_exchange_duration_seconds_count{role=\"client\"} 3\n",
            "korpu_exchange_duration_seconds_count{role=\"provider\"} 1\n",
            "korpu_ledger_commits_total 2\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}

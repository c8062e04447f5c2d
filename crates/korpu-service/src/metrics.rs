//! Prometheus metrics for every Körpü server, through `prometheus-client` (the Prometheus
//! organisation's Rust client): a [`Registry`] of the metrics a service counts as things
//! happen, and the OpenMetrics text exposition of a scrape, which may add values sampled at
//! that moment from counters kept elsewhere ([`Scrape`]: a signer's or a ledger's own atomics).
//!
//! Names are written in full, counters with their `_total` suffix, so that a name found in a
//! dashboard or a test can be found by grep in the code. Deliberately not here: which metrics a
//! service keeps, and the HTTP route that serves them.

use std::fmt::Debug;
use std::hash::Hash;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::gauge::ConstGauge;

pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::histogram::Histogram;

/// The `Content-Type` of [`Registry::render`]'s text: OpenMetrics 1.0, which Prometheus
/// negotiates and which the classic text format's parsers read too (the `# EOF` line aside).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics one service keeps, registered once at start.
#[derive(Default)]
pub struct Registry {
    inner: prometheus_client::registry::Registry,
}

/// Makes each new histogram of a [`Family`] with the same bucket bounds.
#[derive(Clone, Copy, Debug)]
pub struct Buckets(pub &'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A counter's name without the `_total` suffix that the encoder appends.
fn counter_stem(name: &str) -> &str {
    name.strip_suffix("_total")
        .expect("a counter's name ends in _total")
}

impl Registry {
    /// Registers a counter family named `name` (ending in `_total`), one counter per label set.
    pub fn counter_family<L>(&mut self, name: &str, help: &str) -> Family<L, Counter>
    where
        L: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static,
    {
        let family = Family::default();
        self.inner
            .register(counter_stem(name), help, family.clone());
        family
    }

    /// Registers a histogram family whose histograms have `buckets` as upper bounds.
    pub fn histogram_family<L>(
        &mut self,
        name: &str,
        help: &str,
        buckets: &'static [f64],
    ) -> Family<L, Histogram, Buckets>
    where
        L: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static,
    {
        let family = Family::new_with_constructor(Buckets(buckets));
        self.inner.register(name, help, family.clone());
        family
    }

    /// The OpenMetrics text of every registered metric, then of those `sample` adds now.
    pub fn render(&self, sample: impl FnOnce(&mut Scrape)) -> String {
        let mut scrape = Scrape::default();
        sample(&mut scrape);
        let mut out = String::new();
        encode_registry(&mut out, &self.inner)
            .and_then(|()| encode_registry(&mut out, &scrape.inner))
            .and_then(|()| encode_eof(&mut out))
            .expect("writing to a String cannot fail");
        out
    }
}

/// Values read at scrape time from counters a service keeps elsewhere.
#[derive(Default)]
pub struct Scrape {
    inner: prometheus_client::registry::Registry,
}

impl Scrape {
    /// A counter's value now; `name` ends in `_total`.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.inner
            .register(counter_stem(name), help, ConstCounter::new(value));
    }

    /// A counter of seconds (or another fractional unit); `name` ends in `_total`.
    pub fn counter_f64(&mut self, name: &str, help: &str, value: f64) {
        self.inner
            .register(counter_stem(name), help, ConstCounter::new(value));
    }

    /// A gauge's value now.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.inner.register(name, help, ConstGauge::new(value));
    }

    /// A histogram kept elsewhere (it shares its counts with `histogram`).
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.inner.register(name, help, histogram.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `series` (name and labels as exposed).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn registered_and_sampled_metrics_are_exposed_once_with_their_names_and_labels() {
        let mut registry = Registry::default();
        let exchanges: Family<[(&'static str, &'static str); 2], Counter> =
            registry.counter_family("korpu_test_exchanges_total", "Exchanges.");
        let latency: Family<[(&'static str, &'static str); 1], Histogram, Buckets> =
            registry.histogram_family("korpu_test_duration_seconds", "Latency.", &[0.1, 1.0]);
        exchanges
            .get_or_create(&[("role", "client"), ("status", "2xx")])
            .inc_by(3);
        latency.get_or_create(&[("role", "client")]).observe(0.5);
        let sizes = Histogram::new([1.0, 2.0, 4.0]);
        sizes.observe(3.0);

        let text = registry.render(|s| {
            s.counter("korpu_test_commits_total", "Commits.", 7);
            s.counter_f64("korpu_test_commit_seconds_total", "Time.", 0.25);
            s.gauge("korpu_test_commit_size", "Mean size.", 1.5);
            s.histogram("korpu_test_batch_size", "Batch sizes.", &sizes);
        });
        for (series, expected) in [
            (
                "korpu_test_exchanges_total{role=\"client\",status=\"2xx\"}",
                3.0,
            ),
            ("korpu_test_duration_seconds_count{role=\"client\"}", 1.0),
            (
                "korpu_test_duration_seconds_bucket{le=\"1.0\",role=\"client\"}",
                1.0,
            ),
            ("korpu_test_duration_seconds_sum{role=\"client\"}", 0.5),
            ("korpu_test_commits_total", 7.0),
            ("korpu_test_commit_seconds_total", 0.25),
            ("korpu_test_commit_size", 1.5),
            ("korpu_test_batch_size_sum", 3.0),
            ("korpu_test_batch_size_count", 1.0),
        ] {
            assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
        }
        assert!(
            text.contains("# TYPE korpu_test_commits counter\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }

    #[test]
    #[should_panic(expected = "ends in _total")]
    fn a_counter_named_without_total_is_a_programming_error() {
        Registry::default()
            .counter_family::<[(&'static str, &'static str); 1]>("korpu_test_exchanges", "x");
    }
}

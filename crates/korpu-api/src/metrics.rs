//! The hub's usage, for Prometheus (`GET /metrics`): calls per application, API and outcome
//! (allowed or rate-limited), refused API calls by OAuth error, and token requests by grant
//! type and outcome.
//!
//! Deliberately not here: per-day usage for the developer portal (it will read a store, not a
//! scrape).
use korpu_service::metrics::{Counter, Family, Registry};

type Labels<const N: usize> = [(&'static str, String); N];

/// The hub's counters.
pub struct Metrics {
    registry: Registry,
    calls: Family<Labels<3>, Counter>,
    refused: Family<Labels<1>, Counter>,
    tokens: Family<Labels<2>, Counter>,
}

impl Metrics {
    /// Registers the hub's metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let calls = registry.counter_family(
            "korpu_api_calls_total",
            "API calls with a valid token, by application, API and outcome (allowed, rate_limited)",
        );
        let refused = registry.counter_family(
            "korpu_api_refused_calls_total",
            "API calls refused before any application was known, by OAuth error",
        );
        let tokens = registry.counter_family(
            "korpu_api_token_requests_total",
            "Token endpoint requests, by grant type and outcome (issued or the OAuth error)",
        );
        Metrics {
            registry,
            calls,
            refused,
            tokens,
        }
    }

    /// One call by `client` to `api` with `outcome`.
    pub fn call(&self, client: &str, api: &str, outcome: &str) {
        let labels = [
            ("client", client.to_owned()),
            ("api", api.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        self.calls.get_or_create(&labels).inc();
    }

    /// One API call refused with `error`.
    pub fn refused(&self, error: &str) {
        self.refused
            .get_or_create(&[("error", error.to_owned())])
            .inc();
    }

    /// One token request of `grant_type` with `outcome`.
    pub fn token(&self, grant_type: &str, outcome: &str) {
        let labels = [
            ("grant_type", grant_type.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        self.tokens.get_or_create(&labels).inc();
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        self.registry.render(|_| {})
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

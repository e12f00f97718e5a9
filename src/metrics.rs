//! What the running service counts and times, for Prometheus (`GET /metrics`): requests by route
//! and status with their latencies, store operations, publishing and risk recomputes, and what is
//! read at scrape time (tile and page caches, sites, versions). One [`Metrics`] per service, so two
//! services in one process (tests) never mix their counts. Built on `prometheus-client`, which
//! writes the OpenMetrics text.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The media type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The prefix of every metric's name.
const PREFIX: &str = "tailings_atlas";

/// Latency buckets in seconds: 0.5 ms to 30 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/collections/{id}/items`), never the raw path: a bounded set.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// One value read at scrape time.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: SampleKind,
    pub value: u64,
}

/// Whether a [`Sample`] only grows (a counter) or goes up and down (a gauge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    Counter,
    Gauge,
}

/// The values of the last scrape, written into the text by the registry.
#[derive(Debug, Default)]
struct Scraped(Mutex<Vec<Sample>>);

impl prometheus_client::collector::Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let samples = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for s in samples {
            match s.kind {
                SampleKind::Counter => {
                    let m = ConstCounter::new(s.value);
                    let e = encoder.encode_descriptor(s.name, s.help, None, m.metric_type())?;
                    m.encode(e)?;
                }
                SampleKind::Gauge => {
                    let m = ConstGauge::new(i64::try_from(s.value).unwrap_or(i64::MAX));
                    let e = encoder.encode_descriptor(s.name, s.help, None, m.metric_type())?;
                    m.encode(e)?;
                }
            }
        }
        Ok(())
    }
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    store: Family<OperationLabels, Histogram>,
    steps: Family<StepLabels, Histogram>,
    refused: Family<ReasonLabels, Counter>,
    scraped: std::sync::Arc<Scraped>,
    /// Serialises scrapes: each sets the scraped values, then writes them.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response's head, by route pattern and method",
            Unit::Seconds,
            latency.clone(),
        );
        let store = Family::<OperationLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> _,
        );
        registry.register_with_unit(
            "store_operation_duration",
            "Time of each store operation (read, write, history, change feed…), by outcome",
            Unit::Seconds,
            store.clone(),
        );
        let steps =
            Family::<StepLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        registry.register_with_unit(
            "publish_duration",
            "Time to publish changed sites (analysis and index update) and to recompute the risk layers",
            Unit::Seconds,
            steps.clone(),
        );
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refused",
            "Requests refused by a limit or an authorization check, by reason",
            refused.clone(),
        );
        let scraped = std::sync::Arc::new(Scraped::default());
        registry.register_collector(Box::new(scraped.clone()));
        Metrics {
            registry,
            requests,
            latency,
            store,
            steps,
            refused,
            scraped,
            scrape: Mutex::new(()),
        }
    }
}

/// Method names as labels: the standard ones, anything else as `other` (a bounded set).
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    }
}

impl Metrics {
    /// Counts a request answered with `status` after `elapsed`, on the route whose pattern is
    /// `route` (`None`: no route matched).
    pub fn request(&self, route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
        let route = route.unwrap_or("(unmatched)").to_owned();
        let method = method_label(method).to_owned();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method: method.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// Times one store operation.
    pub fn store_operation(&self, operation: &'static str, ok: bool, elapsed: Duration) {
        self.store
            .get_or_create(&OperationLabels {
                operation,
                outcome: if ok { "ok" } else { "error" },
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Times one publishing step (`sites`, `risk_layers`).
    pub fn step(&self, step: &'static str, elapsed: Duration) {
        self.steps
            .get_or_create(&StepLabels { step })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request refused for `reason` (`rate_limited_auth`, `rate_limited_writes`,
    /// `time_budget`, …).
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The OpenMetrics text of every metric, with `now` (the values read at scrape time) among them.
    pub fn encode(&self, now: Vec<Sample>) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        *self.scraped.0.lock().unwrap_or_else(|p| p.into_inner()) = now;
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `series` (name with labels) in `text`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status_and_timed() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.request(
                Some("/collections/{id}/items"),
                "GET",
                200,
                Duration::from_millis(3),
            );
        }
        m.request(None, "BREW", 404, Duration::from_micros(100));
        let text = m.encode(Vec::new());
        assert_eq!(
            value(
                &text,
                r#"tailings_atlas_http_requests_total{route="/collections/{id}/items",method="GET",status="200"}"#
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                r#"tailings_atlas_http_requests_total{route="(unmatched)",method="other",status="404"}"#
            ),
            Some(1.0)
        );
        // 3 ms falls in the 5 ms bucket, not the 2.5 ms one.
        let bucket = |le: &str| {
            value(
                &text,
                &format!(
                    r#"tailings_atlas_http_request_duration_seconds_bucket{{le="{le}",route="/collections/{{id}}/items",method="GET"}}"#
                ),
            )
        };
        assert_eq!(bucket("0.0025"), Some(0.0), "{text}");
        assert_eq!(bucket("0.005"), Some(3.0));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn scraped_values_are_written_as_their_kind() {
        let m = Metrics::default();
        m.store_operation("get", true, Duration::from_millis(1));
        m.step("risk_layers", Duration::from_millis(20));
        m.refused("rate_limited_auth");
        let text = m.encode(vec![
            Sample {
                name: "sites",
                help: "Sites published",
                kind: SampleKind::Gauge,
                value: 27,
            },
            Sample {
                name: "tile_cache_hits",
                help: "Tiles answered from the cache",
                kind: SampleKind::Counter,
                value: 5,
            },
        ]);
        assert_eq!(value(&text, "tailings_atlas_sites"), Some(27.0), "{text}");
        assert!(text.contains("# TYPE tailings_atlas_sites gauge"));
        assert_eq!(
            value(&text, "tailings_atlas_tile_cache_hits_total"),
            Some(5.0)
        );
        assert_eq!(
            value(
                &text,
                r#"tailings_atlas_store_operation_duration_seconds_count{operation="get",outcome="ok"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                r#"tailings_atlas_publish_duration_seconds_count{step="risk_layers"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                r#"tailings_atlas_refused_total{reason="rate_limited_auth"}"#
            ),
            Some(1.0)
        );
    }
}

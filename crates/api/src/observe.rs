//! Request ids, the per-request tracing span, and Prometheus metrics.
//!
//! The `observe` middleware wraps every route (and the fallbacks): it takes the client's
//! `x-request-id` if it is a sane token (1 to 64 characters of `A-Z a-z 0-9 - _ .`) or makes one, runs the request
//! inside a `request` span carrying the id, method and route template (so every log line of the
//! request names it), makes the id readable by [`current_request_id`] (for problem `instance`),
//! echoes it in the response, and counts the request in [`Metrics`] by method, route template
//! and status. It logs neither bodies, nor query strings, nor headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Key, Label, Level, Metadata, Recorder as _};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tracing::Instrument as _;

use crate::AppState;

/// The request id header, read and echoed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

const MAX_REQUEST_ID_LEN: usize = 64;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A request id from the client, if it is one we are willing to log and echo.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_REQUEST_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_owned())
}

/// Wraps every request: id, span, metrics, one log line at the end.
pub(crate) async fn observe(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(acceptable_request_id)
        .or_else(|| crate::random::token(12).ok())
        .unwrap_or_else(|| "unidentified".to_owned());
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Label values stay few: unknown methods are counted together.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_owned(),
        _ => "OTHER".to_owned(),
    };
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    // tokio's clock (not the wall clock): a latency, never a business time.
    let started = tokio::time::Instant::now();
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    state
        .metrics()
        .record(&method, &route, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request finished"
        );
    });
    response
}

/// Request counters and latency histograms, rendered in the Prometheus text format.
///
/// Each [`Metrics`] has its own recorder (no global state), so several apps in one process
/// (tests) keep separate counts.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    recorded: Arc<AtomicU64>,
}

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Latency histogram buckets, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Histogram samples are drained into buckets when rendered; if nobody scrapes, drain every
/// this many requests so memory stays bounded.
const UPKEEP_EVERY: u64 = 4096;

/// Counter of handled requests, labelled `method`, `route` (template) and `status`.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram of request latency in seconds, same labels.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

impl Metrics {
    /// A fresh set of metrics.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // Setting non-empty buckets cannot fail; keep the default summary if it ever did.
        let builder = match builder.set_buckets(&LATENCY_BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        recorder.describe_counter(
            REQUESTS_TOTAL.into(),
            None,
            "HTTP requests handled, by method, route template and status.".into(),
        );
        recorder.describe_histogram(
            REQUEST_DURATION.into(),
            Some(metrics::Unit::Seconds),
            "HTTP request latency, by method, route template and status.".into(),
        );
        let handle = recorder.handle();
        Self {
            recorder: Arc::new(recorder),
            handle,
            recorded: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts one request.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = vec![
            Label::new("method", method.to_owned()),
            Label::new("route", route.to_owned()),
            Label::new("status", status.to_string()),
        ];
        let counter = Key::from_parts(REQUESTS_TOTAL, labels.clone());
        let histogram = Key::from_parts(REQUEST_DURATION, labels);
        self.recorder
            .register_counter(&counter, &METADATA)
            .increment(1);
        self.recorder
            .register_histogram(&histogram, &METADATA)
            .record(seconds);
        if self.recorded.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1 {
            self.handle.run_upkeep();
        }
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

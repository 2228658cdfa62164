//! The gateway's Prometheus series. Label values come from bounded sets:
//! registered service names, this server's registered client ids, names of
//! registered authorization servers (for their tokens), `anonymous`, status
//! classes; never raw request data.
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use tollgate_authz::telemetry::status_class;

pub const REQUESTS: &str = "tollgate_gateway_requests_total";
pub const DURATION: &str = "tollgate_gateway_request_duration_seconds";
pub const INTROSPECTIONS: &str = "tollgate_gateway_introspections_total";
pub const VALIDATION_CACHE: &str = "tollgate_gateway_validation_cache_total";
pub const SERVICES: &str = "tollgate_gateway_services";

/// Who a call was for, filled in as the call is understood.
#[derive(Debug, Default)]
pub struct Labels {
    /// The service's name; `None` while no service matched.
    pub service: Option<Arc<str>>,
    /// The consumer label (see `Gateway::serve`); empty for an anonymous or
    /// refused call.
    pub consumer: String,
}

/// The series of one (service, consumer): a counter per status class,
/// registered on first use, and the latency histogram.
struct Handles {
    service: Arc<str>,
    consumer: Arc<str>,
    by_class: [OnceLock<Counter>; 5],
    duration: Histogram,
}

impl Handles {
    fn new(service: Arc<str>, consumer: Arc<str>) -> Self {
        let duration = metrics::histogram!(
            DURATION,
            "service" => service.to_string(),
            "consumer" => consumer.to_string(),
        );
        Self {
            service,
            consumer,
            by_class: Default::default(),
            duration,
        }
    }

    fn record(&self, status: u16, took: Duration) {
        let class = status_class(status);
        let i = usize::from(status.clamp(100, 599) / 100 - 1);
        if let Some(slot) = self.by_class.get(i) {
            slot.get_or_init(|| {
                metrics::counter!(
                    REQUESTS,
                    "service" => self.service.to_string(),
                    "consumer" => self.consumer.to_string(),
                    "status" => class,
                )
            })
            .increment(1);
        }
        self.duration.record(took.as_secs_f64());
    }
}

/// Keeps the metric handles of each (service, consumer), so a call costs
/// two lock-free updates instead of building and looking up label sets.
#[derive(Default)]
pub struct Recorder {
    handles: RwLock<HashMap<Arc<str>, ByConsumer>>,
}

/// One service's handles, by consumer label.
type ByConsumer = HashMap<Arc<str>, Arc<Handles>>;

/// More (service, consumer) pairs than this and the handle cache starts
/// afresh (the series stay in the exporter; only the shortcut is dropped).
const MAX_PAIRS: usize = 50_000;

impl Recorder {
    pub fn record(&self, labels: &Labels, status: u16, took: Duration) {
        let service = labels.service.as_deref().unwrap_or("unmatched");
        let consumer = if labels.consumer.is_empty() {
            "anonymous"
        } else {
            labels.consumer.as_str()
        };
        let found = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .and_then(|m| m.get(consumer))
            .cloned();
        let handles = match found {
            Some(h) => h,
            None => {
                let service: Arc<str> = labels
                    .service
                    .clone()
                    .unwrap_or_else(|| Arc::from("unmatched"));
                let consumer: Arc<str> = Arc::from(consumer);
                let h = Arc::new(Handles::new(service.clone(), consumer.clone()));
                let mut map = self.handles.write().unwrap_or_else(PoisonError::into_inner);
                if map.values().map(HashMap::len).sum::<usize>() >= MAX_PAIRS {
                    map.clear();
                }
                map.entry(service).or_default().insert(consumer, h.clone());
                h
            }
        };
        handles.record(status, took);
    }
}

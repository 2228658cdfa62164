//! The gateway's Prometheus series. Label values come from bounded sets:
//! registered service names, this server's registered client ids, names of
//! registered authorization servers (for their tokens), `anonymous`, status
//! classes; never raw request data.
use std::time::Duration;

use tollgate_authz::telemetry::status_class;

pub const REQUESTS: &str = "tollgate_gateway_requests_total";
pub const DURATION: &str = "tollgate_gateway_request_duration_seconds";
pub const INTROSPECTIONS: &str = "tollgate_gateway_introspections_total";
pub const VALIDATION_CACHE: &str = "tollgate_gateway_validation_cache_total";
pub const SERVICES: &str = "tollgate_gateway_services";

/// Who a call was for, filled in as the call is understood.
#[derive(Debug, Default)]
pub struct Labels {
    /// The service's name; empty while no service matched.
    pub service: String,
    /// The token's client id; empty for an anonymous or refused call.
    pub consumer: String,
}

impl Labels {
    pub fn record(self, status: u16, took: Duration) {
        let service = if self.service.is_empty() {
            "unmatched".to_owned()
        } else {
            self.service
        };
        let consumer = if self.consumer.is_empty() {
            "anonymous".to_owned()
        } else {
            self.consumer
        };
        metrics::counter!(
            REQUESTS,
            "service" => service.clone(),
            "consumer" => consumer.clone(),
            "status" => status_class(status),
        )
        .increment(1);
        metrics::histogram!(DURATION, "service" => service, "consumer" => consumer)
            .record(took.as_secs_f64());
    }
}

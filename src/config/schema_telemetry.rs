//! `[telemetry]`: OpenTelemetry export over OTLP/HTTP (off unless `otlp_endpoint` is set), and
//! its checks. Header values are secrets: never shown, masked wherever drover writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::diagnose::{Diagnostic, Seg, SourceIndex};
use super::units::HumanDuration;

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// The collector's OTLP/HTTP base URL, e.g. "http://127.0.0.1:4318"; drover posts to
    /// `/v1/logs`, `/v1/traces` and `/v1/metrics` under it. Unset = no export.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Extra request headers (e.g. an authorization token); the values are secrets.
    pub headers: BTreeMap<String, String>,
    /// How often the fleet metrics are exported.
    pub metrics_interval: HumanDuration,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "drover".into(),
            headers: BTreeMap::new(),
            metrics_interval: HumanDuration::from_secs(60),
        }
    }
}

/// Header values are secrets, so even a debug print of the config names the headers only.
impl std::fmt::Debug for TelemetrySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetrySection")
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("service_name", &self.service_name)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("metrics_interval", &self.metrics_interval)
            .finish()
    }
}

fn at(key: &str) -> Vec<Seg> {
    vec![Seg::Key("telemetry".into()), Seg::Key(key.into())]
}

/// Why `endpoint` cannot be used as an OTLP/HTTP base URL (`None`: it can).
pub fn endpoint_problem(endpoint: &str) -> Option<String> {
    let uri: hyper::Uri = match endpoint.parse() {
        Ok(u) => u,
        Err(e) => return Some(format!("otlp_endpoint `{endpoint}` is not a URL ({e})")),
    };
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Some(format!(
                "otlp_endpoint `{endpoint}`: drover sends OTLP over plain HTTP only — point it at a collector on this host or network (e.g. \"http://127.0.0.1:4318\") and let that collector forward over TLS"
            ));
        }
        _ => {
            return Some(format!(
                "otlp_endpoint `{endpoint}` must start with http://, like \"http://127.0.0.1:4318\""
            ));
        }
    }
    let Some(authority) = uri.authority() else {
        return Some(format!("otlp_endpoint `{endpoint}` names no host"));
    };
    if authority.as_str().contains('@') {
        return Some(
            "otlp_endpoint must not carry credentials in the URL — put them in [telemetry.headers], whose values are kept secret".into(),
        );
    }
    if uri.query().is_some() {
        return Some(format!(
            "otlp_endpoint `{endpoint}` must not have a query; drover appends /v1/logs, /v1/traces and /v1/metrics to it"
        ));
    }
    None
}

pub(super) fn validate(t: &TelemetrySection, index: &SourceIndex<'_>, out: &mut Vec<Diagnostic>) {
    if let Some(endpoint) = &t.otlp_endpoint
        && let Some(problem) = endpoint_problem(endpoint)
    {
        out.push(index.at_path(&at("otlp_endpoint"), problem));
    }
    if t.service_name.trim().is_empty() {
        out.push(index.at_path(
            &at("service_name"),
            "service_name must not be empty (default \"drover\")",
        ));
    }
    if t.metrics_interval.0 < std::time::Duration::from_secs(1) {
        out.push(index.at_path(
            &at("metrics_interval"),
            "metrics_interval must be at least 1s",
        ));
    }
    for (name, value) in &t.headers {
        let mut path = at("headers");
        path.push(Seg::Key(name.clone()));
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            out.push(index.at_path(&path, format!("`{name}` is not a valid HTTP header name")));
        } else if hyper::header::HeaderValue::from_str(value).is_err() {
            // The value is a secret: say what is wrong without echoing it.
            out.push(index.at_path(
                &path,
                format!("the value of header `{name}` has characters HTTP does not allow in a header (control characters or non-ASCII)"),
            ));
        }
    }
}

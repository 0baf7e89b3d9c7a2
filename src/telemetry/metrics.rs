//! The fleet metrics as OpenTelemetry observable instruments: one per Prometheus family, with
//! the same name, labels (as attributes) and values, read from the latest snapshot whenever
//! the periodic reader collects.
//!
//! Invariant: a collection only clones the newest snapshot `Arc`; nothing here reaches into
//! the driver loop.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter};
use tokio::sync::watch;

use crate::control::metrics::families::{Kind, Series, series};
use crate::core::Snapshot;

/// Where the callbacks read the fleet: the supervisor's snapshots.
pub type Source = watch::Receiver<Arc<Snapshot>>;

/// Keeps the instruments alive for as long as the export runs.
#[derive(Default)]
pub struct Instruments {
    _gauges: Vec<opentelemetry::metrics::ObservableGauge<i64>>,
    _floats: Vec<opentelemetry::metrics::ObservableGauge<f64>>,
    _counters: Vec<opentelemetry::metrics::ObservableCounter<u64>>,
}

fn points(source: &Source, name: &str) -> Vec<(Vec<KeyValue>, f64)> {
    let snap = source.borrow().clone();
    series(&snap)
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| {
            s.points
                .into_iter()
                .map(|(values, v)| {
                    let attrs = s
                        .labels
                        .iter()
                        .zip(values)
                        .map(|(k, v)| KeyValue::new(*k, crate::secrets::mask(&v).into_owned()))
                        .collect();
                    (attrs, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Registers every family of [`series`] on `meter`.
pub fn register(meter: &Meter, source: &Source) -> Instruments {
    let mut out = Instruments::default();
    // Which families exist and their kinds do not depend on the snapshot's content.
    let families: Vec<Series> = series(&source.borrow().clone());
    for family in families {
        let name = family.name;
        let src = source.clone();
        match family.kind {
            Kind::Gauge => out._gauges.push(
                meter
                    .i64_observable_gauge(name)
                    .with_description(family.help)
                    .with_callback(move |o: &dyn AsyncInstrument<i64>| {
                        for (attrs, v) in points(&src, name) {
                            o.observe(v as i64, &attrs);
                        }
                    })
                    .build(),
            ),
            Kind::FloatGauge => out._floats.push(
                meter
                    .f64_observable_gauge(name)
                    .with_description(family.help)
                    .with_callback(move |o: &dyn AsyncInstrument<f64>| {
                        for (attrs, v) in points(&src, name) {
                            o.observe(v, &attrs);
                        }
                    })
                    .build(),
            ),
            Kind::Counter => out._counters.push(
                meter
                    .u64_observable_counter(name)
                    .with_description(family.help)
                    .with_callback(move |o: &dyn AsyncInstrument<u64>| {
                        for (attrs, v) in points(&src, name) {
                            o.observe(v as u64, &attrs);
                        }
                    })
                    .build(),
            ),
        }
    }
    out
}

//! What drover does with each line an agent prints (besides storing it): signs of life for
//! stall detection, throttled so a chatty agent costs one input per interval.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::core::{ActivityKind, Input};
use crate::docker::follow::LineSink;

/// At most one activity input per slot per this interval.
const ACTIVITY_EVERY: Duration = Duration::from_secs(5);

pub struct AgentOutput {
    slot: String,
    inputs: mpsc::Sender<Input>,
    last_activity: Option<Instant>,
}

impl AgentOutput {
    pub fn new(slot: String, inputs: mpsc::Sender<Input>) -> Self {
        Self {
            slot,
            inputs,
            last_activity: None,
        }
    }
}

impl LineSink for AgentOutput {
    fn line(&mut self, _ts_ms: u64, _stderr: bool, _text: &str) {
        let now = Instant::now();
        if self
            .last_activity
            .is_none_or(|t| now.duration_since(t) >= ACTIVITY_EVERY)
        {
            self.last_activity = Some(now);
            // A full queue means the loop is busy; a dropped sign of life is harmless.
            let _ = self.inputs.try_send(Input::Activity {
                slot: self.slot.clone(),
                kind: ActivityKind::Log,
            });
        }
    }
}

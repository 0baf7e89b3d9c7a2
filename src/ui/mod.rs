//! The terminal face: ratatui rendering of the core's Snapshot, keys through one keymap table.

pub mod filter;
pub mod intent;
pub mod keymap;
pub mod logview;
pub mod markdown;
pub mod palette;
pub mod text;

use crate::docker::logs::{LogHub, RingLine};

/// Where the log pane reads lines: synchronous and cheap (a lock and a copy), so the UI task
/// can call it between frames.
pub trait LogSource: Send + Sync {
    /// The newest `n` lines of `slot`, oldest first.
    fn tail(&self, slot: &str, n: usize) -> Vec<RingLine>;
    /// Lines of `slot` with `seq >= from`, oldest first.
    fn since(&self, slot: &str, from: u64) -> Vec<RingLine>;
}

impl LogSource for LogHub {
    fn tail(&self, slot: &str, n: usize) -> Vec<RingLine> {
        LogHub::tail(self, slot, n)
    }
    fn since(&self, slot: &str, from: u64) -> Vec<RingLine> {
        LogHub::since(self, slot, from)
    }
}

//! What a face is fed besides the core's snapshot: the read interface it reads log lines, older
//! log pages and events through, and the plain types that cross it (PROGRESS.md as shown, a
//! command with its reply channel).
//!
//! The root package implements these traits over its log ring, its log files, the store and
//! the control socket, and the supervisor publishes `ProgressView` and reads `CommandEnvelope`;
//! so the face depends on none of them. Invariant: every method here is cheap or off the UI
//! task — `LogSource` is a lock and a copy, `EventSource` is asynchronous, and a `LogCursor`
//! is only ever used in a blocking task.

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::core::{CommandReply, CommandRequest};

/// A line held in memory for the faces (the newest lines of a slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingLine {
    /// Order within the slot's ring; never repeats.
    pub seq: u64,
    pub ts_ms: u64,
    pub stderr: bool,
    pub text: String,
}

/// One record of a slot's log file, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLine {
    pub ts_ms: u64,
    pub stderr: bool,
    pub text: String,
}

/// An event of the persisted log, with its log position.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub ts_ms: i64,
    pub slot: Option<String>,
    pub kind: String,
    pub who: Option<String>,
    pub payload: String,
}

/// PROGRESS.md as the faces show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgressView {
    /// `None` until read, or when the file does not exist.
    pub text: Option<String>,
    pub truncated: bool,
    /// Commit (short id) and time of the last change, when known.
    pub commit: Option<String>,
    pub changed_at_ms: Option<i64>,
    /// Branch tip the view was read at.
    pub tip: String,
}

/// A command for the driver loop, with where to send the reply.
#[derive(Debug)]
pub struct CommandEnvelope {
    pub request: CommandRequest,
    pub reply: oneshot::Sender<CommandReply>,
}

/// Where the log pane reads lines: synchronous and cheap (a lock and a copy), so the UI task
/// can call it between frames.
pub trait LogSource: Send + Sync {
    /// The newest `n` lines of `slot`, oldest first.
    fn tail(&self, slot: &str, n: usize) -> Vec<RingLine>;
    /// Lines of `slot` with `seq >= from`, oldest first.
    fn since(&self, slot: &str, from: u64) -> Vec<RingLine>;
}

/// Where the events view reads the persisted log (asynchronously, off the UI task).
pub trait EventSource: Send + Sync {
    /// Events with an id above `after_id`, oldest first, at most `limit` — when `after_id` is
    /// 0, the newest `limit` events.
    fn after(&self, after_id: i64, limit: usize)
    -> BoxFuture<'_, Result<Vec<StoredEvent>, String>>;
}

/// An event source with nothing in it (for faces without a store).
pub struct NoEvents;

impl EventSource for NoEvents {
    fn after(&self, _: i64, _: usize) -> BoxFuture<'_, Result<Vec<StoredEvent>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A slot's log file read backwards, one record at a time, across its rotated parts
/// (blocking: used only off the UI task).
pub trait LogCursor: Send + std::fmt::Debug {
    /// The record before the last one returned; `None` at the start of the oldest part.
    fn prev_line(&mut self) -> Result<Option<FileLine>, String>;
    /// Whether the start of the oldest part has been reached.
    fn at_start(&self) -> bool;
    /// The time of the oldest part's first record, when it can be read.
    fn oldest_ts_ms(&self) -> Option<u64>;
}

/// Where a face on this host opens the containers' log files (older lines than the ring
/// holds); see [`super::logpages`] for how a page is read from them.
pub trait LogFileSource: Send + Sync {
    /// The log of generation `generation` of `slot`, positioned at its end (a missing file
    /// reads as empty).
    fn open(&self, slot: &str, generation: u64) -> Box<dyn LogCursor>;
}

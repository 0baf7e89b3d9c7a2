//! Upstream git adapter: reads and watches the fleet's shared bare repo, where agents claim
//! tasks by committing lock files (`current_tasks/<task>.<any extension>`; hidden files are not
//! locks) and keep notes in PROGRESS.md.
//!
//! A repo without commits, or whose branch nobody pushed yet, is normal (day one): it reads as
//! empty until the branch appears. Lock files and their commits yield `HolderEvidence`, which
//! the supervisor turns into a slot with `core::SlotDirectory`. `report` is the retrospective
//! of any repo's first-parent lock history (`drover report --upstream`).
//!
//! It provides the lock table at the branch tip, the claim history (read incrementally: only
//! new commits are walked after the first scan), PROGRESS.md with a line-change summary, a
//! watcher task that reports changes within the debounce time, and a lock release that only
//! ever adds a commit and moves the branch by compare-and-swap. All git reads are synchronous
//! (async callers use `spawn_blocking`); the watcher does that itself. An `UpstreamRepo` is
//! `Send` but not `Sync`: give the watcher one and open another for operator commands such as
//! `release_lock` (the watcher sees the resulting commit like any other push).
//!
//! git2 with vendored libgit2 is used: a stable API, a smaller binary and a shorter build than
//! gix, and read speed is not the bottleneck (a 10 000-commit history scans in about 0.1 s).
//! Its compare-and-swap ref update (`reference_matching`) takes the same `.lock` file as
//! `git receive-pack`, which is what makes the release race-safe.

pub mod board;
pub mod board_flow;
pub mod board_settings;
pub mod board_text;
mod checkout;
mod error;
mod evidence;
mod history;
mod locks;
mod progress;
mod release;
mod repo;
pub mod report;
mod scan;
mod text;
mod watch;

pub use checkout::{BranchCommit, CheckoutError, MAX_CHECKOUT_BYTES, MAX_CHECKOUT_FILES};
pub use error::UpstreamError;
pub use history::{
    ClaimEvent, ClaimEventKind, ClaimHistory, ClaimSpan, MAX_EVENTS, MAX_SPANS_PER_TASK,
    TaskClaimStats,
};
pub use locks::{Holder, Lock, LockFileKind};
pub use progress::{
    LineChanges, MAX_PROGRESS_BYTES, Progress, ProgressChange, ProgressSnapshot, ProgressSource,
    changes_since,
};
pub use release::{PreparedRelease, ReleaseOutcome};
pub use repo::{
    DEFAULT_AUTHOR_EMAIL, DEFAULT_AUTHOR_NAME, DEFAULT_RELEASE_ATTEMPTS, UpstreamRepo,
    UpstreamUpdate,
};
pub use scan::{NewCommit, RefreshSummary};
pub use watch::{WatchOptions, spawn_watcher};

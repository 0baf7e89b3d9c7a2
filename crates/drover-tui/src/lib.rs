//! drover-tui: the terminal face — rendering, key handling (`keys`), colour themes (`theme`)
//! and the face loop (`ui`) over the core's `Snapshot`.
//!
//! Invariant, kept by this crate's dependency list: the face reads the fleet only through the
//! snapshot and the small read interface of `ui::feed` (log lines, older log pages, events,
//! PROGRESS.md, command replies), which the root package implements over its log ring, log
//! files, store and supervisor. Nothing here depends on bollard, sqlx, git2, hyper or notify.

pub mod keys;
pub mod theme;
pub mod ui;

// The core's modules under the paths the face's files name them by (`crate::core::…`).
use drover_core::{core, line_changes, secrets, untrusted};

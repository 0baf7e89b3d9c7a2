//! Edits judged by what they change, in any transcript format whose actions carry the edit:
//!
//! - `edit_retry` (structural): the same edit (same file, same old and new text) failed, the
//!   agent did something else — re-read the file — and sent the very same edit again, which
//!   failed again: one and a half cycles of fail → re-read → re-apply. The text-based form of
//!   this detector (the tool's and the agent's own words) lives in `notices`; this one needs no
//!   wording, only the (action, arguments, result) pairs.
//! - `oscillation` (edit flip): an edit A→B, later B→A on the same text, later A→B again. Two
//!   versions of one change alternating is no progress however many different actions lie in
//!   between (the A-B-A-B action cycle of `turns` needs them back to back).
//!
//! What an edit changes is read by the transcript readers (`transcript::edit`) and arrives on
//! each turn (`Turn::edit`, `Turn::change`).
//!
//! Invariants: pure; memory: the last [`EDITS_KEPT`] edits (three hashes and an evidence line
//! each) and one failed edit.

use std::collections::VecDeque;

use super::{LoopChange, LoopFinding, OutputDetector, evidence_line};
use crate::transcript::Turn;

/// Edits remembered for the flip check.
const EDITS_KEPT: usize = 12;
/// What one edit changes: hashes of the old and the new text (whitespace collapsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    old: u64,
    new: u64,
}

#[derive(Debug, Default)]
pub(super) struct EditLoops {
    edits: VecDeque<(Change, String, u64)>,
    flip_firing: bool,
    /// The last failed edit: its pair key, first line, stamp, failures, and whether another
    /// action came after its latest failure (the re-read).
    failed: Option<(u64, String, u64, u32, bool)>,
    retry_firing: bool,
}

impl EditLoops {
    /// An action was taken (before its result is known).
    pub(super) fn action(&mut self, turn: &Turn, stamp: u64, out: &mut Vec<LoopFinding>) {
        let Some((old, new)) = turn.change else {
            return;
        };
        let c = Change { old, new };
        let line = evidence_line(&turn.first_line);
        let reversed = Change {
            old: c.new,
            new: c.old,
        };
        // The latest undo of this change, and the same change made before that undo.
        let undo = self.edits.iter().rposition(|(e, _, _)| *e == reversed);
        let before = undo.and_then(|u| {
            self.edits
                .iter()
                .take(u)
                .position(|(e, _, _)| *e == c)
                .map(|i| (i, u))
        });
        if let Some((i, _)) = before {
            let (first, since) = self
                .edits
                .get(i)
                .map(|(_, l, s)| (l.clone(), *s))
                .unwrap_or_default();
            let first_time = !self.flip_firing;
            self.flip_firing = true;
            out.push(LoopFinding {
                detector: OutputDetector::Oscillation,
                at: stamp,
                change: LoopChange::Holding {
                    first: first_time,
                    since,
                    evidence: vec![
                        "an edit was undone and made again (A→B, B→A, A→B)".to_string(),
                        format!("first: {first}"),
                        format!("last: {line}"),
                    ],
                },
            });
        } else if self.flip_firing {
            self.flip_firing = false;
            out.push(LoopFinding {
                detector: OutputDetector::Oscillation,
                at: stamp,
                change: LoopChange::Cleared,
            });
        }
        if self.edits.len() >= EDITS_KEPT {
            self.edits.pop_front();
        }
        self.edits.push_back((c, line, stamp));
    }

    /// An action got its result: `key` identifies the (action, result) pair.
    pub(super) fn paired(
        &mut self,
        edit: bool,
        action: &str,
        key: u64,
        error: bool,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        if !edit {
            // Anything else done after a failed edit (typically reading the file again).
            if let Some(f) = self.failed.as_mut() {
                f.4 = true;
            }
            return;
        }
        if !error {
            // The edit applied: the cycle is over.
            self.failed = None;
            if self.retry_firing {
                self.retry_firing = false;
                out.push(LoopFinding {
                    detector: OutputDetector::EditRetry,
                    at: stamp,
                    change: LoopChange::Cleared,
                });
            }
            return;
        }
        let line = evidence_line(action.lines().next().unwrap_or_default().trim());
        match self.failed.as_mut() {
            Some(f) if f.0 == key && f.4 => {
                f.3 += 1;
                f.4 = false;
                let first_time = !self.retry_firing;
                self.retry_firing = true;
                out.push(LoopFinding {
                    detector: OutputDetector::EditRetry,
                    at: stamp,
                    change: LoopChange::Holding {
                        first: first_time,
                        since: f.2,
                        evidence: vec![
                            format!(
                                "the same edit failed {} times, other actions (a re-read) in between",
                                f.3
                            ),
                            format!("first: {}", f.1),
                            format!("last: {line}"),
                        ],
                    },
                });
            }
            // The same failure straight again is `repeated_action`'s; keep counting from here.
            Some(f) if f.0 == key => {}
            _ => self.failed = Some((key, line, stamp, 1, false)),
        }
    }
}

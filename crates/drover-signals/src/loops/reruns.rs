//! `repeated_failure`: the same action failed the same way [`FAILURES`] times, with other work
//! between the tries — the same failing test run after run while the agent edits around it,
//! the same blocked command retried between other steps. Back-to-back repeats are
//! `repeated_action`'s; this one sees through the work in between, judged on (action,
//! arguments, result) in any transcript format.
//!
//! Progress ends it by construction: a different result of that action (another error, a
//! changed count, a pass) starts its count again, and result keys keep numbers, so "3 failed"
//! then "2 failed" differ.
//!
//! Invariants: pure; memory: at most [`ACTIONS_KEPT`] actions with a few hashes and two
//! evidence lines each.

use std::collections::VecDeque;

use super::{LoopChange, LoopFinding, OutputDetector, evidence_line};

/// The same failure of one action this many times fires.
const FAILURES: u32 = 3;
/// Different actions remembered.
const ACTIONS_KEPT: usize = 32;

#[derive(Debug)]
struct Tries {
    action: u64,
    result: u64,
    count: u32,
    since: u64,
    first: String,
    /// Another action came between two of the tries.
    interleaved: bool,
}

#[derive(Debug, Default)]
pub(super) struct Reruns {
    tries: VecDeque<Tries>,
    /// The action of the previous pair.
    last_action: Option<u64>,
    firing: Option<u64>,
}

impl Reruns {
    /// An action (`action` key, evidence line) got a result (`result` key).
    pub(super) fn paired(
        &mut self,
        action: u64,
        line: &str,
        result: u64,
        error: bool,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        let interleaved = self.last_action.is_some_and(|a| a != action);
        self.last_action = Some(action);
        let i = self.tries.iter().position(|t| t.action == action);
        let entry = match i {
            Some(i) if error && self.tries.get(i).is_some_and(|t| t.result == result) => {
                self.tries.get_mut(i)
            }
            _ => {
                if let Some(i) = i {
                    self.tries.remove(i);
                }
                if self.firing == Some(action) {
                    self.firing = None;
                    out.push(LoopFinding {
                        detector: OutputDetector::RepeatedFailure,
                        at: stamp,
                        change: LoopChange::Cleared,
                    });
                }
                if !error {
                    return;
                }
                if self.tries.len() >= ACTIONS_KEPT {
                    self.tries.pop_front();
                }
                self.tries.push_back(Tries {
                    action,
                    result,
                    count: 0,
                    since: stamp,
                    first: evidence_line(line),
                    interleaved: false,
                });
                self.tries.back_mut()
            }
        };
        let Some(t) = entry else {
            return;
        };
        if t.count > 0 {
            t.interleaved |= interleaved;
        }
        t.count += 1;
        if t.count >= FAILURES && t.interleaved {
            let first = self.firing != Some(action);
            self.firing = Some(action);
            out.push(LoopFinding {
                detector: OutputDetector::RepeatedFailure,
                at: stamp,
                change: LoopChange::Holding {
                    first,
                    since: t.since,
                    evidence: vec![
                        format!(
                            "the same action failed the same way {} times, other work in between",
                            t.count
                        ),
                        format!("first: {}", t.first),
                        format!("last: {}", evidence_line(line)),
                    ],
                },
            });
        }
    }
}

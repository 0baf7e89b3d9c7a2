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
//! What an edit changes is read from the action: JSON tool inputs with `old_string`/`new_string`
//! (Claude Code `Edit`, Gemini CLI `replace`) or `old_str`/`new_str` (OpenHands
//! `str_replace_editor`), and SEARCH/REPLACE blocks (aider, Cline `replace_in_file`, Roo/Kilo
//! `apply_diff`) split at their `=======` line. Texts are compared after collapsing
//! whitespace, so re-indentation alone is the same edit.
//!
//! Invariants: pure; memory: the last [`EDITS_KEPT`] edits (three hashes and an evidence line
//! each) and one failed edit.

use std::collections::VecDeque;

use super::{LoopChange, LoopFinding, OutputDetector, evidence_line};
use crate::transcript::{Turn, content_key};

/// Edits remembered for the flip check.
const EDITS_KEPT: usize = 12;
/// Names of actions that edit a file (matched in the lowercased tool name).
const EDIT_TOOLS: [&str; 5] = ["edit", "replace", "patch", "diff", "write"];

/// What one edit changes: hashes of the old and the new text (whitespace collapsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    old: u64,
    new: u64,
}

/// The tool name of an action written `name(arguments)` (or the whole first word).
fn tool_name(action: &str) -> String {
    // Status glyphs before the name (Gemini CLI's `✔  Edit a.py: …`) are not part of it.
    action
        .split(|c: char| c == '(' || c == ':' || c.is_whitespace())
        .find(|w| w.starts_with(|c: char| c.is_alphabetic()))
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Whether the action edits a file: an edit tool, not a view command of a combined tool.
pub(crate) fn is_edit(action: &str) -> bool {
    let name = tool_name(action);
    EDIT_TOOLS.iter().any(|t| name.contains(t))
        // A todo list is not a file (`TodoWrite`).
        && !name.contains("todo")
        && !action.contains("\"command\":\"view\"")
        && !action.contains("\"command\": \"view\"")
}

/// The change an edit action makes, when its content shows it: hashes of the old and the new
/// text.
pub(crate) fn edit_change(action: &str) -> Option<(u64, u64)> {
    if !is_edit(action) {
        return None;
    }
    let (old, new) = json_change(action)
        .or_else(|| block_change(action))
        .or_else(|| diff_change(action))?;
    let (old, new) = (content_key(&old), content_key(&new));
    (old != new).then_some((old, new))
}

/// `name({... "old_string": …, "new_string": …})`.
fn json_change(action: &str) -> Option<(String, String)> {
    let start = action.find('(')?;
    let body = action.get(start + 1..)?.trim_end().strip_suffix(')')?;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let get = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(|s| s.as_str()).map(str::to_string))
    };
    Some((
        get(["old_string", "old_str"])?,
        get(["new_string", "new_str"])?,
    ))
}

/// A SEARCH/REPLACE block: the text before the `=======` line and the text after it (markers
/// and fences dropped).
fn block_change(action: &str) -> Option<(String, String)> {
    let mut old = String::new();
    let mut new = String::new();
    let mut after = false;
    // The block starts after its SEARCH marker; where the marker is not kept (aider's edit
    // turns), after the action's own first line (the tool name).
    let marked = action.lines().position(|l| l.trim().starts_with("<<<<<<<"));
    for line in action.lines().skip(marked.map_or(1, |m| m + 1)) {
        let t = line.trim();
        if t.starts_with("=======") {
            after = true;
            continue;
        }
        if t.starts_with(">>>>>>>") {
            // The block ends here; what follows (closing tags, another block) is not its text.
            break;
        }
        if t.starts_with("<<<<<<<") || t.starts_with("```") {
            continue;
        }
        let side = if after { &mut new } else { &mut old };
        side.push_str(line);
        side.push('\n');
    }
    after.then_some((old, new))
}

/// A unified diff or a Codex `apply_patch` body (`*** Begin Patch`, `@@`): the removed lines are
/// the old text, the added lines the new. JSON-escaped patches (a Codex call's arguments) are
/// read with their `\n` as line breaks.
fn diff_change(action: &str) -> Option<(String, String)> {
    if !action.contains("@@") && !action.contains("*** Begin Patch") {
        return None;
    }
    let text = action.replace("\\n", "\n");
    let mut old = String::new();
    let mut new = String::new();
    for line in text.lines() {
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        if let Some(l) = line.strip_prefix('-') {
            old.push_str(l);
            old.push('\n');
        } else if let Some(l) = line.strip_prefix('+') {
            new.push_str(l);
            new.push('\n');
        }
    }
    (!old.is_empty() || !new.is_empty()).then_some((old, new))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_told_from_reads_and_their_change_is_read() {
        assert!(is_edit(
            r#"Edit({"file_path":"a.rs","old_string":"x","new_string":"y"})"#
        ));
        assert!(is_edit("edit\nold\n=======\nnew"));
        assert!(!is_edit(
            r#"str_replace_editor({"command":"view","path":"a.rs"})"#
        ));
        assert!(!is_edit("Read(a.rs)"));
        let a =
            edit_change(r#"Edit({"file_path":"a.rs","old_string":"x = 1","new_string":"x = 2"})"#);
        let b = edit_change("edit\nx  =  2\n=======\nx = 1\n");
        assert!(a.is_some() && b.is_some());
        assert_eq!(a, b.map(|(o, n)| (n, o)));
        // A Codex apply_patch, as its JSON-escaped arguments show it.
        let patch = r#"apply_patch({"input":"*** Begin Patch\n*** Update File: a.rs\n@@\n-x = 2\n+x = 1\n*** End Patch"})"#;
        assert_eq!(edit_change(patch), b);
    }
}

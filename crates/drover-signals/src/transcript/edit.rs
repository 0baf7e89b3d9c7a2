//! What an edit action changes, read from the action's own text: JSON tool inputs with
//! `old_string`/`new_string` (Claude Code `Edit`, Gemini CLI `replace`) or `old_str`/`new_str`
//! (OpenHands `str_replace_editor`), SEARCH/REPLACE blocks (aider, Cline `replace_in_file`,
//! Roo/Kilo `apply_diff`) split at their `=======` line, and unified diffs or Codex
//! `apply_patch`. A turn carries the result (`Turn::edit`, `Turn::change`) for the detectors.
//!
//! Invariants: pure; texts are compared after collapsing whitespace, so re-indentation alone is
//! the same edit.

use super::content_key;

/// Names of actions that edit a file (matched in the lowercased tool name).
const EDIT_TOOLS: [&str; 5] = ["edit", "replace", "patch", "diff", "write"];

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

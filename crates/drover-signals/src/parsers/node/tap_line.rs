//! One TAP result line (`    not ok 2 - name # TODO`) and the names node-tap gives its
//! file-level subtests: the small pieces of TAP syntax the TAP reader is built on.

use crate::text::indent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// A test file's name as node-tap uses it for the file's subtest (`queue.test.js`).
pub(super) fn is_script(name: &str) -> bool {
    [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// `    not ok 2 - inner bad # TODO` → (indent, outcome, name).
pub(super) fn tap_result(line: &str) -> Option<(usize, Outcome, &str)> {
    let ind = indent(line);
    let t = line.get(ind..)?;
    let (ok, rest) = if let Some(r) = t.strip_prefix("ok ") {
        (true, r)
    } else {
        (false, t.strip_prefix("not ok ")?)
    };
    let (num, rest) = rest.split_once(' ')?;
    if !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = rest.strip_prefix("- ").unwrap_or(rest);
    let (name, directive) = match name.rfind(" # ") {
        Some(i) => (name.get(..i)?, name.get(i + 3..)?),
        None => (name, ""),
    };
    let directive = directive.to_ascii_uppercase();
    let outcome = if directive.starts_with("SKIP") || directive.starts_with("TODO") {
        Outcome::Skip
    } else if ok {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    Some((ind, outcome, name.trim()))
}

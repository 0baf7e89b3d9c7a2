//! pytest's line shapes: summaries, `-v` and xdist status lines, `-s` status words glued to
//! test output, progress characters and traceback locations. Pure string functions.

use crate::run::Counts;
use crate::text::{count_item, duration_ms, has_line_suffix};

/// `path.py::Class::test[x]` → `Class::test[x]`; `Class.test[x]` → `Class::test[x]`.
pub(super) fn tail_of(name: &str) -> String {
    let tail = match name.split_once("::") {
        Some((path, rest)) if path.ends_with(".py") => rest,
        _ => name,
    };
    let (head, params) = match tail.find('[') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let mut out = head.replace('.', "::");
    out.push_str(params);
    out
}

/// The counts and duration of a pytest summary (`2 failed, 1 passed in 0.03s`), banner
/// already removed.
pub(super) fn parse_summary(content: &str) -> Option<(Counts, Option<u64>)> {
    let (items, dur) = content.rsplit_once(" in ")?;
    let dur_text = dur.split(" (").next().unwrap_or(dur);
    let dur_ms = duration_ms(dur_text);
    dur_ms?;
    if items.trim() == "no tests ran" {
        return Some((Counts::default(), dur_ms));
    }
    let mut c = Counts::default();
    let mut known = false;
    for item in items.split(", ") {
        let (n, word) = count_item(item)?;
        known |= match word {
            "passed" | "xpassed" => {
                c.passed += n;
                true
            }
            "failed" => {
                c.failed += n;
                true
            }
            "error" | "errors" => {
                c.errors += n;
                true
            }
            "skipped" | "xfailed" => {
                c.skipped += n;
                true
            }
            "deselected" | "warning" | "warnings" | "rerun" | "reruns" => true,
            _ => false,
        };
    }
    known.then_some((c, dur_ms))
}

/// `!!!! Interrupted: 2 errors during collection !!!!` (banner characters optional, as pasted
/// logs lose them) → 2.
pub(super) fn interrupted_in_collection(t: &str) -> Option<u64> {
    let (_, rest) = t.split_once("Interrupted: ")?;
    let (count, _) = rest.split_once(" during collection")?;
    let (n, word) = crate::text::count_item(count)?;
    matches!(word, "error" | "errors").then_some(n)
}

pub(super) const STATUSES: [(&str, u8); 6] = [
    (" PASSED", b'.'),
    (" FAILED", b'F'),
    (" ERROR", b'E'),
    (" SKIPPED", b's'),
    (" XFAIL", b'x'),
    (" XPASS", b'X'),
];

/// `-v` line: `path::test STATUS ...` → (name, status char).
pub(super) fn verbose_status(line: &str) -> Option<(&str, u8)> {
    if !line.contains("::") {
        return None;
    }
    let (pos, c) = STATUSES
        .iter()
        .filter_map(|(w, c)| {
            let pos = line.find(w)?;
            let after = line.get(pos + w.len()..)?;
            (after.is_empty() || after.starts_with(' ')).then_some((pos, *c))
        })
        .min_by_key(|(pos, _)| *pos)?;
    let name = line.get(..pos)?.trim();
    if name.is_empty() || !name.contains("::") || name.starts_with(['=', '_', '-']) {
        return None;
    }
    Some((name, c))
}

/// The status word ending a `-v -s` line, glued to the test's output or not, with an
/// optional `[ NN%]` and skip reason: `hello PASSED`, `helloFAILED`, `xSKIPPED (why)`.
pub(super) fn trailing_status(rest: &str) -> Option<u8> {
    let mut r = rest.trim_end();
    if r.ends_with("%]")
        && let Some(i) = r.rfind(" [")
    {
        r = r.get(..i).unwrap_or("").trim_end();
    }
    if r.ends_with(')')
        && let Some(i) = r.rfind(" (")
        && (r
            .get(..i)
            .is_some_and(|h| h.ends_with("SKIPPED") || h.ends_with("XFAIL")))
    {
        r = r.get(..i).unwrap_or("");
    }
    STATUSES
        .iter()
        .find(|(w, _)| w.get(1..).is_some_and(|w| r.ends_with(w)))
        .map(|(_, c)| *c)
}

/// The line is a bare status word (`PASSED`, `SKIPPED (why)`), as `-v -s` prints after a
/// test whose output ended with a newline.
pub(super) fn starts_with_status(t: &str) -> bool {
    STATUSES
        .iter()
        .any(|(w, _)| w.get(1..).is_some_and(|w| t.starts_with(w)))
}

/// `[ 50%] PASSED path::test` (pytest-xdist with `-v`).
pub(super) fn xdist_status(line: &str) -> Option<(&str, u8)> {
    let rest = line.strip_prefix('[')?;
    let (pct, rest) = rest.split_once("] ")?;
    if !pct
        .trim()
        .trim_end_matches('%')
        .bytes()
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (status, name) = rest.split_once(' ')?;
    let c = STATUSES
        .iter()
        .find(|(w, _)| w.get(1..) == Some(status))
        .map(|(_, c)| *c)?;
    name.contains("::").then_some((name.trim(), c))
}

/// Progress characters of a plain or `-q` line, with whether a `[ NN%]` marker ended it.
pub(super) fn progress_chars(line: &str) -> Option<(&str, bool)> {
    let (body, pct) = match line.rfind(" [") {
        Some(i) if line.ends_with("%]") => (line.get(..i)?, true),
        _ => (line, false),
    };
    let body = body.trim();
    let chars = match body.split_once(' ') {
        Some((file, chars)) if file.ends_with(".py") => chars.trim(),
        Some(_) => return None,
        None => body,
    };
    (!chars.is_empty() && chars.bytes().all(|b| b".FEsxX".contains(&b))).then_some((chars, pct))
}

/// `test_shop.py:14: AssertionError` or `test_broken.py:2: in <module>` → `test_shop.py:14`.
pub(super) fn traceback_location(line: &str) -> Option<&str> {
    if line.starts_with(' ') {
        return None;
    }
    let (loc, rest) = line.split_once(": ")?;
    if loc.contains(' ') || !has_line_suffix(loc) || rest.is_empty() {
        return None;
    }
    let file = loc.rsplit_once(':')?.0;
    file.ends_with(".py").then_some(loc)
}

//! Turns one raw log line (bytes, maybe invalid UTF-8) into the text a person would have seen:
//! `\r` redraws resolved, ANSI/OSC escapes stripped, and the per-line prefixes that Docker
//! (`timestamps=true`), compose and agent wrappers add removed.
//!
//! Invariants: the work per line is O(line length); the retained buffers never exceed a few
//! times [`MAX_LINE_BYTES`] whatever the input, because only the first `MAX_LINE_BYTES` of the
//! visible segment are kept (summary lines are short; a 10 MB line is never a summary).
//!
//! ANSI stripping uses `anstream`'s VT-parser based stripper (already in the tree via clap). A
//! byte scan skips it for lines with no control bytes, which are most lines.

/// Bytes of a line's visible segment that are examined; the rest is ignored.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Reusable buffers for cleaning lines without allocating per line.
#[derive(Debug, Default)]
pub struct LineCleaner {
    stripped: Vec<u8>,
    lossy: String,
}

impl LineCleaner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The visible text of one raw line (a trailing `\n`/`\r\n` is allowed and ignored).
    pub fn clean<'a>(&'a mut self, raw: &'a [u8]) -> &'a str {
        clean_into(&mut self.stripped, &mut self.lossy, raw)
    }
}

fn clean_into<'a>(stripped: &'a mut Vec<u8>, lossy: &'a mut String, raw: &'a [u8]) -> &'a str {
    let visible = visible_segment(raw);
    let bytes: &[u8] = if has_control_bytes(visible) {
        stripped.clear();
        for chunk in anstream::adapter::strip_bytes(visible) {
            stripped.extend_from_slice(chunk);
        }
        stripped.as_slice()
    } else {
        visible
    };
    let text: &str = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => {
            lossy.clear();
            lossy.push_str(&String::from_utf8_lossy(bytes));
            lossy.as_str()
        }
    };
    strip_prefixes(text).trim_end()
}

/// The part of a raw line a terminal would show last: without the line ending, after the last
/// carriage return (progress redraws), cut to [`MAX_LINE_BYTES`].
pub fn visible_segment(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && matches!(raw.get(end - 1), Some(b'\n' | b'\r')) {
        end -= 1;
    }
    let line = raw.get(..end).unwrap_or_default();
    let start = memchr::memrchr(b'\r', line).map_or(0, |i| i + 1);
    let seg = line.get(start..).unwrap_or_default();
    seg.get(..MAX_LINE_BYTES).unwrap_or(seg)
}

fn has_control_bytes(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Removes, repeatedly, a Docker RFC 3339 timestamp, a `[tag] `, a compose-style `name  | `
/// prefix, a syslog timestamp (`Dec 08 01:38:46 `) and a Nix build log's `       > `. Only the one separating space goes, so indentation after it is kept.
pub fn strip_prefixes(mut s: &str) -> &str {
    for _ in 0..4 {
        if let Some(rest) = strip_docker_timestamp(s)
            .or_else(|| strip_bracket_tag(s))
            .or_else(|| strip_compose_prefix(s))
            .or_else(|| strip_syslog_timestamp(s))
            .or_else(|| strip_nix_build_prefix(s))
        {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// `2024-01-02T03:04:05.123456789Z ` or `...+01:00 `.
fn strip_docker_timestamp(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let fixed = (0..4).all(digit)
        && at(4, b'-')
        && digit(5)
        && digit(6)
        && at(7, b'-')
        && digit(8)
        && digit(9)
        && at(10, b'T')
        && digit(11)
        && digit(12)
        && at(13, b':')
        && digit(14)
        && digit(15)
        && at(16, b':')
        && digit(17)
        && digit(18);
    if !fixed {
        return None;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        while digit(i) {
            i += 1;
        }
    }
    if at(i, b'Z') {
        i += 1;
    } else if (at(i, b'+') || at(i, b'-')) && digit(i + 1) && digit(i + 2) && at(i + 3, b':') {
        i += 6;
    } else {
        return None;
    }
    if at(i, b' ') || at(i, b'\t') {
        s.get(i + 1..)
    } else if i == b.len() {
        Some("")
    } else {
        None
    }
}

/// `[agent] `, `[implementer-1] `, `[12:00:01] `: a short tag without spaces.
fn strip_bracket_tag(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let close = rest.bytes().take(49).position(|b| b == b']')?;
    if close == 0 {
        return None;
    }
    let tag = rest.get(..close)?;
    let ok = tag.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'-' | b'.' | b':' | b'/' | b'@' | b'#' | b'=')
    });
    if !ok {
        return None;
    }
    rest.get(close + 1..)?.strip_prefix(' ')
}

/// `Dec 08 01:38:46 ` (syslog, `ts`, journal short format): a month name, a day, a time.
fn strip_syslog_timestamp(s: &str) -> Option<&str> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = s.get(..3)?;
    if !MONTHS.contains(&month) {
        return None;
    }
    let rest = s.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let rest = rest.get(day_len..)?.strip_prefix(' ')?;
    let b = rest.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let time = digit(0)
        && digit(1)
        && b.get(2) == Some(&b':')
        && digit(3)
        && digit(4)
        && b.get(5) == Some(&b':')
        && digit(6)
        && digit(7);
    if !time {
        return None;
    }
    match rest.get(8..)? {
        "" => Some(""),
        r => r.strip_prefix(' '),
    }
}

/// `       > test a ... ok`: the prefix Nix puts before a builder's output (seven spaces and
/// `>`), but not a code frame such as jest's `       > 12 |`.
fn strip_nix_build_prefix(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("       >")?;
    if rest.is_empty() {
        return Some("");
    }
    let rest = rest.strip_prefix(' ')?;
    let t = rest.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let frame = digits > 0
        && t.get(digits..)
            .is_some_and(|r| r.trim_start().starts_with('|'));
    (!frame).then_some(rest)
}

/// `web-1  | ` as printed by `docker compose logs`. The name must end in compose's replica
/// number (`-1`, `_1`) so that runner output such as vitest's `stdout | file > test` stays.
fn strip_compose_prefix(s: &str) -> Option<&str> {
    let name_len = s
        .bytes()
        .take(65)
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))?;
    let name = s.get(..name_len)?;
    let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    let before_digits = name
        .len()
        .checked_sub(digits + 1)
        .and_then(|i| name.as_bytes().get(i));
    if digits == 0 || !matches!(before_digits, Some(b'-' | b'_')) {
        return None;
    }
    let after = s.get(name_len..)?;
    let spaces = after.bytes().position(|b| b != b' ')?;
    if spaces == 0 {
        return None;
    }
    let rest = after.get(spaces..)?.strip_prefix('|')?;
    rest.strip_prefix(' ')
        .or(if rest.is_empty() { Some("") } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &[u8]) -> String {
        LineCleaner::new().clean(raw).to_owned()
    }

    #[test]
    fn strips_colour_and_osc() {
        assert_eq!(
            clean(b"\x1b[1m\x1b[31mFAILED\x1b[0m test_x\n"),
            "FAILED test_x"
        );
        assert_eq!(
            clean(b"\x1b]0;agent: title\x07[agent] tool call\n"),
            "tool call"
        );
    }

    #[test]
    fn keeps_text_after_the_last_carriage_return() {
        assert_eq!(
            clean(b"Downloading 10%\rDownloading 100%\r\n"),
            "Downloading 100%"
        );
        assert_eq!(clean(b"line with crlf\r\n"), "line with crlf");
    }

    #[test]
    fn removes_docker_timestamps_and_tags_but_keeps_indentation() {
        assert_eq!(
            clean(b"2026-01-05T10:00:00.123456789Z [tests]     running 1 test"),
            "    running 1 test"
        );
        assert_eq!(
            clean(b"2026-01-05T10:00:00+01:00 test result: ok."),
            "test result: ok."
        );
        assert_eq!(clean(b"web-1  | ok  \tpkg\t0.1s"), "ok  \tpkg\t0.1s");
        assert_eq!(
            clean(b"stdout | src/a.test.ts > x"),
            "stdout | src/a.test.ts > x"
        );
    }

    #[test]
    fn removes_syslog_timestamps_and_nix_build_prefixes() {
        assert_eq!(
            clean(b"Dec 08 01:38:46 4 examples, 2 failures"),
            "4 examples, 2 failures"
        );
        assert_eq!(clean(b"Jan  5 10:00:00 ok"), "ok");
        assert_eq!(clean(b"Dec 08 meeting"), "Dec 08 meeting");
        assert_eq!(
            clean(b"       > test result: FAILED. 13 passed; 1 failed"),
            "test result: FAILED. 13 passed; 1 failed"
        );
        assert_eq!(clean(b"       >"), "");
        assert_eq!(
            clean(b"       > 12 |   expect(x).toBe(2);"),
            "       > 12 |   expect(x).toBe(2);"
        );
    }

    #[test]
    fn leaves_runner_brackets_alone() {
        assert_eq!(
            clean(b"test_a.py .F                [100%]"),
            "test_a.py .F                [100%]"
        );
        assert_eq!(clean(b"[ 50%] PASSED x"), "[ 50%] PASSED x");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(clean(b"ok \xff\xfe done"), "ok \u{fffd}\u{fffd} done");
    }

    #[test]
    fn huge_lines_are_capped() {
        let raw = vec![b'a'; 10 * 1024 * 1024];
        let mut c = LineCleaner::new();
        assert_eq!(c.clean(&raw).len(), MAX_LINE_BYTES);
        let mut esc = vec![0x1b, b'[', b'1', b'm'];
        esc.extend(std::iter::repeat_n(b'b', 10 * 1024 * 1024));
        assert!(c.clean(&esc).len() <= MAX_LINE_BYTES);
        assert!(c.stripped.capacity() <= 2 * MAX_LINE_BYTES);
    }
}

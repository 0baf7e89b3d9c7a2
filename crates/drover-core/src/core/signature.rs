//! Failure signatures: which line of a dying container's output explains the failure, and a
//! normal form of it so that "the same failure again" can be recognised across runs.
//!
//! Pure and bounded: at most [`MAX_LINES`] lines of at most [`MAX_LINE_BYTES`] bytes each are
//! looked at, so a 10 MB line or a flood of output costs a bounded amount of work. Values of
//! secret-looking `KEY=value` pairs are redacted before a line can become a reason.

use crate::secrets::{REDACTED, is_secret_key};

/// Only the tail of the output is searched for the explaining line.
pub const MAX_LINES: usize = 200;
/// Longer lines are cut (at a char boundary) before any processing.
pub const MAX_LINE_BYTES: usize = 4_096;
/// A reason shown to people is cut to this many bytes.
pub const MAX_REASON_BYTES: usize = 300;

const ERRORISH: &[&str] = &[
    "error",
    "fatal",
    "panic",
    "exception",
    "missing",
    "not found",
    "denied",
    "failed",
    "failure",
    "cannot",
    "can't",
    "unable",
    "refused",
    "traceback",
    "no such file",
    "segmentation fault",
    "abort",
    "killed",
    "invalid",
];

/// The line that explains a failure: the last line containing an error-ish word, else the last
/// non-empty line. ANSI-stripped, trimmed, secrets redacted and cut to 300 bytes.
pub fn explaining_line(lines: &[String]) -> Option<String> {
    // The start is at most `len`, so the slice cannot be out of range.
    let tail = &lines[lines.len().saturating_sub(MAX_LINES)..];
    let cleaned: Vec<String> = tail
        .iter()
        .map(|l| strip_ansi(cut(l, MAX_LINE_BYTES)).trim().to_string())
        .collect();
    let pick = cleaned
        .iter()
        .rev()
        .find(|l| is_errorish(l))
        .or_else(|| cleaned.iter().rev().find(|l| !l.is_empty()))?;
    Some(cut(&redact_secrets(pick), MAX_REASON_BYTES).to_string())
}

fn is_errorish(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ERRORISH.iter().any(|w| lower.contains(w))
}

/// Free text from outside (an error, a reason) made safe to show and store: ANSI and control
/// characters stripped, whitespace trimmed, secret values redacted, at most `max` bytes.
pub fn clean_text(text: &str, max: usize) -> String {
    let stripped = strip_ansi(cut(text, MAX_LINE_BYTES));
    cut(&redact_secrets(stripped.trim()), max).to_string()
}

/// `text` cut to at most `max` bytes at a char boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    // Index 0 is always a char boundary, so this stops; `end` then is a valid slice end.
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Removes CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ST`) and two-byte escapes, and other
/// control characters except tab.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte in 0x40..=0x7e.
                    for n in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// Replaces the values of `SECRET_KEY=value` / `SECRET_KEY: value` pairs, and every known
/// secret value (the masker installed from the config, see [`crate::secrets`]), with a marker.
pub fn redact_secrets(line: &str) -> String {
    let masker = crate::secrets::masker();
    let line: &str = &masker.mask(line);
    let mut out = String::with_capacity(line.len());
    let mut redact_next = false;
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if redact_next && !word.is_empty() {
            out.push_str(REDACTED);
            redact_next = false;
            continue;
        }
        if let Some((key, value)) = word.split_once('=')
            && is_secret_key(key.trim_start_matches(|c: char| !c.is_alphanumeric()))
            && !value.is_empty()
        {
            out.push_str(key);
            out.push('=');
            out.push_str(REDACTED);
            continue;
        }
        if let Some(key) = word.strip_suffix(':')
            && !key.is_empty()
            && is_secret_key(key)
        {
            redact_next = true;
        }
        out.push_str(word);
    }
    out
}

/// A normal form for comparing failures across runs: lowercase, ANSI stripped, every word that
/// contains a digit or is a long hex id replaced by `#`, whitespace folded. Timestamps, counts,
/// ports, pids and container ids therefore do not make two identical failures look different.
pub fn normalise(line: &str) -> String {
    let text = strip_ansi(cut(line, MAX_LINE_BYTES)).to_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let mut last_space = true;
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let has_digit = word.chars().any(|c| c.is_ascii_digit());
        let long_hex = word.len() >= 8 && word.chars().all(|c| c.is_ascii_hexdigit());
        if has_digit || long_hex {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else {
            out.push(c);
            last_space = false;
        }
    }
    flush(&mut word, &mut out);
    out.trim_end().to_string()
}

/// Identity of a failure for "the same failure N times in a row".
pub fn failure_signature(code: Option<i64>, oom_killed: bool, line: Option<&str>) -> String {
    let code = match (code, oom_killed) {
        (_, true) => "oom".to_string(),
        (Some(c), false) => c.to_string(),
        (None, false) => "-".to_string(),
    };
    format!("{code}|{}", line.map(normalise).unwrap_or_default())
}

/// The first 12 characters of a container id.
pub(crate) fn short(id: &str) -> &str {
    cut(id, 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn picks_the_last_error_line_over_later_noise() {
        let out = lines(&[
            "starting agent",
            "\u{1b}[31mERROR: Missing environment variable: OPENAI_API_KEY\u{1b}[0m",
            "bye",
            "",
        ]);
        assert_eq!(
            explaining_line(&out).as_deref(),
            Some("ERROR: Missing environment variable: OPENAI_API_KEY")
        );
        assert_eq!(
            explaining_line(&lines(&["a", "last words", "  "])).as_deref(),
            Some("last words")
        );
        assert_eq!(explaining_line(&[]), None);
    }

    #[test]
    fn timestamps_numbers_and_ids_do_not_change_the_signature() {
        let a =
            "2026-01-01T10:00:00Z error: connect to 10.0.0.1:5432 failed (pid 4242, id 3f2a9c1b7d)";
        let b =
            "2026-01-02T11:22:33Z error: connect to 10.0.0.9:5432 failed (pid 17, id deadbeefcafe)";
        assert_eq!(normalise(a), normalise(b));
        assert_ne!(
            failure_signature(Some(1), false, Some(a)),
            failure_signature(Some(2), false, Some(b))
        );
        assert_eq!(
            failure_signature(Some(1), false, Some(a)),
            failure_signature(Some(1), false, Some(b))
        );
    }

    #[test]
    fn secrets_are_redacted_from_reasons() {
        let r = redact_secrets("bad OPENAI_API_KEY=sk-123 and GH_TOKEN: ghp_abc here");
        assert!(!r.contains("sk-123") && !r.contains("ghp_abc"), "{r}");
        assert_eq!(redact_secrets("MODE=fast"), "MODE=fast");
    }

    #[test]
    fn huge_and_control_laden_lines_are_bounded() {
        let huge = "x".repeat(10 << 20);
        let r = explaining_line(&[huge]).unwrap_or_default();
        assert!(r.len() <= MAX_REASON_BYTES);
        let multibyte = "é".repeat(5_000);
        assert!(cut(&multibyte, 301).len() <= 301);
        assert_eq!(strip_ansi("a\u{1b}]0;title\u{7}b\u{0}c"), "abc");
    }
}

//! Small text helpers for the screen: making untrusted output safe to draw (ANSI escapes and
//! control characters removed, length capped), fitting text to a column width, and compact
//! durations and clock times.
//!
//! Invariants: every function accepts arbitrary input and returns text without control
//! characters whose display width never exceeds what was asked for.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Longest line kept for display; longer lines end with a note of what was cut.
pub const MAX_DISPLAY_CHARS: usize = 2000;

/// Untrusted text as one safe line for the screen (see [`crate::untrusted::one_line`]).
pub fn sanitize(input: &str) -> String {
    crate::untrusted::one_line(input, MAX_DISPLAY_CHARS)
}

/// `s` cut to at most `width` columns, ending in `…` when something was cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// A compact age or duration: `42s`, `5m`, `3h12m`, `2d4h`.
pub fn compact_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => {
            let m = (s % 3600) / 60;
            if m == 0 {
                format!("{}h", s / 3600)
            } else {
                format!("{}h{m:02}m", s / 3600)
            }
        }
        _ => {
            let h = (s % 86_400) / 3600;
            if h == 0 {
                format!("{}d", s / 86_400)
            } else {
                format!("{}d{h}h", s / 86_400)
            }
        }
    }
}

/// Age of `then` at `now` (both ms since the epoch); `-` when unknown, `0s` if in the future.
pub fn age(now_ms: u64, then_ms: Option<u64>) -> String {
    match then_ms {
        Some(t) => compact_duration(now_ms.saturating_sub(t)),
        None => "-".to_string(),
    }
}

/// `HH:MM:SS` (UTC) of a millisecond timestamp.
pub fn clock(ts_ms: u64) -> String {
    let s = (ts_ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a millisecond timestamp.
pub fn date_time(ts_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ts_ms);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.trim_end_matches('Z').replacen('T', " ", 1)
}

/// Byte ranges of the matches of `needle` in `hay`: case-insensitive unless the needle has an
/// upper-case letter (smart case, as in less and vim).
pub fn find_matches(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    if needle.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if needle.chars().any(char::is_uppercase) {
        let mut from = 0;
        while let Some(i) = hay[from..].find(needle) {
            out.push((from + i, from + i + needle.len()));
            from += i + needle.len();
        }
        return out;
    }
    // Lower-casing can change byte lengths, so compare char by char from each start; `i`, `k`
    // and `j` stay below the lengths the loops check.
    let needle: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    let idx: Vec<(usize, char)> = hay.char_indices().collect();
    let mut i = 0;
    while i < idx.len() {
        let mut j = 0;
        let mut k = i;
        while j < needle.len() && k < idx.len() {
            let mut low = idx[k].1.to_lowercase();
            if low.len() != 1 || low.next() != Some(needle[j]) {
                break;
            }
            j += 1;
            k += 1;
        }
        if j == needle.len() {
            let end = idx.get(k).map_or(hay.len(), |(b, _)| *b);
            out.push((idx[i].0, end));
            i = k.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Subsequence match (`impl2` matches `implementer-2`), case-insensitive.
pub fn fuzzy_match(hay: &str, needle: &str) -> bool {
    let mut hay = hay.chars().flat_map(char::to_lowercase);
    needle
        .chars()
        .flat_map(char::to_lowercase)
        .all(|n| hay.any(|h| h == n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_respects_display_width() {
        assert_eq!(fit("implementer-12", 20), "implementer-12");
        assert_eq!(fit("implementer-12", 8), "impleme…");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert!(fit("日本語テキスト", 5).width() <= 5);
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(compact_duration(42_000), "42s");
        assert_eq!(compact_duration(300_000), "5m");
        assert_eq!(compact_duration(3_600_000), "1h");
        assert_eq!(compact_duration(3_600_000 + 12 * 60_000), "1h12m");
        assert_eq!(compact_duration(2 * 86_400_000 + 4 * 3_600_000), "2d4h");
        assert_eq!(age(1000, Some(5000)), "0s");
        assert_eq!(age(1000, None), "-");
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(date_time(0), "1970-01-01 00:00:00");
    }

    #[test]
    fn smart_case_matches() {
        assert_eq!(
            find_matches("Error: error ERROR", "error"),
            [(0, 5), (7, 12), (13, 18)]
        );
        assert_eq!(find_matches("Error: error ERROR", "ERROR"), [(13, 18)]);
        assert_eq!(find_matches("aaaa", "aa"), [(0, 2), (2, 4)]);
        assert_eq!(find_matches("İstanbul x", "x"), [(10, 11)]);
        assert!(find_matches("abc", "").is_empty());
    }

    #[test]
    fn fuzzy_is_a_subsequence_match() {
        assert!(fuzzy_match("implementer-2", "impl2"));
        assert!(fuzzy_match("implementer-2", "IMP"));
        assert!(!fuzzy_match("implementer-2", "2impl"));
        assert!(fuzzy_match("anything", ""));
    }
}

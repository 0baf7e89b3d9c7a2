//! Small text helpers shared by the runner parsers: count lists, durations, stack-frame
//! locations. All are pure, allocation-free and total (no input makes them panic).

/// Parses a leading unsigned integer; returns it and the rest of the string.
pub(crate) fn leading_number(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 || end > 18 {
        return None;
    }
    let n = s.get(..end)?.parse().ok()?;
    Some((n, s.get(end..)?))
}

/// The `Label: N` items of a summary list (`Failures: 1, Errors: 0, Skipped: 2`) split at
/// `sep`, label and number trimmed; items without a leading number are skipped.
pub(crate) fn labelled_counts<'a>(
    list: &'a str,
    sep: &'a str,
) -> impl Iterator<Item = (&'a str, u64)> + 'a {
    list.split(sep).filter_map(|item| {
        let (key, value) = item.split_once(':')?;
        let (n, _) = leading_number(value.trim())?;
        Some((key.trim(), n))
    })
}

/// Parses `N word` (e.g. `3 passed`), returning the number and the word(s) after it, trimmed.
pub(crate) fn count_item(item: &str) -> Option<(u64, &str)> {
    let item = item.trim();
    let (n, rest) = leading_number(item)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let word = rest.trim();
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ') {
        return None;
    }
    Some((n, word))
}

/// Number of leading spaces (tabs count as one).
pub(crate) fn indent(s: &str) -> usize {
    s.bytes()
        .position(|b| b != b' ' && b != b'\t')
        .unwrap_or(s.len())
}

/// Strips a run of `ch` plus spaces from both ends (pytest's `==== x ====` banners).
pub(crate) fn strip_banner(s: &str, ch: char) -> Option<&str> {
    let inner = s.trim();
    if !inner.starts_with(ch) || !inner.ends_with(ch) {
        return None;
    }
    let inner = inner.trim_matches(ch).trim();
    if inner.is_empty() { None } else { Some(inner) }
}

/// Parses durations as runners print them: `0.03s`, `1.234 s`, `12ms`, `1m 2s`, `2h 1m`,
/// `4.5 sec`. Returns milliseconds.
pub(crate) fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let mut total = 0f64;
    let mut seen = false;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .bytes()
            .position(|b| !(b.is_ascii_digit() || b == b'.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest.get(..num_end)?.parse().ok()?;
        let after = rest.get(num_end..)?.trim_start();
        let unit_end = after
            .bytes()
            .position(|b| !b.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let unit = after.get(..unit_end)?;
        let factor = match unit {
            "ms" => 1.0,
            "s" | "sec" | "secs" | "seconds" => 1000.0,
            "m" | "min" | "mins" => 60_000.0,
            "h" => 3_600_000.0,
            "us" | "µs" => 0.001,
            _ => return None,
        };
        total += value * factor;
        seen = true;
        rest = after.get(unit_end..)?.trim_start();
    }
    if seen && total.is_finite() && (0.0..1e15).contains(&total) {
        Some(total.round() as u64)
    } else {
        None
    }
}

/// Seconds as a decimal string (`0.004`) to milliseconds.
pub(crate) fn seconds_to_ms(s: &str) -> Option<u64> {
    let v: f64 = s.trim().parse().ok()?;
    if v.is_finite() && (0.0..1e12).contains(&v) {
        Some((v * 1000.0).round() as u64)
    } else {
        None
    }
}

/// Milliseconds as a decimal string (`135.575545`) to whole milliseconds.
pub(crate) fn decimal_ms(s: &str) -> Option<u64> {
    let v: f64 = s.trim().parse().ok()?;
    if v.is_finite() && (0.0..1e15).contains(&v) {
        Some(v.round() as u64)
    } else {
        None
    }
}

/// From a JavaScript stack frame such as `at Object.<anonymous> (src/a.test.js:12:26)` or
/// `at src/a.test.js:12:26`, the `file:line:col` part, skipping node internals and
/// `node_modules`.
pub(crate) fn js_frame_location(line: &str) -> Option<&str> {
    let t = line.trim();
    let t = t.strip_prefix("at ")?;
    let loc = match (t.rfind('('), t.ends_with(')')) {
        (Some(open), true) => t.get(open + 1..t.len() - 1)?,
        _ => t,
    };
    if loc.starts_with("node:") || loc.contains("node_modules") || !has_line_suffix(loc) {
        return None;
    }
    Some(loc)
}

/// Whether `s` ends with `:<digits>` (optionally twice): `file:12` or `file:12:5`.
pub(crate) fn has_line_suffix(s: &str) -> bool {
    let Some((head, last)) = s.rsplit_once(':') else {
        return false;
    };
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some((_, mid)) = head.rsplit_once(':')
        && !mid.is_empty()
        && mid.bytes().all(|b| b.is_ascii_digit())
    {
        return true;
    }
    !head.is_empty()
}

/// Splits `file:line[:col]: message` (the shape of compiler and `t.Log` lines) into location
/// and message. The file part must contain a `.` and no spaces.
pub(crate) fn split_location_message(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let mut colon_positions = s.match_indices(": ");
    let (pos, _) = colon_positions.next()?;
    let loc = s.get(..pos)?;
    let msg = s.get(pos + 2..)?;
    if loc.contains(' ') || !loc.contains('.') || !has_line_suffix(loc) {
        return None;
    }
    Some((loc, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_runner_formats() {
        assert_eq!(duration_ms("0.03s"), Some(30));
        assert_eq!(duration_ms("1.234 s"), Some(1234));
        assert_eq!(duration_ms("12ms"), Some(12));
        assert_eq!(duration_ms("1m 2s"), Some(62_000));
        assert_eq!(duration_ms("fast"), None);
        assert_eq!(duration_ms(""), None);
        assert_eq!(seconds_to_ms("0.004"), Some(4));
        assert_eq!(decimal_ms("135.575545"), Some(136));
    }

    #[test]
    fn count_items() {
        assert_eq!(count_item(" 3 passed"), Some((3, "passed")));
        assert_eq!(count_item("1 xfailed"), Some((1, "xfailed")));
        assert_eq!(count_item("3passed"), None);
        assert_eq!(count_item("passed"), None);
        assert_eq!(count_item("99999999999999999999 passed"), None);
    }

    #[test]
    fn frame_locations() {
        assert_eq!(
            js_frame_location("      at Object.toBe (src/cart.test.js:12:26)"),
            Some("src/cart.test.js:12:26")
        );
        assert_eq!(
            js_frame_location("at Test.run (node:internal/test_runner/test:796:25)"),
            None
        );
        assert_eq!(
            js_frame_location("at /app/test/a.spec.js:3:9"),
            Some("/app/test/a.spec.js:3:9")
        );
        assert_eq!(
            split_location_message("    strutil_test.go:18: Reverse(abc) = \"abc\""),
            Some(("strutil_test.go:18", "Reverse(abc) = \"abc\""))
        );
        assert_eq!(split_location_message("note: something"), None);
    }
}

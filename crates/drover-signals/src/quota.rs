//! Usage-limit recognition: the lines agents print when their account hit a usage or rate limit
//! ("Claude AI usage limit reached|<epoch>", "You've hit your limit · resets 1pm (Zone)",
//! "You've hit your usage limit … try again at 9:01 AM" / "… try again in 2 days 3 hours",
//! HTTP 429 `rate_limit_error`, Codex `usage_limit_reached` JSON, stream-json
//! `rate_limit_event` with status `rejected`) and the reset time they state.
//!
//! Pure: no clock, no I/O. [`recognise`] reads one line; [`reset_at`] turns what it found into
//! milliseconds since the epoch, given `now` and a lookup for named time zones (the caller owns
//! the zone database). Invariants: a line is recognised only by phrases that name a limit (a
//! bare "429" or "rate limit" in prose is not enough); lines longer than [`MAX_LINE_BYTES`] are
//! ignored; a reset time is never placed before `now`.

use crate::Millis;

/// Longer lines are not examined (the notices are short; JSON events stay well under this).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// A wall-clock time as printed, with the date and zone when given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockTime {
    pub hour: u8,
    pub minute: u8,
    /// (year, month 1-12, day 1-31) when the notice names the day.
    pub date: Option<(i64, u8, u8)>,
    /// "Europe/Warsaw", "UTC", "+02:00", … as printed; `None` = not stated.
    pub zone: Option<String>,
}

/// When the limit lifts, as stated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reset {
    /// An absolute instant (epoch seconds in the notice), in ms.
    At(Millis),
    Clock(ClockTime),
    /// A duration from now ("try again in 5 days 22 hours 11 minutes"), in ms.
    After(Millis),
    /// Not stated: the caller's cool-down applies.
    Unknown,
}

/// One recognised usage-limit notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageLimit {
    /// Which family of notice it was (for events and tests).
    pub kind: &'static str,
    pub reset: Reset,
}

/// Recognises a usage/rate-limit notice in one line (ANSI already stripped).
pub fn recognise(line: &str) -> Option<UsageLimit> {
    if line.len() > MAX_LINE_BYTES
        || !(has_ci(line, b"limit") || has_ci(line, b"too many requests"))
    {
        return None;
    }
    let lower = line.to_ascii_lowercase();
    let t = lower.trim_start();
    if t.starts_with('{')
        && let Some(found) = json_event(line.trim_start())
    {
        return found;
    }
    if let Some(pos) = lower.find("usage limit reached|") {
        let digits: String = lower[pos + "usage limit reached|".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Some(at) = epoch(&digits) {
            return Some(UsageLimit {
                kind: "claude_epoch",
                reset: Reset::At(at),
            });
        }
    }
    let notice = [
        "usage limit reached",
        "hit your limit",
        "hit your usage limit",
        "hit your session limit",
        "hit your weekly limit",
        "hit your opus limit",
        "hit your sonnet limit",
        "usage_limit_reached",
    ]
    .iter()
    .find_map(|p| lower.find(p).map(|i| (i, *p)));
    if let Some((at, phrase)) = notice {
        let rest = &lower[at + phrase.len()..];
        return Some(UsageLimit {
            kind: if phrase == "usage limit reached" {
                "usage_limit"
            } else {
                "hit_limit"
            },
            reset: stated_reset(rest, &line[at + phrase.len()..]),
        });
    }
    if lower.contains("rate_limit_error")
        || (lower.contains("429") && lower.contains("too many requests"))
        || (lower.contains("429")
            && (lower.contains("rate limit exceeded") || lower.contains("rate limit reached")))
    {
        return Some(UsageLimit {
            kind: "rate_limit",
            reset: stated_reset(&lower, line),
        });
    }
    None
}

/// ASCII case-insensitive substring test without allocating (most lines fail it).
fn has_ci(hay: &str, needle: &[u8]) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// JSON events: stream-json `rate_limit_event` (only `rejected` is a hit; `allowed` and
/// warnings are informational) and Codex errors of type `usage_limit_reached`. `None` = not
/// a JSON object (fall back to text); `Some(None)` = JSON that states no limit hit.
fn json_event(line: &str) -> Option<Option<UsageLimit>> {
    if !line.contains("rate_limit") && !line.contains("usage_limit") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("type").and_then(|t| t.as_str()) == Some("rate_limit_event") {
        let info = v.get("rate_limit_info");
        let status = info
            .and_then(|i| i.get("status"))
            .and_then(|s| s.as_str())
            .unwrap_or("");
        if status != "rejected" {
            return Some(None);
        }
        let at = info
            .and_then(|i| i.get("resetsAt"))
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| epoch(&s.to_string()));
        return Some(Some(UsageLimit {
            kind: "rate_limit_event",
            reset: at.map_or(Reset::Unknown, Reset::At),
        }));
    }
    let err = v.get("error").filter(|e| e.is_object())?;
    let kind = err.get("type").and_then(|t| t.as_str())?;
    if kind != "usage_limit_reached" && kind != "rate_limit_error" {
        return None;
    }
    let reset = if let Some(at) = err
        .get("resets_at")
        .and_then(serde_json::Value::as_u64)
        .and_then(|s| epoch(&s.to_string()))
    {
        Reset::At(at)
    } else if let Some(secs) = err
        .get("resets_in_seconds")
        .and_then(serde_json::Value::as_u64)
    {
        Reset::After(secs.saturating_mul(SECOND))
    } else {
        Reset::Unknown
    };
    Some(Some(UsageLimit {
        kind: if kind == "usage_limit_reached" {
            "usage_limit_json"
        } else {
            "rate_limit"
        },
        reset,
    }))
}

/// Epoch seconds (10 digits) or milliseconds (13 digits) to ms.
fn epoch(digits: &str) -> Option<Millis> {
    let n: u64 = digits.parse().ok()?;
    match digits.len() {
        9 | 10 => Some(n.saturating_mul(SECOND)),
        13 => Some(n),
        _ => None,
    }
}

/// The reset stated after a notice: "resets 1pm (Zone)", "reset at 5pm (Zone)", "try again at
/// 9:01 AM", "try again at Jul 5th, 2026 8:19 PM", "try again in 4 days 6 hours 37 minutes".
/// `lower` is `orig` lowercased (ASCII only, so byte offsets agree).
fn stated_reset(lower: &str, orig: &str) -> Reset {
    for key in ["try again in ", "resets in ", "reset in ", "retry in "] {
        if let Some(i) = lower.find(key)
            && let Some(d) = duration(&lower[i + key.len()..])
        {
            return Reset::After(d);
        }
    }
    for key in [
        "try again at ",
        "will reset at ",
        "resets at ",
        "reset at ",
        "resets ",
    ] {
        if let Some(i) = lower.find(key) {
            let from = i + key.len();
            if let Some(c) = clock(&lower[from..], &orig[from..]) {
                return Reset::Clock(c);
            }
        }
    }
    Reset::Unknown
}

/// "5 days 22 hours 11 minutes", "30 seconds", "2h 5m", "1 hour".
fn duration(s: &str) -> Option<Millis> {
    let mut total: Millis = 0;
    let mut seen = false;
    let mut rest = s.trim_start();
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        let after = rest[digits..].trim_start();
        let word: String = after
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let unit = match word.as_str() {
            "d" | "day" | "days" => DAY,
            "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
            "m" | "min" | "mins" | "minute" | "minutes" => MINUTE,
            "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
            _ => break,
        };
        total = total.saturating_add(n.saturating_mul(unit));
        seen = true;
        rest = after[word.len()..].trim_start_matches([' ', ',']);
        rest = rest.strip_prefix("and ").unwrap_or(rest);
    }
    seen.then_some(total)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A clock time with an optional date before it and an optional zone after it. Only the text
/// up to the end of the sentence is read.
fn clock(lower: &str, orig: &str) -> Option<ClockTime> {
    // A sentence ends at a full stop followed by the end, or by a capital ("… 8:19 PM. Next");
    // abbreviations inside a date ("10 de jul. de 2026") do not end it.
    let ends_here = |i: usize| {
        let next = orig[i + 1..].trim_start_matches(' ');
        next.is_empty() || (next.len() < orig.len() - i - 1 && next.starts_with(char::is_uppercase))
    };
    let end = lower
        .char_indices()
        .find(|&(i, c)| c == '\n' || (c == '.' && ends_here(i)))
        .map_or(lower.len(), |(i, _)| i)
        .min(120);
    let end = (0..=end).rev().find(|&i| lower.is_char_boundary(i))?;
    let seg = &lower[..end];
    let date = date_in(seg);
    // The time: the last "H[:MM][ ]am|pm" or "HH:MM" in the segment before any zone.
    let zone_at = seg.find('(').unwrap_or(seg.len());
    let head = &seg[..zone_at];
    let mut found: Option<(usize, u8, u8)> = None;
    let bytes = head.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let h_len = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut j = i + h_len;
        let hour: u32 = head[i..j].parse().unwrap_or(99);
        let mut minute = 0u32;
        let mut has_minutes = false;
        if bytes.get(j) == Some(&b':')
            && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
            && bytes.get(j + 2).is_some_and(u8::is_ascii_digit)
        {
            minute = head[j + 1..j + 3].parse().unwrap_or(99);
            has_minutes = true;
            j += 3;
        }
        let after = head[j..].trim_start();
        let meridiem = if after.starts_with("am") || after.starts_with("a.m") {
            Some(false)
        } else if after.starts_with("pm") || after.starts_with("p.m") {
            Some(true)
        } else {
            None
        };
        let ok = h_len <= 2
            && minute < 60
            && match meridiem {
                Some(_) => (1..=12).contains(&hour),
                None => has_minutes && hour < 24,
            };
        if ok {
            let h24 = match meridiem {
                Some(pm) => (hour % 12) + if pm { 12 } else { 0 },
                None => hour,
            };
            found = Some((i, h24 as u8, minute as u8));
        }
        i = j.max(i + 1);
    }
    let (at, hour, minute) = found?;
    let zone = zone_after(&seg[at..], &orig[at..end.min(orig.len())]);
    Some(ClockTime {
        hour,
        minute,
        date,
        zone,
    })
}

/// "(Europe/Warsaw)" → "Europe/Warsaw"; " UTC", " GMT+2", " +02:00" → as printed.
fn zone_after(lower: &str, orig: &str) -> Option<String> {
    if let Some(open) = lower.find('(') {
        let close = lower[open..].find(')')? + open;
        let z = orig.get(open + 1..close)?.trim();
        return (!z.is_empty() && z.len() <= 64).then(|| z.to_string());
    }
    for word in orig.split_whitespace().skip(1) {
        let w = word.trim_matches(|c: char| c == ',' || c == '.');
        let up = w.to_ascii_uppercase();
        if up == "UTC"
            || up == "GMT"
            || up == "Z"
            || up.starts_with("UTC+")
            || up.starts_with("UTC-")
            || up.starts_with("GMT+")
            || up.starts_with("GMT-")
            || ((w.starts_with('+') || w.starts_with('-')) && w.len() >= 3)
        {
            return Some(w.to_string());
        }
    }
    None
}

/// A date in the segment: a month name, a day (1-31) and a 4-digit year, in any order
/// ("Jul 5th, 2026", "10 de jul. de 2026").
fn date_in(seg: &str) -> Option<(i64, u8, u8)> {
    let words: Vec<&str> = seg
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut month = None;
    let mut day = None;
    let mut year = None;
    for w in &words {
        let w = w.trim_end_matches('.');
        if month.is_none()
            && let Some(m) = MONTHS.iter().position(|m| {
                w.len() >= 3 && w.starts_with(m) && w.chars().all(char::is_alphabetic)
            })
        {
            month = Some(m as u8 + 1);
            continue;
        }
        let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
        let suffix = &w[digits.len()..];
        if digits.len() == 4 && suffix.is_empty() {
            year = digits.parse().ok();
        } else if (1..=2).contains(&digits.len())
            && matches!(suffix, "" | "st" | "nd" | "rd" | "th")
            && day.is_none()
            && !w.contains(':')
        {
            day = digits.parse().ok().filter(|d| (1..=31).contains(d));
        }
    }
    Some((year?, month?, day?))
}

/// Fixed offsets in seconds east of UTC: "UTC", "GMT", "Z", "UTC+2", "GMT-05:30", "+02:00".
pub fn fixed_offset(zone: &str) -> Option<i64> {
    let up = zone.trim().to_ascii_uppercase();
    let rest = if matches!(up.as_str(), "UTC" | "GMT" | "Z" | "ETC/UTC" | "ETC/GMT") {
        return Some(0);
    } else if let Some(r) = up.strip_prefix("UTC").or_else(|| up.strip_prefix("GMT")) {
        r
    } else {
        up.as_str()
    };
    let (sign, num) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match num.split_once(':') {
        Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
        None if num.len() == 4 => (num[..2].parse().ok()?, num[2..].parse().ok()?),
        None => (num.parse().ok()?, 0),
    };
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// The reset instant in ms since the epoch, if the notice states one. A clock time is the next
/// such time after `now` (the given date when there is one) in its zone: fixed offsets are
/// understood here, named zones through `zone_offset(name, at_ms)` (seconds east of UTC); a
/// clock time without a zone is read as UTC (containers run in UTC unless told otherwise). An
/// unknown zone yields `None`, so the caller falls back to its cool-down.
pub fn reset_at(
    limit: &UsageLimit,
    now: Millis,
    zone_offset: &dyn Fn(&str, Millis) -> Option<i64>,
) -> Option<Millis> {
    match &limit.reset {
        Reset::At(at) => Some((*at).max(now)),
        Reset::After(d) => Some(now.saturating_add(*d)),
        Reset::Unknown => None,
        Reset::Clock(c) => {
            let offset_at = |t: Millis| -> Option<i64> {
                match c.zone.as_deref() {
                    None => Some(0),
                    Some(z) => fixed_offset(z).or_else(|| zone_offset(z, t)),
                }
            };
            let off = offset_at(now)?;
            let local_now = now as i64 / 1000 + off;
            let day_secs = i64::from(c.hour) * 3600 + i64::from(c.minute) * 60;
            let local = match c.date {
                Some((y, m, d)) => days_from_civil(y, m, d) * 86_400 + day_secs,
                None => {
                    let mut t = local_now.div_euclid(86_400) * 86_400 + day_secs;
                    if t < local_now {
                        t += 86_400;
                    }
                    t
                }
            };
            // The offset at the reset itself (a DST change may lie in between).
            let guess = (local - off).max(0) as u64 * 1000;
            let off2 = offset_at(guess).unwrap_or(off);
            let at = u64::try_from(local - off2).ok()?.saturating_mul(1000);
            Some(at.max(now))
        }
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_zones(_: &str, _: Millis) -> Option<i64> {
        None
    }

    #[test]
    fn epoch_notice() {
        let l = recognise("Claude AI usage limit reached|1755615600").unwrap();
        assert_eq!(l.reset, Reset::At(1_755_615_600_000));
    }

    #[test]
    fn clock_with_zone_and_relative() {
        let l = recognise("You've hit your session limit · resets 3:20am (Asia/Calcutta)").unwrap();
        assert_eq!(
            l.reset,
            Reset::Clock(ClockTime {
                hour: 3,
                minute: 20,
                date: None,
                zone: Some("Asia/Calcutta".into())
            })
        );
        let l = recognise("You've hit your usage limit. Try again in 4 days 20 hours 9 minutes.")
            .unwrap();
        assert_eq!(l.reset, Reset::After(4 * DAY + 20 * HOUR + 9 * MINUTE));
    }

    #[test]
    fn clock_resolution_is_next_occurrence() {
        // 2026-12-04 17:00:00 UTC.
        let now = days_from_civil(2026, 12, 4) as u64 * DAY + 17 * HOUR;
        let l = recognise("You've hit your limit · resets 1pm").unwrap();
        assert_eq!(
            reset_at(&l, now, &no_zones),
            Some(now - 4 * HOUR + DAY),
            "1pm has passed today: tomorrow"
        );
        let l =
            recognise("try again later. You've hit your usage limit, try again at 9:01 PM UTC+1")
                .unwrap();
        assert_eq!(reset_at(&l, now, &no_zones), Some(now + 3 * HOUR + MINUTE));
        let l = recognise("You've hit your limit · resets 3pm (America/New_York)").unwrap();
        assert_eq!(reset_at(&l, now, &no_zones), None, "unknown zone");
        let ny = |z: &str, _: Millis| (z == "America/New_York").then_some(-5 * 3600);
        assert_eq!(reset_at(&l, now, &ny), Some(now + 3 * HOUR));
    }

    #[test]
    fn prose_about_rate_limits_is_not_a_notice() {
        for line in [
            "implement a rate limit for the API (429 responses)",
            "test limits::rate_limit_resets ... ok",
            "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"allowed\",\"resetsAt\":1784283600}}",
        ] {
            assert_eq!(recognise(line), None, "{line}");
        }
    }
}

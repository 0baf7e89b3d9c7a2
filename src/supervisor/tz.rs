//! Named time zones for usage-limit reset times ("resets 5pm (Europe/Warsaw)"): the UTC offset
//! of an IANA zone at an instant, read from the host's zone database (TZif files under
//! `/usr/share/zoneinfo`, or `$TZDIR`).
//!
//! Invariants: a zone name is used as a path only when it is made of letters, digits, `_`, `-`,
//! `+` and single `/` separators (never `..`, never absolute); unknown zones and unreadable or
//! malformed files give `None`, so the caller falls back to its cool-down. Instants after the
//! last transition in the file use the last offset (zone files carry transitions to 2037).

use std::path::PathBuf;

/// Seconds east of UTC in `zone` at `at_ms` (ms since the epoch), if the zone is known.
pub fn zone_offset(zone: &str, at_ms: u64) -> Option<i64> {
    if !valid_name(zone) {
        return None;
    }
    let dir = std::env::var_os("TZDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
    let data = std::fs::read(dir.join(zone)).ok()?;
    offset_in(&data, i64::try_from(at_ms / 1000).ok()?)
}

fn valid_name(zone: &str) -> bool {
    !zone.is_empty()
        && zone.len() <= 64
        && zone
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'/'))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// The offset at `t` (epoch seconds) from TZif data: version 2+ files are read from their
/// 64-bit block, version 1 files from the 32-bit one.
fn offset_in(d: &[u8], t: i64) -> Option<i64> {
    if d.get(..4)? != b"TZif" {
        return None;
    }
    let counts = |base: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (k, v) in c.iter_mut().enumerate() {
            *v = be32(d, base + 20 + 4 * k)? as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, time, typ, chars] = counts(0)?;
    let v1_len = time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
    let (base, width) = if d.get(4).is_some_and(|&v| v >= b'2') {
        (44 + v1_len, 8)
    } else {
        (0, 4)
    };
    if base != 0 && d.get(base..base + 4)? != b"TZif" {
        return None;
    }
    let [_, _, _, time, typ, _] = counts(base)?;
    let times = base + 44;
    let idx = times + time * width;
    let types = idx + time;
    let read_time = |i: usize| -> Option<i64> {
        let at = times + i * width;
        Some(if width == 8 {
            i64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?)
        } else {
            i64::from(be32(d, at)? as i32)
        })
    };
    // The last transition at or before `t`; before the first one, the first non-DST type.
    let mut ty = None;
    for i in 0..time {
        if read_time(i)? <= t {
            ty = Some(*d.get(idx + i)? as usize);
        } else {
            break;
        }
    }
    let ty = match ty {
        Some(x) => x,
        None => (0..typ)
            .find(|&k| d.get(types + k * 6 + 4) == Some(&0))
            .unwrap_or(0),
    };
    if ty >= typ {
        return None;
    }
    Some(i64::from(be32(d, types + ty * 6)? as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_zone_directory_are_refused() {
        for z in [
            "../etc/passwd",
            "/etc/passwd",
            "Europe/../x",
            "",
            "a//b",
            "Europe/Ber lin",
        ] {
            assert!(!valid_name(z), "{z}");
        }
        assert!(valid_name("America/Argentina/Buenos_Aires"));
        assert!(valid_name("Etc/GMT+5"));
    }

    #[test]
    fn garbage_is_no_zone() {
        assert_eq!(
            offset_in(b"not a zone file at all, no header here........", 0),
            None
        );
        assert_eq!(offset_in(b"TZif", 0), None);
    }
}

//! Usage-limit notices as real agents printed them (tests/fixtures/quota, sources in
//! SOURCES.toml): each is recognised, and its reset time resolves against a fixed `now` with the
//! host's zone database.

use drover::signals::quota::{Reset, recognise, reset_at};
use drover::supervisor::tz::zone_offset;

/// 2026-12-04 17:00:00 UTC.
const NOW: u64 = 1_796_403_600_000;
const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

fn notices() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quota/notices.txt"
    ))
    .expect("fixture");
    text.lines().map(str::to_string).collect()
}

#[test]
fn every_notice_is_recognised_with_its_reset_time() {
    // (line, kind, reset in ms since the epoch; None = unstated, the cool-down applies)
    let expected: &[(usize, &str, Option<u64>)] = &[
        (1, "claude_epoch", Some(NOW.max(1_755_615_600_000))),
        (2, "claude_epoch", Some(NOW)),
        (3, "usage_limit", Some(1_796_486_400_000)), // 5pm Warsaw = 16:00 UTC tomorrow
        (4, "usage_limit", Some(1_796_461_200_000)), // 1 PM Dubai = 09:00 UTC tomorrow
        (5, "hit_limit", Some(1_796_405_400_000)),   // 7:30pm Nicosia = 17:30 UTC today
        (6, "hit_limit", Some(1_796_421_600_000)),   // 5pm Detroit = 22:00 UTC today
        (7, "hit_limit", Some(1_796_414_400_000)),   // 3pm New York = 20:00 UTC today
        (8, "hit_limit", Some(1_796_421_000_000)),   // 3:20am Calcutta = 21:50 UTC today
        (9, "rate_limit", None),
        (10, "hit_limit", Some(NOW + 5 * DAY + 22 * HOUR + 11 * MIN)),
        (11, "hit_limit", Some(NOW + 2 * DAY + 17 * HOUR + 14 * MIN)),
        (12, "hit_limit", Some(NOW)), // Jul 5th, 2026 8:19 PM: already past
        (13, "hit_limit", None),
        (14, "hit_limit", Some(NOW)), // 10 de jul. de 2026, 11:52: already past
        (15, "hit_limit", Some(NOW + HOUR + 44 * MIN)), // 6:44 PM, no zone: UTC
        (16, "usage_limit_json", Some(NOW.max(1_775_317_531_000))),
    ];
    let lines = notices();
    for &(n, kind, reset) in expected {
        let line = &lines[n - 1];
        let hit = recognise(line).unwrap_or_else(|| panic!("line {n} not recognised: {line}"));
        assert_eq!(hit.kind, kind, "line {n}");
        assert_eq!(
            reset_at(&hit, NOW, &zone_offset),
            reset,
            "line {n}: {hit:?}"
        );
    }
}

#[test]
fn dated_notices_keep_their_date() {
    let lines = notices();
    let hit = recognise(&lines[11]).expect("line 12");
    // 2026-07-05 20:19 UTC, seen a day earlier.
    let before = 1_783_282_740_000 - DAY;
    assert_eq!(
        reset_at(&hit, before, &zone_offset),
        Some(1_783_282_740_000)
    );
    let hit = recognise(&lines[13]).expect("line 14");
    assert!(
        matches!(hit.reset, Reset::Clock(ref c) if c.date == Some((2026, 7, 10)) && c.hour == 11 && c.minute == 52)
    );
}

#[test]
fn an_allowed_rate_limit_event_is_not_a_limit() {
    let lines = notices();
    assert_eq!(recognise(&lines[16]), None);
}

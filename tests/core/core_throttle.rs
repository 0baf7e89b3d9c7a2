//! Usage limits in the core, on a virtual clock: a slot whose agent stops at a usage limit is
//! throttled until the stated reset (plus its jitter), starts again by itself, and is never
//! treated as failing — no incident, no crash loop, no Blocked, one info alert. Also the two
//! neighbouring policies: `unblock_after` (a Blocked slot retries once per cool-down) and the
//! fleet's daily budget (no new sessions once today's spend reaches the cap).

use crate::core_support;

use core_support::Harness;
use drover::core::{
    AlertKind, Command, CommandReply, Effect, EventKind, FleetSpec, Input, RoleSpec, Severity,
    SlotState,
};

const S1: &str = "implementer-1";
const S2: &str = "implementer-2";
const S3: &str = "implementer-3";
const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

fn spec(replicas: u32, tune: impl FnOnce(&mut RoleSpec)) -> FleetSpec {
    let mut role = RoleSpec::new("implementer", replicas, "hash-1");
    role.throttle.jitter = 2_000;
    tune(&mut role);
    FleetSpec::new("demo", vec![role])
}

fn booted(replicas: u32, tune: impl FnOnce(&mut RoleSpec)) -> Harness {
    let mut h = Harness::new(spec(replicas, tune));
    h.boot();
    for n in 1..=replicas {
        assert_eq!(h.state(&format!("implementer-{n}")), SlotState::Running);
    }
    h
}

fn epoch_notice(at_ms: u64) -> String {
    format!("Claude AI usage limit reached|{}", at_ms / 1000)
}

fn events(h: &Harness, kind: EventKind) -> usize {
    h.log
        .iter()
        .filter(|(_, e)| matches!(e, Effect::PersistEvent(ev) if ev.kind == kind))
        .count()
}

fn usage_alerts_raised(h: &Harness) -> usize {
    h.log
        .iter()
        .filter(|(_, e)| {
            matches!(e, Effect::RaiseAlert(a) if a.key.kind == AlertKind::UsageLimit
                && a.severity == Severity::Info)
        })
        .count()
}

#[test]
fn a_stated_reset_throttles_until_then_and_the_slot_runs_again() {
    let mut h = booted(1, |_| {});
    let reset = Harness::T0 + 2 * HOUR;
    h.advance(5 * MIN);
    h.die(S1, 1, &["working…", &epoch_notice(reset)]);
    let view = h.view(S1);
    let SlotState::Throttled { until } = view.state else {
        panic!("not throttled: {:?}", view.state);
    };
    assert!(
        (reset..=reset + 2_000).contains(&until),
        "{until} vs {reset}"
    );
    assert_eq!(view.throttled_until, Some(until));
    assert!(view.reason.as_deref().unwrap_or("").contains("usage limit"));
    assert_eq!(h.snapshot().metrics.by_state.get("throttled"), Some(&1));
    assert_eq!(h.fleet.next_wakeup(), Some(until));
    let starts = h.starts(S1);
    h.advance_to(until - 1);
    assert_eq!(h.starts(S1), starts, "no start before the reset");
    assert!(matches!(h.state(S1), SlotState::Throttled { .. }));
    h.advance_to(until);
    assert_eq!(h.state(S1), SlotState::Running);
    assert_eq!(h.starts(S1), starts + 1);
    assert_eq!(
        h.fleet.open_incidents().count(),
        0,
        "a limit is no incident"
    );
    assert_eq!(usage_alerts_raised(&h), 1);
    assert_eq!(events(&h, EventKind::RestartScheduled), 0);
    assert_eq!(
        h.view(S1).throttle,
        None,
        "the throttle ended with the start"
    );
    assert!(
        !h.snapshot()
            .alerts
            .iter()
            .any(|a| a.key.kind == AlertKind::UsageLimit),
        "the alert clears when the slot runs again"
    );
    assert_eq!(h.view(S1).metrics, Default::default(), "no MTTR impact");
}

#[test]
fn limits_day_after_day_never_block_or_crash_loop() {
    let mut h = booted(1, |_| {});
    for day in 0..12 {
        // Each run ends within seconds: a crash loop if it counted as a failure.
        h.advance(1_000);
        let reset = h.now + HOUR;
        h.die(S1, 1, &[&epoch_notice(reset)]);
        assert!(
            matches!(h.state(S1), SlotState::Throttled { .. }),
            "day {day}: {:?}",
            h.state(S1)
        );
        let wake = h.fleet.next_wakeup().expect("restart at the reset");
        h.advance_to(wake);
        assert_eq!(h.state(S1), SlotState::Running, "day {day}");
    }
    let view = h.view(S1);
    assert!(!view.crash_looping);
    assert_eq!(view.restarts_in_window, 0);
    assert_eq!(h.fleet.open_incidents().count(), 0);
    assert_eq!(events(&h, EventKind::Blocked), 0);
}

#[test]
fn without_a_stated_reset_the_cool_down_applies_and_doubles() {
    let mut h = booted(1, |r| r.throttle.jitter = 0);
    let line = r#"Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."}}"#;
    h.die(S1, 1, &[line]);
    let t0 = h.now;
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: t0 + 15 * MIN
        }
    );
    h.advance(15 * MIN);
    assert_eq!(h.state(S1), SlotState::Running);
    h.die(S1, 1, &[line]);
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: h.now + 30 * MIN
        }
    );
    h.advance(30 * MIN);
    // A run that ends without a limit resets the cool-down (and is an ordinary failure).
    h.die(S1, 1, &["panic: something else"]);
    assert!(matches!(
        h.state(S1),
        SlotState::Backoff { .. } | SlotState::Running
    ));
    assert_eq!(h.fleet.open_incidents().count(), 1);
}

#[test]
fn one_limit_holds_the_whole_quota_group() {
    let mut h = booted(3, |_| {});
    let reset = h.now + HOUR;
    // implementer-2 is down and waiting for a failure restart; implementer-3 runs on.
    h.advance(20 * MIN);
    h.die(S2, 1, &["error: flaky network"]);
    h.die(S1, 1, &[&epoch_notice(reset)]);
    assert!(matches!(h.state(S1), SlotState::Throttled { .. }));
    assert!(
        matches!(
            h.state(S2),
            SlotState::Throttled { .. } | SlotState::Running
        ),
        "{:?}",
        h.state(S2)
    );
    assert_eq!(h.state(S3), SlotState::Running);
    assert!(h.view(S3).throttle.is_some(), "the running peer knows");
    // implementer-3 exits with some error before the reset: the account is still limited.
    h.advance(MIN);
    h.die(S3, 1, &["Error: request failed"]);
    let SlotState::Throttled { until } = h.state(S3) else {
        panic!("{:?}", h.state(S3));
    };
    assert!((reset..=reset + 2_000).contains(&until));
    h.advance_to(reset + 2_000);
    for s in [S1, S2, S3] {
        assert_eq!(h.state(s), SlotState::Running, "{s}");
    }
}

#[test]
fn groups_span_roles_and_do_not_leak_into_others() {
    let mut a = RoleSpec::new("planner", 1, "h");
    a.throttle.group = Some("acct-1".into());
    let mut b = RoleSpec::new("implementer", 1, "h");
    b.throttle.group = Some("acct-1".into());
    let c = RoleSpec::new("reviewer", 1, "h");
    let mut h = Harness::new(FleetSpec::new("demo", vec![a, b, c]));
    h.boot();
    h.advance(MIN);
    let reset = h.now + HOUR;
    h.die("planner-1", 1, &[&epoch_notice(reset)]);
    assert!(h.view("implementer-1").throttle.is_some());
    assert!(h.view("reviewer-1").throttle.is_none());
}

#[test]
fn resume_ends_a_throttle_early() {
    let mut h = booted(1, |_| {});
    h.die(S1, 1, &[&epoch_notice(h.now + 3 * HOUR)]);
    assert!(matches!(h.state(S1), SlotState::Throttled { .. }));
    let (reply, _) = h.command(Command::Resume { slot: S1.into() });
    assert_eq!(reply, CommandReply::Accepted);
    assert_eq!(h.state(S1), SlotState::Running);
    let (reply, _) = h.command(Command::Resume { slot: S1.into() });
    assert_eq!(reply, CommandReply::Unchanged);
}

#[test]
fn the_followers_resolved_reset_wins_for_named_zones() {
    let mut h = booted(1, |r| r.throttle.jitter = 0);
    let line = "You've hit your limit · resets 3pm (America/New_York)";
    let resolved = h.now + 7 * HOUR;
    h.feed(Input::UsageLimit {
        slot: S1.into(),
        reset_at: Some(resolved),
        line: line.into(),
    });
    assert_eq!(
        h.state(S1),
        SlotState::Running,
        "seeing a notice stops nothing"
    );
    h.die(S1, 1, &[line]);
    assert_eq!(h.state(S1), SlotState::Throttled { until: resolved });
    // Without the follower's answer the core cannot read the zone: cool-down.
    h.command(Command::Resume { slot: S1.into() });
    h.die(S1, 1, &[line]);
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: h.now + 30 * MIN
        }
    );
}

#[test]
fn a_notice_quoted_mid_run_is_not_the_exit_reason() {
    let mut h = booted(1, |_| {});
    let mut lines = vec!["Claude AI usage limit reached|1755615600".to_string()];
    lines.extend((0..30).map(|i| format!("compiling step {i}")));
    lines.push("error: linker failed".into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    h.die(S1, 1, &refs);
    assert!(!matches!(h.state(S1), SlotState::Throttled { .. }));
    assert_eq!(h.fleet.open_incidents().count(), 1);
}

#[test]
fn unblock_after_retries_a_blocked_slot_once_per_cool_down() {
    let mut h = booted(1, |r| r.restart.unblock_after = Some(30 * MIN));
    let blocked = |h: &Harness| matches!(h.state(S1), SlotState::Blocked { .. });
    for _ in 0..10 {
        if blocked(&h) {
            break;
        }
        if h.state(S1) == SlotState::Running {
            h.advance(1_000);
            h.die(S1, 2, &["fatal: cannot reach the model endpoint"]);
        } else {
            let wake = h.fleet.next_wakeup().expect("restart");
            h.advance_to(wake);
        }
    }
    assert!(blocked(&h), "{:?}", h.state(S1));
    let starts = h.starts(S1);
    h.advance(30 * MIN - 1);
    assert!(blocked(&h), "not before the cool-down");
    h.advance(1);
    assert_eq!(h.state(S1), SlotState::Running, "one retry");
    assert_eq!(h.starts(S1), starts + 1);
    h.advance(1_000);
    h.die(S1, 2, &["fatal: cannot reach the model endpoint"]);
    let SlotState::Blocked { reason, .. } = h.state(S1) else {
        panic!("{:?}", h.state(S1));
    };
    assert!(reason.contains("after 1 automatic retry"), "{reason}");
    assert_eq!(
        h.starts(S1),
        starts + 1,
        "blocked at once, no backoff restarts"
    );
    h.advance(30 * MIN);
    h.advance(1_000);
    h.die(S1, 2, &["fatal: cannot reach the model endpoint"]);
    let SlotState::Blocked { reason, .. } = h.state(S1) else {
        panic!("{:?}", h.state(S1));
    };
    assert!(reason.contains("after 2 automatic retries"), "{reason}");
}

#[test]
fn without_unblock_after_and_for_operator_blocks_nothing_retries() {
    let mut h = booted(2, |r| r.restart.unblock_after = Some(30 * MIN));
    let (reply, _) = h.command(Command::Block {
        slot: S1.into(),
        reason: "hands off".into(),
    });
    assert_eq!(reply, CommandReply::Accepted);
    h.advance(5 * HOUR);
    assert!(matches!(h.state(S1), SlotState::Blocked { .. }));
    let mut h = booted(1, |_| {});
    for _ in 0..10 {
        if h.state(S1) == SlotState::Running {
            h.advance(1_000);
            h.die(S1, 2, &["fatal: boom"]);
        } else if let Some(w) = h.fleet.next_wakeup() {
            h.advance_to(w);
        } else {
            break;
        }
    }
    assert!(matches!(h.state(S1), SlotState::Blocked { .. }));
    assert_eq!(
        h.fleet.next_wakeup(),
        None,
        "off by default: no retry is scheduled"
    );
}

fn spend(h: &mut Harness, slot: &str, cost_micros: u64) {
    h.feed(Input::UsageObserved {
        slot: slot.into(),
        tokens: 1_000,
        rounds: 1,
        kinds: drover::signals::usage::Tokens {
            input: 400,
            output: 600,
            ..Default::default()
        },
        cost_micros,
    });
}

#[test]
fn the_daily_budget_stops_new_sessions_until_midnight_utc() {
    let mut s = spec(2, |_| {});
    s.daily_budget_micros = Some(1_000_000);
    let mut h = Harness::new(s);
    h.boot();
    spend(&mut h, S1, 600_000);
    assert!(h.snapshot().alerts.is_empty());
    spend(&mut h, S2, 500_000);
    let snap = h.snapshot();
    let alert = snap
        .alerts
        .iter()
        .find(|a| a.key.kind == AlertKind::DailyBudget)
        .expect("budget alert");
    assert!(
        alert.message.contains("$1.10 of $1.00"),
        "{}",
        alert.message
    );
    assert_eq!(snap.metrics.spend.today_micros, 1_100_000);
    assert_eq!(snap.metrics.spend.tokens.output, 1_200);
    assert_eq!(h.view(S1).usage.run_cost_micros, 600_000);
    // Running sessions finish; the next one waits for midnight UTC.
    assert_eq!(h.state(S2), SlotState::Running);
    let starts = h.starts(S1);
    h.die(S1, 0, &["done"]);
    let midnight = (h.now / (24 * HOUR) + 1) * 24 * HOUR;
    h.advance_to(midnight - 1);
    assert_eq!(h.starts(S1), starts, "no new session today");
    assert_eq!(
        h.state(S2),
        SlotState::Running,
        "running ones are not touched"
    );
    h.advance_to(midnight);
    assert_eq!(h.state(S1), SlotState::Running, "a new day, a new budget");
    assert!(
        !h.snapshot()
            .alerts
            .iter()
            .any(|a| a.key.kind == AlertKind::DailyBudget)
    );
    assert_eq!(h.snapshot().metrics.spend.today_micros, 0);
}

#[test]
fn a_reset_already_past_or_zero_waits_the_cool_down_and_doubles_it() {
    let mut h = booted(1, |r| r.throttle.jitter = 0);
    h.advance(5 * MIN);
    let past = h.now - HOUR;
    h.die(S1, 1, &[&epoch_notice(past)]);
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: h.now + 15 * MIN
        },
        "never an immediate restart"
    );
    h.advance(15 * MIN);
    assert_eq!(h.state(S1), SlotState::Running);
    h.die(S1, 1, &["Claude AI usage limit reached|0"]);
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: h.now + 30 * MIN
        },
        "the cool-down doubles like any limit in a row"
    );
}

#[test]
fn a_reset_centuries_away_is_cut_at_max_throttle() {
    let mut h = booted(1, |r| r.throttle.jitter = 0);
    h.die(S1, 1, &["Claude AI usage limit reached|9999999999"]);
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: h.now + 24 * HOUR
        }
    );
    let mut h = booted(1, |r| {
        r.throttle.jitter = 0;
        r.throttle.max_throttle = 3 * HOUR;
    });
    h.die(S1, 1, &[&epoch_notice(Harness::T0 + 100 * HOUR)]);
    assert_eq!(
        h.state(S1),
        SlotState::Throttled {
            until: h.now + 3 * HOUR
        }
    );
}

#[test]
fn a_slot_that_hits_the_limit_every_few_seconds_is_blocked_with_that_reason() {
    let mut h = booted(1, |r| r.throttle.jitter = 0);
    let mut starts = 0;
    for _ in 0..50 {
        if matches!(h.state(S1), SlotState::Blocked { .. }) {
            break;
        }
        h.advance(2_000);
        let soon = h.now + 5_000;
        h.die(S1, 1, &[&epoch_notice(soon)]);
        let wake = h.fleet.next_wakeup();
        if let Some(w) = wake.filter(|_| matches!(h.state(S1), SlotState::Throttled { .. })) {
            h.advance_to(w);
            starts += 1;
        }
    }
    let SlotState::Blocked { reason, .. } = h.state(S1) else {
        panic!("never blocked: {:?}", h.state(S1));
    };
    assert!(reason.contains("usage limit 6 times"), "{reason}");
    assert_eq!(starts, 5, "the sixth limit blocks instead of waiting again");
    assert_eq!(events(&h, EventKind::Blocked), 1);
}

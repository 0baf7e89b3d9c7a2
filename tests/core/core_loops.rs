//! The core's loop detectors on a virtual clock against the fake Docker: re-claim loops from
//! claim commits, the same failing tests run after run, the token budget per task, firings of
//! the log-fed detectors ruled out by a commit, and the `[loops]` actions (pause, block,
//! restart) really happening — audited, once per firing, never for a disabled detector.

use crate::core_support;

use core_support::Harness;
use drover::core::{
    ActivityKind, Actor, AlertKind, AlertRef, ClaimObservation, Command, CommandReply,
    DetectorAction, DetectorRule, Effect, EventKind, FleetSpec, Input, LockObservation, RoleSpec,
    Severity, SlotState, TestSummary, Verdict,
};

const S1: &str = "implementer-1";
const S2: &str = "implementer-2";
const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

fn spec(replicas: u32, tune: impl FnOnce(&mut RoleSpec)) -> FleetSpec {
    let mut role = RoleSpec::new("implementer", replicas, "hash-1");
    role.preflight = false;
    // Long enough that the stall detector stays out of these scenarios.
    role.stall_after = 24 * HOUR;
    tune(&mut role);
    FleetSpec::new("demo", vec![role])
}

fn claim(task: &str, holder: &str, at: u64, n: u32) -> ClaimObservation {
    ClaimObservation {
        task: task.into(),
        holder: Some(holder.into()),
        at,
        commit: format!("{n:040x}"),
        summary: format!("Lock task: {task}"),
    }
}

fn loop_alert(h: &Harness, detector: &str) -> Option<drover::core::Alert> {
    h.snapshot()
        .alerts
        .into_iter()
        .find(|a| matches!(&a.key.kind, AlertKind::Loop { detector: d } if d == detector))
}

fn detector_events(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::PersistEvent(ev) if ev.kind == EventKind::Detector => Some(ev.message.clone()),
            _ => None,
        })
        .collect()
}

fn failing_run(names: &[&str]) -> TestSummary {
    TestSummary {
        passed: 10,
        failed: names.len() as u64,
        skipped: 0,
        errors: 0,
        verdict: Verdict::Fail,
        failing: names.iter().map(|n| n.to_string()).collect(),
    }
}

fn test_run(h: &mut Harness, slot: &str, summary: TestSummary) -> Vec<Effect> {
    h.advance(MIN);
    h.feed(Input::TestRunRecorded {
        slot: slot.into(),
        summary,
    })
}

#[test]
fn a_task_claimed_five_times_within_the_window_is_a_reclaim_loop_with_its_commits_as_evidence() {
    let mut h = Harness::new(spec(2, |r| {
        r.loops.reclaim.rule.action = DetectorAction::Pause;
    }));
    h.boot();
    let t = h.now;
    // Four claims by different slots: under both thresholds.
    let claims: Vec<ClaimObservation> = (0..4)
        .map(|i| {
            claim(
                "parser",
                if i % 2 == 0 { S1 } else { S2 },
                t - (10 - i) * MIN,
                i as u32,
            )
        })
        .collect();
    h.feed(Input::ClaimsObserved {
        claims,
        replace: true,
    });
    h.feed(Input::LocksObserved {
        locks: vec![LockObservation {
            task: "parser".into(),
            holder: Some(S2.into()),
            claimed_at: t - 7 * MIN,
            claim_commit: None,
        }],
    });
    assert!(h.snapshot().alerts.is_empty());
    assert_eq!(h.snapshot().locks[0].claims, 4);

    let effects = h.feed(Input::ClaimsObserved {
        claims: vec![claim("parser", S1, t, 5)],
        replace: false,
    });
    let snap = h.snapshot();
    let alert = snap
        .alerts
        .iter()
        .find(|a| {
            a.key.kind
                == AlertKind::Reclaim {
                    task: "parser".into(),
                }
        })
        .expect("re-claim alert");
    assert_eq!(
        alert.key.slot.as_deref(),
        Some(S1),
        "goes to the latest claimer"
    );
    assert_eq!(alert.severity, Severity::Warning);
    assert!(
        alert.message.contains("claimed 5 times"),
        "{}",
        alert.message
    );
    assert_eq!(alert.evidence.len(), 5);
    assert!(
        alert.evidence[0].contains("claimed by implementer-1 in 0000000000"),
        "{:?}",
        alert.evidence
    );
    assert_eq!(
        h.state(S1),
        SlotState::Paused { by: Actor::Drover },
        "the action ran"
    );
    assert_eq!(detector_events(&effects).len(), 1, "audited");

    // Refreshing the same condition neither spams nor acts again.
    let effects = h.feed(Input::ClaimsObserved {
        claims: vec![],
        replace: false,
    });
    assert!(!effects.iter().any(|e| matches!(e, Effect::RaiseAlert(_))));
    assert!(detector_events(&effects).is_empty());

    // Six hours later the claims have left the window: the alert clears itself.
    let effects = h.advance(6 * HOUR);
    assert!(effects.iter().any(|e| matches!(e, Effect::ClearAlert(a) if a.key.kind == AlertKind::Reclaim { task: "parser".into() })));
    assert!(
        h.snapshot()
            .alerts
            .iter()
            .all(|a| !matches!(a.key.kind, AlertKind::Reclaim { .. }))
    );
}

#[test]
fn one_slot_taking_the_same_task_three_times_is_a_reclaim_loop_too() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let t = h.now;
    let claims = (0..3)
        .map(|i| claim("cart", S1, t - (3 - i) * HOUR, i as u32))
        .collect();
    h.feed(Input::ClaimsObserved {
        claims,
        replace: true,
    });
    let snap = h.snapshot();
    assert!(
        snap.alerts.iter().any(|a| a.key.kind
            == AlertKind::Reclaim {
                task: "cart".into()
            }
            && a.message.contains("3 of them")),
        "{:?}",
        snap.alerts
    );
    assert_eq!(
        h.state(S1),
        SlotState::Running,
        "the default action only alerts"
    );
}

#[test]
fn a_rescanned_history_replaces_the_claims_seen_before() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let t = h.now;
    let five = (0..5)
        .map(|i| claim("x", "someone", t - i * MIN, i as u32))
        .collect();
    h.feed(Input::ClaimsObserved {
        claims: five,
        replace: true,
    });
    assert_eq!(
        h.snapshot().alerts.len(),
        1,
        "a fleet-wide alert: the claimer is no slot"
    );
    assert_eq!(h.snapshot().alerts[0].key.slot, None);
    h.feed(Input::ClaimsObserved {
        claims: vec![claim("x", "someone", t, 9)],
        replace: true,
    });
    assert!(
        h.snapshot().alerts.is_empty(),
        "the rewritten history has one claim"
    );
}

#[test]
fn the_same_failing_tests_three_runs_in_a_row_blocks_and_a_commit_starts_over() {
    let mut h = Harness::new(spec(1, |r| {
        r.loops.failing_tests.rule.action = DetectorAction::Block;
    }));
    h.boot();
    let set = [
        "cart::totals - assert 11 == 10",
        "cart::tax - KeyError: 'vat'",
    ];
    test_run(&mut h, S1, failing_run(&set));
    test_run(&mut h, S1, failing_run(&set));
    // A commit by the slot is progress.
    h.feed(Input::Activity {
        slot: S1.into(),
        kind: ActivityKind::Commit,
    });
    test_run(&mut h, S1, failing_run(&set));
    test_run(&mut h, S1, failing_run(&set));
    assert!(
        loop_alert(&h, "failing_tests").is_none(),
        "streak restarted at the commit"
    );
    // The same tests failing with a different message are the same failing set.
    let effects = test_run(
        &mut h,
        S1,
        failing_run(&["cart::tax - KeyError: 'vat' (after 0.31s)", set[0]]),
    );
    let alert = loop_alert(&h, "failing_tests").expect("third identical run fires");
    assert_eq!(alert.evidence.len(), 2);
    assert!(
        alert.message.contains("3 runs in a row"),
        "{}",
        alert.message
    );
    assert!(matches!(
        h.state(S1),
        SlotState::Blocked {
            by: Actor::Drover,
            ..
        }
    ));
    assert_eq!(detector_events(&effects).len(), 1);
}

#[test]
fn a_different_failure_or_a_pass_ends_the_failing_tests_alert() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    for _ in 0..3 {
        test_run(&mut h, S1, failing_run(&["a"]));
    }
    assert!(loop_alert(&h, "failing_tests").is_some());
    assert_eq!(h.state(S1), SlotState::Running);
    test_run(&mut h, S1, failing_run(&["b"]));
    assert!(loop_alert(&h, "failing_tests").is_none());
    for _ in 0..3 {
        test_run(&mut h, S1, failing_run(&["b"]));
    }
    assert!(
        loop_alert(&h, "failing_tests").is_some(),
        "a cleared alert can fire again"
    );
    test_run(
        &mut h,
        S1,
        TestSummary {
            failed: 0,
            verdict: Verdict::Pass,
            failing: vec![],
            ..failing_run(&[])
        },
    );
    assert!(loop_alert(&h, "failing_tests").is_none());
}

#[test]
fn the_budget_warns_quietly_then_alerts_and_acts_and_a_new_task_starts_a_fresh_budget() {
    let mut h = Harness::new(spec(1, |r| {
        r.loops.budget.rule.action = DetectorAction::Restart;
    }));
    h.boot();
    h.feed(Input::LocksObserved {
        locks: vec![LockObservation {
            task: "search".into(),
            holder: Some(S1.into()),
            claimed_at: h.now,
            claim_commit: None,
        }],
    });
    let usage = |h: &mut Harness, tokens| {
        h.feed(Input::UsageObserved {
            slot: S1.into(),
            tokens,
            rounds: 1,
            kinds: Default::default(),
            cost_micros: 0,
        })
    };
    usage(&mut h, 12_000);
    assert!(loop_alert(&h, "budget").is_none());
    usage(&mut h, 9_000);
    let warn = loop_alert(&h, "budget").expect("warning at 20 k");
    assert_eq!(
        warn.severity,
        Severity::Info,
        "a warning needs no human yet"
    );
    assert_eq!(h.starts(S1), 1);
    let effects = usage(&mut h, 30_000);
    let alert = loop_alert(&h, "budget").unwrap();
    assert_eq!(alert.id, warn.id, "one alert per condition, escalated");
    assert_eq!(alert.severity, Severity::Warning);
    assert!(
        alert
            .message
            .contains("51000 tokens in 3 rounds on this task"),
        "{}",
        alert.message
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::UpdateAlert(a) if a.severity == Severity::Warning))
    );
    assert_eq!(h.starts(S1), 2, "the restart action ran");
    let view = h.view(S1);
    assert_eq!(view.usage.task.as_deref(), Some("search"));
    assert_eq!(view.usage.task_tokens, 51_000);
    assert_eq!(
        view.usage.session_tokens, 0,
        "a new container run starts a new session"
    );

    h.feed(Input::LocksObserved {
        locks: vec![LockObservation {
            task: "export".into(),
            holder: Some(S1.into()),
            claimed_at: h.now,
            claim_commit: None,
        }],
    });
    usage(&mut h, 100);
    assert!(
        loop_alert(&h, "budget").is_none(),
        "the new task has its own budget"
    );
    assert_eq!(h.view(S1).usage.task_tokens, 100);
    assert_eq!(h.view(S1).usage.session_tokens, 100);
}

#[test]
fn output_repetition_during_which_the_slot_committed_is_not_a_loop() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let began = h.now;
    h.advance(MIN);
    h.feed(Input::Activity {
        slot: S1.into(),
        kind: ActivityKind::Commit,
    });
    h.advance(MIN);
    let fire = |since| Input::DetectorFired {
        slot: S1.into(),
        detector: "output_repetition".into(),
        evidence: vec!["GET /healthz 200".into()],
        action: DetectorAction::Pause,
        since: Some(since),
    };
    h.feed(fire(began));
    assert!(loop_alert(&h, "output_repetition").is_none());
    assert_eq!(h.state(S1), SlotState::Running);
    // Later windows begin after the commit: now it is a loop, and the action runs once.
    h.feed(fire(h.now - 10_000));
    assert!(loop_alert(&h, "output_repetition").is_some());
    assert_eq!(h.state(S1), SlotState::Paused { by: Actor::Drover });
}

#[test]
fn an_acknowledged_loop_alert_stays_visible_and_does_not_act_again() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let fire = Input::DetectorFired {
        slot: S1.into(),
        detector: "tool_call_repetition".into(),
        evidence: vec!["the same tool call 5 times in a row".into()],
        action: DetectorAction::Restart,
        since: None,
    };
    h.feed(fire.clone());
    assert_eq!(h.starts(S1), 2);
    let id = loop_alert(&h, "tool_call_repetition").unwrap().id;
    assert_eq!(
        h.command(Command::AckAlert {
            alert: AlertRef::Id(id)
        })
        .0,
        CommandReply::Accepted
    );
    let effects = h.feed(fire);
    assert!(!effects.iter().any(|e| matches!(e, Effect::RaiseAlert(_))));
    assert_eq!(h.starts(S1), 2, "no second restart for the same firing");
    let alert = loop_alert(&h, "tool_call_repetition").unwrap();
    assert!(alert.acked.is_some());
    assert_eq!(alert.count, 2);
}

#[test]
fn crash_loop_stall_and_lock_overdue_apply_their_configured_actions() {
    // Crash loop → pause.
    let mut h = Harness::new(spec(1, |r| {
        r.loops.crash_loop.action = DetectorAction::Pause;
    }));
    h.boot();
    for _ in 0..3 {
        h.advance(1_000);
        h.die(S1, 1, &["FATAL: config missing"]);
    }
    assert_eq!(h.state(S1), SlotState::Paused { by: Actor::Drover });
    assert!(
        h.snapshot()
            .alerts
            .iter()
            .any(|a| a.key.kind == AlertKind::CrashLoop)
    );

    // Stall → restart.
    let mut h = Harness::new(spec(1, |r| {
        r.stall_after = 15 * MIN;
        r.loops.stall.action = DetectorAction::Restart;
    }));
    h.boot();
    let effects = h.advance(16 * MIN);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::RaiseAlert(a) if a.key.kind == AlertKind::Stall))
    );
    assert_eq!(h.starts(S1), 2, "the stalled agent was restarted");
    assert_eq!(detector_events(&effects).len(), 1);

    // Lock overdue → block the holder.
    let mut h = Harness::new(spec(1, |r| {
        r.task_timeout = 30 * MIN;
        r.loops.lock_overdue.action = DetectorAction::Block;
    }));
    h.boot();
    h.feed(Input::LocksObserved {
        locks: vec![LockObservation {
            task: "slow".into(),
            holder: Some(S1.into()),
            claimed_at: h.now,
            claim_commit: None,
        }],
    });
    h.advance(31 * MIN);
    assert!(
        matches!(h.state(S1), SlotState::Blocked { by: Actor::Drover, ref reason } if reason.contains("task slow")),
        "{:?}",
        h.state(S1)
    );
}

#[test]
fn a_disabled_detector_neither_alerts_nor_acts() {
    let off = DetectorRule {
        enabled: false,
        action: DetectorAction::Block,
    };
    let mut h = Harness::new(spec(1, |r| {
        r.stall_after = 15 * MIN;
        r.loops.stall = off;
        r.loops.failing_tests.rule = off;
        r.loops.reclaim.rule = off;
        r.loops.budget.rule = off;
    }));
    h.boot();
    for _ in 0..3 {
        test_run(&mut h, S1, failing_run(&["a"]));
    }
    let t = h.now;
    h.feed(Input::ClaimsObserved {
        claims: (0..6)
            .map(|i| claim("t", S1, t - i * MIN, i as u32))
            .collect(),
        replace: true,
    });
    h.feed(Input::UsageObserved {
        slot: S1.into(),
        tokens: 1_000_000,
        rounds: 99,
        kinds: Default::default(),
        cost_micros: 0,
    });
    h.advance(20 * MIN);
    assert!(h.snapshot().alerts.is_empty(), "{:?}", h.snapshot().alerts);
    assert_eq!(h.state(S1), SlotState::Running);
}

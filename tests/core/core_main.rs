//! The shared branch's check on a virtual clock: the pure `MainCheck` (what counts as green,
//! red or unknown; one tip check per interval; first red after green; bisection to the first
//! red commit within `max_bisect`; the check's own failures counting as neither) and the
//! fleet's rules over it (`upstream_red` opened, restated and cleared; with `on_red = "hold"`
//! no slot starts a new run while red, `fixes_main` roles excepted, and the hold ends by itself
//! with an event when main is green).

use crate::core_support::Harness;
use drover::core::{
    AlertKind, CheckOutcome, CommitInfo, Effect, EventKind, FleetSpec, Input, Landing, MainCheck,
    MainPolicy, MainState, MainStep, MainView, OnRed, RoleSpec, SlotState, TestSummary, Verdict,
    judge_check,
};

const MIN: u64 = 60_000;

fn commit(id: &str) -> CommitInfo {
    CommitInfo {
        id: format!("{id}{}", "0".repeat(40 - id.len())),
        author: format!("{id} <{id}@example.com>"),
        summary: format!("change {id}"),
        at: 0,
    }
}

fn summary(passed: u64, failed: u64, verdict: Verdict, failing: &[&str]) -> TestSummary {
    TestSummary {
        passed,
        failed,
        skipped: 0,
        errors: 0,
        verdict,
        failing: failing.iter().map(|s| s.to_string()).collect(),
    }
}

fn green() -> CheckOutcome {
    CheckOutcome::Ran {
        state: MainState::Green,
        summary: summary(3, 0, Verdict::Pass, &[]),
        exit_code: 0,
    }
}

fn red(test: &str) -> CheckOutcome {
    CheckOutcome::Ran {
        state: MainState::Red,
        summary: summary(2, 1, Verdict::Fail, &[test]),
        exit_code: 101,
    }
}

fn policy(max_bisect: u32, on_red: OnRed) -> MainPolicy {
    MainPolicy {
        every: MIN,
        max_bisect,
        on_red,
    }
}

/// Runs every check `next` asks for at `now`, answering with `verdict_of(commit id)`.
fn run_due(m: &mut MainCheck, now: u64, verdict_of: &dyn Fn(&str) -> CheckOutcome) -> Vec<String> {
    let mut checked = Vec::new();
    while let MainStep::Check { commit, bisect } = m.next(now) {
        checked.push(commit.id[..2].to_string());
        let outcome = verdict_of(&commit.id);
        m.started(now, commit, bisect);
        m.finished(now + 1_000, outcome);
        assert!(checked.len() < 50, "endless checks");
    }
    checked
}

#[test]
fn only_a_pass_is_green_no_tests_is_unknown_and_failures_are_red() {
    let pass = summary(5, 0, Verdict::Pass, &[]);
    let fail = summary(4, 1, Verdict::Fail, &["t::broken"]);
    let none = summary(0, 0, Verdict::NoTests, &[]);
    assert_eq!(
        judge_check(std::slice::from_ref(&pass), 0).0,
        MainState::Green
    );
    let (state, sum) = judge_check(&[pass.clone(), fail], 101);
    assert_eq!(state, MainState::Red);
    assert_eq!((sum.passed, sum.failed), (9, 1));
    assert_eq!(sum.failing, vec!["t::broken".to_string()]);
    assert_eq!(
        judge_check(std::slice::from_ref(&none), 0).0,
        MainState::Unknown
    );
    assert_eq!(
        judge_check(&[], 0).0,
        MainState::Unknown,
        "no tests is never green"
    );
    assert_eq!(judge_check(&[], 2).0, MainState::Unknown);
    // Passing tests, yet the command failed afterwards: not a pass.
    assert_eq!(judge_check(&[pass], 1).0, MainState::Red);
}

#[test]
fn a_tip_is_checked_at_most_once_per_interval_and_always_the_newest() {
    let mut m = MainCheck::new(policy(4, OnRed::Alert));
    m.observe_tip(vec![commit("a1")]);
    assert_eq!(run_due(&mut m, 0, &|_| green()), vec!["a1"]);
    assert_eq!(m.view().state, MainState::Green);
    m.observe_tip(vec![commit("b2")]);
    m.observe_tip(vec![commit("c3")]);
    assert_eq!(m.next(10_000), MainStep::WaitUntil(MIN));
    assert_eq!(
        run_due(&mut m, MIN, &|_| green()),
        vec!["c3"],
        "the newest tip only"
    );
    assert_eq!(m.next(5 * MIN), MainStep::Idle, "nothing new: no check");
}

#[test]
fn first_red_after_green_bisects_to_the_breaking_commit() {
    let mut m = MainCheck::new(policy(4, OnRed::Hold));
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, 0, &|_| green());
    // Four commits at once; the second one breaks the check.
    m.observe_tip(vec![commit("b2"), commit("c3"), commit("d4"), commit("e5")]);
    let bad = |id: &str| !id.starts_with("b2") && !id.starts_with("a1");
    let checked = run_due(&mut m, MIN, &|id| {
        if bad(id) { red("t::x") } else { green() }
    });
    assert_eq!(checked[0], "e5", "the tip first");
    assert!(checked.len() - 1 <= 4, "within max_bisect: {checked:?}");
    let v = m.view();
    assert_eq!(v.state, MainState::Red);
    assert!(v.hold);
    let c = v.culprit.as_ref().expect("culprit");
    assert!(c.exact);
    assert!(c.commit.id.starts_with("c3"), "{c:?}");
    assert_eq!(c.commit.author, "c3 <c3@example.com>");
    assert_eq!(c.failing, vec!["t::x".to_string()]);
    assert!(v.commit.as_deref().unwrap().starts_with("c3"));
    let range = v.red_range.as_ref().unwrap();
    assert!(range.0.as_deref().unwrap().starts_with("a1"));
    assert!(range.1.starts_with("e5"));
    assert_eq!(v.since, Some(MIN + 1_000));
}

#[test]
fn bisection_stops_at_max_bisect_naming_the_range_left() {
    let mut m = MainCheck::new(policy(1, OnRed::Alert));
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, 0, &|_| green());
    let ids = ["b2", "c3", "d4", "e5", "f6", "g7", "h8"];
    m.observe_tip(ids.iter().map(|i| commit(i)).collect());
    let checked = run_due(&mut m, MIN, &|id| {
        if id.starts_with("b2") {
            green()
        } else {
            red("t::y")
        }
    });
    assert_eq!(
        checked.len(),
        2,
        "the tip and one bisection step: {checked:?}"
    );
    let c = m.view().culprit.clone().expect("culprit");
    assert!(!c.exact);
    assert!(c.range_from.is_some());
}

#[test]
fn the_checks_own_failures_are_neither_red_nor_green() {
    let mut m = MainCheck::new(policy(4, OnRed::Hold));
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, 0, &|_| green());
    m.observe_tip(vec![commit("b2")]);
    run_due(&mut m, MIN, &|_| CheckOutcome::Failed {
        error: "image drover-check:1 is missing".into(),
    });
    let v = m.view();
    assert_eq!(
        v.state,
        MainState::Green,
        "still green: the check did not run"
    );
    assert!(!v.hold);
    assert_eq!(
        v.check_error.as_deref(),
        Some("image drover-check:1 is missing")
    );
    assert_eq!(v.checks[0].verdict(), "failed");
    // Retried on the next interval.
    assert_eq!(run_due(&mut m, 2 * MIN, &|_| red("t::z")), vec!["b2"]);
    assert_eq!(m.view().state, MainState::Red);
    assert_eq!(m.view().check_error, None);
}

#[test]
fn red_stays_red_until_green_and_a_tip_without_tests_does_not_end_it() {
    let mut m = MainCheck::new(policy(4, OnRed::Hold));
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, 0, &|_| green());
    m.observe_tip(vec![commit("b2")]);
    run_due(&mut m, MIN, &|_| red("t::a"));
    let since = m.view().since;
    m.observe_tip(vec![commit("c3")]);
    run_due(&mut m, 2 * MIN, &|_| CheckOutcome::Ran {
        state: MainState::Unknown,
        summary: summary(0, 0, Verdict::NoTests, &[]),
        exit_code: 0,
    });
    assert_eq!(m.view().state, MainState::Red);
    assert_eq!(m.view().since, since);
    assert!(m.view().commit.as_deref().unwrap().starts_with("b2"));
    m.observe_tip(vec![commit("d4")]);
    run_due(&mut m, 3 * MIN, &|_| green());
    assert_eq!(m.view().state, MainState::Green);
    assert!(!m.view().hold);
    assert_eq!(m.view().culprit, None);
}

#[test]
fn the_run_ledger_names_who_landed_the_culprit() {
    let mut m = MainCheck::new(policy(4, OnRed::Alert));
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, 0, &|_| green());
    m.observe_tip(vec![commit("b2")]);
    run_due(&mut m, MIN, &|_| red("t::a"));
    let id = m.view().culprit.as_ref().unwrap().commit.id.clone();
    let landing = Landing {
        slot: "worker-3".into(),
        run_started: 5,
        generation: 2,
    };
    assert!(m.attribute(&id, landing.clone()));
    assert!(!m.attribute(&id, landing.clone()), "once");
    assert_eq!(m.view().culprit.as_ref().unwrap().landed_by, Some(landing));
    assert!(m.view().checks[0].landed_by.is_some());
}

fn fleet(on_red: OnRed) -> (Harness, MainCheck) {
    let worker = RoleSpec::new("worker", 1, "h");
    let mut fixer = RoleSpec::new("fixer", 1, "h");
    fixer.fixes_main = true;
    let mut h = Harness::new(FleetSpec::new("demo", vec![worker, fixer]));
    h.boot();
    (h, MainCheck::new(policy(4, on_red)))
}

fn report(h: &mut Harness, m: &MainCheck) -> Vec<Effect> {
    h.feed(Input::MainObserved {
        view: Box::new(m.view().clone()),
    })
}

fn kinds(effects: &[Effect]) -> Vec<EventKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::PersistEvent(ev) => Some(ev.kind),
            _ => None,
        })
        .collect()
}

#[test]
fn hold_keeps_ended_runs_from_restarting_until_green_except_fixes_main() {
    let (mut h, mut m) = fleet(OnRed::Hold);
    assert_eq!(h.starts("worker-1"), 1);
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, h.now, &|_| green());
    report(&mut h, &m);
    m.observe_tip(vec![commit("b2")]);
    run_due(&mut m, h.now + MIN, &|_| red("suite::broken"));
    let landing = Landing {
        slot: "worker-1".into(),
        run_started: Harness::T0,
        generation: 1,
    };
    m.attribute(&m.view().commit.clone().unwrap(), landing);
    let effects = report(&mut h, &m);
    assert!(kinds(&effects).contains(&EventKind::MainRed));
    let raised = effects.iter().find_map(|e| match e {
        Effect::RaiseAlert(a) if a.key.kind == AlertKind::UpstreamRed => Some(a.clone()),
        _ => None,
    });
    let alert = raised.expect("upstream_red raised");
    assert!(alert.message.contains("b2000000"), "{}", alert.message);
    assert!(alert.message.contains("worker-1"), "{}", alert.message);
    assert!(alert.message.contains("suite::broken"), "{}", alert.message);
    // Both runs end cleanly while red: only the fixer starts again.
    h.die("worker-1", 0, &["done"]);
    h.die("fixer-1", 0, &["done"]);
    h.advance(10 * MIN);
    assert_eq!(h.starts("worker-1"), 1, "held while main is red");
    assert_eq!(h.starts("fixer-1"), 2, "fixes_main is exempt");
    let view = h.view("worker-1");
    assert!(
        view.reason.as_deref().unwrap_or("").contains("main is red"),
        "{:?}",
        view.reason
    );
    // (`advance` would spin forever if a held slot offered a due deadline.)
    // The fix lands: green ends the hold by itself, with an event, and the slot starts.
    m.observe_tip(vec![commit("c3")]);
    run_due(&mut m, h.now + MIN, &|_| green());
    let effects = report(&mut h, &m);
    assert!(kinds(&effects).contains(&EventKind::MainGreen));
    let ended = effects.iter().any(|e| {
        matches!(e, Effect::PersistEvent(ev) if ev.kind == EventKind::MainGreen && ev.message.contains("hold ended"))
    });
    assert!(ended);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::ClearAlert(a) if a.key.kind == AlertKind::UpstreamRed))
    );
    assert_eq!(h.starts("worker-1"), 2, "started again on green");
    assert_eq!(h.state("worker-1"), SlotState::Running);
}

#[test]
fn alert_only_raises_and_never_holds() {
    let (mut h, mut m) = fleet(OnRed::Alert);
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, h.now, &|_| green());
    report(&mut h, &m);
    m.observe_tip(vec![commit("b2")]);
    run_due(&mut m, h.now + MIN, &|_| red("t"));
    report(&mut h, &m);
    assert_eq!(h.snapshot().main.as_ref().unwrap().state, MainState::Red);
    h.die("worker-1", 0, &["done"]);
    h.advance(MIN);
    assert_eq!(h.starts("worker-1"), 2);
}

#[test]
fn texts_from_the_repo_are_bounded() {
    let (mut h, _) = fleet(OnRed::Alert);
    let mut view = MainView {
        state: MainState::Red,
        commit: Some("x".repeat(10_000)),
        failing: (0..10_000).map(|i| format!("t{i}")).collect(),
        ..MainView::default()
    };
    view.check_error = Some("e".repeat(100_000));
    h.feed(Input::MainObserved {
        view: Box::new(view),
    });
    let main = h.snapshot().main.unwrap();
    assert!(main.commit.unwrap().len() <= 1_000);
    assert!(main.failing.len() <= 1_000);
    assert!(main.check_error.unwrap().len() <= 10_000);
}

#[test]
fn a_restarted_drover_resumes_red_without_raising_it_again() {
    let (mut h, mut m) = fleet(OnRed::Hold);
    m.observe_tip(vec![commit("a1")]);
    run_due(&mut m, h.now, &|_| green());
    report(&mut h, &m);
    m.observe_tip(vec![commit("b2")]);
    run_due(&mut m, h.now + MIN, &|_| red("t::a"));
    let raised = report(&mut h, &m);
    let alert = raised
        .iter()
        .find_map(|e| match e {
            Effect::RaiseAlert(a) => Some(a.clone()),
            _ => None,
        })
        .expect("raised");
    let resume = drover::core::ResumeState {
        active_alerts: vec![alert],
        ..Default::default()
    };
    let worker = RoleSpec::new("worker", 1, "h");
    let fleet = drover::core::Fleet::restore(FleetSpec::new("demo", vec![worker]), 7, resume);
    let mut next = Harness::with_fleet(fleet, Default::default());
    next.now = h.now + MIN;
    next.boot();
    let effects = report(&mut next, &m);
    assert!(!kinds(&effects).contains(&EventKind::MainRed), "not news");
    assert!(!effects.iter().any(|e| matches!(e, Effect::RaiseAlert(_))));
    assert_eq!(next.snapshot().main.unwrap().state, MainState::Red);
    assert_eq!(
        next.snapshot()
            .alerts
            .iter()
            .filter(|a| a.key.kind == AlertKind::UpstreamRed)
            .count(),
        1
    );
}

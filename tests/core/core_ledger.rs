//! The run ledger on a virtual clock: one record per container run with what it spent and
//! delivered (usage, commits, locks, tests) and how it ended; persisted as it changes and
//! continued by a restarted drover, with today's spend (and the daily budget's hold).

use crate::core_support;

use core_support::{Harness, last_records};
use drover::core::{
    Command, CommitObservation, Effect, Fleet, FleetSpec, Input, LockObservation, ResumeState,
    RoleSpec, RunEnd, RunRecord, SlotState, TestSummary, Verdict,
};
use drover::signals::usage::Tokens;

const S1: &str = "implementer-1";
const SEC: u64 = 1_000;
const MIN: u64 = 60 * SEC;

fn spec() -> FleetSpec {
    FleetSpec::new("demo", vec![RoleSpec::new("implementer", 1, "hash-1")])
}

fn usage(h: &mut Harness, input: u64, output: u64, cost_micros: u64) {
    h.feed(Input::UsageObserved {
        slot: S1.into(),
        tokens: input + output,
        rounds: 1,
        kinds: Tokens {
            input,
            output,
            ..Default::default()
        },
        cost_micros,
    });
}

fn tests(h: &mut Harness, passed: u64, failed: u64) {
    h.feed(Input::TestRunRecorded {
        slot: S1.into(),
        summary: TestSummary {
            passed,
            failed,
            skipped: 0,
            errors: 0,
            verdict: if failed == 0 {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            failing: Vec::new(),
        },
    });
}

fn locks(h: &mut Harness, held: &[(&str, u64)]) {
    h.feed(Input::LocksObserved {
        locks: held
            .iter()
            .map(|(task, at)| LockObservation {
                task: (*task).into(),
                holder: Some(S1.into()),
                claimed_at: *at,
                claim_commit: None,
            })
            .collect(),
    });
}

fn commit(h: &mut Harness, id: &str, at: u64) {
    h.feed(Input::CommitsObserved {
        commits: vec![CommitObservation {
            slot: S1.into(),
            commit: id.into(),
            at,
            summary: format!("commit {id}"),
        }],
    });
}

/// The latest persisted record of every run, oldest first.
fn persisted_runs(h: &Harness) -> Vec<RunRecord> {
    let mut runs: Vec<RunRecord> = Vec::new();
    for (_, e) in &h.log {
        if let Effect::PersistRun(r) = e {
            match runs
                .iter_mut()
                .find(|k| k.slot == r.slot && k.started_at == r.started_at)
            {
                Some(k) => *k = r.clone(),
                None => runs.push(r.clone()),
            }
        }
    }
    runs
}

fn last_spend(h: &Harness) -> Option<(u64, u64)> {
    h.log.iter().rev().find_map(|(_, e)| match e {
        Effect::PersistSpend { day, micros } => Some((*day, *micros)),
        _ => None,
    })
}

#[test]
fn a_run_records_what_it_spent_and_delivered_and_how_it_ended() {
    let mut h = Harness::new(spec());
    h.boot();
    let start = h.now;
    let open = h.view(S1).run.expect("a run opens with the container");
    assert_eq!((open.started_at, open.generation), (start, 1));
    // Before the run: a commit made earlier belongs to no run.
    commit(&mut h, "0ld", start - 10 * MIN);
    h.advance(MIN);
    usage(&mut h, 1_000, 200, 30_000);
    tests(&mut h, 10, 2);
    let now = h.now;
    locks(&mut h, &[("parser", now)]);
    h.advance(MIN);
    let now = h.now;
    commit(&mut h, "aaa111", now);
    commit(&mut h, "aaa111", now); // reported again after a rescan: counted once
    usage(&mut h, 500, 100, 12_000);
    tests(&mut h, 13, 0);
    locks(&mut h, &[]); // the agent removed its lock: the task is done
    h.advance(MIN);
    let run = h.view(S1).run.expect("still open");
    assert_eq!(run.tokens.input, 1_500);
    assert_eq!(run.tokens.output, 300);
    assert_eq!(run.cost_micros, 42_000);
    assert_eq!(run.commit_count, 1);
    assert_eq!(run.commits[0].commit, "aaa111");
    assert_eq!(run.locks_taken, vec!["parser".to_string()]);
    assert_eq!(run.locks_released, vec!["parser".to_string()]);
    assert_eq!(run.passing_delta(), Some(3));
    let died_at = h.now;
    h.die(S1, 1, &["Error: boom"]);
    let persisted = persisted_runs(&h);
    let first = persisted.first().expect("persisted");
    assert_eq!(first.ended_at, Some(died_at));
    assert_eq!(first.end, Some(RunEnd::Exited { code: 1 }));
    assert_eq!(first.cost_micros, 42_000);
    // The failure restarts the slot at once: a new run, with nothing spent yet.
    assert_eq!(h.state(S1), SlotState::Running);
    let second = h.view(S1).run.expect("second run");
    assert!(second.started_at >= died_at);
    assert_eq!(second.cost_micros, 0);
    assert_eq!(h.view(S1).runs.len(), 1);
    // A commit pushed just before the exit, seen a moment after it, is the first run's.
    commit(&mut h, "bbb222", died_at - SEC);
    let runs = persisted_runs(&h);
    assert_eq!(runs[0].commit_count, 2, "{:?}", runs[0].commits);
    assert_eq!(runs[1].commit_count, 0);
}

#[test]
fn the_end_says_who_or_what_stopped_the_run() {
    let mut h = Harness::new(spec());
    h.boot();
    h.advance(SEC);
    h.command(Command::Restart { slot: S1.into() });
    h.advance(SEC);
    h.command(Command::Stop { slot: S1.into() });
    h.advance(SEC);
    h.command(Command::Start { slot: S1.into() });
    h.advance(SEC);
    h.die(S1, 137, &["Killed"]);
    h.advance(SEC);
    let id = h.world.exit(S1, 137).expect("running");
    h.feed(Input::ContainerDied {
        slot: S1.into(),
        id,
        exit_code: 137,
        oom_killed: true,
        last_lines: vec![],
    });
    h.advance(10 * SEC);
    h.die(S1, 1, &["Claude AI usage limit reached|1700003600"]);
    let ends: Vec<RunEnd> = persisted_runs(&h)
        .into_iter()
        .filter_map(|r| r.end)
        .collect();
    assert_eq!(
        ends,
        vec![
            RunEnd::Restarted,
            RunEnd::Stopped { by: "alice".into() },
            RunEnd::Signal { signal: 9 },
            RunEnd::Oom,
            RunEnd::Throttled,
        ]
    );
}

#[test]
fn a_restarted_drover_continues_the_open_run_and_todays_spend() {
    let mut s = spec();
    s.daily_budget_micros = Some(100_000);
    let mut h = Harness::new(s.clone());
    h.boot();
    h.advance(MIN);
    usage(&mut h, 1_000, 100, 60_000);
    let now = h.now;
    commit(&mut h, "ccc333", now);
    usage(&mut h, 1_000, 100, 50_000);
    assert!(
        h.snapshot().metrics.spend.held_until.is_some(),
        "cap reached"
    );
    let before = h.view(S1).run.expect("open");
    // drover stops; the container keeps running. A new drover reads the store back.
    let resume = ResumeState {
        slots: last_records(&h.log),
        runs: persisted_runs(&h),
        spend_day: last_spend(&h),
        ..ResumeState::default()
    };
    assert_eq!(resume.spend_day.map(|d| d.1), Some(110_000));
    let world = h.world.clone();
    let now = h.now + 5 * MIN;
    let mut h = Harness::with_fleet(Fleet::restore(s, 7, resume), world);
    h.now = now;
    h.boot();
    let after = h.view(S1).run.expect("the same run continues");
    assert_eq!(after.started_at, before.started_at);
    assert_eq!(after.cost_micros, 110_000);
    assert_eq!(after.commit_count, 1);
    usage(&mut h, 10, 10, 1_000);
    assert_eq!(h.view(S1).run.expect("open").cost_micros, 111_000);
    let spend = h.snapshot().metrics.spend;
    assert_eq!(spend.today_micros, 111_000, "today's spend survived");
    assert!(spend.held_until.is_some(), "and so did the hold");
    assert_eq!(persisted_runs(&h).len(), 1, "no second run was opened");
}

/// drover notes a start time from its own clock when it starts a container; Docker's
/// `StartedAt`, read on adoption after a restart, differs by a few milliseconds. Three restarts
/// of drover during one run are still one run, with every commit counted once.
#[test]
fn restarts_of_drover_with_start_time_skew_continue_the_same_run() {
    let mut h = Harness::new(spec());
    h.boot();
    let first = h.view(S1).run.expect("open");
    let id = first.container.clone();
    for (round, skew) in [3_u64, 250, 1_400].into_iter().enumerate() {
        h.advance(MIN);
        let now = h.now;
        commit(&mut h, &format!("c{round}"), now);
        let resume = ResumeState {
            slots: last_records(&h.log),
            runs: persisted_runs(&h),
            ..ResumeState::default()
        };
        let mut world = h.world.clone();
        world
            .containers
            .get_mut(&id)
            .expect("still running")
            .started_at = Some(first.started_at + skew);
        let now = h.now + MIN;
        let log = std::mem::take(&mut h.log);
        h = Harness::with_fleet(Fleet::restore(spec(), 7, resume), world);
        h.log = log;
        h.now = now;
        h.boot();
        let run = h.view(S1).run.expect("the run continues");
        assert_eq!(run.started_at, first.started_at, "round {round}");
        assert_eq!(run.commit_count, round as u64 + 1, "round {round}");
    }
    let runs = persisted_runs(&h);
    assert_eq!(runs.len(), 1, "one run, never split: {runs:?}");
    assert_eq!(runs[0].end, None, "still open");
}

#[test]
fn a_run_that_ended_while_drover_was_away_is_closed_from_what_docker_says() {
    let mut h = Harness::new(spec());
    h.boot();
    usage(&mut h, 100, 10, 5_000);
    let resume = ResumeState {
        slots: last_records(&h.log),
        runs: persisted_runs(&h),
        ..ResumeState::default()
    };
    let mut world = h.world.clone();
    let id = world.exit(S1, 2).expect("running");
    let now = h.now + 5 * MIN;
    let mut h = Harness::with_fleet(Fleet::restore(spec(), 7, resume), world);
    h.now = now;
    h.boot();
    let runs = persisted_runs(&h);
    let old = runs.iter().find(|r| r.container == id).expect("old run");
    assert_eq!(old.end, Some(RunEnd::Exited { code: 2 }));
    assert_eq!(old.cost_micros, 5_000);
    assert!(h.view(S1).run.is_some(), "the slot runs again");
}

/// A real stream-json session (tests/fixtures/usage/SOURCES.toml) through the usage counter
/// into the ledger: the run's tokens are the totals its final `result` line states, and its
/// cost is the price table applied to them.
#[test]
fn a_recorded_stream_json_session_adds_up_to_its_stated_totals() {
    use drover::signals::usage::{PriceTable, Prices, UsageCounter};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/usage/claude-stream-json-opus4.jsonl"
    ))
    .unwrap();
    let mut prices = PriceTable::default();
    prices.0.insert(
        "claude-opus-4".into(),
        Prices {
            input: 15.0,
            output: 75.0,
            cache_write: 18.75,
            cache_read: 1.5,
        },
    );
    let mut h = Harness::new(spec());
    h.boot();
    let mut counter = UsageCounter::default();
    let mut stated = None;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "result" {
            stated = Some(v["usage"].clone());
        }
        if let Some(spent) = counter.feed(line) {
            let cost = prices.cost_micros(&spent);
            h.feed(Input::UsageObserved {
                slot: S1.into(),
                tokens: spent.tokens.io(),
                rounds: 1,
                kinds: spent.tokens,
                cost_micros: cost,
            });
        }
    }
    let stated = stated.expect("the session's result line");
    let run = h.view(S1).run.expect("open run");
    assert_eq!(run.tokens.input, stated["input_tokens"].as_u64().unwrap());
    assert_eq!(run.tokens.output, stated["output_tokens"].as_u64().unwrap());
    assert_eq!(
        run.tokens.cache_write,
        stated["cache_creation_input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        run.tokens.cache_read,
        stated["cache_read_input_tokens"].as_u64().unwrap()
    );
    // 11 × $15 + 235 × $75 + 489 × $18.75 + 29 482 × $1.50 per Mtok = 71 181.75 µ$; each
    // report is rounded to the micro-dollar (four reports here: 22 697 + 15 225 + 32 060 + 1 200).
    assert_eq!(run.cost_micros, 71_182);
    assert_eq!(h.snapshot().metrics.spend.today_micros, run.cost_micros);
}

/// One agent's (forged or real) spend reaches the slot's daily cap: that slot is held until
/// midnight UTC with its own alert, while the fleet-wide budget is untouched and the other slot
/// keeps starting sessions.
#[test]
fn a_slot_budget_holds_only_the_slot_that_spent_it() {
    const S2: &str = "implementer-2";
    let mut s = FleetSpec::new("demo", vec![RoleSpec::new("implementer", 2, "hash-1")]);
    s.slot_daily_budget_micros = Some(100_000);
    let mut h = Harness::new(s);
    h.boot();
    h.advance(MIN);
    usage(&mut h, 1_000, 100, 150_000);
    let snap = h.snapshot();
    assert!(
        snap.metrics.spend.held_until.is_none(),
        "the fleet is not held"
    );
    let alert = snap
        .alerts
        .iter()
        .find(|a| a.key.kind.name() == "daily_budget")
        .expect("a budget alert");
    assert_eq!(alert.key.slot.as_deref(), Some(S1));
    // Both agents end their sessions: only the other slot starts a new one.
    let (s1_starts, s2_starts) = (h.starts(S1), h.starts(S2));
    h.die(S1, 0, &[]);
    h.die(S2, 0, &[]);
    h.advance(10 * MIN);
    assert_eq!(h.starts(S1), s1_starts, "the slot over its budget waits");
    assert!(h.starts(S2) > s2_starts, "the other slot runs on");
}

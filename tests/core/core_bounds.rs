//! Bounded inputs in the core: an upstream with 100 000 lock files keeps at most `MAX_LOCKS`
//! (this fleet's own first) with one "lock table truncated" alert, and the resulting status
//! and snapshot frames fit the control protocol's frame limit; `ctl scale` past `MAX_SLOTS`
//! is refused.

use crate::core_support;

use core_support::Harness;
use drover::control::protocol::{Reply, ReplyFrame, ServerFrame};
use drover::control::transport::{MAX_FRAME, encode_frame};
use drover::control::view::StatusView;
use drover::core::{
    AlertKind, Command, CommandReply, Effect, FleetSpec, Input, LockObservation, MAX_LOCKS,
    MAX_SLOTS, RoleSpec,
};

const S1: &str = "implementer-1";

fn harness() -> Harness {
    let mut role = RoleSpec::new("implementer", 2, "hash-1");
    role.preflight = false;
    let mut h = Harness::new(FleetSpec::new("bounds", vec![role]));
    h.boot();
    h
}

fn locks(n: usize, now: u64) -> Vec<LockObservation> {
    (0..n)
        .map(|i| LockObservation {
            // Task names that sort before the slot's own lock, so keeping it is a choice.
            task: format!("aaa-task-{i:06}"),
            holder: Some(format!("outside-agent-{}", i % 97)),
            claimed_at: now,
            claim_commit: Some(format!("{i:040x}")),
        })
        .chain(std::iter::once(LockObservation {
            task: "zzz-own-task".into(),
            holder: Some(S1.into()),
            claimed_at: now,
            claim_commit: None,
        }))
        .collect()
}

fn truncation_alerts(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::RaiseAlert(a) if a.key.kind == AlertKind::LocksTruncated))
        .count()
}

#[test]
fn a_huge_lock_table_is_capped_with_one_alert_and_fits_a_frame() {
    let mut h = harness();
    let now = h.now;
    let effects = h.feed(Input::LocksObserved {
        locks: locks(100_000, now),
    });
    assert_eq!(truncation_alerts(&effects), 1);
    let snap = h.snapshot();
    assert_eq!(snap.locks.len(), MAX_LOCKS);
    assert!(
        snap.locks.iter().any(|l| l.task == "zzz-own-task"),
        "the fleet's own lock is kept"
    );
    assert_eq!(
        h.view(S1).task.map(|t| t.task).as_deref(),
        Some("zzz-own-task")
    );
    let alert = snap
        .alerts
        .iter()
        .find(|a| a.key.kind == AlertKind::LocksTruncated)
        .expect("a truncation alert");
    assert!(
        alert.message.starts_with("lock table truncated"),
        "{}",
        alert.message
    );
    assert!(alert.message.contains("100001"), "{}", alert.message);

    // The same table again raises nothing new.
    let again = h.feed(Input::LocksObserved {
        locks: locks(100_000, now),
    });
    assert_eq!(truncation_alerts(&again), 0);

    // What a client asks for fits in one frame.
    let status = ServerFrame::Reply(ReplyFrame {
        id: 1,
        body: Reply::Status(Box::new(StatusView::from_snapshot(&snap))),
    });
    let bytes = encode_frame(&status).expect("status fits a frame").len();
    assert!(bytes < MAX_FRAME, "{bytes}");
    let full = ServerFrame::Snapshot(Box::new(snap.clone()));
    let bytes = encode_frame(&full).expect("snapshot fits a frame").len();
    assert!(bytes < MAX_FRAME, "{bytes}");

    // A table that fits again clears the alert.
    let effects = h.feed(Input::LocksObserved {
        locks: locks(10, now),
    });
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::ClearAlert(a) if a.key.kind == AlertKind::LocksTruncated)),
        "{effects:?}"
    );
    assert!(
        !h.snapshot()
            .alerts
            .iter()
            .any(|a| a.key.kind == AlertKind::LocksTruncated)
    );
}

#[test]
fn scaling_past_the_slot_cap_is_refused() {
    let mut h = harness();
    for replicas in [MAX_SLOTS + 1, 100_000, u32::MAX] {
        let (reply, effects) = h.command(Command::Scale {
            role: "implementer".into(),
            replicas,
        });
        assert!(
            matches!(&reply, CommandReply::Refused { why } if why.contains("at most")),
            "{replicas}: {reply:?}"
        );
        assert!(
            effects
                .iter()
                .all(|e| !matches!(e, Effect::Create { .. } | Effect::Start { .. }))
        );
    }
    assert_eq!(h.snapshot().slots.len(), 2);
    let (reply, _) = h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 3,
    });
    assert_eq!(reply, CommandReply::Accepted);
}

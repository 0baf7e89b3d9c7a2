//! The fleet's side of the run ledger: what each input tells the ledger (a death's end, a lock
//! taken or released, commits, usage, tests) and the per-pass sync of open runs with the
//! slots' containers, then one persist effect per changed run and for today's spend.
//!
//! Invariant: runs are synced only while Docker is up and a listing has been reconciled since
//! it came up; before that a slot's container is not known, and an open run read back from the
//! store must not be closed for it.

use super::effect::Effect;
use super::fleet::{Fleet, Scope};
use super::input::CommitObservation;
use super::ledger::{BeforeDeath, Live, classify};
use super::model::run::LandedCommit;
use super::model::{LockObservation, Millis, SlotState};
use super::slot::PendingOp;

impl Fleet {
    /// What the ledger needs to know about slot `i` before the death of container `id` is
    /// applied (the core forgets it while applying it).
    pub(crate) fn before_death(&self, i: usize, id: &str) -> Option<BeforeDeath> {
        let s = self.slots.get(i)?;
        Some(BeforeDeath {
            restart_requested: s.restart_requested,
            mode: s.rec.mode.clone(),
            stopping: s.in_flight.as_ref().is_some_and(|f| {
                matches!(&f.op, PendingOp::Stop { id: x } | PendingOp::Kill { id: x } if x == id)
            }),
        })
    }

    /// The death was applied: classify how it ends the slot's run.
    pub(crate) fn after_death(&mut self, i: usize, before: &BeforeDeath) {
        let Some(s) = self.slots.get(i) else {
            return;
        };
        let throttled = matches!(s.state(), SlotState::Throttled { .. });
        let end = classify(before, s.rec.last_exit.as_ref(), throttled);
        let name = s.name.clone();
        self.ledger.set_end(&name, end);
    }

    /// A new lock table: locks a slot holds now and did not before were taken (at their claim
    /// time); locks a slot held that are gone were released — unless an operator asked for it.
    pub(crate) fn ledger_locks(&mut self, now: Millis, new: &[LockObservation]) {
        let mut released = Vec::new();
        for old in self.locks.views() {
            let Some(holder) = old.holder.as_deref() else {
                continue;
            };
            if old.release_requested || !self.index.contains_key(holder) {
                continue;
            }
            if !new.iter().any(|l| l.task == old.task) {
                released.push((holder.to_string(), old.task.clone()));
            }
        }
        for (slot, task) in released {
            self.ledger.lock_released(&slot, &task, now);
        }
        for l in new {
            let Some(holder) = l.holder.as_deref() else {
                continue;
            };
            let known = self
                .locks
                .get(&l.task)
                .is_some_and(|o| o.holder.as_deref() == Some(holder));
            if !known && self.index.contains_key(holder) {
                self.ledger.lock_taken(holder, &l.task, l.claimed_at);
            }
        }
    }

    /// Commits attributed to slots: each goes to the run that was live when it was made.
    pub(crate) fn ledger_commits(&mut self, commits: Vec<CommitObservation>) -> bool {
        let mut any = false;
        for c in commits {
            if !self.index.contains_key(&c.slot) {
                continue;
            }
            any = true;
            self.ledger.commit(
                &c.slot,
                LandedCommit {
                    commit: c.commit,
                    at: c.at,
                    summary: c.summary,
                },
            );
        }
        any
    }

    /// Opens and closes runs to match the slots' containers; emits the changed runs and
    /// today's spend.
    pub(crate) fn sync_ledger(&mut self, now: Millis, scope: &Scope, out: &mut Vec<Effect>) {
        if self.docker.ready() {
            let Fleet { ledger, slots, .. } = self;
            scope.each_slot(slots, |s| {
                let live = s
                    .container
                    .as_ref()
                    .filter(|c| c.status.is_live())
                    .map(|c| Live {
                        id: &c.id,
                        generation: c.generation,
                        started_at: c.started_at.unwrap_or(c.watched_from),
                    });
                ledger.sync(now, &s.name, &s.rec.role, live, s.rec.last_exit.as_ref());
            });
        }
        self.ledger.flush(out);
        self.spend.flush(out);
    }
}

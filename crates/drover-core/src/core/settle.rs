//! The phases of [`Fleet::handle`] around the input: due timers first, then settling (drive
//! touched slots, issue removals and listings, persist records, drop retired slots, re-evaluate
//! locks and claims) until nothing is due, and the wake-up computed from the slots' deadlines.
//!
//! Invariant: only slots in the pass's `Scope` changed, so only their cached deadlines are
//! refreshed; debug builds check the result against a refresh of every slot.

use serde_json::json;

use super::effect::{Effect, EventKind};
use super::fleet::{Fleet, Removal, RoleEntry, Scope, event};
use super::health::{deadlines, on_timers};
use super::lifecycle as life;
use super::locks::HolderInfo;
use super::loops::act_on_loop;
use super::model::incident::Resolution;
use super::model::{DockerStatus, Millis};
use super::slot::Slot;

/// Default task timeout for locks whose holder is not one of this fleet's slots.
const FALLBACK_TASK_TIMEOUT: Millis = 30 * 60 * 1_000;

impl Fleet {
    /// Refreshes the cached deadline of every slot in `scope` and returns the earliest
    /// deadline of the fleet. Slots outside the scope did not change, so their cache holds.
    pub(super) fn compute_wakeup(&mut self, scope: &Scope) -> Option<Millis> {
        let ready = self.docker.ready();
        let op_timeout = self.op_timeout;
        let roles = &self.roles;
        let refresh = |s: &mut Slot| {
            let mut next: Option<Millis> = None;
            if let Some(role) = roles.get(s.role) {
                deadlines(s, &role.spec, ready, op_timeout, |t| {
                    next = Some(next.map_or(t, |n| n.min(t)));
                });
            }
            s.deadline = next;
        };
        scope.each_slot(&mut self.slots, refresh);
        let mut next = self.slots.iter().filter_map(|s| s.deadline).min();
        let mut take = |t: Millis| next = Some(next.map_or(t, |n| n.min(t)));
        if self.docker.status == DockerStatus::Up
            && let Some(t) = self.docker.listing_since
        {
            take(t.saturating_add(self.op_timeout));
        }
        if ready {
            for r in self.removals.values() {
                if let Some(t) = r.requested_at {
                    take(t.saturating_add(self.op_timeout));
                }
            }
        }
        if let Some(t) = self.locks.next_deadline(|h| self.task_timeout_of(h)) {
            take(t);
        }
        if let Some(t) = self.claims.next_deadline(&self.loop_policy().reclaim) {
            take(t);
        }
        if let Some(t) = self.spend.hold_ends() {
            take(t);
        }
        next
    }

    pub(super) fn run_timers_if_due(
        &mut self,
        now: Millis,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if self.wakeup.is_none_or(|t| t > now) {
            return;
        }
        scope.all = true;
        self.roll_day(now, out);
        let op_timeout = self.op_timeout;
        for i in 0..self.slots.len() {
            self.on_slot(Some(i), now, out, scope, |s, r, cx| {
                on_timers(s, r, cx, op_timeout)
            });
        }
        if self.docker.status == DockerStatus::Up
            && self
                .docker
                .listing_since
                .is_some_and(|t| t.saturating_add(op_timeout) <= now)
        {
            self.docker.listing_since = None;
            self.want_listing = true;
        }
        for r in self.removals.values_mut() {
            if r.requested_at
                .is_some_and(|t| t.saturating_add(op_timeout) <= now)
            {
                r.requested_at = None;
            }
        }
    }

    pub(super) fn finish(&mut self, now: Millis, out: &mut Vec<Effect>, mut scope: Scope) {
        for _ in 0..4 {
            let indices: Vec<usize> = if scope.all {
                (0..self.slots.len()).collect()
            } else {
                scope.touched.clone()
            };
            for i in indices {
                self.on_slot(Some(i), now, out, &mut scope, life::drive);
            }
            self.settle_extras(now, out);
            if self.want_listing
                && self.docker.status == DockerStatus::Up
                && self.docker.listing_since.is_none()
            {
                self.want_listing = false;
                self.docker.listing_since = Some(now);
                out.push(Effect::ListContainers);
            }
            self.persist_records(now, &scope, out);
            if self.drop_retired(now, out) {
                scope.all = true;
                scope.touched.clear();
            }
            // Lock conditions depend on the lock table, time and slot states; a quiet input
            // (no effect, no timer) changed none of them.
            if scope.all || scope.locks || !out.is_empty() {
                scope.visible |= self.evaluate_locks(now, out, &mut scope);
            }
            if scope.all || scope.locks {
                self.evaluate_claims(now, out, &mut scope);
            }
            self.sync_run_clocks(now, &scope);
            self.sync_ledger(now, &scope, out);
            self.wakeup = self.compute_wakeup(&scope);
            // Invariant: only slots in `scope` changed, so refreshing just their cached
            // deadlines gives the same answer as refreshing all (checked in debug builds).
            #[cfg(debug_assertions)]
            {
                let all = Scope {
                    all: true,
                    ..Scope::default()
                };
                let partial = self.wakeup;
                debug_assert_eq!(partial, self.compute_wakeup(&all), "stale deadline cache");
            }
            if self.wakeup.is_none_or(|t| t > now) {
                break;
            }
            self.run_timers_if_due(now, out, &mut scope);
        }
        if scope.visible || !out.is_empty() {
            self.version += 1;
            self.state_version = self.version;
        } else if scope.activity {
            self.version += 1;
        }
    }

    /// Dates every clock stop or restart of this pass at `now` (pause, take-over, exit, …).
    fn sync_run_clocks(&mut self, now: Millis, scope: &Scope) {
        scope.each_slot(&mut self.slots, |s| super::run_limit::sync(s, now));
    }

    /// Emits `PersistSlot` for every touched slot whose business state changed.
    fn persist_records(&mut self, now: Millis, scope: &Scope, out: &mut Vec<Effect>) {
        let mut persist = |s: &mut Slot| {
            if s.persisted.as_ref().is_none_or(|p| !p.same_state(&s.rec)) {
                s.rec.updated_at = now;
                s.persisted = Some(s.rec.clone());
                out.push(Effect::PersistSlot(s.rec.clone()));
            }
        };
        if scope.all {
            self.slots.iter_mut().for_each(persist);
        } else {
            for &i in &scope.touched {
                if let Some(s) = self.slots.get_mut(i) {
                    persist(s);
                }
            }
        }
    }

    /// Extra containers become removals; removals not yet issued are issued when possible.
    pub(crate) fn settle_extras(&mut self, now: Millis, out: &mut Vec<Effect>) {
        for (slot, id) in std::mem::take(&mut self.extras) {
            self.removals.entry(id).or_insert(Removal {
                slot,
                requested_at: None,
            });
        }
        if !self.docker.ready() {
            return;
        }
        for (id, r) in self
            .removals
            .iter_mut()
            .filter(|(_, r)| r.requested_at.is_none())
        {
            r.requested_at = Some(now);
            out.push(event(
                now,
                Some(&r.slot),
                EventKind::Removing,
                format!(
                    "{}: removing extra container {}",
                    r.slot,
                    super::signature::short(id)
                ),
                json!({ "id": id }),
            ));
            out.push(Effect::Remove {
                slot: r.slot.clone(),
                id: id.clone(),
            });
        }
    }

    /// Removes slots whose retirement finished. Returns whether any was removed.
    fn drop_retired(&mut self, now: Millis, out: &mut Vec<Effect>) -> bool {
        if !self.slots.iter().any(|s| s.retired) {
            return false;
        }
        let (gone, kept): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.slots)
            .into_iter()
            .partition(|s| s.retired);
        self.slots = kept;
        for s in gone {
            self.ledger.forget(now, &s.name);
            self.incidents
                .close(now, &s.name, Resolution::SlotRemoved, out);
            self.alerts.clear_slot(now, &s.name, out);
            out.push(event(
                now,
                Some(&s.name),
                EventKind::Retired,
                format!("{}: retired", s.name),
                json!({}),
            ));
            out.push(Effect::ForgetSlot { slot: s.name });
        }
        self.rebuild_index();
        true
    }

    fn evaluate_locks(&mut self, now: Millis, out: &mut Vec<Effect>, scope: &mut Scope) -> bool {
        let rule = self.loop_policy().lock_overdue;
        let Fleet {
            locks,
            alerts,
            slots,
            index,
            roles,
            ..
        } = self;
        let holder = |name: &str| {
            let s = slots.get(*index.get(name)?)?;
            Some(HolderInfo {
                state: s.state(),
                task_timeout: roles.get(s.role)?.spec.task_timeout,
            })
        };
        let was_slot = |name: &str| {
            name.rsplit_once('-').is_some_and(|(role, n)| {
                n.parse::<u32>().is_ok() && roles.iter().any(|r| r.spec.name == role)
            })
        };
        let fallback = fallback_timeout(roles);
        let (changed, raised) =
            locks.evaluate(now, holder, was_slot, fallback, rule.enabled, alerts, out);
        for (slot, msg) in raised {
            let i = self.index.get(&slot).copied();
            self.on_slot(i, now, out, scope, |s, r, cx| {
                act_on_loop(s, r, cx, "lock_overdue", rule.action, &msg, &[])
            });
        }
        changed
    }

    pub(crate) fn task_timeout_of(&self, holder: Option<&str>) -> Millis {
        holder
            .and_then(|h| self.index.get(h))
            .and_then(|i| self.slots.get(*i))
            .and_then(|s| self.roles.get(s.role))
            .map_or_else(|| fallback_timeout(&self.roles), |r| r.spec.task_timeout)
    }
}

fn fallback_timeout(roles: &[RoleEntry]) -> Millis {
    roles
        .iter()
        .filter(|r| r.active)
        .map(|r| r.spec.task_timeout)
        .max()
        .unwrap_or(FALLBACK_TASK_TIMEOUT)
}

//! [`Fleet`]: the whole fleet's state and the one entry point, [`Fleet::handle`].
//!
//! Each call runs in phases: due timers → the input → settle (drive every touched slot until
//! nothing more is due, turn extra containers into removals, request a listing if knowledge is
//! doubtful) → persist changed slot records → drop retired slots → re-evaluate locks → bump
//! `version` if anything changed. After `handle` returns, `next_wakeup()` is in the future
//! (or `None`): nothing is left due.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::alerts::AlertTable;
use super::claims::ClaimBook;
use super::command::{CommandOutcome, CommandReply, CommandRequest};
use super::effect::{Effect, EventKind, FleetEvent, ResumeState, SlotMode, SlotRecord};
use super::health::{deadlines, on_timers};
use super::incidents::{IncidentBook, Resolution};
use super::input::Input;
use super::lifecycle as life;
use super::locks::{HolderInfo, LockBook};
use super::loops::act_on_loop;
use super::model::{Millis, slot_name};
use super::policy::{FleetSpec, RoleSpec};
use super::slot::{Cx, Slot};
use super::snapshot::DockerStatus;

/// Default task timeout for locks whose holder is not one of this fleet's slots.
const FALLBACK_TASK_TIMEOUT: Millis = 30 * 60 * 1_000;

#[derive(Clone, Debug)]
pub(crate) struct RoleEntry {
    pub spec: RoleSpec,
    /// False once the role was removed from the spec (its slots are retiring).
    pub active: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct DockerLink {
    pub status: DockerStatus,
    /// A listing was reconciled since Docker came up.
    pub synced: bool,
    /// When the pending `ListContainers` was issued.
    pub listing_since: Option<Millis>,
}

impl DockerLink {
    pub fn ready(&self) -> bool {
        self.status == DockerStatus::Up && self.synced
    }
}

/// A container that is not any slot's own (orphan, stale generation, duplicate).
#[derive(Clone, Debug)]
pub(crate) struct Removal {
    pub slot: String,
    /// When `Remove` was issued; `None` = not yet (Docker not ready).
    pub requested_at: Option<Millis>,
}

/// Which slots an input touched (drive and persist only those).
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub touched: Vec<usize>,
    pub all: bool,
    /// Something visible changed that produced no effect (activity, a test run, …).
    pub visible: bool,
    /// The lock table was replaced.
    pub locks: bool,
    /// Only a sign of life moved (a slot's last activity, at one-second resolution): faces
    /// may fold it into their once-a-second refresh instead of redrawing at once.
    pub activity: bool,
}

impl Scope {
    /// Runs `f` on every slot this scope covers: all of them, or the touched ones.
    pub(crate) fn each_slot(&self, slots: &mut [Slot], mut f: impl FnMut(&mut Slot)) {
        if self.all {
            slots.iter_mut().for_each(f);
        } else {
            for &i in &self.touched {
                if let Some(s) = slots.get_mut(i) {
                    f(s);
                }
            }
        }
    }
}

/// The fleet: every slot's state and the policies that drive it. Pure and synchronous.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub(crate) name: String,
    pub(crate) op_timeout: Millis,
    pub(crate) roles: Vec<RoleEntry>,
    pub(crate) seed: u64,
    pub(crate) slots: Vec<Slot>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) docker: DockerLink,
    pub(crate) removals: BTreeMap<String, Removal>,
    pub(crate) alerts: AlertTable,
    pub(crate) incidents: IncidentBook,
    pub(crate) locks: LockBook,
    pub(crate) claims: ClaimBook,
    /// Effects produced outside `handle` (by `restore`), emitted by the next call.
    pub(crate) pending: Vec<Effect>,
    pub(crate) version: u64,
    /// The version of the last change other than activity (see `Snapshot::state_version`).
    pub(crate) state_version: u64,
    pub(crate) want_listing: bool,
    pub(crate) extras: Vec<(String, String)>,
    pub(crate) last_reply: Option<CommandReply>,
    /// The earliest deadline, recomputed at the end of every `handle`.
    pub(crate) wakeup: Option<Millis>,
    pub(crate) spend: super::spend::Spend,
    pub(crate) ledger: super::ledger::Ledger,
}

impl Fleet {
    /// A fleet with no history. It issues no Docker operation before the first listing
    /// (feed `DockerUp` to have it ask for one, or feed `ContainersListed` directly).
    pub fn new(spec: FleetSpec, seed: u64) -> Self {
        let mut fleet = Self {
            name: spec.name.clone(),
            op_timeout: spec.op_timeout,
            roles: Vec::new(),
            seed,
            slots: Vec::new(),
            index: HashMap::new(),
            docker: DockerLink::default(),
            removals: BTreeMap::new(),
            alerts: AlertTable::default(),
            incidents: IncidentBook::default(),
            locks: LockBook::default(),
            claims: ClaimBook::default(),
            pending: Vec::new(),
            version: 1,
            state_version: 1,
            want_listing: false,
            extras: Vec::new(),
            last_reply: None,
            wakeup: None,
            spend: super::spend::Spend {
                cap: spec.daily_budget_micros,
                ..Default::default()
            },
            ledger: Default::default(),
        };
        for role in spec.roles {
            let replicas = role.replicas;
            fleet.roles.push(RoleEntry {
                spec: role,
                active: true,
            });
            for n in 1..=replicas {
                fleet.add_slot(fleet.roles.len() - 1, n);
            }
        }
        fleet.sort_slots();
        fleet.wakeup = fleet.compute_wakeup(&Scope {
            all: true,
            ..Scope::default()
        });
        fleet
    }

    /// Rebuilds the fleet after a drover restart from persisted business state. Containers are
    /// adopted from the next listing; an unchanged world then yields no effects. Records,
    /// incidents and alerts of slots that no longer exist are forgotten/closed/cleared by the
    /// next `handle` call.
    pub fn restore(spec: FleetSpec, seed: u64, resume: ResumeState) -> Self {
        let mut fleet = Self::new(spec, seed);
        let now = resume.slots.iter().map(|r| r.updated_at).max().unwrap_or(0);
        for rec in resume.slots {
            let found = fleet.index.get(&rec.slot).copied();
            match found.and_then(|i| fleet.slots.get_mut(i)) {
                Some(s) if s.rec.role == rec.role => {
                    let mut rec = rec;
                    if rec.mode == SlotMode::Retiring {
                        // Scaled back up before the retirement finished.
                        rec.mode = SlotMode::Auto;
                    }
                    s.persisted = Some(rec.clone());
                    s.rec = rec;
                }
                _ => fleet.pending.push(Effect::ForgetSlot { slot: rec.slot }),
            }
        }
        let (open, orphaned): (Vec<_>, Vec<_>) = resume
            .open_incidents
            .into_iter()
            .partition(|i| fleet.index.contains_key(&i.slot));
        fleet.incidents = IncidentBook::restore(
            open.into_iter().chain(orphaned.iter().cloned()).collect(),
            resume.closed_incidents,
        );
        for inc in orphaned {
            let at = now.max(inc.opened_at);
            fleet
                .incidents
                .close(at, &inc.slot, Resolution::SlotRemoved, &mut fleet.pending);
        }
        fleet.alerts = AlertTable::restore(resume.active_alerts);
        fleet.ledger = super::ledger::Ledger::restore(resume.runs);
        if let Some((day, micros)) = resume.spend_day {
            fleet.spend.day = day;
            fleet.spend.today_micros = micros;
        }
        let stray = fleet.alerts.keys_where(|k| {
            k.slot
                .as_ref()
                .is_some_and(|s| !fleet.index.contains_key(s))
        });
        for k in stray {
            fleet.alerts.clear(now, &k, &mut fleet.pending);
        }
        fleet.wakeup = fleet.compute_wakeup(&Scope {
            all: true,
            ..Scope::default()
        });
        fleet
    }

    /// Applies one input at time `now` and returns what the outside world must do.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Effect> {
        let input = input.bounded();
        let mut out = std::mem::take(&mut self.pending);
        let mut scope = Scope::default();
        self.run_timers_if_due(now, &mut out, &mut scope);
        self.dispatch(now, input, &mut out, &mut scope);
        self.finish(now, &mut out, scope);
        out
    }

    /// Executes an operator command and says how it went (for `drover ctl` exit codes).
    /// Same as `handle(now, Input::Operator { request })` plus the reply.
    pub fn command(&mut self, now: Millis, request: CommandRequest) -> CommandOutcome {
        let effects = self.handle(now, Input::Operator { request });
        let reply = self.last_reply.take().unwrap_or(CommandReply::Unchanged);
        CommandOutcome { reply, effects }
    }

    /// When the core next needs a `Tick`, if ever. The supervisor sets one timer to this.
    /// Always in the future after `handle` returns (nothing is left due).
    pub fn next_wakeup(&self) -> Option<Millis> {
        self.wakeup
    }

    /// Refreshes the cached deadline of every slot in `scope` and returns the earliest
    /// deadline of the fleet. Slots outside the scope did not change, so their cache holds.
    fn compute_wakeup(&mut self, scope: &Scope) -> Option<Millis> {
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

    /// The fleet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current version (same as the next snapshot's).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The version of the last change other than activity (the next snapshot's `state_version`).
    pub fn state_version(&self) -> u64 {
        self.state_version
    }

    /// Docker connectivity as last reported, and whether a listing was reconciled since.
    pub fn docker(&self) -> (&DockerStatus, bool) {
        (&self.docker.status, self.docker.synced)
    }

    /// Names of the current slots, in display order.
    pub fn slot_names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }

    /// One slot's state without building a snapshot.
    pub fn slot_state(&self, slot: &str) -> Option<super::model::SlotState> {
        self.slots.get(*self.index.get(slot)?).map(Slot::state)
    }

    /// Open incidents (at most one per slot).
    pub fn open_incidents(&self) -> impl Iterator<Item = &super::incidents::Incident> {
        self.incidents.open_incidents()
    }

    /// Runs `f` on slot `i` with its role and a context; marks the slot touched.
    pub(crate) fn on_slot<R>(
        &mut self,
        i: Option<usize>,
        now: Millis,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
        f: impl FnOnce(&mut Slot, &RoleSpec, &mut Cx) -> R,
    ) -> Option<R> {
        let i = i?;
        scope.touched.push(i);
        let ready = self.docker.ready();
        let budget_hold = self.spend.held_until(now);
        let Fleet {
            name,
            seed,
            roles,
            slots,
            alerts,
            incidents,
            want_listing,
            extras,
            ..
        } = self;
        let s = slots.get_mut(i)?;
        let role = &roles.get(s.role)?.spec;
        let mut cx = Cx {
            now,
            seed: *seed,
            fleet: name,
            docker_ready: ready,
            alerts,
            incidents,
            out,
            want_listing,
            extras,
            budget_hold,
        };
        Some(f(s, role, &mut cx))
    }

    fn run_timers_if_due(&mut self, now: Millis, out: &mut Vec<Effect>, scope: &mut Scope) {
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

    fn finish(&mut self, now: Millis, out: &mut Vec<Effect>, mut scope: Scope) {
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
                    super::failure::short(id)
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

    pub(crate) fn add_slot(&mut self, role: usize, n: u32) -> Option<usize> {
        let role_name = self.roles.get(role)?.spec.name.clone();
        let name = slot_name(&role_name, n);
        let slot = Slot::new(name.clone(), role, n, SlotRecord::new(&name, &role_name));
        self.slots.push(slot);
        self.index.insert(name, self.slots.len() - 1);
        Some(self.slots.len() - 1)
    }

    /// Keeps slots in role order, then replica number, and the name index in step.
    pub(crate) fn sort_slots(&mut self) {
        self.slots.sort_by_key(|s| (s.role, s.n));
        self.rebuild_index();
    }

    fn rebuild_index(&mut self) {
        self.index = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
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

pub(crate) fn event(
    at: Millis,
    slot: Option<&str>,
    kind: EventKind,
    message: String,
    detail: serde_json::Value,
) -> Effect {
    Effect::PersistEvent(FleetEvent {
        at,
        slot: slot.map(str::to_string),
        kind,
        who: None,
        message,
        detail,
    })
}

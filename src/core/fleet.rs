//! [`Fleet`]: the whole fleet's state and the one entry point, [`Fleet::handle`].
//!
//! Each call runs in phases: due timers → the input → settle (drive every touched slot until
//! nothing more is due, turn extra containers into removals, request a listing if knowledge is
//! doubtful) → persist changed slot records → drop retired slots → re-evaluate locks → bump
//! `version` if anything changed. After `handle` returns, `next_wakeup()` is in the future
//! (or `None`): nothing is left due.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::alerts::{AlertKey, AlertKind, AlertTable, Severity};
use super::command::{CommandOutcome, CommandReply, CommandRequest};
use super::effect::{Effect, EventKind, FleetEvent, ResumeState, SlotMode, SlotRecord};
use super::health::{deadlines, on_activity, on_probe, on_timers};
use super::incidents::{IncidentBook, Resolution};
use super::input::Input;
use super::lifecycle as life;
use super::locks::{HolderInfo, LockBook};
use super::model::{Actor, DetectorAction, Millis, slot_name};
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
    /// Effects produced outside `handle` (by `restore`), emitted by the next call.
    pub(crate) pending: Vec<Effect>,
    pub(crate) version: u64,
    pub(crate) want_listing: bool,
    pub(crate) extras: Vec<(String, String)>,
    pub(crate) last_reply: Option<CommandReply>,
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
            pending: Vec::new(),
            version: 1,
            want_listing: false,
            extras: Vec::new(),
            last_reply: None,
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
        let stray = fleet.alerts.keys_where(|k| {
            k.slot
                .as_ref()
                .is_some_and(|s| !fleet.index.contains_key(s))
        });
        for k in stray {
            fleet.alerts.clear(now, &k, &mut fleet.pending);
        }
        fleet
    }

    /// Applies one input at time `now` and returns what the outside world must do.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Effect> {
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
    pub fn next_wakeup(&self) -> Option<Millis> {
        let ready = self.docker.ready();
        let mut next: Option<Millis> = None;
        let mut take = |t: Millis| next = Some(next.map_or(t, |n| n.min(t)));
        for s in &self.slots {
            if let Some(role) = self.roles.get(s.role) {
                deadlines(s, &role.spec, ready, self.op_timeout, &mut take);
            }
        }
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

    fn dispatch(&mut self, now: Millis, input: Input, out: &mut Vec<Effect>, scope: &mut Scope) {
        if let Some(slot) = input.slot()
            && !self.index.contains_key(slot)
        {
            return self.foreign_slot_input(now, input, out);
        }
        let at = |f: &Self, slot: &str| f.index.get(slot).copied();
        match input {
            Input::ContainersListed { containers } => self.reconcile(now, containers, out, scope),
            Input::ContainerCreated {
                slot,
                generation,
                id,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_created(s, r, cx, generation, &id)
                });
            }
            Input::CreateFailed {
                slot,
                generation,
                error,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_create_failed(s, r, cx, generation, &error)
                });
            }
            Input::ContainerStarted { slot, id } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_started(s, r, cx, &id)
                });
            }
            Input::StartFailed { slot, id, error } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_start_failed(s, r, cx, &id, &error)
                });
            }
            Input::ContainerDied {
                slot,
                id,
                exit_code,
                oom_killed,
                last_lines,
            } => {
                if self.removals.contains_key(&id) {
                    return;
                }
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_died(s, r, cx, &id, exit_code, oom_killed, &last_lines)
                });
            }
            Input::ContainerPaused { slot, id } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    life::on_paused(s, cx, &id)
                });
            }
            Input::ContainerUnpaused { slot, id } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    life::on_unpaused(s, cx, &id)
                });
            }
            Input::ContainerRemoved { slot, id } => {
                if self.removals.remove(&id).is_some() {
                    return;
                }
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_removed(s, r, cx, &id)
                });
            }
            Input::OpFailed {
                slot,
                id,
                op,
                error,
            } => {
                if let Some(r) = self.removals.get_mut(&id) {
                    // Retried after the operation timeout.
                    r.requested_at = Some(now);
                    return;
                }
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    life::on_op_failed(s, cx, &id, op, &error)
                });
            }
            Input::PreflightResult { slot, result } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_preflight(s, r, cx, &result)
                });
            }
            Input::ProbeResult {
                slot,
                id,
                ok,
                detail,
            } => {
                scope.visible = true;
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    on_probe(s, r, cx, &id, ok, &detail)
                });
            }
            Input::Activity { slot, .. } => {
                let changed = self.on_slot(at(self, &slot), now, out, scope, on_activity);
                scope.visible |= changed.unwrap_or(false);
            }
            Input::TestRunRecorded { slot, summary } => {
                scope.visible = true;
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    s.record_test(cx.now, bounded_summary(summary));
                    on_activity(s, r, cx);
                });
            }
            Input::LocksObserved { locks } => {
                scope.visible |= self.locks.observe(locks);
            }
            Input::DetectorFired {
                slot,
                detector,
                evidence,
                action,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    detector_fired(s, r, cx, &detector, &evidence, action)
                });
            }
            Input::DetectorCleared { slot, detector } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    cx.clear(&s.name, AlertKind::Loop { detector })
                });
            }
            Input::DockerDown { error } => self.docker_down(now, error, out, scope),
            Input::DockerUp => self.docker_up(now, out, scope),
            Input::SpecChanged { spec } => self.apply_spec(now, spec, out, scope),
            Input::Tick => {}
            Input::Operator { request } => {
                let reply = self.apply_command(now, request, out, scope);
                self.last_reply = Some(reply);
            }
        }
    }

    /// Inputs naming a slot that does not exist (scaled away): only container facts matter —
    /// a container created or started for it is removed.
    fn foreign_slot_input(&mut self, now: Millis, input: Input, out: &mut Vec<Effect>) {
        match input {
            Input::ContainerCreated { slot, id, .. } | Input::ContainerStarted { slot, id } => {
                self.extras.push((slot, id));
                self.settle_extras(now, out);
            }
            Input::ContainerRemoved { id, .. } => {
                self.removals.remove(&id);
            }
            Input::OpFailed { id, .. } => {
                if let Some(r) = self.removals.get_mut(&id) {
                    r.requested_at = Some(now);
                }
            }
            _ => {}
        }
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
        };
        Some(f(s, role, &mut cx))
    }

    fn run_timers_if_due(&mut self, now: Millis, out: &mut Vec<Effect>, scope: &mut Scope) {
        if self.next_wakeup().is_none_or(|t| t > now) {
            return;
        }
        scope.all = true;
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
            if self.next_wakeup().is_none_or(|t| t > now) {
                break;
            }
            self.run_timers_if_due(now, out, &mut scope);
        }
        let indices: Vec<usize> = if scope.all {
            (0..self.slots.len()).collect()
        } else {
            let mut t = std::mem::take(&mut scope.touched);
            t.sort_unstable();
            t.dedup();
            t
        };
        for i in indices {
            if let Some(s) = self.slots.get_mut(i)
                && s.persisted.as_ref().is_none_or(|p| !p.same_state(&s.rec))
            {
                s.rec.updated_at = now;
                s.persisted = Some(s.rec.clone());
                out.push(Effect::PersistSlot(s.rec.clone()));
            }
        }
        self.drop_retired(now, out);
        scope.visible |= self.evaluate_locks(now, out);
        if scope.visible || !out.is_empty() {
            self.version += 1;
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
                format!("{}: removing extra container {}", r.slot, life::short(id)),
                json!({ "id": id }),
            ));
            out.push(Effect::Remove {
                slot: r.slot.clone(),
                id: id.clone(),
            });
        }
    }

    fn drop_retired(&mut self, now: Millis, out: &mut Vec<Effect>) {
        if !self.slots.iter().any(|s| s.retired) {
            return;
        }
        let (gone, kept): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.slots)
            .into_iter()
            .partition(|s| s.retired);
        self.slots = kept;
        for s in gone {
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
    }

    fn evaluate_locks(&mut self, now: Millis, out: &mut Vec<Effect>) -> bool {
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
        locks.evaluate(now, holder, was_slot, fallback, alerts, out)
    }

    pub(crate) fn task_timeout_of(&self, holder: Option<&str>) -> Millis {
        holder
            .and_then(|h| self.index.get(h))
            .and_then(|i| self.slots.get(*i))
            .and_then(|s| self.roles.get(s.role))
            .map_or_else(|| fallback_timeout(&self.roles), |r| r.spec.task_timeout)
    }

    fn docker_down(
        &mut self,
        now: Millis,
        error: String,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if let DockerStatus::Down { error: e, .. } = &mut self.docker.status {
            scope.visible |= *e != error;
            *e = error;
            return;
        }
        self.docker = DockerLink {
            status: DockerStatus::Down {
                error: error.clone(),
                since: now,
            },
            synced: false,
            listing_since: None,
        };
        // Answers to operations in flight may never come: a listing decides after reconnect.
        for s in &mut self.slots {
            s.in_flight = None;
            s.probe.in_flight_since = None;
        }
        for r in self.removals.values_mut() {
            r.requested_at = None;
        }
        let key = AlertKey::fleet(AlertKind::DockerDown);
        self.alerts.raise(
            now,
            key,
            Severity::Critical,
            &format!("Docker unreachable: {error}"),
            &[],
            out,
        );
        out.push(event(
            now,
            None,
            EventKind::DockerDown,
            format!("docker unreachable: {error}"),
            json!({ "error": error }),
        ));
        scope.all = true;
    }

    fn docker_up(&mut self, now: Millis, out: &mut Vec<Effect>, scope: &mut Scope) {
        if self.docker.status != DockerStatus::Up {
            self.docker.status = DockerStatus::Up;
            self.docker.synced = false;
            out.push(event(
                now,
                None,
                EventKind::DockerUp,
                "docker reachable".into(),
                json!({}),
            ));
            scope.visible = true;
        }
        if !self.docker.synced && self.docker.listing_since.is_none() {
            self.want_listing = true;
        }
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

/// Failing test names are capped so one huge run cannot bloat every snapshot.
fn bounded_summary(mut summary: super::model::TestSummary) -> super::model::TestSummary {
    summary.failing.truncate(50);
    for name in &mut summary.failing {
        let cut = super::signature::cut(name, 200).len();
        name.truncate(cut);
    }
    summary
}

fn detector_fired(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    detector: &str,
    evidence: &[String],
    action: DetectorAction,
) {
    let key = AlertKey::slot(
        &s.name,
        AlertKind::Loop {
            detector: detector.to_string(),
        },
    );
    let new = !cx.alerts.is_active(&key);
    let first = evidence.first().map(String::as_str).unwrap_or("");
    let msg = format!(
        "loop detected by {detector}{}",
        if first.is_empty() {
            String::new()
        } else {
            format!(": {first}")
        }
    );
    cx.raise_with(
        &s.name,
        AlertKind::Loop {
            detector: detector.to_string(),
        },
        Severity::Warning,
        &msg,
        evidence,
    );
    if !new {
        return;
    }
    cx.event(
        &s.name,
        EventKind::Detector,
        None,
        format!("{}: {msg} (action: {action:?})", s.name).to_lowercase(),
        json!({ "detector": detector, "action": action, "evidence": evidence }),
    );
    match action {
        DetectorAction::Alert => {}
        DetectorAction::Pause if s.rec.mode == SlotMode::Auto => {
            s.rec.mode = SlotMode::Paused { by: Actor::Drover };
        }
        DetectorAction::Block if matches!(s.rec.mode, SlotMode::Auto | SlotMode::Paused { .. }) => {
            life::block(s, role, cx, msg, Actor::Drover);
        }
        DetectorAction::Restart if s.rec.mode == SlotMode::Auto && s.is_live() => {
            s.restart_requested = true;
        }
        _ => {}
    }
}

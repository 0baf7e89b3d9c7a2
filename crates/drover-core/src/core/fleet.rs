//! [`Fleet`]: the whole fleet's state and the one entry point, [`Fleet::handle`].
//!
//! Each call runs in phases: due timers → the input → settle (drive every touched slot until
//! nothing more is due, turn extra containers into removals, request a listing if knowledge is
//! doubtful) → persist changed slot records → drop retired slots → re-evaluate locks → bump
//! `version` if anything changed. After `handle` returns, `next_wakeup()` is in the future
//! (or `None`): nothing is left due. The phases other than the input live in `settle.rs`.

use std::collections::{BTreeMap, HashMap};

use super::alerts::AlertTable;
use super::claims::ClaimBook;
use super::effect::{Effect, EventKind, FleetEvent, ResumeState, SlotMode, SlotRecord};
use super::incidents::IncidentBook;
use super::input::Input;
use super::locks::LockBook;
use super::model::command::{CommandOutcome, CommandReply, CommandRequest};
use super::model::incident::Resolution;
use super::model::{DockerStatus, Millis, slot_name};
use super::policy::{FleetSpec, RoleSpec};
use super::slot::{Cx, Slot};

#[derive(Clone, Debug)]
pub(crate) struct RoleEntry {
    pub spec: RoleSpec,
    /// False once the role was removed from the spec (its slots are retiring).
    pub active: bool,
    /// The config's replicas; `spec.replicas` differs while a `ctl scale` override is in force.
    pub configured: u32,
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
    pub(crate) spend: super::model::spend::Spend,
    pub(crate) ledger: super::ledger::Ledger,
    /// Blocks by drover read back by `restore` are re-evaluated by the next `handle` (which
    /// has a time for the events it writes).
    pub(crate) review_blocks: bool,
    /// The shared branch's check, as the supervisor last reported it (`None`: no check
    /// configured or not reported yet).
    pub(crate) main: Option<super::main_check::MainView>,
    /// Hosts known to be unreachable (fleets over several engines; see `hosts`).
    pub(crate) hosts_down: BTreeMap<String, super::hosts::HostOutage>,
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
            spend: super::model::spend::Spend {
                cap: spec.daily_budget_micros,
                slot_cap: spec.slot_daily_budget_micros,
                role_caps: spec.role_daily_budget_micros.clone(),
                ..Default::default()
            },
            ledger: Default::default(),
            review_blocks: false,
            main: None,
            hosts_down: BTreeMap::new(),
        };
        for role in spec.roles {
            let replicas = role.replicas;
            fleet.roles.push(RoleEntry {
                spec: role,
                active: true,
                configured: replicas,
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
        let mut spec = spec;
        // A stored scale override holds while the config still has the replicas it overrode.
        let mut configured = Vec::new();
        for o in &resume.scale_overrides {
            if let Some(r) = spec.roles.iter_mut().find(|r| r.name == o.role)
                && r.replicas == o.configured
            {
                configured.push((o.role.clone(), r.replicas));
                r.replicas = o.replicas.min(super::model::MAX_SLOTS);
            }
        }
        let mut fleet = Self::new(spec, seed);
        for (role, n) in configured {
            if let Some(r) = fleet.roles.iter_mut().find(|r| r.spec.name == role) {
                r.configured = n;
            }
        }
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
        for (slot, at, summary) in resume.last_tests {
            if let Some(s) = fleet.index.get(&slot).and_then(|&i| fleet.slots.get_mut(i)) {
                s.record_test(at, summary);
            }
        }
        fleet.alerts = AlertTable::restore(resume.active_alerts);
        fleet.review_blocks = true;
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
        if std::mem::take(&mut self.review_blocks) {
            self.review_blocks(now, &mut out, &mut scope);
        }
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
    pub fn open_incidents(&self) -> impl Iterator<Item = &super::model::incident::Incident> {
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
        // A slot on an unreachable host is frozen as last seen (see `hosts`).
        let ready = self.docker.ready() && self.outage_of(i).is_none();
        let budget_hold = self
            .spend
            .held_until(now)
            .or_else(|| self.scoped_hold(now, Some(i)));
        let Fleet {
            name,
            seed,
            roles,
            slots,
            alerts,
            incidents,
            want_listing,
            extras,
            main,
            ..
        } = self;
        let main = main.as_ref();
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
            main_hold: main.is_some_and(|m| m.hold),
        };
        Some(f(s, role, &mut cx))
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

    pub(super) fn rebuild_index(&mut self) {
        self.index = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
    }
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

//! Deterministic simulation of the core against a simulated Docker: random exits, OOM kills,
//! containers disappearing, slow answers, lost answers, Docker outages, periodic safety
//! listings and random operator commands, on a virtual clock. Invariants are checked after
//! every input.
//!
//! Replay one schedule with its trace:
//! `DROVER_SIM_SEED=<seed> cargo test --test core_simulation -- --nocapture`
//! Change the number of schedules with `DROVER_SIM_SCHEDULES=<n>` and the first seed with
//! `DROVER_SIM_FIRST_SEED=<seed>` (to explore beyond the default range).

use crate::core_support;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use core_support::World;
use drover::core::{
    ActivityKind, AlertRef, Command, CommandRequest, ContainerStatus, Effect, Fleet, FleetSpec,
    Input, Millis, ProbeAction, ProbePolicy, RecoveryPolicy, RestartMode, RoleSpec, SlotRecord,
    SlotState,
};

const DEFAULT_SCHEDULES: u64 = 10_000;
const STEPS: usize = 100;

/// splitmix64, so the test needs no random-number crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

fn random_spec(rng: &mut Rng) -> FleetSpec {
    let mut roles = Vec::new();
    for name in ["implementer", "reviewer"]
        .iter()
        .take(1 + rng.below(2) as usize)
    {
        let mut r = RoleSpec::new(*name, 1 + rng.below(3) as u32, "hash-a");
        r.preflight = rng.chance(50);
        r.restart.mode = *rng
            .pick(&[
                RestartMode::Always,
                RestartMode::Always,
                RestartMode::OnFailure,
                RestartMode::Never,
            ])
            .unwrap_or(&RestartMode::Always);
        r.recovery = RecoveryPolicy {
            restarts: rng.below(4) as u32,
            recreates: rng.below(3) as u32,
        };
        r.restart.max_restarts = 3 + rng.below(8) as u32;
        r.crash_loop.identical_failures_to_block = rng.below(4) as u32;
        r.stall_after = 5 * 60_000;
        if rng.chance(40) {
            r.probe = Some(ProbePolicy {
                period: 10_000,
                failure_threshold: 2,
                action: if rng.chance(50) {
                    ProbeAction::Restart
                } else {
                    ProbeAction::Alert
                },
            });
        }
        roles.push(r);
    }
    let mut spec = FleetSpec::new("sim", roles);
    spec.op_timeout = 60_000;
    spec
}

/// A queued answer or event, delivered at `at` unless Docker goes down first.
struct Pending {
    at: Millis,
    seq: u64,
    input: Input,
}

/// The container an input is about, for per-container ordering.
fn container_of(input: &Input) -> Option<&str> {
    match input {
        Input::ContainerCreated { id, .. }
        | Input::ContainerStarted { id, .. }
        | Input::StartFailed { id, .. }
        | Input::ContainerDied { id, .. }
        | Input::ContainerPaused { id, .. }
        | Input::ContainerUnpaused { id, .. }
        | Input::ContainerRemoved { id, .. }
        | Input::OpFailed { id, .. }
        | Input::ProbeResult { id, .. } => Some(id),
        _ => None,
    }
}

struct Sim {
    seed: u64,
    rng: Rng,
    spec: FleetSpec,
    fleet: Fleet,
    world: World,
    now: Millis,
    queue: Vec<Pending>,
    seq: u64,
    /// Latest delivery time queued per container: Docker reports one container's
    /// transitions in order (the adapter contract), so the simulation never reorders them.
    last_at: BTreeMap<String, Millis>,
    docker_up: bool,
    /// The core was told Docker is down and not yet that it is back.
    told_down: bool,
    /// Something happened in the world that the core may not have seen.
    world_diverged: bool,
    records: BTreeMap<String, SlotRecord>,
    trace: bool,
    steps: usize,
    cov: Coverage,
}

/// What the schedules exercised, so the test cannot pass by exercising nothing.
#[derive(Debug, Default)]
struct Coverage {
    unchanged_world_checks: u64,
    blocks: u64,
    recreates: u64,
    removals: u64,
    restarts: u64,
    outages: u64,
    probes: u64,
    preflights: u64,
}

impl Coverage {
    fn add(&mut self, o: &Coverage) {
        self.unchanged_world_checks += o.unchanged_world_checks;
        self.blocks += o.blocks;
        self.recreates += o.recreates;
        self.removals += o.removals;
        self.restarts += o.restarts;
        self.outages += o.outages;
        self.probes += o.probes;
        self.preflights += o.preflights;
    }
}

impl Sim {
    fn new(seed: u64, trace: bool) -> Self {
        let mut rng = Rng(seed);
        let spec = random_spec(&mut rng);
        let mut world = World::default();
        world.allow_duplicate_names = true;
        Self {
            fleet: Fleet::new(spec.clone(), seed),
            spec,
            seed,
            rng,
            world,
            now: 1_700_000_000_000,
            queue: Vec::new(),
            seq: 0,
            last_at: BTreeMap::new(),
            docker_up: true,
            told_down: false,
            world_diverged: true,
            records: BTreeMap::new(),
            trace,
            steps: 0,
            cov: Coverage::default(),
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "invariant violated (seed {seed}, step {step}): {what}\n\
             replay: DROVER_SIM_SEED={seed} cargo test --test core_simulation -- --nocapture",
            seed = self.seed,
            step = self.steps
        );
    }

    fn slot_names(&self) -> Vec<String> {
        self.fleet.slot_names().map(str::to_string).collect()
    }

    fn states(&self) -> BTreeMap<String, SlotState> {
        self.fleet
            .slot_names()
            .filter_map(|n| Some((n.to_string(), self.fleet.slot_state(n)?)))
            .collect()
    }

    /// Feeds one input, checks every invariant, and executes the effects in the world.
    fn feed(&mut self, input: Input) {
        self.steps += 1;
        let operator = matches!(input, Input::Operator { .. });
        // A new spec re-evaluates blocks by drover (its cause may have changed): a start that
        // follows is not automation taking a held slot.
        let new_spec = matches!(input, Input::SpecChanged { .. });
        let before = self.states();
        if self.trace {
            println!("[{}] {:?}", self.now, input);
        }
        let effects = self.fleet.handle(self.now, input);
        if self.trace {
            for e in &effects {
                println!("    -> {e:?}");
            }
        }
        let after = self.states();
        self.check(&before, &after, &effects, operator, new_spec);
        for e in &effects {
            match e {
                Effect::Create { generation, .. } if *generation > 1 => self.cov.recreates += 1,
                Effect::Remove { .. } => self.cov.removals += 1,
                Effect::RunProbe { .. } => self.cov.probes += 1,
                Effect::RunPreflight { .. } => self.cov.preflights += 1,
                Effect::Start { .. } => self.cov.restarts += 1,
                Effect::RaiseAlert(a) if a.key.kind == drover::core::AlertKind::Blocked => {
                    self.cov.blocks += 1
                }
                Effect::RaiseAlert(a) if a.key.kind == drover::core::AlertKind::DockerDown => {
                    self.cov.outages += 1
                }
                _ => {}
            }
            if let Effect::ListContainers = e {
                // Answered later with the world as it is then (filled in at delivery).
                let at = self.now + self.rng.below(2_000);
                self.enqueue(at, Input::ContainersListed { containers: vec![] });
                continue;
            }
            if !e.is_docker() {
                continue;
            }
            let answers = self.world.execute(self.now, e);
            for a in answers {
                if self.rng.chance(1) {
                    // An answer lost without an outage: only the operation timeout recovers it.
                    self.world_diverged = true;
                    continue;
                }
                let slow = if self.rng.chance(10) {
                    5_000 + self.rng.below(20_000)
                } else {
                    self.rng.below(1_500)
                };
                let at = self.now + slow;
                self.enqueue(at, a);
            }
        }
    }

    fn check(
        &mut self,
        before: &BTreeMap<String, SlotState>,
        after: &BTreeMap<String, SlotState>,
        effects: &[Effect],
        operator: bool,
        new_spec: bool,
    ) {
        // Never two live containers for a slot.
        let mut live: BTreeMap<&str, usize> = BTreeMap::new();
        for c in self.world.containers.values() {
            if c.status.is_live() {
                *live.entry(c.slot.as_str()).or_default() += 1;
            }
        }
        if let Some((slot, n)) = live.iter().find(|(_, n)| **n > 1) {
            self.fail(format!("{n} live containers for {slot}"));
        }
        let state_of = |states: &BTreeMap<String, SlotState>, slot: &str| states.get(slot).cloned();
        for e in effects {
            if e.is_docker() && self.told_down && *e != Effect::ListContainers {
                self.fail(format!("Docker effect while Docker is down: {e:?}"));
            }
            // No automatic start/restart/unpause of a held slot, ever.
            if let Effect::Start { slot, .. }
            | Effect::Create { slot, .. }
            | Effect::Unpause { slot, .. }
            | Effect::RunPreflight { slot, .. } = e
            {
                match state_of(after, slot) {
                    Some(s) if s.holds_automation() => {
                        self.fail(format!("{e:?} while {slot} is {s:?}"))
                    }
                    _ => {}
                }
                let reevaluated = new_spec
                    && matches!(
                        state_of(before, slot),
                        Some(SlotState::Blocked {
                            by: drover::core::Actor::Drover,
                            ..
                        })
                    );
                if !operator
                    && !reevaluated
                    && matches!(state_of(before, slot), Some(ref s) if s.holds_automation())
                {
                    self.fail(format!("automatic {e:?} for held slot {slot}"));
                }
            }
            if let Some(slot) = e.slot()
                && e.is_docker()
                && !operator
                && matches!(state_of(before, slot), Some(SlotState::TakenOver { .. }))
            {
                self.fail(format!("automatic {e:?} on taken-over {slot}"));
            }
            // Backoff within configured bounds.
            if let Effect::PersistSlot(rec) = e {
                let prev = self.records.insert(rec.slot.clone(), rec.clone());
                if let Some(plan) = rec.restart
                    && prev.as_ref().and_then(|p| p.restart).map(|p| p.at) != Some(plan.at)
                {
                    let role = self.role_of(&rec.role);
                    let delay = plan.at.saturating_sub(self.now);
                    let (lo, hi) = role
                        .restart
                        .delay_bounds(rec.backoff_step.saturating_sub(1));
                    let ok = delay == 0
                        || delay == role.restart.idle_backoff
                        || (lo..=hi).contains(&delay);
                    if plan.at < self.now || !ok {
                        self.fail(format!(
                            "backoff {delay} ms for {} at step {} outside {lo}..={hi}",
                            rec.slot, rec.backoff_step
                        ));
                    }
                }
            }
            if let Effect::CloseIncident(i) = e
                && i.closed_at.is_none_or(|c| c < i.opened_at)
            {
                self.fail(format!("incident closed before it opened: {i:?}"));
            }
            if let Effect::ForgetSlot { slot } = e {
                self.records.remove(slot);
            }
        }
        // Incidents: one open per slot, only for existing slots.
        let mut open = BTreeSet::new();
        let incidents: Vec<(String, Millis)> = self
            .fleet
            .open_incidents()
            .map(|i| (i.slot.clone(), i.opened_at))
            .collect();
        for (slot, opened_at) in incidents {
            if !open.insert(slot.clone()) {
                self.fail(format!("two open incidents for {slot}"));
            }
            if opened_at > self.now {
                self.fail(format!("incident of {slot} opened in the future"));
            }
            if !after.contains_key(&slot) {
                self.fail(format!("open incident for missing slot {slot}"));
            }
        }
        // Nothing is left due after a call.
        if let Some(w) = self.fleet.next_wakeup()
            && w <= self.now
        {
            self.fail(format!("wake-up {w} not in the future (now {})", self.now));
        }
        // Blocked slots say why.
        for (slot, state) in after {
            if let SlotState::Blocked { reason, .. } = state
                && reason.is_empty()
            {
                self.fail(format!("{slot} blocked without a reason"));
            }
        }
    }

    fn role_of(&self, name: &str) -> RoleSpec {
        self.spec
            .roles
            .iter()
            .find(|r| r.name == name)
            .cloned()
            .unwrap_or_else(|| RoleSpec::new(name, 0, ""))
    }

    /// When the core's belief matches the world, a listing must change nothing.
    fn check_unchanged_world(&mut self) {
        if !self.queue.is_empty() || self.world_diverged || !self.docker_up || self.told_down {
            return;
        }
        if !self.fleet.docker().1 {
            return;
        }
        self.cov.unchanged_world_checks += 1;
        let mut probe = self.fleet.clone();
        let effects = probe.handle(
            self.now,
            Input::ContainersListed {
                containers: self.world.listing(),
            },
        );
        if !effects.is_empty() {
            self.fail(format!(
                "a listing of an unchanged world emitted {effects:#?}"
            ));
        }
    }

    fn step(&mut self) {
        self.check_unchanged_world();
        let roll = self.rng.below(100);
        let slots = self.slot_names();
        match roll {
            0..=34 => self.deliver_next(),
            35..=49 => {
                let next = self.fleet.next_wakeup().unwrap_or(self.now + 30_000);
                let to = next.min(self.now + 120_000).max(self.now);
                self.deliver_until(to);
                self.now = to;
                self.feed(Input::Tick);
            }
            50..=61 => self.random_exit(),
            62..=64 => self.disappear(),
            65..=67 => self.toggle_docker(),
            68..=71 => {
                if self.docker_up && !self.told_down {
                    let listing = self.world.listing();
                    self.listing_delivered();
                    self.feed(Input::ContainersListed {
                        containers: listing,
                    });
                }
            }
            72..=86 => self.operator(&slots),
            87..=89 => self.signals(&slots),
            90..=92 => {
                if let Some(slot) = self.rng.pick(&slots).cloned() {
                    self.feed(Input::Activity {
                        slot,
                        kind: ActivityKind::Log,
                    });
                }
            }
            _ => {
                if let Some(slot) = self.rng.pick(&slots).cloned() {
                    if self.rng.chance(50) {
                        let bad = self
                            .rng
                            .chance(30)
                            .then(|| Err("required env OPENAI_API_KEY is not set".to_string()));
                        match bad {
                            Some(b) => self.world.preflight.insert(slot, b),
                            None => self.world.preflight.remove(&slot),
                        };
                    } else {
                        let ok = self.rng.chance(60);
                        self.world.probe_ok.insert(slot, ok);
                    }
                }
            }
        }
    }

    fn enqueue(&mut self, at: Millis, input: Input) {
        let mut at = at;
        if let Some(id) = container_of(&input) {
            let last = self.last_at.entry(id.to_string()).or_default();
            at = at.max(*last);
            *last = at;
        }
        self.seq += 1;
        self.queue.push(Pending {
            at,
            seq: self.seq,
            input,
        });
    }

    /// Inputs from the other adapters: lock tables, loop detectors, a reloaded config.
    fn signals(&mut self, slots: &[String]) {
        let slot = self
            .rng
            .pick(slots)
            .cloned()
            .unwrap_or_else(|| "implementer-1".into());
        match self.rng.below(10) {
            0..=3 => {
                let mut locks = Vec::new();
                for task in ["parser", "lexer", "docs"]
                    .iter()
                    .take(self.rng.below(4) as usize)
                {
                    let holder = match self.rng.below(3) {
                        0 => Some(slot.clone()),
                        1 => Some("someone".to_string()),
                        _ => None,
                    };
                    let age = self.rng.below(40 * 60_000);
                    locks.push(drover::core::LockObservation {
                        task: task.to_string(),
                        holder,
                        claimed_at: self.now.saturating_sub(age),
                        claim_commit: None,
                    });
                }
                self.feed(Input::LocksObserved { locks });
            }
            4..=6 => {
                let action = *self
                    .rng
                    .pick(&[
                        drover::core::DetectorAction::Alert,
                        drover::core::DetectorAction::Pause,
                        drover::core::DetectorAction::Block,
                        drover::core::DetectorAction::Restart,
                    ])
                    .unwrap_or(&drover::core::DetectorAction::Alert);
                self.feed(Input::DetectorFired {
                    slot,
                    detector: "output_repetition".into(),
                    evidence: vec!["same line again".into()],
                    action,
                    since: None,
                });
            }
            7..=8 => self.feed(Input::DetectorCleared {
                slot,
                detector: "output_repetition".into(),
            }),
            _ => {
                let mut spec = self.spec.clone();
                if let Some(role) = spec.roles.first_mut() {
                    role.replicas = self.rng.below(4) as u32;
                    if self.rng.chance(50) {
                        role.spec_hash = format!("hash-{}", self.rng.below(3));
                    }
                }
                self.spec = spec.clone();
                self.feed(Input::SpecChanged { spec });
            }
        }
    }

    fn deliver_next(&mut self) {
        let Some(i) =
            (0..self.queue.len()).min_by_key(|i| self.queue.get(*i).map(|p| (p.at, p.seq)))
        else {
            return;
        };
        let p = self.queue.swap_remove(i);
        self.now = self.now.max(p.at);
        let input = match p.input {
            Input::ContainersListed { .. } => {
                self.listing_delivered();
                Input::ContainersListed {
                    containers: self.world.listing(),
                }
            }
            other => other,
        };
        self.feed(input);
    }

    /// A listing shows the core the whole world — unless answers still on their way will
    /// report things the world has already moved past (e.g. a create whose container was
    /// removed since, without an event).
    fn listing_delivered(&mut self) {
        if !self.queue.iter().any(|p| container_of(&p.input).is_some()) {
            self.world_diverged = false;
        }
    }

    fn deliver_until(&mut self, t: Millis) {
        while self.queue.iter().any(|p| p.at <= t) {
            self.deliver_next();
        }
    }

    fn random_exit(&mut self) {
        let running: Vec<(String, String)> = self
            .world
            .containers
            .iter()
            .filter(|(_, c)| c.status == ContainerStatus::Running)
            .map(|(id, c)| (id.clone(), c.slot.clone()))
            .collect();
        let Some((id, slot)) = self.rng.pick(&running).cloned() else {
            return;
        };
        let code = *self.rng.pick(&[0i64, 0, 1, 1, 2, 137]).unwrap_or(&1);
        let oom = code == 137 && self.rng.chance(50);
        let line = *self
            .rng
            .pick(&[
                "ERROR: Missing environment variable: OPENAI_API_KEY",
                "panic: index out of range",
                "done",
            ])
            .unwrap_or(&"done");
        if let Some(c) = self.world.containers.get_mut(&id) {
            c.status = ContainerStatus::Exited { code };
        }
        self.world_diverged = true;
        if self.rng.chance(5) {
            return; // the die event is lost; only a listing reveals it
        }
        let at = self.now + self.rng.below(500);
        self.enqueue(
            at,
            Input::ContainerDied {
                slot,
                id,
                exit_code: code,
                oom_killed: oom,
                last_lines: vec![line.to_string()],
            },
        );
    }

    fn disappear(&mut self) {
        let ids: Vec<(String, String)> = self
            .world
            .containers
            .iter()
            .map(|(i, c)| (i.clone(), c.slot.clone()))
            .collect();
        let Some((id, slot)) = self.rng.pick(&ids).cloned() else {
            return;
        };
        self.world.containers.remove(&id);
        self.world_diverged = true;
        if self.rng.chance(50) {
            let at = self.now + 100;
            self.enqueue(at, Input::ContainerRemoved { slot, id });
        }
    }

    fn toggle_docker(&mut self) {
        if self.docker_up {
            self.docker_up = false;
            self.told_down = true;
            // Answers in flight are lost with the connection.
            if !self.queue.is_empty() {
                self.world_diverged = true;
            }
            self.queue.clear();
            self.feed(Input::DockerDown {
                error: "connection refused".into(),
            });
        } else {
            self.docker_up = true;
            self.told_down = false;
            self.feed(Input::DockerUp);
        }
    }

    fn operator(&mut self, slots: &[String]) {
        let slot = self
            .rng
            .pick(slots)
            .cloned()
            .unwrap_or_else(|| "implementer-1".into());
        let role = self
            .rng
            .pick(&self.spec.roles)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let alert_id = self
            .fleet
            .snapshot(self.now)
            .alerts
            .first()
            .map(|a| a.id)
            .unwrap_or(1);
        let cmd = match self.rng.below(13) {
            0 => Command::Pause { slot },
            1 => Command::Resume { slot },
            2 => Command::Restart { slot },
            3 => Command::Stop { slot },
            4 => Command::Start { slot },
            5 => Command::Block {
                slot,
                reason: "operator hold".into(),
            },
            6 => Command::Unblock { slot },
            7 => Command::TakeOver { slot },
            8 => Command::HandBack { slot },
            9 => Command::Scale {
                role,
                replicas: self.rng.below(4) as u32,
            },
            10 => Command::CloseIncident { slot },
            11 => Command::AckAlert {
                alert: AlertRef::Id(alert_id),
            },
            _ => Command::Start { slot },
        };
        let who = if self.rng.chance(50) { "alice" } else { "bob" };
        self.feed(Input::Operator {
            request: CommandRequest::new(cmd, who),
        });
    }

    fn run(&mut self) {
        self.feed(Input::DockerUp);
        for _ in 0..STEPS {
            self.step();
        }
        // Let the world settle and check again: nothing may stay stuck in flight forever.
        if !self.docker_up {
            self.toggle_docker();
        }
        for _ in 0..50 {
            let Some(t) = self
                .queue
                .iter()
                .map(|p| p.at)
                .min()
                .or(self.fleet.next_wakeup())
            else {
                break;
            };
            self.deliver_until(t);
            self.now = self.now.max(t);
            self.feed(Input::Tick);
        }
        let listing = self.world.listing();
        self.listing_delivered();
        self.feed(Input::ContainersListed {
            containers: listing,
        });
        self.deliver_until(self.now + 10 * 60_000);
        self.check_unchanged_world();
        let synced = self.fleet.docker().1;
        for (slot, state) in self.states() {
            if matches!(state, SlotState::Retiring) && self.queue.is_empty() && synced {
                // Retiring slots finish once their container is gone and answers arrived.
                if self.world.of_slot(&slot).is_empty() {
                    self.fail(format!("{slot} still retiring with no container"));
                }
            }
        }
    }
}

fn run_seed(seed: u64, trace: bool, cov: &mut Coverage) -> usize {
    let mut sim = Sim::new(seed, trace);
    match catch_unwind(AssertUnwindSafe(|| sim.run())) {
        Ok(()) => {
            cov.add(&sim.cov);
            sim.steps
        }
        Err(e) => {
            eprintln!(
                "simulation failed for seed {seed}; replay: DROVER_SIM_SEED={seed} cargo test --test core_simulation -- --nocapture"
            );
            resume_unwind(e)
        }
    }
}

#[test]
fn seeded_schedules_keep_every_invariant() {
    if let Some(seed) = std::env::var("DROVER_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let mut cov = Coverage::default();
        run_seed(seed, true, &mut cov);
        println!("{cov:?}");
        return;
    }
    let schedules = std::env::var("DROVER_SIM_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SCHEDULES);
    let started = std::time::Instant::now();
    let mut steps = 0;
    let mut cov = Coverage::default();
    let first: u64 = std::env::var("DROVER_SIM_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + schedules {
        steps += run_seed(seed, false, &mut cov);
    }
    println!(
        "{schedules} schedules, {steps} inputs checked in {:.1} s; {cov:?}",
        started.elapsed().as_secs_f64()
    );
    // Every kind of situation the invariants are about must actually occur.
    let per = |n: u64| n * 100 / schedules.max(1);
    assert!(per(cov.unchanged_world_checks) >= 100, "{cov:?}");
    assert!(
        per(cov.blocks) >= 5 && per(cov.recreates) >= 5 && per(cov.outages) >= 5,
        "{cov:?}"
    );
    assert!(
        per(cov.removals) >= 5 && per(cov.probes) >= 5 && per(cov.preflights) >= 5,
        "{cov:?}"
    );
}

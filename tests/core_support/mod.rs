//! Test support for the core: a fake Docker world that executes the core's effects, and a
//! harness that feeds the answers back synchronously with a virtual clock.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use drover::core::{
    Command, CommandReply, CommandRequest, ContainerStatus, Effect, Fleet, FleetSpec, Input,
    Millis, ObservedContainer, SlotState, SlotView, Snapshot,
};

#[derive(Clone, Debug, PartialEq)]
pub struct FakeContainer {
    pub slot: String,
    pub generation: u64,
    pub spec_hash: String,
    pub name: String,
    pub status: ContainerStatus,
    pub started_at: Option<Millis>,
}

/// A Docker engine in memory. Names are unique, as in Docker, so a second create for a slot
/// whose container still exists fails with a conflict (counted in `conflicts`).
#[derive(Clone, Debug, Default)]
pub struct World {
    pub containers: BTreeMap<String, FakeContainer>,
    next_id: u64,
    pub starts: BTreeMap<String, u32>,
    pub creates: BTreeMap<String, u32>,
    pub conflicts: u32,
    /// Preflight answers per slot (default: pass).
    pub preflight: BTreeMap<String, Result<(), String>>,
    /// Probe answers per slot (default: ok).
    pub probe_ok: BTreeMap<String, bool>,
    /// Start errors per slot (default: starts fine).
    pub start_error: BTreeMap<String, String>,
    /// Let a second container with the same name be created (so a duplicate create by the
    /// core shows up as two containers instead of a conflict).
    pub allow_duplicate_names: bool,
}

impl World {
    pub fn listing(&self) -> Vec<ObservedContainer> {
        self.containers
            .iter()
            .map(|(id, c)| ObservedContainer {
                id: id.clone(),
                slot: c.slot.clone(),
                generation: c.generation,
                spec_hash: c.spec_hash.clone(),
                status: c.status.clone(),
                started_at: c.started_at,
                finished_at: None,
            })
            .collect()
    }

    /// Containers of `slot` that are running or paused.
    pub fn live(&self, slot: &str) -> usize {
        self.containers
            .values()
            .filter(|c| c.slot == slot && c.status.is_live())
            .count()
    }

    pub fn of_slot(&self, slot: &str) -> Vec<(String, FakeContainer)> {
        self.containers
            .iter()
            .filter(|(_, c)| c.slot == slot)
            .map(|(i, c)| (i.clone(), c.clone()))
            .collect()
    }

    pub fn add(
        &mut self,
        slot: &str,
        generation: u64,
        hash: &str,
        status: ContainerStatus,
        fleet: &str,
    ) -> String {
        self.next_id += 1;
        let id = format!("c{:04}", self.next_id);
        self.containers.insert(
            id.clone(),
            FakeContainer {
                slot: slot.into(),
                generation,
                spec_hash: hash.into(),
                name: drover::core::container_name(fleet, slot),
                started_at: status.is_live().then_some(0),
                status,
            },
        );
        id
    }

    /// Executes one Docker effect and returns the inputs that answer it.
    pub fn execute(&mut self, now: Millis, effect: &Effect) -> Vec<Input> {
        match effect {
            Effect::ListContainers => vec![Input::ContainersListed {
                containers: self.listing(),
            }],
            Effect::Create {
                slot,
                generation,
                spec_hash,
                name,
                ..
            } => {
                if !self.allow_duplicate_names && self.containers.values().any(|c| &c.name == name)
                {
                    self.conflicts += 1;
                    return vec![Input::CreateFailed {
                        slot: slot.clone(),
                        generation: *generation,
                        error: format!(
                            "Conflict. The container name \"/{name}\" is already in use"
                        ),
                    }];
                }
                self.next_id += 1;
                let id = format!("c{:04}", self.next_id);
                *self.creates.entry(slot.clone()).or_default() += 1;
                self.containers.insert(
                    id.clone(),
                    FakeContainer {
                        slot: slot.clone(),
                        generation: *generation,
                        spec_hash: spec_hash.clone(),
                        name: name.clone(),
                        status: ContainerStatus::Created,
                        started_at: None,
                    },
                );
                vec![Input::ContainerCreated {
                    slot: slot.clone(),
                    generation: *generation,
                    id,
                }]
            }
            Effect::Start { slot, id } => {
                if let Some(e) = self.start_error.get(slot) {
                    return vec![Input::StartFailed {
                        slot: slot.clone(),
                        id: id.clone(),
                        error: e.clone(),
                    }];
                }
                match self.containers.get_mut(id) {
                    Some(c) if !c.status.is_live() => {
                        c.status = ContainerStatus::Running;
                        c.started_at = Some(now);
                        *self.starts.entry(slot.clone()).or_default() += 1;
                        vec![Input::ContainerStarted {
                            slot: slot.clone(),
                            id: id.clone(),
                        }]
                    }
                    Some(_) => vec![Input::ContainerStarted {
                        slot: slot.clone(),
                        id: id.clone(),
                    }],
                    None => vec![Input::StartFailed {
                        slot: slot.clone(),
                        id: id.clone(),
                        error: "No such container".into(),
                    }],
                }
            }
            Effect::Stop { slot, id, .. } | Effect::Kill { slot, id } => {
                match self.containers.get_mut(id) {
                    Some(c) => {
                        let code = match c.status {
                            ContainerStatus::Exited { code } => code,
                            _ => 143,
                        };
                        c.status = ContainerStatus::Exited { code };
                        vec![Input::ContainerDied {
                            slot: slot.clone(),
                            id: id.clone(),
                            exit_code: code,
                            oom_killed: false,
                            last_lines: vec![],
                        }]
                    }
                    None => vec![Input::ContainerRemoved {
                        slot: slot.clone(),
                        id: id.clone(),
                    }],
                }
            }
            Effect::Pause { slot, id } => match self.containers.get_mut(id) {
                Some(c) if c.status == ContainerStatus::Running => {
                    c.status = ContainerStatus::Paused;
                    vec![Input::ContainerPaused {
                        slot: slot.clone(),
                        id: id.clone(),
                    }]
                }
                _ => vec![Input::OpFailed {
                    slot: slot.clone(),
                    id: id.clone(),
                    op: drover::core::DockerOp::Pause,
                    error: "not running".into(),
                }],
            },
            Effect::Unpause { slot, id } => match self.containers.get_mut(id) {
                Some(c) if c.status == ContainerStatus::Paused => {
                    c.status = ContainerStatus::Running;
                    vec![Input::ContainerUnpaused {
                        slot: slot.clone(),
                        id: id.clone(),
                    }]
                }
                _ => vec![Input::OpFailed {
                    slot: slot.clone(),
                    id: id.clone(),
                    op: drover::core::DockerOp::Unpause,
                    error: "not paused".into(),
                }],
            },
            Effect::Remove { slot, id } => {
                self.containers.remove(id);
                vec![Input::ContainerRemoved {
                    slot: slot.clone(),
                    id: id.clone(),
                }]
            }
            Effect::RunPreflight { slot, .. } => vec![Input::PreflightResult {
                slot: slot.clone(),
                result: self.preflight.get(slot).cloned().unwrap_or(Ok(())),
            }],
            Effect::RunProbe { slot, id, .. } => {
                let ok = self.probe_ok.get(slot).copied().unwrap_or(true);
                vec![Input::ProbeResult {
                    slot: slot.clone(),
                    id: id.clone(),
                    ok,
                    detail: if ok {
                        "ok".into()
                    } else {
                        "GET /health: 503".into()
                    },
                }]
            }
            _ => vec![],
        }
    }

    /// The process of `slot`'s running container exits on its own.
    pub fn exit(&mut self, slot: &str, code: i64) -> Option<String> {
        let (id, c) = self
            .containers
            .iter_mut()
            .find(|(_, c)| c.slot == slot && c.status == ContainerStatus::Running)?;
        c.status = ContainerStatus::Exited { code };
        Some(id.clone())
    }
}

/// A fleet wired to a [`World`] that answers every effect at once.
pub struct Harness {
    pub fleet: Fleet,
    pub world: World,
    pub now: Millis,
    /// Every effect the fleet emitted, with the time.
    pub log: Vec<(Millis, Effect)>,
}

impl Harness {
    pub const T0: Millis = 1_700_000_000_000;

    pub fn new(spec: FleetSpec) -> Self {
        Self::with_fleet(Fleet::new(spec, 42), World::default())
    }

    pub fn with_fleet(fleet: Fleet, world: World) -> Self {
        Self {
            fleet,
            world,
            now: Self::T0,
            log: Vec::new(),
        }
    }

    /// Feeds `input`, executes the resulting Docker effects in the world and feeds their
    /// answers back until quiet. Returns every effect emitted on the way.
    pub fn feed(&mut self, input: Input) -> Vec<Effect> {
        let mut queue = VecDeque::from([input]);
        let mut all = Vec::new();
        let mut guard = 0;
        while let Some(i) = queue.pop_front() {
            guard += 1;
            assert!(guard < 10_000, "feedback loop");
            let effects = self.fleet.handle(self.now, i);
            for e in &effects {
                queue.extend(self.world.execute(self.now, e));
                self.log.push((self.now, e.clone()));
            }
            all.extend(effects);
        }
        all
    }

    /// Only the fleet's answer to `input`, without executing anything.
    pub fn handle_only(&mut self, input: Input) -> Vec<Effect> {
        let effects = self.fleet.handle(self.now, input);
        for e in &effects {
            self.log.push((self.now, e.clone()));
        }
        effects
    }

    /// Docker comes up: the core asks for a listing, which the world answers.
    pub fn boot(&mut self) -> Vec<Effect> {
        self.feed(Input::DockerUp)
    }

    /// Moves the clock to `t`, delivering every wake-up on the way.
    pub fn advance_to(&mut self, t: Millis) -> Vec<Effect> {
        let mut all = Vec::new();
        while let Some(w) = self.fleet.next_wakeup() {
            if w > t {
                break;
            }
            assert!(w >= self.now, "wake-up in the past: {w} < {}", self.now);
            self.now = w;
            all.extend(self.feed(Input::Tick));
        }
        self.now = t;
        all
    }

    pub fn advance(&mut self, ms: Millis) -> Vec<Effect> {
        self.advance_to(self.now + ms)
    }

    /// The slot's running container exits with `code`, printing `lines`.
    pub fn die(&mut self, slot: &str, code: i64, lines: &[&str]) -> Vec<Effect> {
        let id = self
            .world
            .exit(slot, code)
            .unwrap_or_else(|| panic!("{slot} has no running container"));
        self.feed(Input::ContainerDied {
            slot: slot.into(),
            id,
            exit_code: code,
            oom_killed: false,
            last_lines: lines.iter().map(|l| l.to_string()).collect(),
        })
    }

    pub fn command(&mut self, command: Command) -> (CommandReply, Vec<Effect>) {
        let outcome = self.fleet.command(
            self.now,
            CommandRequest::new(command, "alice").because("testing"),
        );
        let mut all = outcome.effects.clone();
        for e in &outcome.effects {
            self.log.push((self.now, e.clone()));
            for i in self.world.execute(self.now, e) {
                all.extend(self.feed(i));
            }
        }
        (outcome.reply, all)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.fleet.snapshot(self.now)
    }

    pub fn view(&self, slot: &str) -> SlotView {
        self.snapshot()
            .slot(slot)
            .cloned()
            .unwrap_or_else(|| panic!("no slot {slot}"))
    }

    pub fn state(&self, slot: &str) -> SlotState {
        self.view(slot).state
    }

    pub fn starts(&self, slot: &str) -> u32 {
        self.world.starts.get(slot).copied().unwrap_or(0)
    }
}

pub fn docker_effects(effects: &[Effect]) -> Vec<&Effect> {
    effects.iter().filter(|e| e.is_docker()).collect()
}

/// The last `PersistSlot` record of every slot in `log`.
pub fn last_records(log: &[(Millis, Effect)]) -> Vec<drover::core::SlotRecord> {
    let mut by_slot: BTreeMap<String, drover::core::SlotRecord> = BTreeMap::new();
    for (_, e) in log {
        match e {
            Effect::PersistSlot(r) => {
                by_slot.insert(r.slot.clone(), r.clone());
            }
            Effect::ForgetSlot { slot } => {
                by_slot.remove(slot);
            }
            _ => {}
        }
    }
    by_slot.into_values().collect()
}

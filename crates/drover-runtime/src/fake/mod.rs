//! An in-memory container engine implementing the runtime port, for testing the supervisor
//! without a daemon: containers are records, their "processes" print and exit when a test says
//! so, and every call is logged so tests can assert what drover asked for and in which order.
//!
//! It keeps the port's contract the way Docker does: names are unique (a second create of a
//! name fails with the existing id), `start` of a running and `remove` of a missing container
//! succeed, `stop` ends the run (exit 143) and `kill` too (137), removing a running container
//! reports its death before its destruction, and listings and events carry the labels written at
//! create time. [`FakeRuntime::go_down`] makes it unreachable: connects and calls fail, event
//! and log streams break, until [`FakeRuntime::come_up`]. Event streams resume from `since` like
//! Docker's, so a reconnecting link sees what happened while it was away.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

mod port;

use crate::identity::{self, LABEL_FLEET, LABEL_GENERATION, LABEL_SLOT};
use crate::port::{
    Connector, ContainerAction, ContainerEvent, EngineStatus, ExecOutcome, LogChunk, RuntimeError,
};

/// Exit code of a run ended by `stop` (SIGTERM) or `kill`/`remove` (SIGKILL).
pub const STOPPED_EXIT: i64 = 143;
pub const KILLED_EXIT: i64 = 137;

/// One call drover made, in the order the engine received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub op: &'static str,
    /// The container's name when it has one, else the id or image asked about.
    pub target: String,
}

/// What a test sees of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    pub slot: String,
    pub generation: u64,
    pub status: EngineStatus,
    pub exit_code: Option<i64>,
    pub labels: HashMap<String, String>,
    /// How many times it was started.
    pub starts: u32,
}

#[derive(Clone, Debug)]
enum Signal {
    /// An event of a container labelled for `fleet`.
    Event {
        fleet: String,
        event: ContainerEvent,
    },
    Log {
        id: String,
        chunk: LogChunk,
    },
    /// The container's current run ended: its followed log stream ends.
    LogEnd {
        id: String,
    },
    /// The engine went away: every stream breaks.
    Down,
}

struct Record {
    view: FakeContainer,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    oom_killed: bool,
    /// (Unix seconds, chunk) of every line printed, for `logs` with `since`.
    output: Vec<(i64, LogChunk)>,
}

#[derive(Default)]
struct State {
    up: bool,
    next_id: u64,
    containers: BTreeMap<String, Record>,
    /// (fleet, event) of every labelled container's event, for `since`.
    history: Vec<(String, ContainerEvent)>,
    calls: Vec<Call>,
    missing_images: HashSet<String>,
    exec_result: Option<ExecOutcome>,
    connects: u32,
}

/// The in-memory engine. Clones share one state.
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    signals: broadcast::Sender<Signal>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRuntime {
    /// An engine that is up and holds no containers.
    pub fn new() -> Self {
        let (signals, _) = broadcast::channel(65_536);
        let state = State {
            up: true,
            ..State::default()
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            signals,
        }
    }

    /// A connector handing out this engine (as drover's link would connect to Docker).
    pub fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves a consistent state behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every container, in id order.
    pub fn containers(&self) -> Vec<FakeContainer> {
        self.lock()
            .containers
            .values()
            .map(|r| r.view.clone())
            .collect()
    }

    /// The container named `name`, if any.
    pub fn container(&self, name: &str) -> Option<FakeContainer> {
        self.lock()
            .containers
            .values()
            .find(|r| r.view.name == name)
            .map(|r| r.view.clone())
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many times a connection was made.
    pub fn connects(&self) -> u32 {
        self.lock().connects
    }

    /// Makes `image` unknown to the engine (preflight then blocks the slot).
    pub fn remove_image(&self, image: &str) {
        self.lock().missing_images.insert(image.to_string());
    }

    /// What every `exec` (probe) returns from now on.
    pub fn set_exec_result(&self, exit_code: i64, output: &str) {
        self.lock().exec_result = Some(ExecOutcome {
            exit_code,
            output: output.to_string(),
        });
    }

    /// Adds a container made outside drover (a leftover or a look-alike), running or not.
    pub fn add_container(&self, name: &str, labels: &[(&str, &str)], running: bool) -> String {
        let mut st = self.lock();
        let id = st.new_id();
        let labels: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let now = SystemTime::now();
        let record = Record {
            view: FakeContainer {
                id: id.clone(),
                name: name.to_string(),
                slot: labels.get(LABEL_SLOT).cloned().unwrap_or_default(),
                generation: labels
                    .get(LABEL_GENERATION)
                    .and_then(|g| identity::parse_generation(g))
                    .unwrap_or(0),
                status: if running {
                    EngineStatus::Running
                } else {
                    EngineStatus::Exited
                },
                exit_code: (!running).then_some(0),
                labels,
                starts: u32::from(running),
            },
            started_at: running.then_some(now),
            finished_at: (!running).then_some(now),
            oom_killed: false,
            output: Vec::new(),
        };
        st.containers.insert(id.clone(), record);
        id
    }

    /// The container's process prints `line` (to stderr when `stderr`).
    pub fn print(&self, name: &str, line: &str, stderr: bool) {
        let mut st = self.lock();
        let Some(rec) = st.by_name_mut(name) else {
            return;
        };
        let now = SystemTime::now();
        let stamp = humantime::format_rfc3339_nanos(now);
        let chunk = LogChunk {
            stderr,
            bytes: format!("{stamp} {line}\n").into_bytes(),
        };
        rec.output.push((unix_secs(now), chunk.clone()));
        let id = rec.view.id.clone();
        let _ = self.signals.send(Signal::Log { id, chunk });
    }

    /// The container's process exits with `code` (by itself, as a crash or a finished task).
    pub fn exit(&self, name: &str, code: i64) {
        let mut st = self.lock();
        let Some(id) = st.by_name_mut(name).map(|r| r.view.id.clone()) else {
            return;
        };
        self.end_run(&mut st, &id, code, false);
    }

    /// The kernel kills the container's process for memory (exit 137, `OOMKilled`).
    pub fn oom(&self, name: &str) {
        let mut st = self.lock();
        let Some(id) = st.by_name_mut(name).map(|r| r.view.id.clone()) else {
            return;
        };
        self.emit(&mut st, &id, ContainerAction::Oom);
        self.end_run(&mut st, &id, KILLED_EXIT, true);
    }

    /// The engine becomes unreachable: connects and calls fail, every stream breaks.
    pub fn go_down(&self) {
        self.lock().up = false;
        let _ = self.signals.send(Signal::Down);
    }

    /// The engine is reachable again (containers kept their state, as a daemon restart with
    /// live-restore would leave them).
    pub fn come_up(&self) {
        self.lock().up = true;
    }

    fn emit(&self, st: &mut State, id: &str, action: ContainerAction) {
        let Some(rec) = st.containers.get(id) else {
            return;
        };
        let time_nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let labels = &rec.view.labels;
        let event = ContainerEvent {
            id: id.to_string(),
            slot: rec.view.slot.clone(),
            generation: rec.view.generation,
            action,
            time_nano,
            name: rec.view.name.clone(),
            fleet_id: labels.get(identity::LABEL_FLEET_ID).cloned(),
            generation_label: labels.get(LABEL_GENERATION).cloned(),
        };
        // Only labelled containers reach a fleet's event stream (Docker's label filter).
        if let (Some(fleet), true) = (labels.get(LABEL_FLEET), labels.contains_key(LABEL_SLOT)) {
            let fleet = fleet.clone();
            st.history.push((fleet.clone(), event.clone()));
            let _ = self.signals.send(Signal::Event { fleet, event });
        }
    }

    fn end_run(&self, st: &mut State, id: &str, code: i64, oom: bool) {
        let Some(rec) = st.containers.get_mut(id) else {
            return;
        };
        if !matches!(
            rec.view.status,
            EngineStatus::Running | EngineStatus::Paused
        ) {
            return;
        }
        rec.view.status = EngineStatus::Exited;
        rec.view.exit_code = Some(code);
        rec.finished_at = Some(SystemTime::now());
        rec.oom_killed = oom;
        let _ = self.signals.send(Signal::LogEnd { id: id.to_string() });
        self.emit(
            st,
            id,
            ContainerAction::Die {
                exit_code: Some(code),
            },
        );
    }

    /// Logs the call and fails when the engine is down.
    fn call(&self, op: &'static str, target: &str) -> Result<MutexGuard<'_, State>, RuntimeError> {
        let mut st = self.lock();
        let target = st
            .containers
            .get(target)
            .map(|r| r.view.name.clone())
            .unwrap_or_else(|| target.to_string());
        st.calls.push(Call { op, target });
        if !st.up {
            return Err(unreachable());
        }
        Ok(st)
    }

    fn op(&self, op: &'static str, id: &str) -> Result<(), RuntimeError> {
        let mut st = self.call(op, id)?;
        let Some(rec) = st.containers.get_mut(id) else {
            return match op {
                "remove" => Ok(()),
                _ => Err(RuntimeError::NotFound(format!("no such container: {id}"))),
            };
        };
        let status = rec.view.status;
        match (op, status) {
            ("start", EngineStatus::Running | EngineStatus::Paused) => Ok(()),
            ("start", _) => {
                rec.view.status = EngineStatus::Running;
                rec.view.exit_code = None;
                rec.view.starts += 1;
                rec.started_at = Some(SystemTime::now());
                rec.oom_killed = false;
                self.emit(&mut st, id, ContainerAction::Start);
                Ok(())
            }
            ("stop", EngineStatus::Running | EngineStatus::Paused) => {
                self.end_run(&mut st, id, STOPPED_EXIT, false);
                Ok(())
            }
            ("stop", _) => Ok(()),
            ("kill", EngineStatus::Running | EngineStatus::Paused) => {
                self.end_run(&mut st, id, KILLED_EXIT, false);
                Ok(())
            }
            ("pause", EngineStatus::Running) => {
                rec.view.status = EngineStatus::Paused;
                self.emit(&mut st, id, ContainerAction::Pause);
                Ok(())
            }
            ("unpause", EngineStatus::Paused) => {
                rec.view.status = EngineStatus::Running;
                self.emit(&mut st, id, ContainerAction::Unpause);
                Ok(())
            }
            ("remove", _) => {
                self.end_run(&mut st, id, KILLED_EXIT, false);
                self.emit(&mut st, id, ContainerAction::Destroy);
                st.containers.remove(id);
                Ok(())
            }
            (op, status) => Err(RuntimeError::Api(format!(
                "cannot {op} container {id}: it is {status:?}"
            ))),
        }
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:064x}", self.next_id)
    }

    fn by_name_mut(&mut self, name: &str) -> Option<&mut Record> {
        self.containers.values_mut().find(|r| r.view.name == name)
    }
}

fn unreachable() -> RuntimeError {
    RuntimeError::Unreachable {
        host: "fake://".into(),
        detail: "the engine is down".into(),
    }
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(t: Option<SystemTime>) -> Option<String> {
    t.map(|t| humantime::format_rfc3339_nanos(t).to_string())
}

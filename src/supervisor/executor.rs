//! Executes the core's Docker effects. Each slot gets its own worker so a slot's operations run
//! in the order the core issued them (stop before remove before create), while slots proceed in
//! parallel and a slow Docker call never blocks the supervisor loop. Results go back as inputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use super::fleet_spec::RoleRuntime;
use crate::core::{DockerOp, Effect, Input};
use drover_runtime::{CreateRequest, EnvLookup, Runtime, RuntimeError, preflight};

pub struct Executor {
    workers: HashMap<String, mpsc::UnboundedSender<Effect>>,
    shared: Arc<Shared>,
}

struct Shared {
    docker: watch::Receiver<Option<Runtime>>,
    inputs: mpsc::Sender<Input>,
    /// Replaced as a whole on a config reload; readers clone the role they need.
    roles: std::sync::RwLock<HashMap<String, RoleRuntime>>,
    env: EnvLookup,
    fleet: String,
    /// This store's identity label value for the fleet: only containers carrying it are ours.
    fleet_id: String,
    /// Docker's StartedAt/FinishedAt per container id and the status they were read at, so a
    /// listing inspects only containers that are new or changed.
    run_times: std::sync::Mutex<HashMap<String, RunTimes>>,
    /// Wakes the Docker link to check the connection when a call found Docker unreachable.
    suspect: Arc<Notify>,
}

impl Executor {
    pub fn new(
        docker: watch::Receiver<Option<Runtime>>,
        inputs: mpsc::Sender<Input>,
        roles: HashMap<String, RoleRuntime>,
        env: EnvLookup,
        (fleet, fleet_id): (String, String),
        suspect: Arc<Notify>,
    ) -> Self {
        let shared = Shared {
            docker,
            inputs,
            roles: std::sync::RwLock::new(roles),
            env,
            fleet,
            fleet_id,
            run_times: Default::default(),
            suspect,
        };
        Self {
            workers: HashMap::new(),
            shared: Arc::new(shared),
        }
    }

    /// Queues a Docker effect on its slot's worker (or runs a fleet-wide one at once).
    pub fn submit(&mut self, effect: Effect) {
        let Some(slot) = effect.slot().map(str::to_string) else {
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move { shared.run(effect).await });
            return;
        };
        let tx = self.workers.entry(slot).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Effect>();
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                while let Some(effect) = rx.recv().await {
                    shared.run(effect).await;
                }
            });
            tx
        });
        // The worker lives as long as its sender; a send cannot fail while we hold it.
        let _ = tx.send(effect);
    }

    /// Uses `roles` for every Docker effect from now on (config reload).
    pub fn set_roles(&mut self, roles: HashMap<String, RoleRuntime>) {
        // A poisoned lock only means a reader panicked; the map itself is still whole.
        *self.shared.roles.write().unwrap_or_else(|e| e.into_inner()) = roles;
    }

    /// Drops the worker of a slot that no longer exists.
    pub fn forget(&mut self, slot: &str) {
        self.workers.remove(slot);
    }
}

impl Shared {
    fn role(&self, name: &str) -> Option<RoleRuntime> {
        let roles = self.roles.read().unwrap_or_else(|e| e.into_inner());
        roles.get(name).cloned()
    }

    async fn send(&self, input: Input) {
        let _ = self.inputs.send(input).await;
    }

    async fn run(&self, effect: Effect) {
        let Some(docker) = self.docker.borrow().clone() else {
            // The core issues Docker effects only while Docker is up; if it just went down the
            // link reports it and the core re-plans from the next listing.
            tracing::debug!(?effect, "Docker effect dropped: Docker is down");
            return;
        };
        match effect {
            Effect::ListContainers => match docker.list_fleet(&self.fleet).await {
                Ok(list) => {
                    // Only containers with drover's name and this store's fleet id reach the
                    // core (which adopts or removes what it is given); look-alikes are named
                    // in an alert and never touched.
                    let (owned, foreign): (Vec<_>, Vec<_>) = list
                        .into_iter()
                        .map(|c| (c.foreign_reason(&self.fleet, &self.fleet_id), c))
                        .partition(|(why, _)| why.is_none());
                    let foreign: Vec<(String, String)> = foreign
                        .into_iter()
                        .map(|(why, c)| {
                            let name = if c.name.is_empty() { c.id } else { c.name };
                            (name, why.unwrap_or_default())
                        })
                        .collect();
                    for (name, why) in &foreign {
                        tracing::debug!(name, why, "not adopting a look-alike container");
                    }
                    let mut containers = Vec::with_capacity(owned.len());
                    for (_, c) in owned {
                        let times = self.run_times(&docker, &c).await;
                        containers.extend(super::observed(c, times));
                    }
                    self.forget_run_times(&containers);
                    self.send(Input::ForeignContainers {
                        containers: foreign,
                    })
                    .await;
                    self.send(Input::ContainersListed { containers }).await;
                }
                Err(e) => self.down_or_log(e, "listing containers").await,
            },
            Effect::Create {
                slot,
                role,
                generation,
                spec_hash,
                name,
            } => {
                let Some(rt) = self.role(&role) else {
                    self.send(Input::CreateFailed {
                        slot,
                        generation,
                        error: format!("unknown role {role}"),
                    })
                    .await;
                    return;
                };
                let docker = placed(&docker, &rt, &role, &slot);
                let req = CreateRequest {
                    name: &name,
                    spec: &rt.container,
                    slot: &slot,
                    generation,
                    spec_hash: &spec_hash,
                    fleet_id: &self.fleet_id,
                    env: &*self.env,
                };
                match docker.create(req).await {
                    Ok(id) => {
                        self.send(Input::ContainerCreated {
                            slot,
                            generation,
                            id,
                        })
                        .await
                    }
                    Err(e) if e.is_unreachable() => {
                        self.down_or_log(e, "creating a container").await
                    }
                    Err(e) => {
                        self.send(Input::CreateFailed {
                            slot,
                            generation,
                            error: e.to_string(),
                        })
                        .await
                    }
                }
            }
            Effect::Start { slot, id } => {
                // Success arrives as the `start` event; only failures are reported here.
                match docker.start(&id).await {
                    Ok(()) => self.note_started(&id),
                    Err(e) if e.is_unreachable() => {
                        self.down_or_log(e, "starting a container").await;
                    }
                    Err(e) => {
                        self.send(Input::StartFailed {
                            slot,
                            id,
                            error: e.to_string(),
                        })
                        .await;
                    }
                }
            }
            Effect::Stop { slot, id, grace } => {
                // A paused container cannot take SIGTERM; unpausing first is harmless otherwise.
                let _ = docker.unpause(&id).await;
                let r = docker.stop(&id, Duration::from_millis(grace)).await;
                self.op_result(slot, id, DockerOp::Stop, r).await;
            }
            Effect::Kill { slot, id } => {
                let r = docker.kill(&id).await;
                self.op_result(slot, id, DockerOp::Kill, r).await;
            }
            Effect::Pause { slot, id } => {
                let r = docker.pause(&id).await;
                self.op_result(slot, id, DockerOp::Pause, r).await;
            }
            Effect::Unpause { slot, id } => {
                let r = docker.unpause(&id).await;
                self.op_result(slot, id, DockerOp::Unpause, r).await;
            }
            Effect::Remove { slot, id } => match docker.remove(&id).await {
                Ok(()) => self.send(Input::ContainerRemoved { slot, id }).await,
                Err(e) => self.op_result(slot, id, DockerOp::Remove, Err(e)).await,
            },
            Effect::RunProbe { slot, role, id } => {
                let Some(rt) = self.role(&role) else {
                    return;
                };
                let timeout = Duration::from_millis(rt.probe_timeout_ms);
                let (ok, detail) = match (&rt.container.probe_exec, &rt.probe_http) {
                    (Some(cmd), _) => match docker.exec(&id, cmd, timeout).await {
                        Ok(out) if out.exit_code == 0 => (true, "ok".to_string()),
                        Ok(out) => (
                            false,
                            format!("exit {}: {}", out.exit_code, last_line(&out.output)),
                        ),
                        Err(e) => (false, e.to_string()),
                    },
                    (None, Some(url)) => super::http_probe::check(url, timeout).await,
                    // Validation requires one of the two; a role without a probe is never asked.
                    (None, None) => (true, "no probe configured".to_string()),
                };
                self.send(Input::ProbeResult {
                    slot,
                    id,
                    ok,
                    detail,
                })
                .await;
            }
            Effect::RunPreflight { slot, role } => {
                let Some(rt) = self.role(&role) else {
                    return;
                };
                let timeout = Duration::from_millis(rt.preflight_timeout_ms);
                let docker = placed(&docker, &rt, &role, &slot);
                match preflight::run(&*docker, &rt.container, &slot, timeout, &*self.env).await {
                    Ok(result) => self.send(Input::PreflightResult { slot, result }).await,
                    Err(e) => self.down_or_log(e, "running preflight").await,
                }
            }
            other => tracing::error!(?other, "not a Docker effect"),
        }
    }

    async fn op_result(&self, slot: String, id: String, op: DockerOp, r: Result<(), RuntimeError>) {
        match r {
            Ok(()) => {}
            Err(e) if e.is_unreachable() => self.down_or_log(e, "a container operation").await,
            // Already gone: the destroy event (or the next listing) tells the core.
            Err(RuntimeError::NotFound(_)) if op == DockerOp::Remove => {
                self.send(Input::ContainerRemoved { slot, id }).await;
            }
            Err(e) => {
                self.send(Input::OpFailed {
                    slot,
                    id,
                    op,
                    error: e.to_string(),
                })
                .await
            }
        }
    }

    async fn down_or_log(&self, e: RuntimeError, what: &str) {
        if e.is_unreachable() {
            // The link owns the Up/Down state; it checks and reports (and reconnects).
            tracing::warn!(error = %e, "Docker unreachable while {what}");
            self.suspect.notify_one();
        } else {
            tracing::warn!(error = %e, "Docker refused {what}");
        }
    }
}

/// (status seen, StartedAt, FinishedAt) in epoch milliseconds.
type RunTimes = (
    drover_runtime::EngineStatus,
    Option<crate::core::Millis>,
    Option<crate::core::Millis>,
);

impl Shared {
    /// Docker's start and finish times of `c`'s latest run: from the cache while its status is
    /// unchanged, else from an inspect (uptimes of runs adopted after a drover restart then
    /// come from Docker, not from when drover first saw them).
    async fn run_times(
        &self,
        docker: &Runtime,
        c: &drover_runtime::ListedContainer,
    ) -> (Option<crate::core::Millis>, Option<crate::core::Millis>) {
        // A created container never ran: nothing to ask Docker.
        if c.status == drover_runtime::EngineStatus::Created {
            return (None, None);
        }
        {
            let cache = self.run_times.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((status, start, end)) = cache.get(&c.id)
                && *status == c.status
            {
                return (*start, *end);
            }
        }
        let Ok(d) = docker.inspect(&c.id).await else {
            return (None, None);
        };
        // Docker reports "0001-01-01T00:00:00Z" for never: before the epoch, so `None`.
        let ms = |t: Option<&String>| t.and_then(|t| crate::logs::follow::ts_millis(t));
        let (start, end) = (ms(d.started_at.as_ref()), ms(d.finished_at.as_ref()));
        self.run_times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.id.clone(), (c.status, start, end));
        (start, end)
    }

    /// Remembers when this drover started `id` itself, so the next listing needs no inspect
    /// for it: without this, every container drover starts costs one inspect at the next
    /// listing (50 requests in an idle minute of a fresh 50-agent fleet instead of 2). Docker's
    /// own `StartedAt` is a few milliseconds earlier; uptimes do not care.
    fn note_started(&self, id: &str) {
        let now = super::now_ms();
        self.run_times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.to_string(),
                (drover_runtime::EngineStatus::Running, Some(now), None),
            );
    }

    /// Drops cached times of containers no longer listed.
    fn forget_run_times(&self, listed: &[crate::core::ObservedContainer]) {
        let mut cache = self.run_times.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|id, _| listed.iter().any(|c| &c.id == id));
    }
}

/// The engine slot `slot` of role `role` is placed on: its host's in a fleet over several
/// hosts (replicas go round the role's hosts, see `core::place`), else the only one.
fn placed(docker: &Runtime, rt: &RoleRuntime, role: &str, slot: &str) -> Runtime {
    let n = slot
        .strip_prefix(role)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    crate::core::place(&rt.hosts, n)
        .and_then(|h| docker.on_host(h))
        .unwrap_or_else(|| std::sync::Arc::clone(docker))
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

//! The one driver loop: it owns the core, feeds it every observed fact and operator command,
//! executes the effects it returns through the adapters, persists through the store and
//! publishes snapshots. It makes no decisions of its own.
//!
//! Invariants: the core is touched only by this task; Docker and git I/O run in other tasks and
//! come back as inputs; an operator command is answered only after the effects it produced are
//! committed to the store.

mod alert_hook;
mod executor;
pub mod fleet_spec;
mod followers;
mod http_probe;
mod junit;
mod link;
mod main_check;
mod output;
pub mod persist;
mod publish;
pub mod tz;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use drover_runtime::EnvLookup;
use executor::Executor;
use fleet_spec::FleetPlan;
use followers::Followers;
pub use followers::container_log;
use link::RuntimeLink;
pub use upstream::ProgressView;

use crate::config::Config;
use crate::core::{
    CommandReply, CommandRequest, Effect, Fleet, Input, Millis, ReleaseReport, Snapshot,
};
use crate::logs::follow::FollowLimits;
use crate::logs::ring::LogHub;
use crate::store::{BatchPolicy, Store, StoreError, StoreOp, StoreWriter};
use drover_runtime::docker::{DockerConnector, Endpoint, EndpointConnector, TlsFiles};
use drover_runtime::hosts::{HostEndpoint, HostsConnector};
use drover_runtime::{Connector, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    // Transparent: the upstream error already names the repo; a prefix plus the source chain
    // printed the same message twice.
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error("internal task failed: {0}")]
    Task(String),
    #[error("{0}")]
    FleetTaken(String),
}

/// A command for the loop, with where to send the reply: the faces' type, which every face
/// (the TUI, the control socket) sends.
pub use drover_tui::ui::feed::CommandEnvelope;

/// A validated new config for the running loop (SIGHUP), with where to say how it went.
#[derive(Debug)]
pub struct ReloadRequest {
    pub config: Config,
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Told of every event and run record the driver persists, in order (the OpenTelemetry
/// export). Called on the driver loop, so it must only queue and never wait.
pub trait FleetObserver: Send + Sync {
    fn event(&self, event: &crate::core::FleetEvent);
    fn run(&self, run: &crate::core::RunRecord);
}

/// Knobs that tests and benchmarks turn; the defaults are what `drover run` uses.
#[derive(Clone)]
pub struct SupervisorOptions {
    pub env: EnvLookup,
    /// Seeds the core's backoff jitter.
    pub seed: u64,
    /// A full listing this often, in case an event was missed.
    pub safety_reconcile: Duration,
    /// On shutdown, stop every agent container (default: leave them running for adoption).
    pub stop_agents: bool,
    /// The container engine to supervise through; `None` = Docker at the config's
    /// `docker_host` (tests pass an in-memory [`drover_runtime::fake::FakeRuntime`]).
    pub connector: Option<Arc<dyn Connector>>,
    /// Also hands events and runs to this (`None`: only the store and the log get them).
    pub observer: Option<Arc<dyn FleetObserver>>,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        Self {
            env: Arc::new(|k: &str| std::env::var(k).ok()),
            seed: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7),
            safety_reconcile: Duration::from_secs(30),
            stop_agents: false,
            connector: None,
            observer: None,
        }
    }
}

/// What faces (TUI, control socket) hold on to.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub progress: watch::Receiver<Arc<ProgressView>>,
    pub commands: mpsc::Sender<CommandEnvelope>,
    /// Applies a new config (roles, replicas, policies) without restarting.
    pub reload: mpsc::Sender<ReloadRequest>,
    pub hub: LogHub,
    pub store: Store,
    /// The store's writer; `flush()` waits until everything queued so far is committed.
    pub writer: StoreWriter,
    pub config: Arc<Config>,
    pub shutdown: CancellationToken,
}

impl SupervisorHandle {
    /// Sends a command and waits for the loop's answer.
    pub async fn command(&self, request: CommandRequest) -> Option<CommandReply> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(CommandEnvelope { request, reply })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Applies `config` to the running fleet; `Err` says why it was not (the old one stays).
    pub async fn reload(&self, config: Config) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.reload
            .send(ReloadRequest { config, reply })
            .await
            .map_err(|_| "the supervisor is not running".to_string())?;
        rx.await
            .map_err(|_| "the supervisor stopped during the reload".to_string())?
    }
}

/// Milliseconds since the epoch: the only clock read; the core gets time as an input.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Starts supervising `cfg`'s fleet. The returned task ends after `handle.shutdown` fires.
pub async fn start(
    cfg: Config,
    opts: SupervisorOptions,
) -> Result<(SupervisorHandle, JoinHandle<()>), SupervisorError> {
    // Before anything can write agent output or reasons: every writer masks with this set.
    crate::secrets::install(cfg.masker());
    let store = Store::open_in(&cfg.data_dir).await?;
    let fleet_id = store.fleet_id(&cfg.file.fleet.name).await?;
    let connector = opts
        .connector
        .clone()
        .unwrap_or_else(|| engine_connector(&cfg));
    claim_fleet_name(&cfg, &fleet_id, &*connector).await?;
    let resume = persist::load_resume(&store).await?;
    let logs = &cfg.file.logs;
    let hub = LogHub::new(logs.ring_lines as usize, logs.ring_bytes.0 as usize);
    followers::restore_last_lines(&hub, &cfg.data_dir, &resume.slots, logs.max_line.0 as usize);
    let plan = FleetPlan::from_config(&cfg);
    let fleet = Fleet::restore(plan.core.clone(), opts.seed, resume);
    let writer = store.spawn_writer(BatchPolicy::default());
    let limits = FollowLimits {
        max_line: logs.max_line.0 as usize,
        file_max: logs.file_max.0,
        keep_files: logs.keep_files,
        slot_max: logs.slot_max.0,
    };
    let (inputs_tx, inputs_rx) = mpsc::channel::<Input>(4096);
    let (commands_tx, commands_rx) = mpsc::channel::<CommandEnvelope>(64);
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let (docker_tx, docker_rx) = watch::channel::<Option<Runtime>>(None);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(fleet.snapshot(now_ms())));
    let (progress_tx, progress_rx) = watch::channel(Arc::new(ProgressView::default()));
    let shutdown = CancellationToken::new();
    let followers = Followers::default();
    let suspect = Arc::new(Notify::new());

    let link = RuntimeLink {
        connector,
        fleet: cfg.file.fleet.name.clone(),
        fleet_id: fleet_id.clone(),
        inputs: inputs_tx.clone(),
        docker: docker_tx,
        followers: followers.clone(),
        hub: hub.clone(),
        suspect: Arc::clone(&suspect),
    };
    tokio::spawn(link.run(shutdown.child_token()));

    let upstream = upstream::link(&cfg);
    if let Some(link) = &upstream {
        upstream::spawn(
            link,
            inputs_tx.clone(),
            progress_tx,
            snapshot_rx.clone(),
            cfg.file.fleet.hostname.clone(),
            Some(store.clone()),
            shutdown.child_token(),
        )
        .await?;
    }

    let executor = Executor::new(
        docker_rx.clone(),
        inputs_tx.clone(),
        plan.roles.clone(),
        Arc::clone(&opts.env),
        (cfg.file.fleet.name.clone(), fleet_id.clone()),
        suspect,
    );
    let cfg = Arc::new(cfg);
    let check = cfg.file.upstream.as_ref().and_then(|u| u.check.clone());
    if let (Some(check), Some(link)) = (check, &upstream) {
        let checker = main_check::MainChecker {
            config: Arc::clone(&cfg),
            check,
            link: link.clone(),
            docker: docker_rx.clone(),
            fleet_id,
            env: Arc::clone(&opts.env),
            inputs: inputs_tx.clone(),
            writer: writer.clone(),
            store: store.clone(),
        };
        tokio::spawn(checker.run(shutdown.child_token()));
    }
    let writer_handle = writer.clone();
    let driver = Driver {
        fleet,
        executor,
        writer,
        inputs_rx,
        inputs_tx,
        commands_rx,
        reload_rx,
        snapshot_tx,
        published: publish::Published::default(),
        docker: docker_rx,
        followers,
        junit: junit::JunitPollers::default(),
        started_ms: now_ms(),
        hub: hub.clone(),
        limits,
        hook: alert_hook::AlertHook::from_config(&cfg.file.notify, &cfg.file.fleet.name),
        config: Arc::clone(&cfg),
        upstream,
        opts,
    };
    let task = tokio::spawn(driver.run(shutdown.clone()));
    let handle = SupervisorHandle {
        snapshot: snapshot_rx,
        progress: progress_rx,
        commands: commands_tx,
        reload: reload_tx,
        hub,
        store,
        writer: writer_handle,
        config: cfg,
        shutdown,
    };
    Ok((handle, task))
}

/// The engines `cfg` names: each `[[hosts]]` through its own transport and timeout, else the
/// one Docker Engine at `[fleet] docker_host`.
pub fn engine_connector(cfg: &Config) -> Arc<dyn Connector> {
    if cfg.file.hosts.is_empty() {
        return Arc::new(DockerConnector {
            host: cfg.file.fleet.docker_host.clone(),
        });
    }
    let endpoints = cfg
        .file
        .hosts
        .iter()
        .map(|h| {
            let tls = match (&h.tls_ca, &h.tls_cert, &h.tls_key) {
                (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
                    ca: cfg.resolve(ca),
                    cert: cfg.resolve(cert),
                    key: cfg.resolve(key),
                }),
                _ => None,
            };
            let endpoint = Endpoint {
                host: Some(h.docker_host.clone()),
                tls,
                timeout: Some(h.request_timeout.0),
            };
            HostEndpoint {
                name: h.name.clone(),
                connector: Arc::new(EndpointConnector(endpoint)),
                timeout: h.request_timeout.0,
            }
        })
        .collect();
    Arc::new(HostsConnector::new(endpoints))
}

/// Refuses to supervise a fleet name whose containers another drover (another store: another
/// user, or a removed data dir) created on this Docker host: two drovers of one name would
/// fight over `drover-<fleet>-<slot>`. Docker unreachable now: nothing to check yet (listings
/// then treat such containers as foreign and leave them alone).
async fn claim_fleet_name(
    cfg: &Config,
    fleet_id: &str,
    connector: &dyn Connector,
) -> Result<(), SupervisorError> {
    let fleet = &cfg.file.fleet.name;
    let Ok(Ok(docker)) = tokio::time::timeout(Duration::from_secs(10), connector.connect()).await
    else {
        return Ok(());
    };
    let Ok(Ok(list)) =
        tokio::time::timeout(Duration::from_secs(10), docker.list_fleet(fleet)).await
    else {
        return Ok(());
    };
    let taken: Vec<String> = list
        .iter()
        .filter(|c| c.name == crate::core::container_name(fleet, &c.slot))
        .filter(|c| c.fleet_id.as_deref().is_some_and(|id| id != fleet_id))
        .map(|c| c.name.clone())
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(SupervisorError::FleetTaken(format!(
        "fleet name {fleet} is already used on this Docker host by another drover (another user, or a data dir other than {}): its containers {} carry another fleet id. Choose another [fleet] name, or remove those containers if they are leftovers (docker rm -f {})",
        cfg.data_dir.display(),
        taken.join(", "),
        taken.join(" ")
    )))
}

struct Driver {
    fleet: Fleet,
    executor: Executor,
    writer: StoreWriter,
    inputs_rx: mpsc::Receiver<Input>,
    inputs_tx: mpsc::Sender<Input>,
    commands_rx: mpsc::Receiver<CommandEnvelope>,
    reload_rx: mpsc::Receiver<ReloadRequest>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    published: publish::Published,
    docker: watch::Receiver<Option<Runtime>>,
    followers: Followers,
    junit: junit::JunitPollers,
    /// When this supervisor started: containers started before were adopted.
    started_ms: Millis,
    hub: LogHub,
    limits: FollowLimits,
    config: Arc<Config>,
    upstream: Option<upstream::UpstreamLink>,
    hook: Option<alert_hook::AlertHook>,
    opts: SupervisorOptions,
}

impl Driver {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut safety = tokio::time::interval(self.opts.safety_reconcile);
        safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        safety.tick().await;
        loop {
            let wake = self.fleet.next_wakeup().map(|at| {
                let delay = at.saturating_sub(now_ms());
                tokio::time::Instant::now() + Duration::from_millis(delay)
            });
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(input) = self.inputs_rx.recv() => {
                    let effects = self.fleet.handle(now_ms(), input);
                    self.run_effects(effects).await;
                }
                Some(cmd) = self.commands_rx.recv() => {
                    let outcome = self.fleet.command(now_ms(), cmd.request);
                    self.run_effects(outcome.effects).await;
                    // Persisted before acknowledged: a store failure is the reply (the flush
                    // answers at once; the writer keeps the records and retries them).
                    let reply = match self.writer.flush().await {
                        Ok(()) => outcome.reply,
                        Err(e) => {
                            tracing::error!(error = %e, "an operator command's records could not be committed");
                            crate::core::CommandReply::NotStored { error: e.to_string() }
                        }
                    };
                    let _ = cmd.reply.send(reply);
                }
                Some(req) = self.reload_rx.recv() => {
                    let result = self.reload(req.config).await;
                    let _ = req.reply.send(result);
                }
                _ = sleep_until(wake) => {
                    let effects = self.fleet.handle(now_ms(), Input::Tick);
                    self.run_effects(effects).await;
                }
                _ = safety.tick() => {
                    if self.docker.borrow().is_some() {
                        self.executor.submit(Effect::ListContainers);
                    }
                }
                _ = sleep_until(self.published.due()) => {}
            }
            self.publish();
        }
        self.finish().await;
    }

    /// Hands a new plan to the core and the executor. The fleet name and data folder name
    /// containers, labels and files, so they cannot change in a running daemon.
    async fn reload(&mut self, cfg: Config) -> Result<(), String> {
        let old = &self.config;
        if cfg.file.fleet.name != old.file.fleet.name {
            return Err(format!(
                "the fleet name cannot change while running ({} → {}); restart drover",
                old.file.fleet.name, cfg.file.fleet.name
            ));
        }
        if cfg.data_dir != old.data_dir {
            return Err(format!(
                "data_dir cannot change while running ({} → {}); restart drover",
                old.data_dir.display(),
                cfg.data_dir.display()
            ));
        }
        // Containers started with the old values run on until replaced: mask both sets.
        crate::secrets::install(crate::secrets::Masker::new(
            old.secret_values().into_iter().chain(cfg.secret_values()),
        ));
        let plan = FleetPlan::from_config(&cfg);
        self.executor.set_roles(plan.roles);
        let effects = self
            .fleet
            .handle(now_ms(), Input::SpecChanged { spec: plan.core });
        self.run_effects(effects).await;
        if cfg.file.notify != self.config.file.notify {
            self.hook = alert_hook::AlertHook::from_config(&cfg.file.notify, &cfg.file.fleet.name);
        }
        self.config = Arc::new(cfg);
        Ok(())
    }

    async fn run_effects(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            if effect.is_docker() {
                self.executor.submit(effect);
                continue;
            }
            let op = match effect {
                Effect::PersistEvent(e) => {
                    log_event(&e);
                    if let Some(o) = &self.opts.observer {
                        o.event(&e);
                    }
                    Ok(persist::event_op(&e))
                }
                Effect::PersistSlot(r) => persist::slot_op(&r),
                Effect::PersistRun(r) => {
                    if let Some(o) = &self.opts.observer {
                        o.run(&r);
                    }
                    persist::run_op(&r)
                }
                Effect::PersistSpend { day, micros } => Ok(persist::spend_op(day, micros)),
                Effect::PersistScale(o) => Ok(persist::scale_op(&o)),
                Effect::ForgetSlot { slot } => {
                    self.executor.forget(&slot);
                    Ok(StoreOp::ForgetSlot { slot })
                }
                Effect::RaiseAlert(a) => {
                    tracing::warn!(target: "drover::alerts", slot = a.key.slot.as_deref().unwrap_or("-"), kind = a.key.kind.name(), "{}", a.message);
                    if let Some(hook) = self.hook.as_mut() {
                        hook.observe(&a);
                    }
                    persist::alert_op(&a)
                }
                Effect::UpdateAlert(a) | Effect::ClearAlert(a) => {
                    if let Some(hook) = self.hook.as_mut() {
                        hook.observe(&a);
                    }
                    persist::alert_op(&a)
                }
                Effect::OpenIncident(i) | Effect::CloseIncident(i) => persist::incident_op(&i),
                Effect::ReleaseLock {
                    task,
                    who,
                    why,
                    claim,
                } => {
                    match &self.upstream {
                        Some(up) => up.release(task, claim, who, why, self.inputs_tx.clone()),
                        None => {
                            // Locks come from an upstream repo, so this cannot normally happen;
                            // answer anyway so the operator can see it and the lock is not
                            // left marked as releasing.
                            let _ = self.inputs_tx.try_send(Input::ReleaseFinished {
                                task,
                                claim,
                                outcome: ReleaseReport::Failed {
                                    error: "no upstream repo is configured".into(),
                                },
                            });
                        }
                    }
                    continue;
                }
                other => {
                    tracing::error!(?other, "unexpected effect");
                    continue;
                }
            };
            match op {
                Ok(op) => {
                    if self.writer.submit(op).await.is_err() {
                        tracing::error!(
                            "the store writer stopped; records are no longer persisted"
                        );
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not encode a record for the store"),
            }
        }
    }

    async fn finish(self) {
        let docker = self.docker.borrow().clone();
        if self.opts.stop_agents {
            if let Some(docker) = docker {
                let snapshot = self.fleet.snapshot(now_ms());
                let stops = snapshot
                    .slots
                    .iter()
                    .filter_map(|v| v.container_id.clone())
                    .map(|id| {
                        let docker = docker.clone();
                        async move {
                            let _ = docker.unpause(&id).await;
                            if let Err(e) = docker.stop(&id, Duration::from_secs(10)).await {
                                tracing::warn!(id, error = %e, "could not stop agent container");
                            }
                        }
                    });
                futures::future::join_all(stops).await;
                tracing::info!("stopped all agent containers");
            }
        } else {
            tracing::info!("leaving agent containers running; the next drover adopts them");
        }
        if let Err(e) = self.writer.flush().await {
            tracing::error!(error = %e, "final store flush failed");
        }
        self.followers.cancel_all();
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One human line per transition: the headless log (and the rolling file).
fn log_event(e: &crate::core::FleetEvent) {
    let slot = e.slot.as_deref().unwrap_or("-");
    let kind = e.kind.as_str();
    match e.who.as_deref() {
        Some(who) => tracing::info!(target: "drover::events", slot, kind, who, "{}", e.message),
        None => tracing::info!(target: "drover::events", slot, kind, "{}", e.message),
    }
}

/// A listed container in the core's terms (`removing` ones are left out, as the core expects),
/// with Docker's start and finish times of its latest run when known (`times`).
fn observed(
    c: drover_runtime::ListedContainer,
    times: (Option<Millis>, Option<Millis>),
) -> Option<crate::core::ObservedContainer> {
    use crate::core::ContainerStatus as C;
    use drover_runtime::EngineStatus as D;
    let status = match c.status {
        D::Created => C::Created,
        D::Running | D::Restarting => C::Running,
        D::Paused => C::Paused,
        D::Exited | D::Dead => C::Exited {
            code: c.exit_code.unwrap_or(-1),
        },
        D::Removing => return None,
    };
    Some(crate::core::ObservedContainer {
        id: c.id,
        slot: c.slot,
        generation: c.generation,
        spec_hash: c.spec_hash,
        started_at: times.0,
        finished_at: if matches!(status, C::Exited { .. }) {
            times.1
        } else {
            None
        },
        status,
    })
}

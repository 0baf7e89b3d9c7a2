//! The runtime port: everything the supervisor asks of a container engine, in drover's own
//! terms. [`crate::docker::Docker`] is the production implementation; `fake::FakeRuntime` is an
//! in-memory one that lets the supervisor's behaviour (adoption, ordering, reconnects, deaths)
//! be tested without a daemon.
//!
//! Invariants every implementation keeps: containers are listed and reported only for the fleet
//! asked about, with the identity labels of [`identity`]; creating a name that exists fails with
//! [`RuntimeError::NameConflict`] naming the existing container, never makes a second one;
//! `start`/`stop` of a container already in that state and `remove` of a missing one succeed
//! (they are idempotent, as Docker's are); event and log streams are plain streams whose end or
//! error the caller handles (reconnecting is the caller's policy).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::identity;
use crate::spec::ContainerSpec;

/// Reads an environment variable of drover's own process (injected so tests control it).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A connected container engine, shared by every task that talks to it.
pub type Runtime = Arc<dyn ContainerRuntime>;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot reach Docker at {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("container name {name} is taken by {existing_id}")]
    NameConflict { name: String, existing_id: String },
    #[error("no such container or image: {0}")]
    NotFound(String),
    #[error("Docker refused: {0}")]
    Api(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl RuntimeError {
    /// True when the engine itself is gone (as opposed to refusing one request).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RuntimeError::Unreachable { .. })
    }
}

/// Lifecycle status of a container as the engine reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Removing,
    Dead,
}

/// A container wearing a fleet's label, from a listing (whether it is really the fleet's is
/// [`ListedContainer::foreign_reason`]'s question).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedContainer {
    pub id: String,
    pub name: String,
    pub slot: String,
    pub role: String,
    /// 0 when the label is missing or not a generation drover could have written.
    pub generation: u64,
    pub spec_hash: String,
    pub status: EngineStatus,
    /// For exited containers, the code of the last run.
    pub exit_code: Option<i64>,
    /// The fleet identity label, as found.
    pub fleet_id: Option<String>,
    /// The generation label, as found.
    pub generation_label: Option<String>,
}

impl ListedContainer {
    /// Why this container is not the drover holding `fleet_id`'s (see
    /// [`identity::foreign_reason`]).
    pub fn foreign_reason(&self, fleet: &str, fleet_id: &str) -> Option<String> {
        identity::foreign_reason(
            fleet,
            fleet_id,
            &self.name,
            &self.slot,
            self.fleet_id.as_deref(),
            self.generation_label.as_deref(),
        )
    }
}

/// What `inspect` tells about a container's last run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerDetails {
    pub id: String,
    pub status: EngineStatus,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// RFC 3339 times as the engine reports them ("0001-01-01T00:00:00Z" for never).
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub labels: HashMap<String, String>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub readonly_rootfs: bool,
    pub mounts: Vec<(String, String)>,
}

/// Output and exit code of a command run to completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_code: i64,
    /// stdout and stderr interleaved, capped at 64 KiB.
    pub output: String,
}

/// A chunk of container output: one log message, prefixed by its RFC 3339 timestamp and a
/// space (the form Docker's `timestamps=true` gives and the log follower parses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    pub stderr: bool,
    pub bytes: Vec<u8>,
}

/// What happened to a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerAction {
    Create,
    Start,
    Die { exit_code: Option<i64> },
    Oom,
    Pause,
    Unpause,
    Destroy,
}

/// One lifecycle event of a fleet's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    pub slot: String,
    /// 0 when the label is missing or not a generation drover could have written.
    pub generation: u64,
    pub action: ContainerAction,
    /// Unix time in nanoseconds, for resuming with `since`.
    pub time_nano: i64,
    /// The container's name and identity labels, to tell drover's own from look-alikes.
    pub name: String,
    pub fleet_id: Option<String>,
    pub generation_label: Option<String>,
}

impl ContainerEvent {
    /// Why the container is not the drover holding `fleet_id`'s (see
    /// [`identity::foreign_reason`]).
    pub fn foreign_reason(&self, fleet: &str, fleet_id: &str) -> Option<String> {
        identity::foreign_reason(
            fleet,
            fleet_id,
            &self.name,
            &self.slot,
            self.fleet_id.as_deref(),
            self.generation_label.as_deref(),
        )
    }
}

/// One regular file read out of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    /// Path inside the archive (starts with the folder's own name).
    pub path: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// `None` when the file is larger than the reader keeps.
    pub content: Option<Vec<u8>>,
}

/// Everything needed to create one slot's container.
pub struct CreateRequest<'a> {
    /// `drover-<fleet>-<slot>`.
    pub name: &'a str,
    pub spec: &'a ContainerSpec,
    pub slot: &'a str,
    pub generation: u64,
    pub spec_hash: &'a str,
    /// Written as [`identity::LABEL_FLEET_ID`]: only this fleet's drover adopts the container.
    pub fleet_id: &'a str,
    /// Resolves `pass_env` names from drover's own environment.
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// The shared branch's check: a throwaway container of `spec` (image, command, limits,
/// mounts) under `name`, labelled as drover's check ([`identity::check_labels`]).
pub struct CheckRequest<'a> {
    pub name: &'a str,
    pub spec: &'a ContainerSpec,
    pub fleet_id: &'a str,
    pub timeout: Duration,
    /// Resolves `pass_env` names from drover's own environment.
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// Output a check keeps: the end of it, where test runners print their summaries.
pub const CHECK_OUTPUT_TAIL: usize = 256 * 1024;

/// One engine of a runtime over several hosts, as last checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostState {
    pub name: String,
    /// `None` while reachable; else why not.
    pub down: Option<String>,
}

/// The operations the supervisor needs from a container engine.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// The engine of host `name`, for a runtime over several (a slot's container is created
    /// and checked where it is placed); `None` for a runtime of one engine.
    fn on_host(&self, _name: &str) -> Option<Runtime> {
        None
    }
    /// Each host's reachability, for a runtime over several engines (each connects, fails and
    /// reconnects on its own); `None` for a runtime of one engine.
    fn host_states(&self) -> Option<tokio::sync::watch::Receiver<Vec<HostState>>> {
        None
    }
    /// Where the engine is (for messages).
    fn host(&self) -> &str;
    fn ping(&self) -> BoxFuture<'_, Result<(), RuntimeError>>;
    /// Every container (running or not) wearing `fleet`'s label.
    fn list_fleet<'a>(
        &'a self,
        fleet: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ListedContainer>, RuntimeError>>;
    /// Creates (does not start) a container; returns its id.
    fn create<'a>(&'a self, req: CreateRequest<'a>) -> BoxFuture<'a, Result<String, RuntimeError>>;
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// SIGTERM, then SIGKILL after `grace`.
    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<(), RuntimeError>>;
    fn kill<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    fn pause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    fn unpause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Force-removes the container; a missing container is success.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerDetails, RuntimeError>>;
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>>;
    /// Runs `cmd` inside running container `id` and waits for it, at most `timeout`.
    fn exec<'a>(
        &'a self,
        id: &'a str,
        cmd: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>>;
    /// Runs a role's preflight `command` in a throwaway container of the role's image (no
    /// fleet labels, so listings never see it) and removes it.
    fn run_preflight<'a>(
        &'a self,
        req: CreateRequest<'a>,
        command: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>>;
    /// Runs the shared branch's check to completion (at most `req.timeout`, then
    /// [`RuntimeError::Timeout`]) and removes its container; the output keeps its last
    /// [`CHECK_OUTPUT_TAIL`] bytes. Its labels are not a fleet's, so listings and events never
    /// see it. A missing image is [`RuntimeError::NotFound`].
    fn run_check<'a>(
        &'a self,
        req: CheckRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>>;
    /// Events of `fleet`'s containers from `since` (Unix seconds) on; `None` = from now.
    fn events(
        &self,
        fleet: &str,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>>;
    /// Output of container `id`: with `follow`, live until the container stops. `since`
    /// (Unix seconds) skips older output when re-attaching.
    fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> BoxStream<'static, Result<LogChunk, RuntimeError>>;
    /// Regular files under `path` in container `id` whose names end with `suffix`; a missing
    /// folder is `Ok(empty)`.
    fn read_folder<'a>(
        &'a self,
        id: &'a str,
        path: &'a str,
        suffix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ArchivedFile>, RuntimeError>>;
}

/// Makes (and remakes, after the engine went away) a connection to the engine.
pub trait Connector: Send + Sync + 'static {
    fn connect(&self) -> BoxFuture<'_, Result<Runtime, RuntimeError>>;
}

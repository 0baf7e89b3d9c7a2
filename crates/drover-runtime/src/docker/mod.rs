//! Docker adapter (bollard): the only place that speaks the Engine API. Every bollard type is
//! converted here into plain drover types, so the supervisor and core never see bollard.
//!
//! Invariants: every container drover creates carries the fleet labels and the deterministic
//! name from [`spec`]; a name conflict (409) is reported as [`RuntimeError::NameConflict`] with the
//! existing container so the caller adopts or removes it — never creates a second one. Streams
//! (events, logs) are plain `Stream`s; reconnection is the caller's policy.

pub mod archive;
pub mod events;
pub mod images;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, ContainerSummaryStateEnum, ExecConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder, WaitContainerOptions,
};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};

use crate::identity::{
    self, LABEL_FLEET_ID, LABEL_GENERATION, LABEL_ROLE, LABEL_SLOT, LABEL_SPEC_HASH,
};
use crate::port::{Connector, Runtime};
pub use crate::port::{
    ContainerDetails, EngineStatus, ExecOutcome, ListedContainer, LogChunk, RuntimeError,
};

mod port;

/// The exit code in a listing's status text, e.g. `Exited (137) 2 seconds ago`.
fn exit_code_of(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

/// A connected Docker Engine client.
#[derive(Clone, Debug)]
pub struct Docker {
    api: bollard::Docker,
    host: String,
}

const OUTPUT_CAP: usize = 64 * 1024;

impl Docker {
    /// Connects to `host` (`unix://…`, `tcp://…`, `ssh://…`), or `$DOCKER_HOST`, or the local
    /// socket, and negotiates the API version (older engines reject bollard's default).
    pub async fn connect(host: Option<&str>) -> Result<Self, RuntimeError> {
        Self::connect_to(&Endpoint {
            host: host.map(str::to_string),
            ..Endpoint::default()
        })
        .await
    }

    /// Connects to `endpoint`: TLS client certificates for `tcp://`, the system ssh client for
    /// `ssh://user@host`, the socket for `unix://`.
    pub async fn connect_to(endpoint: &Endpoint) -> Result<Self, RuntimeError> {
        let host = endpoint
            .host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        let unreachable = |e: BollardError| RuntimeError::Unreachable {
            host: host.clone(),
            detail: e.to_string(),
        };
        let timeout = endpoint.timeout.unwrap_or(Duration::from_secs(60));
        let secs = timeout.as_secs().max(1);
        let api = match &endpoint.tls {
            Some(tls) => bollard::Docker::connect_with_ssl(
                &host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                secs,
                bollard::API_DEFAULT_VERSION,
            ),
            None => bollard::Docker::connect_with_host(&host),
        }
        .map_err(unreachable)?;
        let api = api
            .with_timeout(timeout)
            .negotiate_version()
            .await
            .map_err(unreachable)?;
        Ok(Self { api, host })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn err(&self, e: BollardError) -> RuntimeError {
        classify(&self.host, e)
    }

    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.api.ping().await.map(|_| ()).map_err(|e| self.err(e))
    }

    /// Every container (running or not) labelled as part of `fleet`.
    pub async fn list_fleet(&self, fleet: &str) -> Result<Vec<ListedContainer>, RuntimeError> {
        let filter = identity::fleet_filter(fleet);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&HashMap::from([("label", vec![filter.as_str()])]))
            .build();
        let list = self
            .api
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.err(e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let exit_code = c.status.as_deref().and_then(exit_code_of);
                Some(ListedContainer {
                    exit_code,
                    id: c.id?,
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    slot: labels.get(LABEL_SLOT)?.clone(),
                    role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
                    generation: labels
                        .get(LABEL_GENERATION)
                        .and_then(|g| identity::parse_generation(g))
                        .unwrap_or(0),
                    generation_label: labels.get(LABEL_GENERATION).cloned(),
                    fleet_id: labels.get(LABEL_FLEET_ID).cloned(),
                    spec_hash: labels.get(LABEL_SPEC_HASH).cloned().unwrap_or_default(),
                    status: match c.state {
                        Some(ContainerSummaryStateEnum::RUNNING) => EngineStatus::Running,
                        Some(ContainerSummaryStateEnum::PAUSED) => EngineStatus::Paused,
                        Some(ContainerSummaryStateEnum::RESTARTING) => EngineStatus::Restarting,
                        Some(ContainerSummaryStateEnum::CREATED) => EngineStatus::Created,
                        Some(ContainerSummaryStateEnum::REMOVING) => EngineStatus::Removing,
                        Some(ContainerSummaryStateEnum::DEAD) => EngineStatus::Dead,
                        _ => EngineStatus::Exited,
                    },
                })
            })
            .collect())
    }

    /// Creates a container named `name`. On a name conflict returns the existing container's id
    /// in [`RuntimeError::NameConflict`].
    pub async fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, RuntimeError> {
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        match self.api.create_container(Some(opts), body).await {
            Ok(r) => Ok(r.id),
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                let existing = self.inspect(name).await?;
                Err(RuntimeError::NameConflict {
                    name: name.to_string(),
                    existing_id: existing.id,
                })
            }
            Err(e) => Err(self.err(e)),
        }
    }

    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        match self
            .api
            .start_container(id, None::<StartContainerOptions>)
            .await
        {
            // 304: already started — starting is idempotent.
            Err(BollardError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            r => r.map_err(|e| self.err(e)),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::default().t(t).build();
        match self.api.stop_container(id, Some(opts)).await {
            Err(BollardError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            r => r.map_err(|e| self.err(e)),
        }
    }

    pub async fn kill(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        self.api
            .kill_container(id, Some(opts))
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.api.pause_container(id).await.map_err(|e| self.err(e))
    }

    pub async fn unpause(&self, id: &str) -> Result<(), RuntimeError> {
        self.api
            .unpause_container(id)
            .await
            .map_err(|e| self.err(e))
    }

    /// Force-removes the container and its anonymous volumes; a missing container is success.
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.api.remove_container(id, Some(opts)).await {
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            r => r.map_err(|e| self.err(e)),
        }
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerDetails, RuntimeError> {
        let c = self
            .api
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.err(e))?;
        let state = c.state.unwrap_or_default();
        let hc = c.host_config.unwrap_or_default();
        use bollard::models::ContainerStateStatusEnum as S;
        Ok(ContainerDetails {
            id: c.id.unwrap_or_default(),
            status: match state.status {
                Some(S::RUNNING) => EngineStatus::Running,
                Some(S::PAUSED) => EngineStatus::Paused,
                Some(S::CREATED) => EngineStatus::Created,
                Some(S::RESTARTING) => EngineStatus::Restarting,
                Some(S::REMOVING) => EngineStatus::Removing,
                Some(S::DEAD) => EngineStatus::Dead,
                _ => EngineStatus::Exited,
            },
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            started_at: state.started_at,
            finished_at: state.finished_at,
            labels: c.config.and_then(|cfg| cfg.labels).unwrap_or_default(),
            memory: hc.memory,
            nano_cpus: hc.nano_cpus,
            pids_limit: hc.pids_limit,
            cap_drop: hc.cap_drop.unwrap_or_default(),
            security_opt: hc.security_opt.unwrap_or_default(),
            readonly_rootfs: hc.readonly_rootfs.unwrap_or(false),
            mounts: c
                .mounts
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    (
                        m.source.unwrap_or_default(),
                        m.destination.unwrap_or_default(),
                    )
                })
                .collect(),
        })
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.api.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Runs `cmd` inside running container `id` and waits for it (probes).
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        let run = async {
            let exec = self
                .api
                .create_exec(
                    id,
                    ExecConfig {
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        cmd: Some(cmd.to_vec()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| self.err(e))?;
            let mut output = String::new();
            if let bollard::exec::StartExecResults::Attached {
                output: mut stream, ..
            } = self
                .api
                .start_exec(&exec.id, None)
                .await
                .map_err(|e| self.err(e))?
            {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| self.err(e))?;
                    append_capped(&mut output, chunk.into_bytes().as_ref());
                }
            }
            let inspect = self
                .api
                .inspect_exec(&exec.id)
                .await
                .map_err(|e| self.err(e))?;
            Ok(ExecOutcome {
                exit_code: inspect.exit_code.unwrap_or(-1),
                output,
            })
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| RuntimeError::Timeout(timeout))?
    }

    /// The shared branch's check (see [`crate::ContainerRuntime::run_check`]).
    pub async fn run_check(
        &self,
        req: crate::port::CheckRequest<'_>,
    ) -> Result<ExecOutcome, RuntimeError> {
        let mut body = req
            .spec
            .create_body_for("check", 0, "check", req.fleet_id, &|k| (req.env)(k));
        body.labels = Some(
            crate::identity::check_labels(&req.spec.fleet, req.fleet_id)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
        body.hostname = None;
        if !self.image_exists(&req.spec.image).await? {
            return Err(RuntimeError::NotFound(format!(
                "image {} is not on this Docker host",
                req.spec.image
            )));
        }
        self.run_oneshot_keeping(req.name, body, req.timeout, Keep::Tail)
            .await
    }

    /// Runs `cmd` in a throwaway container of `body`'s image and removes it (preflight checks).
    pub async fn run_oneshot(
        &self,
        name: &str,
        body: ContainerCreateBody,
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        self.run_oneshot_keeping(name, body, timeout, Keep::Head)
            .await
    }

    async fn run_oneshot_keeping(
        &self,
        name: &str,
        body: ContainerCreateBody,
        timeout: Duration,
        keep: Keep,
    ) -> Result<ExecOutcome, RuntimeError> {
        // A leftover from an interrupted earlier run would block the name.
        self.remove(name).await?;
        let id = self.create(name, body).await?;
        let result = async {
            self.start(&id).await?;
            let mut wait = self.api.wait_container(&id, None::<WaitContainerOptions>);
            let code = match tokio::time::timeout(timeout, wait.next()).await {
                Err(_) => return Err(RuntimeError::Timeout(timeout)),
                Ok(Some(Ok(r))) => r.status_code,
                // A non-zero exit arrives as an error carrying the code.
                Ok(Some(Err(BollardError::DockerContainerWaitError { code, .. }))) => code,
                Ok(Some(Err(e))) => return Err(self.err(e)),
                Ok(None) => -1,
            };
            let mut output = String::new();
            let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
            let mut logs = self.logs(&id, false, None);
            while let Some(chunk) = logs.next().await {
                match (chunk, keep) {
                    (Ok(c), Keep::Head) => append_capped(&mut output, &c.bytes),
                    (Ok(c), Keep::Tail) => append_tail(&mut tail, &c.bytes),
                    (Err(_), _) => break,
                }
            }
            if keep == Keep::Tail {
                output = String::from_utf8_lossy(tail.make_contiguous()).into_owned();
            }
            Ok(ExecOutcome {
                exit_code: code,
                output,
            })
        }
        .await;
        self.remove(&id).await.ok();
        result
    }

    /// Output of container `id`: with `follow`, a live stream until the container stops.
    /// `since` (Unix seconds) skips older output when re-attaching.
    pub fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> impl Stream<Item = Result<LogChunk, RuntimeError>> + Send + 'static {
        let mut b = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true);
        if let Some(s) = since {
            b = b.since(s);
        }
        let host = self.host.clone();
        self.api
            .logs(id, Some(b.build()))
            .map(move |item| match item {
                Ok(out) => {
                    use bollard::container::LogOutput as L;
                    let (stderr, bytes) = match out {
                        L::StdErr { message } => (true, message),
                        L::StdOut { message } | L::Console { message } | L::StdIn { message } => {
                            (false, message)
                        }
                    };
                    Ok(LogChunk {
                        stderr,
                        bytes: bytes.to_vec(),
                    })
                }
                Err(e) => Err(classify(&host, e)),
            })
    }

    /// The Engine API client itself, for this adapter's modules only (`images`, the demo's
    /// calls): nothing outside the runtime crate names bollard.
    pub(crate) fn api(&self) -> &bollard::Docker {
        &self.api
    }
}

/// Which end of a one-shot container's output to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// The first [`OUTPUT_CAP`] bytes (preflight: the first error explains).
    Head,
    /// The last [`crate::port::CHECK_OUTPUT_TAIL`] bytes (a check: summaries come last).
    Tail,
}

/// Appends one log message without its timestamp (the readers of test output expect the
/// runner's own lines), keeping the last bytes only.
fn append_tail(out: &mut std::collections::VecDeque<u8>, bytes: &[u8]) {
    let stamped = bytes.len() > 20 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-';
    let bytes = match bytes.iter().position(|b| *b == b' ') {
        Some(i) if stamped => &bytes[i + 1..],
        _ => bytes,
    };
    let cap = crate::port::CHECK_OUTPUT_TAIL;
    let bytes = &bytes[bytes.len().saturating_sub(cap)..];
    let excess = (out.len() + bytes.len()).saturating_sub(cap);
    out.drain(..excess.min(out.len()));
    out.extend(bytes);
}

fn append_capped(out: &mut String, bytes: &[u8]) {
    if out.len() < OUTPUT_CAP {
        let room = OUTPUT_CAP - out.len();
        let take = &bytes[..bytes.len().min(room)];
        out.push_str(&String::from_utf8_lossy(take));
    }
}

fn classify(host: &str, e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound(message),
        BollardError::DockerResponseServerError { message, .. } => RuntimeError::Api(message),
        BollardError::RequestTimeoutError => RuntimeError::Unreachable {
            host: host.to_string(),
            detail: "request timed out".into(),
        },
        BollardError::DockerContainerWaitError { error, code } => {
            RuntimeError::Api(format!("wait failed ({code}): {error}"))
        }
        other => RuntimeError::Unreachable {
            host: host.to_string(),
            detail: other.to_string(),
        },
    }
}

/// The client certificate, key and CA of a `tcp://` engine that requires TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Where an engine is and how to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `None`: `$DOCKER_HOST`, else the local socket.
    pub host: Option<String>,
    pub tls: Option<TlsFiles>,
    /// Per-request timeout (default 60 s).
    pub timeout: Option<Duration>,
}

/// Connects to the Docker Engine at `host` (`None`: `$DOCKER_HOST` or the local socket).
pub struct DockerConnector {
    pub host: Option<String>,
}

impl Connector for DockerConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Runtime, RuntimeError>> {
        Box::pin(async move {
            let docker = Docker::connect(self.host.as_deref()).await?;
            Ok(Arc::new(docker) as Runtime)
        })
    }
}

/// Connects to one engine of several, through its own transport and request timeout.
pub struct EndpointConnector(pub Endpoint);

impl Connector for EndpointConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Runtime, RuntimeError>> {
        Box::pin(async move {
            let docker = Docker::connect_to(&self.0).await?;
            Ok(Arc::new(docker) as Runtime)
        })
    }
}

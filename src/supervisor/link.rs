//! The supervisor's connection to the container runtime: connects (and reconnects with backoff), reports
//! `DockerUp`/`DockerDown`, and turns the fleet's event stream into core inputs. After a drop it
//! resumes the stream from the last event's time, and the core asks for a full listing on
//! `DockerUp`, so transitions that happened meanwhile are recorded.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::followers::Followers;
use crate::core::Input;
use crate::logs::ring::LogHub;
use drover_runtime::{Connector, ContainerAction, ContainerEvent, HostState, Runtime};

/// Lines of output handed to the core with a `die`, for the failure signature.
const LAST_LINES: usize = 20;

pub struct RuntimeLink {
    pub connector: std::sync::Arc<dyn Connector>,
    pub fleet: String,
    /// Events of containers without this fleet id (or drover's name) are not ours: ignored.
    pub fleet_id: String,
    pub inputs: mpsc::Sender<Input>,
    pub docker: watch::Sender<Option<Runtime>>,
    pub followers: Followers,
    pub hub: LogHub,
    /// Poked when some other Docker call failed as unreachable.
    pub suspect: std::sync::Arc<tokio::sync::Notify>,
}

impl RuntimeLink {
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(500);
        let mut last_event_secs: Option<i64> = None;
        let mut reported_down = false;
        loop {
            let connected = tokio::select! {
                _ = cancel.cancelled() => return,
                c = self.connector.connect() => c,
            };
            let docker = match connected {
                Ok(d) => d,
                Err(e) => {
                    if !reported_down {
                        tracing::warn!(error = %e, "Docker is unreachable; retrying");
                        let _ = self
                            .inputs
                            .send(Input::DockerDown {
                                error: e.to_string(),
                            })
                            .await;
                        reported_down = true;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                    continue;
                }
            };
            backoff = Duration::from_millis(500);
            reported_down = false;
            // Subscribe before announcing DockerUp, so nothing between the listing the core
            // asks for and the first streamed event can be missed.
            let since = last_event_secs.unwrap_or_else(|| unix_secs() - 1);
            let mut events = Box::pin(docker.events(&self.fleet, Some(since)));
            // Over several hosts: which are down is known before the listing DockerUp asks
            // for, so their slots are kept as last seen instead of read as gone.
            let hosts = match docker.host_states() {
                Some(rx) => Some(self.follow_hosts(rx).await),
                None => None,
            };
            let _stop_hosts = hosts.map(AbortOnDrop);
            self.docker.send_replace(Some(docker.clone()));
            if self.inputs.send(Input::DockerUp).await.is_err() {
                return;
            }
            tracing::info!(host = docker.host(), "connected to Docker");
            let error = loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = self.suspect.notified() => match docker.ping().await {
                        Ok(()) => continue,
                        Err(e) => break e.to_string(),
                    },
                    n = events.next() => n,
                };
                match next {
                    None => break "the event stream ended".to_string(),
                    Some(Err(e)) => break e.to_string(),
                    Some(Ok(ev)) => {
                        last_event_secs = Some(ev.time_nano / 1_000_000_000);
                        if let Some(input) = self.translate(&docker, ev).await
                            && self.inputs.send(input).await.is_err()
                        {
                            return;
                        }
                    }
                }
            };
            // The stream broke: is Docker gone, or just the stream?
            if let Err(e) = docker.ping().await {
                self.docker.send_replace(None);
                tracing::warn!(error = %e, "lost Docker");
                let _ = self
                    .inputs
                    .send(Input::DockerDown {
                        error: e.to_string(),
                    })
                    .await;
                reported_down = true;
            } else {
                tracing::debug!(error, "Docker event stream dropped; resubscribing");
            }
        }
    }

    async fn translate(&self, docker: &Runtime, ev: ContainerEvent) -> Option<Input> {
        if let Some(why) = ev.foreign_reason(&self.fleet, &self.fleet_id) {
            tracing::debug!(
                name = ev.name,
                why,
                "ignoring an event of a look-alike container"
            );
            return None;
        }
        let slot = ev.slot;
        let id = ev.id;
        Some(match ev.action {
            ContainerAction::Start => Input::ContainerStarted { slot, id },
            ContainerAction::Pause => Input::ContainerPaused { slot, id },
            ContainerAction::Unpause => Input::ContainerUnpaused { slot, id },
            ContainerAction::Destroy => Input::ContainerRemoved { slot, id },
            ContainerAction::Die { exit_code } => {
                // Shown at once; the decision needs the last lines, which must be in the ring
                // before the core reads the failure signature: a task waits (briefly) for the
                // follower to drain the ended stream, inspects for the exit code and OOM flag
                // meanwhile, and reports the death with them. The event loop goes on, so one
                // death never delays the report of the next.
                self.spawn_death_report(docker, slot.clone(), id.clone(), exit_code);
                Input::ContainerExited {
                    slot,
                    id,
                    exit_code: exit_code.unwrap_or(-1),
                }
            }
            // `oom` is followed by `die`, whose inspect reports it; `create` is covered by the
            // executor's own result and by listings.
            ContainerAction::Oom | ContainerAction::Create => return None,
        })
    }
}

/// Ends a task when the connection it belongs to ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `HostDown`/`HostUp` inputs that take the core from hosts `before` to `now`.
fn host_changes(before: &[HostState], now: &[HostState]) -> Vec<Input> {
    let mut out = Vec::new();
    for s in now {
        let was = before
            .iter()
            .find(|b| b.name == s.name)
            .and_then(|b| b.down.as_ref());
        match (&s.down, was) {
            (Some(e), w) if w != Some(e) => out.push(Input::HostDown {
                host: s.name.clone(),
                error: e.clone(),
            }),
            (None, Some(_)) => out.push(Input::HostUp {
                host: s.name.clone(),
            }),
            _ => {}
        }
    }
    out
}

impl RuntimeLink {
    /// Reports every host's state now, then each change, until the returned task is aborted.
    async fn follow_hosts(
        &self,
        mut rx: watch::Receiver<Vec<HostState>>,
    ) -> tokio::task::JoinHandle<()> {
        let mut last = rx.borrow_and_update().clone();
        let everyone_up: Vec<HostState> = last
            .iter()
            .map(|s| HostState {
                name: s.name.clone(),
                down: Some(String::new()),
            })
            .collect();
        // From "unknown": hosts up are reported up (clearing an outage the core still holds),
        // hosts down are reported down.
        for input in host_changes(&everyone_up, &last) {
            let _ = self.inputs.send(input).await;
        }
        for s in last.iter().filter(|s| s.down.is_some()) {
            tracing::warn!(
                host = s.name,
                error = s.down.as_deref().unwrap_or(""),
                "host unreachable"
            );
        }
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let now = rx.borrow_and_update().clone();
                for input in host_changes(&last, &now) {
                    match &input {
                        Input::HostDown { host, error } => {
                            tracing::warn!(host, error, "lost a host")
                        }
                        Input::HostUp { host } => tracing::info!(host, "host reachable again"),
                        _ => {}
                    }
                    if inputs.send(input).await.is_err() {
                        return;
                    }
                }
                last = now;
            }
        })
    }

    fn spawn_death_report(
        &self,
        docker: &Runtime,
        slot: String,
        id: String,
        exit_code: Option<i64>,
    ) {
        let (docker, followers, hub, inputs) = (
            std::sync::Arc::clone(docker),
            self.followers.clone(),
            self.hub.clone(),
            self.inputs.clone(),
        );
        tokio::spawn(async move {
            let (_, details) = tokio::join!(
                followers.wait_drained(&id, Duration::from_secs(3)),
                docker.inspect(&id)
            );
            let (code, oom) = match &details {
                Ok(d) => (d.exit_code.or(exit_code).unwrap_or(-1), d.oom_killed),
                Err(_) => (exit_code.unwrap_or(-1), false),
            };
            let last_lines = hub
                .tail(&slot, LAST_LINES)
                .into_iter()
                .map(|l| l.text)
                .collect();
            let _ = inputs
                .send(Input::ContainerDied {
                    slot,
                    id,
                    exit_code: code,
                    oom_killed: oom,
                    last_lines,
                })
                .await;
        });
    }
}

pub fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

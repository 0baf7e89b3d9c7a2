//! One fleet over several engines: [`MultiHost`] is a [`ContainerRuntime`] that fans out to one
//! runtime per named host, each made by its own [`Connector`], checked, failed and reconnected
//! on its own with its own request timeout.
//!
//! Invariants: a container's identity is its host and its engine id, written `host/id` in
//! every id this runtime hands out, so an operation always goes to the engine that holds the
//! container and never to another. A host that is down answers every operation with
//! [`RuntimeError::Unreachable`] (nothing is reported done that did not reach it), and its
//! containers stay in listings as last seen, so a doubt about one host never reads as its
//! containers being gone. The fleet as a whole is reachable while one host is.

mod port;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};

use crate::port::{Connector, HostState, ListedContainer, Runtime, RuntimeError};

/// How often a reachable host is pinged (a stopped engine is usually noticed sooner, by its
/// event stream ending).
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Longest wait between reconnect attempts to a host that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One named engine and how to reach it.
pub struct HostEndpoint {
    pub name: String,
    pub connector: Arc<dyn Connector>,
    /// Every request to this host gives up after this long (the host is then checked).
    pub timeout: Duration,
}

/// One host's live connection.
pub(crate) struct HostLink {
    pub name: String,
    connector: Arc<dyn Connector>,
    pub timeout: Duration,
    /// `None` while the host is down.
    pub current: watch::Sender<Option<Runtime>>,
    /// Poked when a request failed as unreachable: check now instead of at the next tick.
    suspect: Notify,
    /// The host's fleet containers as last listed, kept while it is down.
    pub last_listed: Mutex<HashMap<String, Vec<ListedContainer>>>,
}

impl HostLink {
    pub fn runtime(&self) -> Result<Runtime, RuntimeError> {
        self.current.borrow().clone().ok_or_else(|| self.down())
    }

    pub fn down(&self) -> RuntimeError {
        RuntimeError::Unreachable {
            host: self.name.clone(),
            detail: "the host is down".into(),
        }
    }

    /// A request's error, after which the host is checked if it looked unreachable.
    pub fn noted(&self, e: RuntimeError) -> RuntimeError {
        if e.is_unreachable() || matches!(e, RuntimeError::Timeout(_)) {
            self.suspect.notify_one();
            return RuntimeError::Unreachable {
                host: self.name.clone(),
                detail: e.to_string(),
            };
        }
        e
    }

    /// Runs one request against this host within its timeout.
    pub async fn call<T, F>(&self, f: impl FnOnce(Runtime) -> F) -> Result<T, RuntimeError>
    where
        F: std::future::Future<Output = Result<T, RuntimeError>>,
    {
        let rt = self.runtime()?;
        match tokio::time::timeout(self.timeout, f(rt)).await {
            Ok(r) => r.map_err(|e| self.noted(e)),
            Err(_) => Err(self.noted(RuntimeError::Timeout(self.timeout))),
        }
    }
}

/// Several engines as one runtime (see the module doc).
pub struct MultiHost {
    pub(crate) hosts: Vec<Arc<HostLink>>,
    states: watch::Receiver<Vec<HostState>>,
    /// Dropped with the runtime: every host's checking task then ends.
    _alive: watch::Sender<()>,
    label: String,
}

impl MultiHost {
    /// Connects to every host at once (each within its timeout) and keeps checking them in the
    /// background; hosts that could not be reached now are retried until they can.
    pub async fn connect(endpoints: Vec<HostEndpoint>) -> Arc<Self> {
        let (alive, alive_rx) = watch::channel(());
        let names: Vec<String> = endpoints.iter().map(|e| e.name.clone()).collect();
        let (states_tx, states) = watch::channel(
            names
                .iter()
                .map(|n| HostState {
                    name: n.clone(),
                    down: Some("not connected yet".into()),
                })
                .collect::<Vec<_>>(),
        );
        let states_tx = Arc::new(states_tx);
        let first = futures::future::join_all(endpoints.iter().map(|e| async move {
            match tokio::time::timeout(e.timeout, e.connector.connect()).await {
                Ok(r) => r,
                Err(_) => Err(RuntimeError::Timeout(e.timeout)),
            }
        }))
        .await;
        let mut hosts = Vec::new();
        for (i, (e, first)) in endpoints.into_iter().zip(first).enumerate() {
            let (current, _) = watch::channel(None);
            let link = Arc::new(HostLink {
                name: e.name,
                connector: e.connector,
                timeout: e.timeout,
                current,
                suspect: Notify::new(),
                last_listed: Mutex::new(HashMap::new()),
            });
            let initial = match first {
                Ok(rt) => {
                    link.current.send_replace(Some(rt));
                    None
                }
                Err(e) => Some(e.to_string()),
            };
            set_state(&states_tx, i, initial.clone());
            tokio::spawn(watch_host(
                Arc::clone(&link),
                i,
                initial,
                Arc::clone(&states_tx),
                alive_rx.clone(),
            ));
            hosts.push(link);
        }
        Arc::new(Self {
            label: format!("{} hosts ({})", names.len(), names.join(", ")),
            hosts,
            states,
            _alive: alive,
        })
    }

    /// The host named `name`.
    pub(crate) fn link(&self, name: &str) -> Option<&Arc<HostLink>> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The host and engine id of an id this runtime handed out (`host/id`).
    pub(crate) fn route<'a>(&self, id: &'a str) -> Result<(&Arc<HostLink>, &'a str), RuntimeError> {
        let (host, raw) =
            split_id(id).ok_or_else(|| RuntimeError::NotFound(format!("{id} names no host")))?;
        let link = self
            .link(host)
            .ok_or_else(|| RuntimeError::NotFound(format!("{id}: no host named {host}")))?;
        Ok((link, raw))
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn states(&self) -> watch::Receiver<Vec<HostState>> {
        self.states.clone()
    }
}

/// `host/id` → (host, id).
pub fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
}

/// The id of engine container `raw` on `host`.
pub fn qualified(host: &str, raw: &str) -> String {
    format!("{host}/{raw}")
}

fn set_state(states: &watch::Sender<Vec<HostState>>, i: usize, down: Option<String>) {
    states.send_if_modified(|all| match all.get_mut(i) {
        Some(s) if s.down != down => {
            s.down = down;
            true
        }
        _ => false,
    });
}

/// Keeps one host's connection: pings it while up (every [`CHECK_EVERY`], or at once when a
/// request failed), reconnects with backoff while down, and publishes each change.
async fn watch_host(
    link: Arc<HostLink>,
    i: usize,
    mut down: Option<String>,
    states: Arc<watch::Sender<Vec<HostState>>>,
    mut alive: watch::Receiver<()>,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        if down.is_some() {
            tokio::select! {
                _ = alive.changed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            let connected = tokio::select! {
                _ = alive.changed() => return,
                r = tokio::time::timeout(link.timeout, link.connector.connect()) => r,
            };
            match connected {
                Ok(Ok(rt)) => {
                    link.current.send_replace(Some(rt));
                    down = None;
                    backoff = Duration::from_millis(250);
                    set_state(&states, i, None);
                }
                Ok(Err(e)) => {
                    down = Some(e.to_string());
                    set_state(&states, i, down.clone());
                }
                Err(_) => {
                    down = Some(RuntimeError::Timeout(link.timeout).to_string());
                    set_state(&states, i, down.clone());
                }
            }
            continue;
        }
        tokio::select! {
            _ = alive.changed() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = link.suspect.notified() => {}
        }
        let Some(rt) = link.current.borrow().clone() else {
            down = Some("the host is down".into());
            continue;
        };
        let failed = match tokio::time::timeout(link.timeout, rt.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(RuntimeError::Timeout(link.timeout).to_string()),
        };
        if let Some(e) = failed {
            link.current.send_replace(None);
            down = Some(e);
            set_state(&states, i, down.clone());
        }
    }
}

/// Makes the [`MultiHost`] once and hands it out while at least one host is reachable (the
/// fleet is down only when every host is).
pub struct HostsConnector {
    endpoints: Mutex<Option<Vec<HostEndpoint>>>,
    made: tokio::sync::OnceCell<Arc<MultiHost>>,
}

impl HostsConnector {
    pub fn new(endpoints: Vec<HostEndpoint>) -> Self {
        Self {
            endpoints: Mutex::new(Some(endpoints)),
            made: tokio::sync::OnceCell::new(),
        }
    }
}

impl Connector for HostsConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Runtime, RuntimeError>> {
        Box::pin(async move {
            let multi = self
                .made
                .get_or_init(|| async {
                    let endpoints = self
                        .endpoints
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                        .unwrap_or_default();
                    MultiHost::connect(endpoints).await
                })
                .await;
            let states = multi.states.borrow().clone();
            if states.iter().all(|s| s.down.is_some()) {
                return Err(RuntimeError::Unreachable {
                    host: multi.label.clone(),
                    detail: states
                        .iter()
                        .map(|s| format!("{}: {}", s.name, s.down.as_deref().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            Ok(Arc::clone(multi) as Runtime)
        })
    }
}

//! [`FakeRuntime`] as the runtime port: each operation logs its call, fails while the engine
//! is down, and applies the same rules Docker does to the in-memory records.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::{Call, FakeContainer, FakeRuntime, Record, Signal, rfc3339, unreachable};
use crate::identity::{self, LABEL_FLEET, LABEL_GENERATION, LABEL_SLOT};
use crate::port::{
    ArchivedFile, CheckRequest, Connector, ContainerAction, ContainerDetails, ContainerEvent,
    ContainerRuntime, CreateRequest, EngineStatus, ExecOutcome, ListedContainer, LogChunk, Runtime,
    RuntimeError,
};

impl Connector for FakeRuntime {
    fn connect(&self) -> BoxFuture<'_, Result<Runtime, RuntimeError>> {
        Box::pin(async move {
            let mut st = self.lock();
            if !st.up {
                return Err(unreachable());
            }
            st.connects += 1;
            Ok(Arc::new(self.clone()) as Runtime)
        })
    }
}

impl ContainerRuntime for FakeRuntime {
    fn host(&self) -> &str {
        "fake://"
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let up = self.lock().up;
        Box::pin(async move { if up { Ok(()) } else { Err(unreachable()) } })
    }

    fn list_fleet<'a>(
        &'a self,
        fleet: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ListedContainer>, RuntimeError>> {
        let listed = self.call("list", fleet).map(|st| {
            st.containers
                .values()
                .filter(|r| r.view.labels.get(LABEL_FLEET).map(String::as_str) == Some(fleet))
                .filter(|r| r.view.labels.contains_key(LABEL_SLOT))
                .map(|r| {
                    let labels = &r.view.labels;
                    ListedContainer {
                        id: r.view.id.clone(),
                        name: r.view.name.clone(),
                        slot: r.view.slot.clone(),
                        role: labels
                            .get(identity::LABEL_ROLE)
                            .cloned()
                            .unwrap_or_default(),
                        generation: r.view.generation,
                        spec_hash: labels
                            .get(identity::LABEL_SPEC_HASH)
                            .cloned()
                            .unwrap_or_default(),
                        status: r.view.status,
                        exit_code: r.view.exit_code,
                        fleet_id: labels.get(identity::LABEL_FLEET_ID).cloned(),
                        generation_label: labels.get(LABEL_GENERATION).cloned(),
                    }
                })
                .collect()
        });
        Box::pin(async move { listed })
    }

    fn create<'a>(&'a self, req: CreateRequest<'a>) -> BoxFuture<'a, Result<String, RuntimeError>> {
        let result = self.call("create", req.name).and_then(|mut st| {
            if let Some(existing) = st.by_name_mut(req.name) {
                return Err(RuntimeError::NameConflict {
                    name: req.name.to_string(),
                    existing_id: existing.view.id.clone(),
                });
            }
            if st.missing_images.contains(&req.spec.image) {
                return Err(RuntimeError::NotFound(format!(
                    "No such image: {}",
                    req.spec.image
                )));
            }
            let labels: HashMap<String, String> = identity::labels(
                &req.spec.fleet,
                req.fleet_id,
                req.slot,
                &req.spec.role,
                req.generation,
                req.spec_hash,
            )
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let id = st.new_id();
            let record = Record {
                view: FakeContainer {
                    id: id.clone(),
                    name: req.name.to_string(),
                    slot: req.slot.to_string(),
                    generation: req.generation,
                    status: EngineStatus::Created,
                    exit_code: None,
                    labels,
                    starts: 0,
                },
                started_at: None,
                finished_at: None,
                oom_killed: false,
                output: Vec::new(),
            };
            st.containers.insert(id.clone(), record);
            self.emit(&mut st, &id, ContainerAction::Create);
            Ok(id)
        });
        Box::pin(async move { result })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let r = self.op("start", id);
        Box::pin(async move { r })
    }

    fn stop<'a>(
        &'a self,
        id: &'a str,
        _grace: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let r = self.op("stop", id);
        Box::pin(async move { r })
    }

    fn kill<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let r = self.op("kill", id);
        Box::pin(async move { r })
    }

    fn pause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let r = self.op("pause", id);
        Box::pin(async move { r })
    }

    fn unpause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let r = self.op("unpause", id);
        Box::pin(async move { r })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let r = self.op("remove", id);
        Box::pin(async move { r })
    }

    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerDetails, RuntimeError>> {
        let r = self.call("inspect", id).and_then(|st| {
            let rec = st
                .containers
                .get(id)
                .or_else(|| st.containers.values().find(|r| r.view.name == id))
                .ok_or_else(|| RuntimeError::NotFound(format!("no such container: {id}")))?;
            Ok(ContainerDetails {
                id: rec.view.id.clone(),
                status: rec.view.status,
                exit_code: rec.view.exit_code,
                oom_killed: rec.oom_killed,
                started_at: rfc3339(rec.started_at),
                finished_at: rfc3339(rec.finished_at),
                labels: rec.view.labels.clone(),
                memory: None,
                nano_cpus: None,
                pids_limit: None,
                cap_drop: Vec::new(),
                security_opt: Vec::new(),
                readonly_rootfs: false,
                mounts: Vec::new(),
            })
        });
        Box::pin(async move { r })
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        let r = self
            .call("image_exists", image)
            .map(|st| !st.missing_images.contains(image));
        Box::pin(async move { r })
    }

    fn exec<'a>(
        &'a self,
        id: &'a str,
        _cmd: &'a [String],
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        let r = self
            .call("exec", id)
            .and_then(|st| match st.containers.get(id) {
                Some(rec) if rec.view.status == EngineStatus::Running => {
                    Ok(st.exec_result.clone().unwrap_or(ExecOutcome {
                        exit_code: 0,
                        output: String::new(),
                    }))
                }
                Some(_) => Err(RuntimeError::Api(format!("container {id} is not running"))),
                None => Err(RuntimeError::NotFound(format!("no such container: {id}"))),
            });
        Box::pin(async move { r })
    }

    fn run_preflight<'a>(
        &'a self,
        req: CreateRequest<'a>,
        _command: &'a [String],
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        let r = self.call("preflight", req.name).map(|st| {
            st.exec_result.clone().unwrap_or(ExecOutcome {
                exit_code: 0,
                output: String::new(),
            })
        });
        Box::pin(async move { r })
    }

    fn run_check<'a>(
        &'a self,
        req: CheckRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        let r = self.call("check", req.name).map(|st| {
            st.exec_result.clone().unwrap_or(ExecOutcome {
                exit_code: 0,
                output: String::new(),
            })
        });
        Box::pin(async move { r })
    }

    fn events(
        &self,
        fleet: &str,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
        let fleet = fleet.to_string();
        // The history and the subscription are taken under one lock: nothing falls between.
        let (backlog, rx, up) = {
            let st = self.lock();
            let since_nano = since.map_or(i64::MAX, |s| s.saturating_mul(1_000_000_000));
            let backlog: VecDeque<ContainerEvent> = st
                .history
                .iter()
                .filter(|(f, e)| *f == fleet && e.time_nano >= since_nano)
                .map(|(_, e)| e.clone())
                .collect();
            (backlog, self.signals.subscribe(), st.up)
        };
        if !up {
            return futures::stream::once(async { Err(unreachable()) }).boxed();
        }
        futures::stream::unfold(
            (backlog, rx, false),
            move |(mut backlog, mut rx, broken)| {
                let fleet = fleet.clone();
                async move {
                    if broken {
                        return None;
                    }
                    if let Some(e) = backlog.pop_front() {
                        return Some((Ok(e), (backlog, rx, false)));
                    }
                    loop {
                        match rx.recv().await {
                            Ok(Signal::Event { fleet: of, event }) if of == fleet => {
                                return Some((Ok(event), (backlog, rx, false)));
                            }
                            Ok(Signal::Down) => {
                                return Some((Err(unreachable()), (backlog, rx, true)));
                            }
                            Ok(_) => {}
                            // Lagged or closed: the stream broke; the caller resubscribes.
                            Err(_) => return Some((Err(unreachable()), (backlog, rx, true))),
                        }
                    }
                }
            },
        )
        .boxed()
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> BoxStream<'static, Result<LogChunk, RuntimeError>> {
        let (backlog, rx, live) = {
            let mut st = self.lock();
            let target = st
                .containers
                .get(id)
                .map(|r| r.view.name.clone())
                .unwrap_or_else(|| id.to_string());
            st.calls.push(Call { op: "logs", target });
            if !st.up {
                return futures::stream::once(async { Err(unreachable()) }).boxed();
            }
            let Some(rec) = st.containers.get(id) else {
                let id = id.to_string();
                return futures::stream::once(async move {
                    Err(RuntimeError::NotFound(format!("no such container: {id}")))
                })
                .boxed();
            };
            let since = i64::from(since.unwrap_or(0));
            let backlog: VecDeque<LogChunk> = rec
                .output
                .iter()
                .filter(|(secs, _)| *secs >= since)
                .map(|(_, c)| c.clone())
                .collect();
            let live = follow
                && matches!(
                    rec.view.status,
                    EngineStatus::Running | EngineStatus::Paused
                );
            (backlog, self.signals.subscribe(), live)
        };
        let id = id.to_string();
        futures::stream::unfold((backlog, rx, live), move |(mut backlog, mut rx, live)| {
            let id = id.clone();
            async move {
                if let Some(c) = backlog.pop_front() {
                    return Some((Ok(c), (backlog, rx, live)));
                }
                if !live {
                    return None;
                }
                loop {
                    match rx.recv().await {
                        Ok(Signal::Log { id: of, chunk }) if of == id => {
                            return Some((Ok(chunk), (backlog, rx, true)));
                        }
                        Ok(Signal::LogEnd { id: of }) if of == id => return None,
                        Ok(Signal::Down) | Err(_) => {
                            return Some((Err(unreachable()), (backlog, rx, false)));
                        }
                        Ok(_) => {}
                    }
                }
            }
        })
        .boxed()
    }

    fn read_folder<'a>(
        &'a self,
        id: &'a str,
        _path: &'a str,
        _suffix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ArchivedFile>, RuntimeError>> {
        let r = self.call("read_folder", id).map(|_| Vec::new());
        Box::pin(async move { r })
    }
}

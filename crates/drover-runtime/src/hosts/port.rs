//! [`MultiHost`] and one of its hosts ([`OnHost`]) as [`ContainerRuntime`]s: operations on a
//! container go to the host its id names; listings and events are every host's, merged, with
//! ids qualified by host.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, watch};

use super::{HostLink, MultiHost, qualified};
use crate::port::{
    ArchivedFile, CheckRequest, ContainerDetails, ContainerEvent, ContainerRuntime, CreateRequest,
    ExecOutcome, HostState, ListedContainer, LogChunk, Runtime, RuntimeError,
};

/// Events waiting for the supervisor, all hosts together.
const EVENT_BUFFER: usize = 1024;

/// Qualifies the container id a name conflict reports.
fn conflict_on(host: &str, e: RuntimeError) -> RuntimeError {
    match e {
        RuntimeError::NameConflict { name, existing_id } => RuntimeError::NameConflict {
            name,
            existing_id: qualified(host, &existing_id),
        },
        e => e,
    }
}

/// One host's fleet containers, ids qualified; the last listing while it cannot answer.
async fn list_host(link: &HostLink, fleet: &str) -> Result<Vec<ListedContainer>, RuntimeError> {
    match link
        .call(move |rt| async move { rt.list_fleet(fleet).await })
        .await
    {
        Ok(mut list) => {
            for c in &mut list {
                c.id = qualified(&link.name, &c.id);
            }
            link.last_listed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(fleet.to_string(), list.clone());
            Ok(list)
        }
        Err(e) => {
            let kept = link
                .last_listed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(fleet)
                .cloned();
            kept.ok_or(e)
        }
    }
}

/// Forwards one host's events into `tx` for as long as the receiver lives: subscribes while
/// the host is up, resumes from the last event's time after a drop or a reconnect.
async fn forward_events(
    link: Arc<HostLink>,
    fleet: String,
    mut since: Option<i64>,
    tx: mpsc::Sender<Result<ContainerEvent, RuntimeError>>,
) {
    let mut current = link.current.subscribe();
    loop {
        let rt = loop {
            if let Some(rt) = current.borrow_and_update().clone() {
                break rt;
            }
            tokio::select! {
                _ = tx.closed() => return,
                changed = current.changed() => if changed.is_err() { return },
            }
        };
        let mut events = rt.events(&fleet, since);
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                next = events.next() => match next {
                    Some(Ok(mut ev)) => {
                        since = Some(ev.time_nano / 1_000_000_000);
                        ev.id = qualified(&link.name, &ev.id);
                        if tx.send(Ok(ev)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        link.noted(e);
                        break;
                    }
                    None => {
                        link.noted(link.down());
                        break;
                    }
                },
            }
        }
        // Resubscribe once the host is checked (a reconnect changes `current`), or shortly
        // if it was only the stream that dropped.
        tokio::select! {
            _ = tx.closed() => return,
            _ = current.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

fn events_of(
    hosts: &[Arc<HostLink>],
    fleet: &str,
    since: Option<i64>,
) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    for link in hosts {
        tokio::spawn(forward_events(
            Arc::clone(link),
            fleet.to_string(),
            since,
            tx.clone(),
        ));
    }
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed()
}

fn logs_on(
    link: &Arc<HostLink>,
    raw: &str,
    follow: bool,
    since: Option<i32>,
) -> BoxStream<'static, Result<LogChunk, RuntimeError>> {
    match link.runtime() {
        Ok(rt) => rt.logs(raw, follow, since),
        Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
    }
}

async fn inspect_on(link: &HostLink, raw: &str) -> Result<ContainerDetails, RuntimeError> {
    let mut d = link
        .call(move |rt| async move { rt.inspect(raw).await })
        .await?;
    d.id = qualified(&link.name, &d.id);
    Ok(d)
}

async fn exec_on(
    link: &HostLink,
    raw: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<ExecOutcome, RuntimeError> {
    let rt = link.runtime()?;
    // The command's own timeout may be longer than the host's request timeout.
    match tokio::time::timeout(timeout.max(link.timeout), rt.exec(raw, cmd, timeout)).await {
        Ok(r) => r.map_err(|e| link.noted(e)),
        Err(_) => Err(link.noted(RuntimeError::Timeout(timeout))),
    }
}

/// One host of a [`MultiHost`] as a runtime: what is created here is placed on that host.
pub struct OnHost {
    link: Arc<HostLink>,
}

impl ContainerRuntime for MultiHost {
    fn host(&self) -> &str {
        self.label()
    }

    fn on_host(&self, name: &str) -> Option<Runtime> {
        self.link(name).map(|l| {
            Arc::new(OnHost {
                link: Arc::clone(l),
            }) as Runtime
        })
    }

    fn host_states(&self) -> Option<watch::Receiver<Vec<HostState>>> {
        Some(self.states())
    }

    /// Reachable while any host is.
    fn ping(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let all = futures::future::join_all(
                self.hosts
                    .iter()
                    .map(|l| l.call(move |rt| async move { rt.ping().await })),
            )
            .await;
            match all.iter().any(Result::is_ok) {
                true => Ok(()),
                false => Err(RuntimeError::Unreachable {
                    host: self.label().to_string(),
                    detail: "no host is reachable".into(),
                }),
            }
        })
    }

    fn list_fleet<'a>(
        &'a self,
        fleet: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ListedContainer>, RuntimeError>> {
        Box::pin(async move {
            let all =
                futures::future::join_all(self.hosts.iter().map(|l| list_host(l, fleet))).await;
            let mut out = Vec::new();
            let mut last_err = None;
            let mut answered = false;
            for r in all {
                match r {
                    Ok(list) => {
                        answered = true;
                        out.extend(list);
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            match (answered, last_err) {
                (false, Some(e)) => Err(e),
                _ => Ok(out),
            }
        })
    }

    /// Without a host the first one is meant (the supervisor creates through [`Self::on_host`]).
    fn create<'a>(&'a self, req: CreateRequest<'a>) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(async move {
            let link = self
                .hosts
                .first()
                .ok_or_else(|| RuntimeError::Unreachable {
                    host: self.label().to_string(),
                    detail: "no hosts are configured".into(),
                })?;
            OnHost {
                link: Arc::clone(link),
            }
            .create(req)
            .await
        })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            link.call(move |rt| async move { rt.start(raw).await })
                .await
        })
    }

    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            let rt = link.runtime()?;
            // A stop legitimately takes its grace period on top of the request.
            match tokio::time::timeout(link.timeout + grace, rt.stop(raw, grace)).await {
                Ok(r) => r.map_err(|e| link.noted(e)),
                Err(_) => Err(link.noted(RuntimeError::Timeout(link.timeout + grace))),
            }
        })
    }

    fn kill<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            link.call(move |rt| async move { rt.kill(raw).await }).await
        })
    }

    fn pause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            link.call(move |rt| async move { rt.pause(raw).await })
                .await
        })
    }

    fn unpause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            link.call(move |rt| async move { rt.unpause(raw).await })
                .await
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            link.call(move |rt| async move { rt.remove(raw).await })
                .await
        })
    }

    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerDetails, RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            inspect_on(link, raw).await
        })
    }

    /// Present on every host that answers.
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        Box::pin(async move {
            let all = futures::future::join_all(
                self.hosts
                    .iter()
                    .map(|l| l.call(move |rt| async move { rt.image_exists(image).await })),
            )
            .await;
            let answers: Vec<bool> = all
                .iter()
                .filter_map(|r| r.as_ref().ok().copied())
                .collect();
            match answers.is_empty() {
                true => Err(RuntimeError::Unreachable {
                    host: self.label().to_string(),
                    detail: "no host is reachable".into(),
                }),
                false => Ok(answers.into_iter().all(|b| b)),
            }
        })
    }

    fn exec<'a>(
        &'a self,
        id: &'a str,
        cmd: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            exec_on(link, raw, cmd, timeout).await
        })
    }

    fn run_check<'a>(
        &'a self,
        req: CheckRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        // The check reads the upstream from this machine's folders: it runs on the first host,
        // as the preflight does.
        Box::pin(async move {
            let link = self
                .hosts
                .first()
                .ok_or_else(|| RuntimeError::Unreachable {
                    host: self.label().to_string(),
                    detail: "no hosts are configured".into(),
                })?;
            OnHost {
                link: Arc::clone(link),
            }
            .run_check(req)
            .await
        })
    }

    fn run_preflight<'a>(
        &'a self,
        req: CreateRequest<'a>,
        command: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(async move {
            let link = self
                .hosts
                .first()
                .ok_or_else(|| RuntimeError::Unreachable {
                    host: self.label().to_string(),
                    detail: "no hosts are configured".into(),
                })?;
            OnHost {
                link: Arc::clone(link),
            }
            .run_preflight(req, command, timeout)
            .await
        })
    }

    fn events(
        &self,
        fleet: &str,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
        events_of(&self.hosts, fleet, since)
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> BoxStream<'static, Result<LogChunk, RuntimeError>> {
        match self.route(id) {
            Ok((link, raw)) => logs_on(link, raw, follow, since),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn read_folder<'a>(
        &'a self,
        id: &'a str,
        path: &'a str,
        suffix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ArchivedFile>, RuntimeError>> {
        Box::pin(async move {
            let (link, raw) = self.route(id)?;
            link.call(move |rt| async move { rt.read_folder(raw, path, suffix).await })
                .await
        })
    }
}

impl OnHost {
    /// An id of this host's (qualified, as listings give it) as the engine knows it.
    fn raw<'a>(&self, id: &'a str) -> &'a str {
        match super::split_id(id) {
            Some((host, raw)) if host == self.link.name => raw,
            _ => id,
        }
    }
}

impl ContainerRuntime for OnHost {
    fn host(&self) -> &str {
        &self.link.name
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(self.link.call(move |rt| async move { rt.ping().await }))
    }

    fn list_fleet<'a>(
        &'a self,
        fleet: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ListedContainer>, RuntimeError>> {
        Box::pin(list_host(&self.link, fleet))
    }

    fn create<'a>(&'a self, req: CreateRequest<'a>) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(async move {
            let link = &self.link;
            link.call(move |rt| async move { rt.create(req).await })
                .await
                .map(|id| qualified(&link.name, &id))
                .map_err(|e| conflict_on(&link.name, e))
        })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(self.link.call(move |rt| async move { rt.start(raw).await }))
    }

    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(
            self.link
                .call(move |rt| async move { rt.stop(raw, grace).await }),
        )
    }

    fn kill<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(self.link.call(move |rt| async move { rt.kill(raw).await }))
    }

    fn pause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(self.link.call(move |rt| async move { rt.pause(raw).await }))
    }

    fn unpause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(
            self.link
                .call(move |rt| async move { rt.unpause(raw).await }),
        )
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(
            self.link
                .call(move |rt| async move { rt.remove(raw).await }),
        )
    }

    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerDetails, RuntimeError>> {
        Box::pin(inspect_on(&self.link, self.raw(id)))
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        Box::pin(
            self.link
                .call(move |rt| async move { rt.image_exists(image).await }),
        )
    }

    fn exec<'a>(
        &'a self,
        id: &'a str,
        cmd: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(exec_on(&self.link, self.raw(id), cmd, timeout))
    }

    fn run_check<'a>(
        &'a self,
        req: CheckRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(async move {
            let link = &self.link;
            let rt = link.runtime()?;
            let limit = req.timeout.max(link.timeout);
            match tokio::time::timeout(limit, rt.run_check(req)).await {
                Ok(r) => r.map_err(|e| link.noted(e)),
                Err(_) => Err(link.noted(RuntimeError::Timeout(limit))),
            }
        })
    }

    fn run_preflight<'a>(
        &'a self,
        req: CreateRequest<'a>,
        command: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(async move {
            let link = &self.link;
            let rt = link.runtime()?;
            match tokio::time::timeout(
                timeout.max(link.timeout),
                rt.run_preflight(req, command, timeout),
            )
            .await
            {
                Ok(r) => r.map_err(|e| link.noted(e)),
                Err(_) => Err(link.noted(RuntimeError::Timeout(timeout))),
            }
        })
    }

    fn events(
        &self,
        fleet: &str,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
        events_of(std::slice::from_ref(&self.link), fleet, since)
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> BoxStream<'static, Result<LogChunk, RuntimeError>> {
        logs_on(&self.link, self.raw(id), follow, since)
    }

    fn read_folder<'a>(
        &'a self,
        id: &'a str,
        path: &'a str,
        suffix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ArchivedFile>, RuntimeError>> {
        let raw = self.raw(id);
        Box::pin(
            self.link
                .call(move |rt| async move { rt.read_folder(raw, path, suffix).await }),
        )
    }
}

//! The Docker Engine as the supervisor's [`ContainerRuntime`]: each port operation delegates
//! to the adapter's own methods, so every bollard detail stays in this module's parent.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::Docker;
use crate::port::{
    ArchivedFile, CheckRequest, ContainerDetails, ContainerEvent, ContainerRuntime, CreateRequest,
    ExecOutcome, ListedContainer, LogChunk, RuntimeError,
};

impl ContainerRuntime for Docker {
    fn host(&self) -> &str {
        Docker::host(self)
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(Docker::ping(self))
    }

    fn list_fleet<'a>(
        &'a self,
        fleet: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ListedContainer>, RuntimeError>> {
        Box::pin(Docker::list_fleet(self, fleet))
    }

    fn create<'a>(&'a self, req: CreateRequest<'a>) -> BoxFuture<'a, Result<String, RuntimeError>> {
        let body = req.spec.create_body_for(
            req.slot,
            req.generation,
            req.spec_hash,
            req.fleet_id,
            &|k| (req.env)(k),
        );
        Box::pin(Docker::create(self, req.name, body))
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Docker::start(self, id))
    }

    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Docker::stop(self, id, grace))
    }

    fn kill<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Docker::kill(self, id))
    }

    fn pause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Docker::pause(self, id))
    }

    fn unpause<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Docker::unpause(self, id))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Docker::remove(self, id))
    }

    fn inspect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerDetails, RuntimeError>> {
        Box::pin(Docker::inspect(self, id))
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        Box::pin(Docker::image_exists(self, image))
    }

    fn exec<'a>(
        &'a self,
        id: &'a str,
        cmd: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(Docker::exec(self, id, cmd, timeout))
    }

    fn run_preflight<'a>(
        &'a self,
        req: CreateRequest<'a>,
        command: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        let mut body = req
            .spec
            .create_body(req.slot, 0, "preflight", &|k| (req.env)(k));
        body.cmd = Some(command.to_vec());
        // The throwaway container must not look like a slot's container to listings and events.
        body.labels = None;
        Box::pin(Docker::run_oneshot(self, req.name, body, timeout))
    }

    fn run_check<'a>(
        &'a self,
        req: CheckRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutcome, RuntimeError>> {
        Box::pin(Docker::run_check(self, req))
    }

    fn events(
        &self,
        fleet: &str,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
        Docker::fleet_events(self, fleet, since).boxed()
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> BoxStream<'static, Result<LogChunk, RuntimeError>> {
        Docker::logs(self, id, follow, since).boxed()
    }

    fn read_folder<'a>(
        &'a self,
        id: &'a str,
        path: &'a str,
        suffix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ArchivedFile>, RuntimeError>> {
        Box::pin(Docker::read_folder(self, id, path, suffix))
    }
}

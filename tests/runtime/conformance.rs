//! The runtime port's contract, run over every engine: the same functions against the
//! in-memory fake (no daemon) and the Docker adapter (the daemon at /var/run/docker.sock), so a
//! behaviour the fake gets wrong is found here, not in a supervisor test that trusts it.
//!
//! Each case creates only containers of its own fleet (`unique_fleet`); the Docker ones are
//! removed by their `FleetGuard` whatever the outcome.

use crate::common;

use std::path::Path;
use std::time::Duration;

use drover_runtime::spec::{
    ContainerSpec, LABEL_FLEET, LABEL_GENERATION, LABEL_SLOT, container_name,
};
use drover_runtime::{ContainerRuntime, CreateRequest, EngineStatus, RuntimeError};

const GRACE: Duration = Duration::from_secs(1);

fn spec(fleet: &str) -> ContainerSpec {
    let text = format!(
        "[fleet]\nname = \"{fleet}\"\n[[roles]]\nname = \"w\"\nimage = \"{}\"\ncommand = [\"sleep\", \"300\"]\n[roles.limits]\nmemory = \"64m\"\ncpus = 0.5\npids = 64\n",
        common::TEST_IMAGE
    );
    let cfg = drover::config::parse(&text, Path::new("t.toml")).expect("config");
    cfg.container_spec(&cfg.file.roles[0])
}

async fn create(
    rt: &dyn ContainerRuntime,
    spec: &ContainerSpec,
    slot: &str,
) -> Result<String, RuntimeError> {
    let name = container_name(&spec.fleet, slot);
    rt.create(CreateRequest {
        name: &name,
        spec,
        slot,
        generation: 1,
        spec_hash: &spec.spec_hash(),
        fleet_id: "conformance",
        env: &|_| None,
    })
    .await
}

/// A taken name fails with the container that holds it, and no second container appears.
async fn a_taken_name_is_reported_never_duplicated(rt: &dyn ContainerRuntime, fleet: &str) {
    let spec = spec(fleet);
    let id = create(rt, &spec, "w-1").await.expect("create");
    match create(rt, &spec, "w-1").await {
        Err(RuntimeError::NameConflict { existing_id, .. }) => assert_eq!(existing_id, id),
        other => panic!("a second create must name the existing container, got {other:?}"),
    }
    let listed = rt.list_fleet(fleet).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].slot, "w-1");
    assert_eq!(listed[0].generation, 1);
    assert_eq!(listed[0].spec_hash, spec.spec_hash());
    assert_eq!(listed[0].status, EngineStatus::Created);
}

/// Start, stop and remove are idempotent, and inspect follows each state.
async fn lifecycle_calls_are_idempotent(rt: &dyn ContainerRuntime, fleet: &str) {
    let spec = spec(fleet);
    let id = create(rt, &spec, "w-1").await.expect("create");
    rt.start(&id).await.expect("start");
    rt.start(&id)
        .await
        .expect("a second start of a running container");
    assert_eq!(
        rt.inspect(&id).await.expect("inspect").status,
        EngineStatus::Running
    );
    rt.stop(&id, GRACE).await.expect("stop");
    rt.stop(&id, GRACE)
        .await
        .expect("a second stop of a stopped container");
    let stopped = rt.inspect(&id).await.expect("inspect");
    assert_eq!(stopped.status, EngineStatus::Exited);
    assert!(
        stopped.exit_code.is_some(),
        "an exited container has a code"
    );
    rt.remove(&id).await.expect("remove");
    rt.remove(&id).await.expect("removing a missing container");
    assert!(
        matches!(rt.inspect(&id).await, Err(RuntimeError::NotFound(_))),
        "a removed container is not found"
    );
    assert!(rt.list_fleet(fleet).await.expect("list").is_empty());
}

/// A fleet's listing holds its own containers only, each carrying drover's identity labels.
async fn a_listing_is_the_fleets_own(rt: &dyn ContainerRuntime, fleet: &str) {
    let other = format!("{fleet}-other");
    let mine = create(rt, &spec(fleet), "w-1").await.expect("create");
    let theirs = create(rt, &spec(&other), "w-1")
        .await
        .expect("create other");
    let listed = rt.list_fleet(fleet).await.expect("list");
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [mine.as_str()]
    );
    let labels = rt.inspect(&mine).await.expect("inspect").labels;
    assert_eq!(labels.get(LABEL_FLEET).map(String::as_str), Some(fleet));
    assert_eq!(labels.get(LABEL_SLOT).map(String::as_str), Some("w-1"));
    assert_eq!(labels.get(LABEL_GENERATION).map(String::as_str), Some("1"));
    rt.remove(&theirs).await.expect("remove other");
}

/// Runs every case over one engine: `$engine` makes the runtime (and the guard that cleans up
/// after it) for a fleet name.
macro_rules! conformance {
    ($module:ident, $engine:expr, $($case:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() {
                    let fleet = crate::common::unique_fleet("conform");
                    let (rt, _guard) = $engine(&fleet).await;
                    super::$case(rt.as_ref(), &fleet).await;
                }
            )*
        }
    };
}

async fn fake(_: &str) -> (Box<dyn ContainerRuntime>, ()) {
    (Box::new(drover_runtime::fake::FakeRuntime::new()), ())
}

async fn docker(fleet: &str) -> (Box<dyn ContainerRuntime>, [common::FleetGuard; 2]) {
    common::ensure_test_image();
    let guards = [
        common::FleetGuard(fleet.to_string()),
        common::FleetGuard(format!("{fleet}-other")),
    ];
    let docker = drover_runtime::docker::Docker::connect(None)
        .await
        .expect("the Docker daemon at /var/run/docker.sock");
    (Box::new(docker), guards)
}

conformance!(
    fake_engine,
    super::fake,
    a_taken_name_is_reported_never_duplicated,
    lifecycle_calls_are_idempotent,
    a_listing_is_the_fleets_own,
);

conformance!(
    docker_engine,
    super::docker,
    a_taken_name_is_reported_never_duplicated,
    lifecycle_calls_are_idempotent,
    a_listing_is_the_fleets_own,
);

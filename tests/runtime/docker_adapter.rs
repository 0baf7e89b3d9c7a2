//! The bollard adapter against the real Docker Engine: hardening really applied, name conflicts
//! surfaced for adoption, lifecycle operations, exec, logs and the labelled event stream.

use crate::common;

use std::path::Path;
use std::time::Duration;

use drover_runtime::docker::events::ContainerAction;
use drover_runtime::docker::{Docker, EngineStatus, RuntimeError};
use drover_runtime::spec::{ContainerSpec, container_name};
use futures::StreamExt;

fn role_spec(fleet: &str, command: &str) -> ContainerSpec {
    let text = format!(
        "[fleet]\nname = \"{fleet}\"\n[[roles]]\nname = \"w\"\nimage = \"{}\"\ncommand = [\"sh\", \"-c\", '{command}']\n[roles.limits]\nmemory = \"64m\"\ncpus = 0.5\npids = 64\n",
        common::TEST_IMAGE
    );
    let cfg = drover::config::parse(&text, Path::new("t.toml")).expect("config");
    cfg.container_spec(&cfg.file.roles[0])
}

#[tokio::test]
async fn created_containers_are_hardened_labelled_and_never_duplicated() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("adapter");
    let _guard = common::FleetGuard(fleet.clone());
    let docker = Docker::connect(None).await.expect("connect");
    let spec = role_spec(&fleet, "echo hello-from-agent; echo oops >&2; sleep 300");
    let hash = spec.spec_hash();
    let name = container_name(&fleet, "w-1");

    // The stream connects lazily, so it starts from an explicit time: nothing can be missed.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    let mut events = Box::pin(docker.fleet_events(&fleet, Some(since)));

    let id = docker
        .create(&name, spec.create_body("w-1", 1, &hash, &|_| None))
        .await
        .expect("create");
    let second = docker
        .create(&name, spec.create_body("w-1", 1, &hash, &|_| None))
        .await;
    match second {
        Err(RuntimeError::NameConflict { existing_id, .. }) => assert_eq!(existing_id, id),
        other => panic!("a second create must report the existing container, got {other:?}"),
    }

    let d = docker.inspect(&id).await.unwrap();
    assert_eq!(d.memory, Some(64 << 20));
    assert_eq!(d.nano_cpus, Some(500_000_000));
    assert_eq!(d.pids_limit, Some(64));
    assert_eq!(d.cap_drop, vec!["ALL".to_string()]);
    assert!(
        d.security_opt
            .iter()
            .any(|o| o.starts_with("no-new-privileges")),
        "{:?}",
        d.security_opt
    );
    assert_eq!(
        d.labels.get("io.drover.slot").map(String::as_str),
        Some("w-1")
    );
    assert_eq!(d.labels.get("io.drover.spec-hash"), Some(&hash));

    docker.start(&id).await.unwrap();
    docker.start(&id).await.expect("starting twice is fine");
    let listed = docker.list_fleet(&fleet).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, EngineStatus::Running);
    assert_eq!(listed[0].generation, 1);
    assert_eq!(listed[0].spec_hash, hash);

    // Logs carry both streams, with timestamps.
    let mut logs = Box::pin(docker.logs(&id, true, None));
    let mut seen_out = false;
    let mut seen_err = false;
    while !(seen_out && seen_err) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), logs.next())
            .await
            .expect("log output")
            .expect("stream open")
            .unwrap();
        let text = String::from_utf8_lossy(&chunk.bytes);
        seen_out |= !chunk.stderr && text.contains("hello-from-agent");
        seen_err |= chunk.stderr && text.contains("oops");
    }

    let out = docker
        .exec(
            &id,
            &["sh".into(), "-c".into(), "echo probe; exit 3".into()],
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert!(out.output.contains("probe"));

    docker.pause(&id).await.unwrap();
    assert_eq!(
        docker.inspect(&id).await.unwrap().status,
        EngineStatus::Paused
    );
    docker.unpause(&id).await.unwrap();
    docker.kill(&id).await.unwrap();
    docker.remove(&id).await.unwrap();
    docker.remove(&id).await.expect("removing twice is fine");

    let mut actions = Vec::new();
    while !actions.contains(&"destroy") {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("event")
            .expect("open")
            .unwrap();
        assert_eq!(ev.slot, "w-1");
        actions.push(match ev.action {
            ContainerAction::Create => "create",
            ContainerAction::Start => "start",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Die { .. } => "die",
            ContainerAction::Oom => "oom",
            ContainerAction::Destroy => "destroy",
        });
    }
    assert_eq!(
        actions,
        ["create", "start", "pause", "unpause", "die", "destroy"]
    );
}

#[tokio::test]
async fn oneshot_reports_exit_code_and_output() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("oneshot");
    let _guard = common::FleetGuard(fleet.clone());
    let docker = Docker::connect(None).await.unwrap();
    let spec = role_spec(&fleet, "echo missing thing >&2; exit 7");
    let body = spec.create_body("w-1", 0, "h", &|_| None);
    let out = docker
        .run_oneshot(
            &format!("drover-{fleet}-preflight"),
            body,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 7);
    assert!(out.output.contains("missing thing"), "{}", out.output);
    assert!(
        docker.list_fleet(&fleet).await.unwrap().is_empty(),
        "the throwaway container is removed"
    );
    assert!(docker.image_exists(common::TEST_IMAGE).await.unwrap());
    assert!(!docker.image_exists("drover-no-such-image:0").await.unwrap());
}

#[tokio::test]
async fn unreachable_daemon_is_a_clear_error() {
    let err = Docker::connect(Some("unix:///nonexistent/docker.sock"))
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/docker.sock"),
        "{err}"
    );
}

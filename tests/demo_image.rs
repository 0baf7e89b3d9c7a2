//! The demo image for real: built from this test binary (which answers `drover agent-sim`
//! exactly like drover does, through the same `AgentOptions`), reused when unchanged, and run
//! under the demo config's own container spec — hardened, as the host user, with the upstream
//! mounted — where a worker's claims land as commits in the host's bare repo. Ends with
//! `clean` removing containers, image and folder.
//!
//! No libtest harness: inside the container this binary *is* `drover`, so `main` dispatches
//! `agent-sim` itself and otherwise runs the test.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use drover::demo::fleet::find_previous;
use drover::demo::{AgentOptions, DemoOptions, clean, ensure_demo_image, prepare, run_agent};
use drover_runtime::docker::Docker;
use drover_runtime::preflight;
use drover_runtime::spec::ContainerSpec;

#[derive(Parser)]
#[command(name = "drover")]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Run a simulated agent (what the demo image runs).
    #[command(name = "agent-sim")]
    AgentSim(AgentOptions),
}

const TEST_NAME: &str = "demo_image_builds_runs_agents_and_cleans_up";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("agent-sim") {
        let Sub::AgentSim(opts) = Cli::parse().command;
        return match run_agent(opts) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    if args.iter().any(|a| a == "--list") {
        println!("{TEST_NAME}: test");
        return ExitCode::SUCCESS;
    }
    // Honour name filters the way libtest does, so `cargo test other_thing` skips this.
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| TEST_NAME.contains(f.as_str())) {
        println!(
            "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n"
        );
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(end_to_end())
    });
    let ok = result.is_ok();
    println!("test {TEST_NAME} ... {}", if ok { "ok" } else { "FAILED" });
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        if ok { "ok" } else { "FAILED" },
        u8::from(ok),
        u8::from(!ok),
        started.elapsed().as_secs_f64()
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs a running Docker Engine (docker info failed); start dockerd or set DOCKER_HOST"
    );
}

/// Removes what the test created even when an assertion fails midway.
struct Cleanup {
    fleet: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=io.drover.fleet={}", self.fleet))
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            }
        }
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

fn claims_by(upstream: &Path, slot: &str) -> Vec<String> {
    let repo = git2::Repository::open_bare(upstream).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_ref("refs/heads/main").unwrap();
    walk.filter_map(|id| {
        let c = repo.find_commit(id.ok()?).ok()?;
        let summary = c.summary().ok()??.to_string();
        (summary.starts_with("claim ") && c.author().name().ok()? == slot).then_some(summary)
    })
    .collect()
}

async fn end_to_end() {
    require_docker();
    let pid = std::process::id();
    let fleet = format!("t{pid}-demo");
    let tag = format!("drover-demo-test:{pid}");
    let _cleanup = Cleanup {
        fleet: fleet.clone(),
        image: tag.clone(),
    };

    // Built once, then reused while the binary is unchanged.
    let t = Instant::now();
    let first = ensure_demo_image(&tag).await.expect("build the demo image");
    let build_time = t.elapsed();
    assert!(first.built);
    let t = Instant::now();
    let second = ensure_demo_image(&tag).await.expect("reuse the demo image");
    let reuse_time = t.elapsed();
    assert!(!second.built, "an unchanged binary must reuse the image");
    assert_eq!(first.hash, second.hash);
    println!(
        "demo image: built in {:.2}s, reuse check in {:.2}s",
        build_time.as_secs_f64(),
        reuse_time.as_secs_f64()
    );
    let size = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}}", &tag])
        .output()
        .expect("docker image inspect");
    println!(
        "demo image size: {} bytes",
        String::from_utf8_lossy(&size.stdout).trim()
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let layout = prepare(
        &dir,
        &DemoOptions {
            fleet: fleet.clone(),
            image: tag.clone(),
            pace: 0.0,
            with_reclaimer: false,
        },
    )
    .expect("prepare");
    let cfg = drover::config::load(&layout.config).expect("demo config loads");
    let role = |name: &str| {
        let r = cfg
            .file
            .roles
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("role {name}"));
        cfg.container_spec(r)
    };
    let docker = Docker::connect(None).await.expect("docker");
    let none = |_: &str| None::<String>;
    let run = |spec: ContainerSpec, slot: &'static str, command: Vec<&'static str>| {
        let docker = docker.clone();
        let fleet = fleet.clone();
        async move {
            let mut spec = spec;
            spec.command = Some(command.into_iter().map(String::from).collect());
            let hash = spec.spec_hash();
            let body = spec.create_body(slot, 1, &hash, &none);
            let name = format!("drover-{fleet}-{slot}");
            docker
                .run_oneshot(&name, body, Duration::from_secs(120))
                .await
                .expect("run a container")
        }
    };

    // The hidden subcommand answers inside the image.
    let help = run(
        role("worker"),
        "worker-1",
        vec!["drover", "agent-sim", "--help"],
    )
    .await;
    assert_eq!(help.exit_code, 0, "{}", help.output);
    assert!(help.output.contains("--behaviour"), "{}", help.output);

    // A worker under the demo's real container spec: hardened, as the host user, 64m, 0.25
    // cpus, upstream bind-mounted. Its claims must land in the host's bare repo.
    let worker = run(
        role("worker"),
        "worker-1",
        vec![
            "drover",
            "agent-sim",
            "--behaviour",
            "worker",
            "--rounds",
            "2",
            "--pace",
            "0",
        ],
    )
    .await;
    assert_eq!(worker.exit_code, 0, "{}", worker.output);
    assert!(worker.output.contains("HEAD -> main"), "{}", worker.output);
    let claims = claims_by(&layout.upstream, "worker-1");
    assert_eq!(claims.len(), 2, "claims in the host repo: {claims:?}");

    // The crasher: exit 2 within a second, the fixed FATAL line last.
    let crasher = run(
        role("crasher"),
        "crasher-1",
        vec!["drover", "agent-sim", "--behaviour", "crasher"],
    )
    .await;
    assert_eq!(crasher.exit_code, 2, "{}", crasher.output);
    assert!(
        crasher.output.trim_end().ends_with(
            "FATAL: cannot connect to model endpoint http://127.0.0.1:9/v1 (connection refused)"
        ),
        "{}",
        crasher.output
    );

    // missing-env: drover's own preflight refuses it (0 starts) ...
    let spec = role("missing-env");
    let verdict = preflight::local_checks(&spec, &none);
    assert!(
        verdict.as_ref().is_err_and(|r| r.contains("DEMO_API_KEY")),
        "{verdict:?}"
    );
    // ... and started anyway it says why and exits 1.
    let missing = run(
        spec,
        "missing-env-1",
        vec!["drover", "agent-sim", "--behaviour", "missing-env"],
    )
    .await;
    assert_eq!(missing.exit_code, 1, "{}", missing.output);
    assert!(
        missing
            .output
            .contains("ERROR: Missing environment variable: DEMO_API_KEY"),
        "{}",
        missing.output
    );

    // Leave one container behind, as an interrupted demo would, then clean everything.
    let mut spec = role("staller");
    spec.command = Some(vec![
        "drover".into(),
        "agent-sim".into(),
        "--behaviour".into(),
        "staller".into(),
    ]);
    let hash = spec.spec_hash();
    let id = docker
        .create(
            &format!("drover-{fleet}-staller-1"),
            spec.create_body("staller-1", 1, &hash, &none),
        )
        .await
        .expect("create a leftover container");
    docker.start(&id).await.expect("start it");
    // A container that only wears the fleet's labels (another name, no demo repo mounted):
    // clean must leave it, and the image it uses, alone.
    let impostor = format!("t{pid}-impostor");
    let made = Command::new("docker")
        .args(["create", "--name", &impostor, "--label"])
        .arg(format!("io.drover.fleet={fleet}"))
        .args(["--label", "io.drover.slot=worker-1", &tag])
        .output()
        .expect("docker create");
    assert!(made.status.success(), "{made:?}");
    assert!(find_previous(&dir).unwrap().is_some());
    let report = clean(&dir).await.expect("clean");
    assert_eq!(
        report.containers_removed,
        vec![format!("drover-{fleet}-staller-1")],
        "{report:?}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains(&impostor)),
        "{report:?}"
    );
    assert_eq!(
        report.image_removed, None,
        "in use by the impostor: {report:?}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("still used by")),
        "{report:?}"
    );
    assert!(report.dir_removed.is_some() && !dir.exists(), "{report:?}");
    let left: Vec<String> = docker
        .list_fleet(&fleet)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(left, vec![impostor.clone()]);
    assert!(docker.image_exists(&tag).await.unwrap());
    let _ = Command::new("docker")
        .args(["rm", "-f", &impostor])
        .output();
    // Repeating it is harmless: without a marker nothing is touched.
    let again = clean(&dir).await.expect("clean again");
    assert!(again.containers_removed.is_empty());
    assert!(again.image_removed.is_none() && again.dir_removed.is_none());
}

//! The demo's prepared world: its config passes drover's own loader and describes the promised
//! fleet, the upstream is a real bare repo with the seeded task list, preflight blocks exactly
//! the missing-env slot, and a folder is never silently overwritten.

use std::path::Path;

use drover::config::{self, ByteSize};
use drover::demo::fleet::{MARKER_FILE, find_previous};
use drover::demo::team_repo::TeamRepo;
use drover::demo::{DemoOptions, prepare};
use drover_runtime::preflight;

#[test]
fn the_demo_config_validates_and_describes_the_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let layout = prepare(&dir, &DemoOptions::default()).unwrap();
    let cfg = config::load(&layout.config).expect("drover loads the demo config");

    assert_eq!(cfg.file.fleet.name, "demo");
    assert!(cfg.data_dir.starts_with(&layout.root) && cfg.data_dir.is_dir());
    let roles: Vec<(&str, u32)> = cfg
        .file
        .roles
        .iter()
        .map(|r| (r.name.as_str(), r.replicas))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("worker", 3),
            ("flaky", 1),
            ("missing-env", 1),
            ("crasher", 1),
            ("looper", 1),
            ("staller", 1)
        ]
    );
    let slots: u32 = roles.iter().map(|(_, n)| n).sum();
    assert!(slots <= 8);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&layout.root).unwrap();
    let user = format!("{}:{}", meta.uid(), meta.gid());
    for r in &cfg.file.roles {
        assert_eq!(r.image, "drover-demo:latest");
        assert_eq!(r.limits.memory, ByteSize::mib(64));
        assert_eq!(r.limits.cpus, 0.25);
        assert_eq!(r.user.as_deref(), Some(user.as_str()));
        let cmd = r.command.clone().unwrap();
        assert_eq!(cmd[..3], ["drover", "agent-sim", "--behaviour"]);
        assert_eq!(
            cmd[3], r.name,
            "each role runs the behaviour it is named after"
        );
        let spec = cfg.container_spec(r);
        assert!(
            spec.mounts
                .iter()
                .any(|m| m.target == "/upstream" && m.source == layout.upstream && !m.read_only)
        );
        // Drover's own preflight: only missing-env is blocked, and before any start.
        let verdict = preflight::local_checks(&spec, &|_| None);
        if r.name == "missing-env" {
            assert_eq!(r.required_env, ["DEMO_API_KEY"]);
            assert_eq!(r.pass_env, ["DEMO_API_KEY"]);
            let reason = verdict.unwrap_err();
            assert!(reason.contains("DEMO_API_KEY"), "{reason}");
        } else {
            assert_eq!(verdict, Ok(()), "{}", r.name);
        }
    }

    let tip = TeamRepo::open(&layout.upstream).unwrap().fetch().unwrap();
    assert_eq!(tip.tasks.len(), 12);
    assert_eq!(tip.claimable().len(), 12);
    assert!(tip.locks.is_empty());
    assert!(tip.progress.starts_with("# Progress"));
    let repo = git2::Repository::open_bare(&layout.upstream).unwrap();
    assert_eq!(repo.head().unwrap().name().unwrap(), "refs/heads/main");
    let tree = repo.head().unwrap().peel_to_tree().unwrap();
    assert!(tree.get_path(Path::new("current_tasks/.keep")).is_ok());

    assert_eq!(find_previous(&dir).unwrap(), Some(layout));
}

#[test]
fn options_add_the_reclaimer_and_set_the_pace() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        fleet: "demo-x".into(),
        image: "drover-demo:abc".into(),
        pace: 0.5,
        with_reclaimer: true,
    };
    let layout = prepare(&tmp.path().join("d"), &opts).unwrap();
    let cfg = config::load(&layout.config).unwrap();
    assert_eq!(cfg.file.fleet.name, "demo-x");
    let reclaimer = cfg
        .file
        .roles
        .iter()
        .find(|r| r.name == "reclaimer")
        .unwrap();
    assert_eq!(
        reclaimer.command.as_deref().unwrap(),
        [
            "drover",
            "agent-sim",
            "--behaviour",
            "reclaimer",
            "--pace",
            "0.5"
        ]
    );
    assert!(cfg.file.roles.iter().all(|r| r.image == "drover-demo:abc"));
}

#[test]
fn prepare_never_overwrites_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    prepare(&dir, &DemoOptions::default()).unwrap();
    let again = prepare(&dir, &DemoOptions::default())
        .unwrap_err()
        .to_string();
    assert!(again.contains("drover demo --fresh"), "{again}");

    let other = tmp.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "keep me").unwrap();
    let e = prepare(&other, &DemoOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not empty"), "{e}");
    assert!(!other.join(MARKER_FILE).exists());
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(find_previous(&other).unwrap(), None);
}

#[test]
fn the_demo_folder_is_private_and_only_ever_the_users_own() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    let layout = prepare(&dir, &DemoOptions::default()).unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "created 0700 by drover, got {mode:o}");
    assert_eq!(layout.fleet_id.len(), 16, "a random id in the marker");
    let other = prepare(&tmp.path().join("fresh2"), &DemoOptions::default()).unwrap();
    assert_ne!(layout.fleet_id, other.fleet_id);

    // An empty folder of the user's is tightened.
    let loose = tmp.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
    prepare(&loose, &DemoOptions::default()).unwrap();
    assert_eq!(
        std::fs::metadata(&loose).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // A symlink is refused, even to a folder of the user's.
    let target = tmp.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = prepare(&link, &DemoOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("symbolic link"), "{e}");
    assert!(std::fs::read_dir(&target).unwrap().next().is_none());

    // A folder of another user is refused (needs root to make one).
    let me = std::fs::metadata(tmp.path()).unwrap().uid();
    if me == 0 {
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        let chown = std::process::Command::new("chown")
            .args(["65534:65534"])
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(chown.success());
        let e = prepare(&theirs, &DemoOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not to you"), "{e}");
        // Nor is a marker found there trusted.
        std::fs::copy(layout.root.join(MARKER_FILE), theirs.join(MARKER_FILE)).unwrap();
        assert!(find_previous(&theirs).is_err());
    } else {
        eprintln!("not root: the foreign-owner case is not exercised");
    }
}

//! The example config documents every key with its default: parsing it must give exactly the
//! defaults wherever the file says it shows them.

use std::path::Path;

use drover::config::{self, schema::*};

#[test]
fn example_matches_the_built_in_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let cfg = config::load(&path).expect("example parses");
    let f = &cfg.file;
    let role = &f.roles[0];
    assert_eq!(role.limits, LimitsSection::default());
    assert_eq!(role.security, SecuritySection::default());
    assert_eq!(role.restart, RestartSection::default());
    assert_eq!(role.crash_loop, CrashLoopSection::default());
    assert_eq!(role.tests, TestsSection::default());
    assert_eq!(role.quota, QuotaSection::default());
    assert_eq!(role.quota_group, None);
    assert_eq!(role.replicas, 1);
    assert_eq!(role.stall_after.0.as_secs(), 15 * 60);
    assert_eq!(role.task_timeout.0.as_secs(), 30 * 60);
    assert_eq!(f.loops, LoopsSection::default());
    assert_eq!(f.ui, UiSection::default());
    assert_eq!(f.notify, NotifySection::default());
    assert_eq!(f.logs, LogsSection::default());
    assert_eq!(f.metrics, MetricsSection::default());
    assert_eq!(f.telemetry, TelemetrySection::default());
}

#[test]
fn commented_upstream_block_uses_the_defaults_it_documents() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Uncomment the [upstream] block (pointing it at an existing folder) and parse again.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("upstream.git");
    std::fs::create_dir(&repo).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let l = line.strip_prefix("# ").unwrap_or(line);
        if line.starts_with("# [upstream]") || line.starts_with("# repo =") {
            out.push_str(l);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    let out = out.replace("/srv/agents/upstream.git", &repo.display().to_string());
    let cfg = config::parse(&out, &path).expect("example with [upstream] parses");
    let up = cfg.file.upstream.expect("upstream present");
    let defaults = UpstreamSection::default();
    assert_eq!(up.mount_target, defaults.mount_target);
    assert_eq!(up.locks_dir, "current_tasks");
    assert_eq!(up.progress_file, "PROGRESS.md");
}

#[test]
fn commented_check_block_uses_the_defaults_it_documents() {
    use drover::config::schema_check::{CheckLimits, CheckSection};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("upstream.git");
    std::fs::create_dir(&repo).unwrap();
    // Uncomment [upstream] with its repo, and the whole [upstream.check] block.
    let mut out = String::new();
    let mut in_check = false;
    for line in text.lines() {
        if line.starts_with("# [upstream.check]") {
            in_check = true;
        } else if !line.starts_with("# ") {
            in_check = false;
        }
        let uncomment =
            in_check || line.starts_with("# [upstream]") || line.starts_with("# repo =");
        out.push_str(if uncomment { &line[2..] } else { line });
        out.push('\n');
    }
    let out = out.replace("/srv/agents/upstream.git", &repo.display().to_string());
    let cfg = config::parse(&out, &path).expect("example with [upstream.check] parses");
    let check: CheckSection = cfg.file.upstream.unwrap().check.expect("check present");
    assert_eq!(check.image, "rust:1");
    assert_eq!(check.command, ["cargo", "test", "--quiet"]);
    assert_eq!(check.every.0.as_secs(), 300);
    assert_eq!(check.timeout.0.as_secs(), 1800);
    assert_eq!(check.max_bisect, 6);
    assert_eq!(check.on_red, drover::core::OnRed::Alert);
    assert_eq!(check.mount_target, "/src");
    assert_eq!(check.limits, CheckLimits::default());
    // Without the optional keys, the same defaults.
    let minimal = format!(
        "[fleet]\nname = \"f\"\n[upstream]\nrepo = \"{}\"\n[upstream.check]\nimage = \"rust:1\"\ncommand = [\"cargo\", \"test\", \"--quiet\"]\n[[roles]]\nname = \"w\"\nimage = \"a\"\n",
        repo.display()
    );
    let cfg = config::parse(&minimal, &path).expect("minimal check parses");
    assert_eq!(cfg.file.upstream.unwrap().check.unwrap(), check);
}

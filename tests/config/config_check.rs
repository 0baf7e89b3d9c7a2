//! `drover check-config` against the real binary: every invalid config in
//! `tests/configs/invalid/` must fail with exactly the message in its `.expected` file, every
//! valid one must pass, and secrets never appear in the output.

use std::path::{Path, PathBuf};
use std::process::Command;

fn configs(kind: &str) -> (PathBuf, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(kind);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("configs folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    (dir, names)
}

fn check_config(dir: &Path, name: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .current_dir(dir)
        .args(["check-config", "--config", name])
        .env_remove("DROVER_CONFIG")
        .env("HOME", dir) // keep the user's config dir (themes) out of the test
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("run drover")
}

#[test]
fn every_invalid_config_fails_with_its_exact_message() {
    let (dir, names) = configs("invalid");
    assert!(
        names.len() >= 20,
        "expected at least 20 invalid configs, found {}",
        names.len()
    );
    let mut failures = Vec::new();
    for name in &names {
        let expected_path = dir.join(name.replace(".toml", ".expected"));
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        let out = check_config(&dir, name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{name}: exited 0"));
        } else if stderr != expected {
            failures.push(format!(
                "{name}:\n  expected: {expected}  got:      {stderr}"
            ));
        }
        assert!(!stderr.contains("panicked"), "{name} panicked: {stderr}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_message_names_file_line_and_column() {
    let (dir, names) = configs("invalid");
    for name in names {
        let expected =
            std::fs::read_to_string(dir.join(name.replace(".toml", ".expected"))).unwrap();
        for line in expected.lines() {
            let mut parts = line.splitn(4, ':');
            assert_eq!(parts.next(), Some(name.as_str()), "{line}");
            let l: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let c: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            assert!(l >= 1 && c >= 1, "no line:column in {line}");
        }
    }
}

#[test]
fn valid_configs_pass_and_redact_secrets() {
    let (dir, names) = configs("valid");
    assert!(!names.is_empty());
    for name in names {
        let out = check_config(&dir, &name);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("ok: {name} is valid")), "{stdout}");
        assert!(
            !stdout.contains("sk-secret-value"),
            "secret printed: {stdout}"
        );
    }
    let out = check_config(&dir, "full.toml");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OPENAI_API_KEY=<redacted>"), "{stdout}");
    // Every literal value is redacted by default, not only secret-looking ones.
    assert!(stdout.contains("MODE=<redacted>"), "{stdout}");
    // An OTLP header's value is a secret too.
    assert!(
        stdout.contains(
            "otlp     http://127.0.0.1:4318 as service agents, headers authorization=<redacted>"
        ),
        "{stdout}"
    );
    let shown = Command::new(env!("CARGO_BIN_EXE_drover"))
        .current_dir(&dir)
        .args(["check-config", "--show-values", "--config", "full.toml"])
        .env("HOME", &dir)
        .output()
        .expect("run drover");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("MODE=fast"), "{shown}");
}

#[test]
fn example_config_is_valid_and_is_what_config_default_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = check_config(root, "config.example.toml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["config", "default"])
        .output()
        .unwrap();
    let example = std::fs::read_to_string(root.join("config.example.toml")).unwrap();
    assert_eq!(String::from_utf8_lossy(&printed.stdout), example);
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_config(dir.path(), "nope.toml");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("cannot read config nope.toml:"),
        "{stderr}"
    );
}

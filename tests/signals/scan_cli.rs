//! `drover scan` as users run it: the real binary over captured runner output, JUnit reports,
//! stdin and garbage, text and `--json`, with the `[loops]` thresholds of a config.

use std::io::Write;
use std::process::{Command, Stdio};

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/drover-signals/tests/fixtures/signals")
        .join(path)
}

fn scan(args: &[&std::ffi::OsStr], stdin: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("scan")
        .args(args)
        .env_remove("DROVER_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn files_and_junit_reports_give_one_json_object_per_run() {
    let (ok, out, err) = scan(
        &[
            "--json".as_ref(),
            fixture("pytest/fail.txt").as_os_str(),
            fixture("nextest/fail-junit.xml").as_os_str(),
            fixture("cargo/large.txt").as_os_str(),
        ],
        b"",
    );
    assert!(ok, "{err}");
    let runs = json_lines(&out);
    let summary: Vec<(String, u64, u64, String)> = runs
        .iter()
        .map(|r| {
            (
                r["runner"].as_str().unwrap().to_string(),
                r["passed"].as_u64().unwrap(),
                r["failed"].as_u64().unwrap(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("pytest".into(), 1, 4, "fail".into()),
            ("cargo-nextest".into(), 3, 4, "fail".into()),
            ("cargo-test".into(), 390, 0, "pass".into()),
        ]
    );
    assert!(
        runs[1]["failures"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("adding one and two")),
        "{}",
        runs[1]
    );
}

#[test]
fn stdin_text_output_and_garbage() {
    let mut input = std::fs::read(fixture("go/fail.txt")).unwrap();
    input.extend_from_slice(b"\xff\xfe\x00 not utf-8 \x1b[31m\r\n");
    input.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    input.push(b'\n');
    let (ok, out, err) = scan(&[], &input);
    assert!(ok, "{err}");
    assert!(out.starts_with("line 1: go-test run: fail"), "{out}");
}

#[test]
fn loop_findings_follow_the_configured_thresholds() {
    let log: String = (0..6)
        .map(|i| format!("⏺ Bash(make check)\nrun {i} failed\n"))
        .collect();
    let (ok, out, err) = scan(&["--json".as_ref()], log.as_bytes());
    assert!(ok, "{err}");
    let found = json_lines(&out);
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["kind"], "loop");
    assert_eq!(found[0]["detector"], "tool_call_repetition");
    assert_eq!(found[0]["line"], 9, "the fifth call");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("drover.toml");
    std::fs::write(
        &cfg,
        "[fleet]\nname = \"x\"\n[[roles]]\nname = \"a\"\nimage = \"i\"\n[loops.output_repetition]\ntool_call_repeats = 3\n",
    )
    .unwrap();
    let (ok, out, err) = scan(
        &["--config".as_ref(), cfg.as_os_str(), "--json".as_ref()],
        log.as_bytes(),
    );
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["line"], 5, "the third call: {out}");

    std::fs::write(
        &cfg,
        "[fleet]\nname = \"x\"\n[loops.output_repetition]\ntool_call_repeat = 3\n",
    )
    .unwrap();
    let (ok, _, err) = scan(&["--config".as_ref(), cfg.as_os_str()], b"");
    assert!(!ok);
    assert!(err.contains("drover.toml:4:1"), "{err}");
}

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

/// `--explain` prints, under each run, the numbered log lines that decided its runner, its
/// counts and its verdict — here the jest run whose passing tests sit beside a suite that
/// failed to run (an error, never a pass), and a bun run read from its tallies.
#[test]
fn explain_names_the_lines_behind_runner_counts_and_verdict() {
    let jest = fixture("jest/w2-jest-suite-failed-beside-pass.txt");
    let bun = fixture("bun/w2-issue-21229-summary.txt");
    let (ok, out, err) = scan(&["--explain".as_ref(), jest.as_os_str()], b"");
    assert!(ok, "{err}");
    assert!(out.contains("jest run: error: 4 passed"), "{out}");
    let why: Vec<&str> = out
        .lines()
        .skip_while(|l| l.trim() != "why:")
        .skip(1)
        .map(str::trim)
        .collect();
    assert!(
        why.contains(&"runner  line 1: PASS src/fmt.test.js"),
        "runner line: {why:?}"
    );
    assert!(
        why.contains(&"verdict line 4:   ● Test suite failed to run"),
        "the failed suite decided the verdict: {why:?}"
    );
    assert!(
        why.iter()
            .any(|l| l.starts_with("counts  line 20: Tests:       4 passed")),
        "the summary decided the counts: {why:?}"
    );

    let (ok, out, err) = scan(
        &["--explain".as_ref(), "--json".as_ref(), bun.as_os_str()],
        b"",
    );
    assert!(ok, "{err}");
    let runs = json_lines(&out);
    assert_eq!(runs.len(), 1, "{out}");
    let evidence = runs[0]["evidence"].as_array().expect("an evidence array");
    let lines: Vec<(u64, &str, &str)> = evidence
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["decides"].as_str().unwrap(),
                e["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(lines.contains(&(3, "counts", " 1001 fail")), "{lines:?}");
    assert!(
        lines.contains(&(5, "counts", "Ran 1001 tests across 2 files.")),
        "{lines:?}"
    );
    // Without --explain the JSON contract is unchanged.
    let (_, plain, _) = scan(&["--json".as_ref(), bun.as_os_str()], b"");
    assert!(!plain.contains("evidence"), "{plain}");
}

/// A real Claude Code session with an automatic compaction (the context fixtures' source is in
/// their SOURCES.toml): `--json` prints the compaction on its own line, text says it in words.
#[test]
fn a_compaction_is_one_json_line_with_its_line_trigger_and_size() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "crates/drover-signals/tests/fixtures/context/claude-session-spotter-autocompact.jsonl",
    );
    let (ok, out, err) = scan(&["--json".as_ref(), file.as_os_str()], b"");
    assert!(ok, "{err}");
    assert_eq!(
        out.trim_end(),
        r#"{"kind":"compaction","line":2,"trigger":"auto","pre_tokens":170251}"#
    );
    let (ok, text, err) = scan(&[file.as_os_str()], b"");
    assert!(ok, "{err}");
    assert_eq!(
        text.trim_end(),
        "line 2: context compacted (auto), 170251 tokens before, 85% of the window"
    );
}

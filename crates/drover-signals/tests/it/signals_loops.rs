//! The log-fed loop detectors: every detector fires on a real loop within a bounded number of
//! lines, and healthy output that looks repetitive never fires — a long compile, a 380-test run
//! (a real capture), progress bars, a health-check log, a flaky call retried then succeeding, and
//! every captured runner fixture.

use drover_signals::{
    BudgetLevel, BudgetLimits, BudgetMeter, FailingSetStreak, Finding, LoopChange, LoopFinding,
    OutputDetector, OutputLimits, OutputLoopDetector, ScanLimits, scan_bytes, scan_bytes_with,
    tool_call_key, usage_tokens,
};

fn feed<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> Vec<LoopFinding> {
    let mut d = OutputLoopDetector::default();
    let mut out = Vec::new();
    for (i, l) in lines.into_iter().enumerate() {
        d.feed(l.as_ref().as_bytes(), i as u64 + 1, &mut out);
    }
    out
}

fn first_firing(findings: &[LoopFinding], detector: OutputDetector) -> Option<u64> {
    findings.iter().find_map(|f| match f.change {
        LoopChange::Holding { first: true, .. } if f.detector == detector => Some(f.at),
        _ => None,
    })
}

fn fired(findings: &[LoopFinding]) -> Vec<(OutputDetector, u64)> {
    findings
        .iter()
        .filter(|f| matches!(f.change, LoopChange::Holding { first: true, .. }))
        .map(|f| (f.detector, f.at))
        .collect()
}

/// One iteration of an agent stuck on the same error: 12 distinct lines whose ids, times and
/// counters change every time.
fn stuck_iteration(i: u32) -> Vec<String> {
    vec![
        format!(
            "[2026-12-03T10:{:02}:{:02}Z] Let me look at the failing build again.",
            i / 60 % 60,
            i % 60
        ),
        format!("⏺ Bash(cargo build -p engine 2>&1 | tail -20)   # attempt {i}"),
        "  ⎿  Compiling engine v0.3.1 (/workspace/engine)".to_string(),
        format!(
            "  ⎿  error[E0502]: cannot borrow `self.buf` as mutable (req_{:08x})",
            i.wrapping_mul(2654435761)
        ),
        "  ⎿     --> engine/src/buffer.rs:88:9".to_string(),
        "  ⎿  error: could not compile `engine` due to 1 previous error".to_string(),
        "I see the borrow error in buffer.rs. Let me read the file.".to_string(),
        "⏺ Read(engine/src/buffer.rs)".to_string(),
        format!("  ⎿  Read {} lines", 180 + i % 7),
        "The issue is the mutable borrow inside the loop. I'll clone the slice first.".to_string(),
        "⏺ Update(engine/src/buffer.rs)".to_string(),
        format!(
            "  ⎿  Updated engine/src/buffer.rs with {} additions and 2 removals",
            1 + i % 3
        ),
    ]
}

#[test]
fn an_agent_repeating_the_same_work_fires_output_repetition_within_four_windows() {
    let lines: Vec<String> = (0..40).flat_map(stuck_iteration).collect();
    let findings = feed(&lines);
    let at = first_firing(&findings, OutputDetector::OutputRepetition)
        .expect("output repetition must fire");
    assert!(at <= 4 * 50, "fired only at line {at}");
    let evidence = findings
        .iter()
        .find_map(|f| match &f.change {
            LoopChange::Holding {
                first: true,
                evidence,
                since,
            } if f.detector == OutputDetector::OutputRepetition => Some((evidence, *since)),
            _ => None,
        })
        .unwrap();
    assert!(
        evidence.0[0].contains("repeat earlier output"),
        "{:?}",
        evidence.0
    );
    assert!(
        evidence
            .0
            .iter()
            .any(|l| l.contains("Read(engine/src/buffer.rs)")),
        "the repeated lines are the evidence: {:?}",
        evidence.0
    );
    assert!(evidence.1 < at, "since is where the evidence began");
    // It holds (re-sent every window) and does not report `first` again.
    let firsts = findings
        .iter()
        .filter(|f| {
            f.detector == OutputDetector::OutputRepetition
                && matches!(f.change, LoopChange::Holding { first: true, .. })
        })
        .count();
    assert_eq!(firsts, 1);
}

#[test]
fn repetition_clears_when_the_agent_moves_on_and_can_fire_again() {
    let mut lines: Vec<String> = (0..30).flat_map(stuck_iteration).collect();
    lines.extend((0..200).map(|i| {
        format!(
            "writing module part_{} with new content {}",
            char::from(b'a' + (i % 26) as u8),
            ["alpha", "beta", "gamma", "delta", "eps"][i % 5].repeat(1 + i / 26)
        )
    }));
    lines.extend((100..130).flat_map(stuck_iteration));
    let findings = feed(&lines);
    let changes: Vec<&LoopChange> = findings
        .iter()
        .filter(|f| f.detector == OutputDetector::OutputRepetition)
        .map(|f| &f.change)
        .filter(|c| {
            matches!(
                c,
                LoopChange::Cleared | LoopChange::Holding { first: true, .. }
            )
        })
        .collect();
    assert!(
        matches!(
            changes.as_slice(),
            [
                LoopChange::Holding { .. },
                LoopChange::Cleared,
                LoopChange::Holding { .. }
            ]
        ),
        "{changes:?}"
    );
}

#[test]
fn the_same_block_ten_times_fires_repeated_block() {
    // A 10-line block, separated by the agent's narration: it varies from round to round but
    // says nothing new (six phrasings that keep coming back), so it is no progress.
    let block: Vec<String> = [
        "Reading src/parser.rs",
        "Found the tokenizer state machine",
        "Applying patch to handle escaped quotes",
        "Running cargo check",
        "error: expected `;`, found `}`",
        "Reverting the patch",
        "Trying the lexer instead",
        "Applying patch to the lexer",
        "Running cargo check",
        "error: mismatched types",
    ]
    .map(String::from)
    .to_vec();
    let mut lines = Vec::new();
    for round in 0..12 {
        lines.extend(block.iter().cloned());
        for j in 0..30 {
            lines.push(format!(
                "thinking about approach {} again",
                ["a", "b", "c", "d", "e", "f"][(round + j) % 6],
            ));
        }
    }
    let findings = feed(&lines);
    let at = first_firing(&findings, OutputDetector::RepeatedBlock).expect("block fires");
    assert!(at <= 10 * 40 + 10, "fired at {at}");
}

#[test]
fn the_same_block_around_new_work_does_not_fire() {
    // The same compiler warnings after every change, but each round edits a new file and says
    // something new: progress, as in a harness log that re-runs the build every iteration.
    let warnings = [
        "warning: field `show_title` is never read",
        "  --> src/plex.rs:31:9",
        "   |",
        "25 | pub struct Episode {",
        "   |            ------- field in this struct",
        "31 |     pub show_title: String,",
        "   |         ^^^^^^^^^^",
        "   = note: `#[warn(dead_code)]` on by default",
        "warning: `groovy` (bin) generated 1 warning",
        "    Finished `dev` profile target(s)",
    ];
    let mut lines = Vec::new();
    let work = [
        "seek bar",
        "volume keys",
        "play queue",
        "shuffle mode",
        "repeat mode",
        "config file",
        "theme colours",
        "modeline",
        "search box",
        "album view",
        "artist view",
        "error toasts",
        "resume state",
        "help screen",
        "keymap docs",
    ];
    for (round, what) in work.iter().enumerate() {
        lines.extend(warnings.iter().map(|w| w.to_string()));
        lines.push(format!("Implemented the {what} and its tests pass"));
        lines.push(format!("⏺ Edit(src/cmd_{round}.rs)"));
    }
    let fired = fired(&feed(&lines));
    assert!(
        !fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::RepeatedBlock),
        "{fired:?}"
    );
}

#[test]
fn identical_tool_calls_in_a_row_fire_at_the_fifth() {
    let mut lines = Vec::new();
    for i in 0..8 {
        lines.push(format!(
            r#"{{"type":"assistant","message":{{"id":"msg_01{i:016}AbCd","content":[{{"type":"tool_use","id":"toolu_01{i:018}Xy","name":"Bash","input":{{"command":"cargo test -p engine"}}}}]}}}}"#
        ));
        lines.push(format!("test result: FAILED. 3 passed; 1 failed (run {i})"));
        lines.push("The test still fails; let me run it again.".to_string());
    }
    let findings = feed(&lines);
    assert_eq!(
        first_firing(&findings, OutputDetector::ToolCallRepetition),
        Some(13),
        "the fifth identical call is line 13: {findings:?}"
    );
}

#[test]
fn tool_call_forms_are_recognised_and_ids_do_not_make_calls_differ() {
    assert!(tool_call_key("⏺ Bash(cargo test)").is_some());
    assert!(tool_call_key("● Read(src/lib.rs)").is_some());
    assert!(tool_call_key("[agent] tool call: Bash(./run_tests.sh --fast)").is_some());
    assert!(tool_call_key("[tool] grep -rn foo src").is_some());
    assert!(tool_call_key("Tool: edit_file path=src/a.rs").is_some());
    assert!(tool_call_key("I will call the Bash tool next.").is_none());
    assert!(tool_call_key("● Done.").is_none());
    assert!(tool_call_key("[12:00:01] compiling").is_none());
    let a = tool_call_key(
        r#"{"type":"tool_use","id":"toolu_01AAAAAAAAAAAAAAAAAAAA11","name":"Read","input":{"path":"a.rs"}}"#,
    );
    let b = tool_call_key(
        r#"{"type":"tool_use","id":"toolu_01BBBBBBBBBBBBBBBBBBBB22","name":"Read","input":{"path":"a.rs"}}"#,
    );
    let c = tool_call_key(
        r#"{"type":"tool_use","id":"toolu_01BBBBBBBBBBBBBBBBBBBB22","name":"Read","input":{"path":"b.rs"}}"#,
    );
    assert!(a.is_some());
    assert_eq!(a, b);
    assert_ne!(b, c);
}

// ---- healthy look-alikes ----

#[test]
fn a_long_compile_does_not_fire() {
    // Real crate names and versions (from this repository's lock file), built, checked and
    // documented: thousands of lines that look alike once numbers are normalised.
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let mut crates = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            crates.push((n, v.trim_matches('"').to_string()));
        }
    }
    assert!(crates.len() > 300);
    let mut lines = Vec::new();
    for verb in ["Compiling", "Checking", "Documenting", "Compiling"] {
        for (n, v) in &crates {
            lines.push(format!("   {verb} {n} v{v}"));
        }
    }
    lines.push("    Finished `dev` profile [unoptimized + debuginfo] target(s) in 2m 41s".into());
    assert!(lines.len() > 1500);
    assert_eq!(fired(&feed(&lines)), vec![]);
    // Numbered crate names normalise to one line: a single repeated line is not a loop either.
    let numbered = (0..3000).map(|i| format!("   Compiling crate_{i} v1.{i}.0"));
    assert_eq!(fired(&feed(numbered)), vec![]);
}

#[test]
fn a_390_test_run_does_not_fire() {
    // A real `cargo test` capture with 390 passing tests (380 + 10 in a second block).
    let log = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signals/cargo/large.txt"
    ))
    .unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(text.matches(" ... ok").count() >= 380);
    // Straight into the output detectors (no test-run exclusion) …
    assert_eq!(fired(&feed(text.lines())), vec![]);
    // … and through the scanner, twice in a row (an agent re-running the suite).
    let twice = [log.clone(), log].concat();
    let loops: Vec<Finding> = scan_bytes(&twice)
        .into_iter()
        .filter(|f| matches!(f, Finding::Loop { .. }))
        .collect();
    assert!(loops.is_empty(), "{loops:?}");
}

#[test]
fn progress_bars_do_not_fire() {
    // A \r-redrawn bar is one line per download; a bar printed as lines repeats one shape.
    let mut lines = Vec::new();
    for file in 0..40 {
        let mut raw = String::new();
        for pct in (0..=100).step_by(5) {
            raw.push_str(&format!(
                "\rDownloading model-{file}.bin {pct:>3}% [{:<20}]",
                "=".repeat(pct / 5)
            ));
        }
        lines.push(raw);
        for pct in 0..=100 {
            lines.push(format!("Unpacking layer {file}: {pct}%"));
        }
    }
    assert_eq!(fired(&feed(&lines)), vec![]);
}

#[test]
fn a_health_check_log_does_not_fire() {
    let mut lines = Vec::new();
    for s in 0..3600u32 {
        lines.push(format!(
            "2026-12-03T10:{:02}:{:02}.{:03}Z INFO GET /healthz 200 OK {}µs",
            s / 60 % 60,
            s % 60,
            s * 7 % 1000,
            100 + s % 50
        ));
        if s % 2 == 0 {
            lines.push(format!(
                "2026-12-03T10:{:02}:{:02}Z DEBUG db pool: 4 idle, {} busy",
                s / 60 % 60,
                s % 60,
                s % 3
            ));
        }
    }
    assert_eq!(fired(&feed(&lines)), vec![]);
}

#[test]
fn a_flaky_call_retried_three_times_then_succeeding_does_not_fire() {
    let mut lines = Vec::new();
    for round in 0..20 {
        for attempt in 1..=3 {
            lines.push("⏺ Bash(curl -sf https://registry.example/api/v1/index.json)".to_string());
            lines.push(format!(
                "  ⎿  curl: (28) Connection timed out after 10001 milliseconds (attempt {attempt})"
            ));
            lines.push("The registry timed out; retrying.".to_string());
        }
        lines.push("⏺ Bash(curl -sf https://registry.example/api/v1/index.json)".to_string());
        lines.push("  ⎿  {\"packages\": 1843}".to_string());
        lines.push(format!(
            "Fetched the index; now updating dependency number {round}."
        ));
        lines.push(format!("⏺ Update(deps/lock_{round}.toml)"));
        for k in 0..20 {
            lines.push(format!(
                "  writing entry {} for package {}",
                k,
                ["serde", "tokio", "clap", "regex"][(round + k) % 4].repeat(1 + (k + round) % 5)
            ));
        }
    }
    let found = fired(&feed(&lines));
    assert!(
        !found
            .iter()
            .any(|(d, _)| *d == OutputDetector::ToolCallRepetition),
        "{found:?}"
    );
}

#[test]
fn no_captured_runner_output_fires_a_loop() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/signals");
    let mut checked = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "txt") {
                let bytes = std::fs::read(&f).unwrap();
                let loops: Vec<Finding> = scan_bytes(&bytes)
                    .into_iter()
                    .filter(|x| matches!(x, Finding::Loop { .. }))
                    .collect();
                assert!(loops.is_empty(), "{}: {loops:?}", f.display());
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} fixtures");
}

// ---- budget and failing tests ----

#[test]
fn usage_lines_are_read_from_stream_json_and_markers() {
    assert_eq!(
        usage_tokens(
            r#"{"type":"assistant","message":{"usage":{"input_tokens":1200,"output_tokens":300}}}"#
        ),
        Some(1500)
    );
    assert_eq!(
        usage_tokens(r#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#),
        Some(15)
    );
    assert_eq!(
        usage_tokens(r#"{"type":"result","usage":{"input_tokens":99999,"output_tokens":1}}"#),
        None,
        "the session total repeats what was counted per message"
    );
    assert_eq!(usage_tokens("round 4 done, tokens=12,345"), Some(12_345));
    assert_eq!(usage_tokens("[agent] tokens: 800 (cached 200)"), Some(800));
    assert_eq!(usage_tokens("maxtokens=5 is a setting"), None);
    assert_eq!(usage_tokens("the tokens were fine"), None);
    assert_eq!(usage_tokens("{not json usage"), None);
}

#[test]
fn the_budget_warns_then_alerts_and_caps_rounds() {
    let limits = BudgetLimits::default();
    let mut m = BudgetMeter::default();
    assert_eq!(m.add(&limits, 15_000, 1), None);
    assert_eq!(m.add(&limits, 6_000, 1), Some(BudgetLevel::Warn));
    assert_eq!(m.add(&limits, 1_000, 1), None, "told once per level");
    assert_eq!(m.add(&limits, 30_000, 1), Some(BudgetLevel::Alert));
    let mut rounds = BudgetMeter::default();
    let mut got = None;
    for i in 1..=50 {
        if let Some(l) = rounds.add(&limits, 10, 1) {
            got = Some((i, l));
        }
    }
    assert_eq!(got, Some((50, BudgetLevel::Alert)), "50 rounds on one task");
}

#[test]
fn the_same_failing_set_three_runs_in_a_row_is_a_streak() {
    let mut s = FailingSetStreak::default();
    assert_eq!(s.observe(true, ["a", "b"]), 1);
    assert_eq!(
        s.observe(true, ["b", "a", "a"]),
        2,
        "order and duplicates do not matter"
    );
    assert_eq!(s.observe(true, ["a", "b"]), 3);
    assert_eq!(s.observe(true, ["a"]), 1, "a different set starts over");
    assert_eq!(s.observe(false, std::iter::empty()), 0);
    assert_eq!(
        s.observe(true, std::iter::empty()),
        0,
        "no names: nothing to compare"
    );
}

#[test]
fn scan_reports_loops_with_the_documented_json_shape() {
    let run = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signals/cargo/fail.txt"
    ))
    .unwrap();
    let mut log = Vec::new();
    for i in 0..3 {
        log.extend_from_slice(format!("⏺ Bash(cargo test)   # try {i}\n").as_bytes());
        log.extend_from_slice(&run);
        log.extend_from_slice(b"Still failing. Let me look again.\n");
    }
    let findings = scan_bytes(&log);
    let loops: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f, Finding::Loop { .. }))
        .map(Finding::to_json_line)
        .collect();
    assert_eq!(loops.len(), 1, "{loops:?}");
    let v: serde_json::Value = serde_json::from_str(&loops[0]).unwrap();
    assert_eq!(v["kind"], "loop");
    assert_eq!(v["detector"], "failing_tests");
    assert!(v["line"].as_u64().unwrap() > 0);
    assert!(
        v["evidence"][0]
            .as_str()
            .unwrap()
            .contains("3 runs in a row"),
        "{v}"
    );
    assert!(
        loops[0].starts_with(r#"{"kind":"loop","detector":"failing_tests","line":"#),
        "field order is part of the contract: {}",
        loops[0]
    );

    // With the detector off, the same log yields test runs only.
    let off = ScanLimits {
        failing_runs: None,
        ..ScanLimits::default()
    };
    assert!(
        scan_bytes_with(&log, off)
            .iter()
            .all(|f| matches!(f, Finding::TestRun { .. }))
    );
}

#[test]
fn thresholds_come_from_the_limits() {
    let lines: Vec<String> = (0..6).map(|_| "⏺ Bash(make check)".to_string()).collect();
    let mut strict = OutputLoopDetector::new(OutputLimits {
        tool_call_repeats: 3,
        ..OutputLimits::default()
    });
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        strict.feed(l.as_bytes(), i as u64 + 1, &mut out);
    }
    assert_eq!(
        first_firing(&out, OutputDetector::ToolCallRepetition),
        Some(3)
    );
    assert_eq!(
        first_firing(&feed(&lines), OutputDetector::ToolCallRepetition),
        Some(5)
    );
}

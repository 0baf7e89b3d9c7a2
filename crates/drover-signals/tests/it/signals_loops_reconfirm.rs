//! Loop look-alikes judged on (action, arguments, result): different `git checkout` actions that
//! get the same reply are progress; replies that only re-confirm finished work are a loop; an
//! agent's own account of a failing edit it will re-read and re-send is a loop.

use drover_signals::{LoopChange, LoopFinding, OutputDetector, OutputLoopDetector};

fn feed(lines: &[String]) -> Vec<LoopFinding> {
    let mut d = OutputLoopDetector::default();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        d.feed(l.as_bytes(), i as u64 + 1, &mut out);
    }
    d.finish(lines.len() as u64, &mut out);
    out
}

fn firing(findings: &[LoopFinding]) -> Vec<(OutputDetector, Vec<String>)> {
    findings
        .iter()
        .filter_map(|f| match &f.change {
            LoopChange::Holding {
                first: true,
                evidence,
                ..
            } => Some((f.detector, evidence.clone())),
            _ => None,
        })
        .collect()
}

/// Claude Code stream-json: a Bash call and its result, paired by tool-use id.
fn bash(id: u32, command: &str, result: &str) -> Vec<String> {
    vec![
        format!(
            r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_{id:04}","name":"Bash","input":{{"command":"{command}"}}}}]}}}}"#
        ),
        format!(
            r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{id:04}","content":"{result}","is_error":false}}]}}}}"#
        ),
    ]
}

#[test]
fn three_checkouts_of_three_files_with_the_same_reply_stay_silent() {
    let mut lines = Vec::new();
    for (i, f) in ["src/a.rs", "src/b.rs", "src/c.rs"].iter().enumerate() {
        lines.extend(bash(
            i as u32,
            &format!("git checkout -- {f}"),
            "Updated 1 path from the index",
        ));
    }
    assert_eq!(firing(&feed(&lines)), vec![], "stream-json");

    // The same in a Claude Code terminal capture.
    let mut lines = Vec::new();
    for f in ["src/a.rs", "src/b.rs", "src/c.rs"] {
        lines.push(format!("⏺ Bash(git checkout -- {f})"));
        lines.push("  ⎿  Updated 1 path from the index".to_string());
        lines.push(String::new());
    }
    assert_eq!(firing(&feed(&lines)), vec![], "terminal");
}

#[test]
fn the_same_checkout_of_the_same_file_four_times_fires() {
    // The control: the same action, the same reply, four times in a row is a loop.
    let mut lines = Vec::new();
    for i in 0..4 {
        lines.extend(bash(
            i,
            "git checkout -- src/a.rs",
            "Updated 1 path from the index",
        ));
    }
    let fired = firing(&feed(&lines));
    assert!(
        fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::RepeatedAction),
        "{fired:?}"
    );
}

fn reconfirm(n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..n {
        lines.push(format!(
            "❯ /loop check run {i} and continue with the next fix"
        ));
        lines.push(String::new());
        lines.push(format!(
            "● Everything in this loop was already done (round {i}):"
        ));
        lines.push(format!("  - ✓ Test run {i}: 1/1 passed"));
        lines.push("  - ✓ Format: completed".to_string());
        lines.push("  Nothing left to schedule; waiting for a decision on the PR.".to_string());
        lines.push(String::new());
    }
    lines
}

#[test]
fn three_replies_that_only_reconfirm_finished_work_fire_with_first_and_last() {
    let fired = firing(&feed(&reconfirm(3)));
    let (_, evidence) = fired
        .iter()
        .find(|(d, _)| *d == OutputDetector::SessionRepeat)
        .unwrap_or_else(|| panic!("{fired:?}"));
    assert!(evidence[1].contains("round 0"), "{evidence:?}");
    assert!(evidence[2].contains("round 2"), "{evidence:?}");
}

#[test]
fn two_reconfirmations_or_ticks_around_actions_stay_silent() {
    assert_eq!(firing(&feed(&reconfirm(2))), vec![]);
    let mut lines = Vec::new();
    for i in 0..4 {
        lines.push(format!("● Done with step {i}:"));
        lines.push(format!("  - ✓ step {i} built"));
        lines.push(format!("  - ✓ step {i} tested"));
        lines.push(String::new());
        lines.push(format!("⏺ Bash(cargo test step_{i})"));
        lines.push(format!("  ⎿  test result: ok. {i} passed"));
        lines.push(String::new());
    }
    assert_eq!(firing(&feed(&lines)), vec![]);
}

#[test]
fn an_agent_saying_its_edit_still_fails_and_it_will_reread_fires_edit_retry() {
    let lines = vec![
        "✦ Sorry again. The patch is still failing on src/app.ts. I will read the file again and re-apply it.".to_string(),
    ];
    let fired = firing(&feed(&lines));
    assert!(
        fired.iter().any(|(d, _)| *d == OutputDetector::EditRetry),
        "{fired:?}"
    );
    // One failure, reported once, with a re-read: a short retry.
    let lines =
        vec!["✦ The patch failed on src/app.ts. I will read the file and re-apply it.".to_string()];
    assert_eq!(firing(&feed(&lines)), vec![]);
}

/// One Ralph-style relaunch: the harness's timestamped banner and counter lines, then what the
/// agent said.
fn ralph_loop(n: u32, said: &str) -> Vec<String> {
    vec![
        format!("[2026-04-03 09:4{n}:26] [LOOP] === Starting Loop #{n} ==="),
        format!("[2026-04-03 09:4{n}:26] [INFO] Loop #{n} - calling init_call_tracking..."),
        said.to_string(),
        "Tasks in @fix_plan.md: all items checked, nothing left to implement.".to_string(),
        format!("[2026-04-03 09:4{n}:58] [LOOP] === Completed Loop #{n} ==="),
    ]
}

const DONE: &str = "All tasks in the plan are complete; the build and the tests pass.";

#[test]
fn two_identical_relaunches_then_the_harness_breaker_fire_session_repeat() {
    let mut lines = Vec::new();
    lines.extend(ralph_loop(1, DONE));
    lines.extend(ralph_loop(2, DONE));
    lines.push(
        "[2026-04-03 09:43:01] [WARN] Circuit breaker opened: no progress in 2 loops".to_string(),
    );
    let fired = firing(&feed(&lines));
    let (_, evidence) = fired
        .iter()
        .find(|(d, _)| *d == OutputDetector::SessionRepeat)
        .unwrap_or_else(|| panic!("no session_repeat in {fired:?}"));
    assert!(
        evidence
            .iter()
            .any(|l| l.contains("Circuit breaker opened")),
        "{evidence:?}"
    );
}

#[test]
fn three_identical_relaunches_fire_without_any_breaker() {
    let mut lines = Vec::new();
    for n in 1..=3 {
        lines.extend(ralph_loop(n, DONE));
    }
    let fired = firing(&feed(&lines));
    assert!(
        fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::SessionRepeat),
        "{fired:?}"
    );
}

#[test]
fn a_breaker_after_different_relaunches_or_two_alone_stays_silent() {
    let mut lines = Vec::new();
    lines.extend(ralph_loop(1, DONE));
    lines.extend(ralph_loop(2, DONE));
    // Two identical relaunches and no verdict from the harness: not yet a loop.
    assert!(firing(&feed(&lines)).is_empty());
    let mut lines = Vec::new();
    lines.extend(ralph_loop(
        1,
        "Implemented the login form; 3 of 7 tasks done.",
    ));
    lines.extend(ralph_loop(
        2,
        "Implemented the session store; 4 of 7 tasks done.",
    ));
    lines.push("[2026-04-03 09:43:01] [WARN] Circuit breaker opened: no progress".to_string());
    // The breaker alone (it also opens on healthy runs) is no loop.
    assert!(firing(&feed(&lines)).is_empty());
}

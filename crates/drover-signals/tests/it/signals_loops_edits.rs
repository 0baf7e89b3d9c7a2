//! Edits judged by what they change, whatever the transcript format: a change undone and made
//! again (A→B, B→A, A→B) is an oscillation even with other actions between; the same failing
//! edit re-sent after a re-read is an edit retry; edits that move forward are progress.

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

/// Claude Code stream-json: a tool call and its result, paired by tool-use id.
fn call(id: u32, tool: &str, input: &str, result: &str, is_error: bool) -> Vec<String> {
    vec![
        format!(
            r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_{id:04}","name":"{tool}","input":{input}}}]}}}}"#
        ),
        format!(
            r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{id:04}","content":"{result}","is_error":{is_error}}}]}}}}"#
        ),
    ]
}

fn edit(id: u32, old: &str, new: &str, result: &str, is_error: bool) -> Vec<String> {
    call(
        id,
        "Edit",
        &format!(r#"{{"file_path":"/app/src/lib.rs","old_string":"{old}","new_string":"{new}"}}"#),
        result,
        is_error,
    )
}

fn read(id: u32) -> Vec<String> {
    call(
        id,
        "Read",
        r#"{"file_path":"/app/src/lib.rs"}"#,
        r"1\tfn main() {}",
        false,
    )
}

fn bash(id: u32, command: &str, result: &str) -> Vec<String> {
    call(
        id,
        "Bash",
        &format!(r#"{{"command":"{command}"}}"#),
        result,
        false,
    )
}

#[test]
fn an_edit_undone_and_made_again_fires_oscillation_with_first_and_last() {
    let a = "let timeout = 30;";
    let b = "let timeout = Duration::from_secs(30);";
    let mut lines = Vec::new();
    lines.extend(edit(1, a, b, "The file has been updated.", false));
    lines.extend(bash(2, "cargo build", "error[E0308]: mismatched types"));
    lines.extend(edit(3, b, a, "The file has been updated.", false));
    lines.extend(bash(
        4,
        "cargo test",
        "error: test failed, to rerun pass --lib",
    ));
    lines.extend(edit(5, a, b, "The file has been updated.", false));
    let fired = firing(&feed(&lines));
    let osc = fired
        .iter()
        .find(|(d, _)| *d == OutputDetector::Oscillation)
        .unwrap_or_else(|| panic!("no oscillation in {fired:?}"));
    assert!(
        osc.1.iter().any(|l| l.starts_with("first: Edit(")),
        "{osc:?}"
    );
    assert!(
        osc.1.iter().any(|l| l.starts_with("last: Edit(")),
        "{osc:?}"
    );
}

#[test]
fn edits_that_move_forward_or_undo_once_stay_silent() {
    let mut lines = Vec::new();
    lines.extend(edit(
        1,
        "a = 1",
        "a = 2",
        "The file has been updated.",
        false,
    ));
    lines.extend(edit(
        2,
        "a = 2",
        "a = 3",
        "The file has been updated.",
        false,
    ));
    // One undo is a correction, not a loop.
    lines.extend(edit(
        3,
        "a = 3",
        "a = 2",
        "The file has been updated.",
        false,
    ));
    lines.extend(edit(
        4,
        "b = 1",
        "b = 2",
        "The file has been updated.",
        false,
    ));
    let fired = firing(&feed(&lines));
    assert!(fired.is_empty(), "{fired:?}");
}

#[test]
fn aider_search_replace_blocks_flipping_fire_oscillation() {
    let block = |from: &str, to: &str| {
        vec![
            "src/app.py".to_string(),
            "```python".to_string(),
            "<<<<<<< SEARCH".to_string(),
            from.to_string(),
            "=======".to_string(),
            to.to_string(),
            ">>>>>>> REPLACE".to_string(),
            "```".to_string(),
            String::new(),
        ]
    };
    let mut lines = vec!["# aider chat started at 2025-01-01 10:00:00".to_string()];
    lines.push("#### make the port configurable".to_string());
    lines.extend(block(
        "PORT = 8080",
        "PORT = int(os.environ.get('PORT', 8080))",
    ));
    lines.push("#### that broke the tests, fix it".to_string());
    lines.extend(block(
        "PORT = int(os.environ.get('PORT', 8080))",
        "PORT = 8080",
    ));
    lines.push("#### the port must be configurable".to_string());
    lines.extend(block(
        "PORT = 8080",
        "PORT = int(os.environ.get('PORT', 8080))",
    ));
    let fired = firing(&feed(&lines));
    assert!(
        fired.iter().any(|(d, _)| *d == OutputDetector::Oscillation),
        "{fired:?}"
    );
}

#[test]
fn the_same_failing_edit_resent_after_a_reread_fires_edit_retry() {
    let err = "<tool_use_error>String to replace not found in file.</tool_use_error>";
    let mut lines = Vec::new();
    lines.extend(edit(1, "fn old()", "fn new()", err, true));
    lines.extend(read(2));
    lines.extend(edit(3, "fn old()", "fn new()", err, true));
    let fired = firing(&feed(&lines));
    let retry = fired
        .iter()
        .find(|(d, _)| *d == OutputDetector::EditRetry)
        .unwrap_or_else(|| panic!("no edit_retry in {fired:?}"));
    assert!(
        retry.1.iter().any(|l| l.starts_with("first: Edit(")),
        "{retry:?}"
    );
    assert!(
        retry.1.iter().any(|l| l.starts_with("last: Edit(")),
        "{retry:?}"
    );
}

#[test]
fn a_failed_edit_fixed_after_a_reread_stays_silent() {
    let err = "<tool_use_error>String to replace not found in file.</tool_use_error>";
    let mut lines = Vec::new();
    lines.extend(edit(1, "fn old()", "fn new()", err, true));
    lines.extend(read(2));
    lines.extend(edit(
        3,
        "fn old_name()",
        "fn new()",
        "The file has been updated.",
        false,
    ));
    lines.extend(edit(4, "fn a()", "fn b()", err, true));
    lines.extend(read(5));
    lines.extend(edit(
        6,
        "fn a()",
        "fn b()",
        "The file has been updated.",
        false,
    ));
    let fired = firing(&feed(&lines));
    assert!(fired.is_empty(), "{fired:?}");
}

#[test]
fn swe_agent_exiting_on_repeated_format_errors_is_a_harness_notice() {
    let lines = vec![
        "🤠 INFO     Trajectory saved".to_string(),
        "🤠 ERROR    Exit due to repeated format/blocklist/bash syntax errors".to_string(),
        "            NoneType: None".to_string(),
    ];
    let fired = firing(&feed(&lines));
    assert!(
        fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::HarnessNotice),
        "{fired:?}"
    );
}

const BUN_FAIL: &str = r"src/cart.test.ts:\n✗ cart > applies the discount [0.41ms]\n error: expect(received).toBe(expected)\n Expected: 90\n Received: 100\n\n 0 pass\n 1 fail\nRan 1 tests across 1 files. [12.00ms]";

#[test]
fn the_same_failing_test_run_after_run_between_edits_fires_repeated_failure() {
    let mut lines = Vec::new();
    for i in 0..3u32 {
        // A different edit each time: work happens, the test does not change.
        let old = format!("price * {i}");
        let new = format!("price * 0.{}", 9 - i);
        lines.extend(edit(
            10 * i + 1,
            &old,
            &new,
            "The file has been updated.",
            false,
        ));
        lines.extend(call(
            10 * i + 2,
            "Bash",
            r#"{"command":"bun test src/cart.test.ts"}"#,
            &BUN_FAIL.replace("0.41ms", &format!("0.{}ms", 40 + i)),
            true,
        ));
    }
    let fired = firing(&feed(&lines));
    let rerun = fired
        .iter()
        .find(|(d, _)| *d == OutputDetector::RepeatedFailure)
        .unwrap_or_else(|| panic!("no repeated_failure in {fired:?}"));
    assert!(rerun.1.iter().any(|l| l.contains("bun test")), "{rerun:?}");
    assert!(rerun.1.iter().any(|l| l.starts_with("last: ")), "{rerun:?}");
}

#[test]
fn a_failing_test_whose_count_moves_or_that_passes_stays_silent() {
    let mut lines = Vec::new();
    for (i, tally) in ["3 fail", "2 fail", "2 fail", "0 fail"].iter().enumerate() {
        let i = i as u32;
        lines.extend(edit(
            10 * i + 1,
            &format!("v{i}"),
            &format!("w{i}"),
            "ok",
            false,
        ));
        lines.extend(call(
            10 * i + 2,
            "Bash",
            r#"{"command":"bun test"}"#,
            &format!(r"0 pass\n {tally}"),
            *tally != "0 fail",
        ));
    }
    let fired = firing(&feed(&lines));
    assert!(fired.is_empty(), "{fired:?}");
}

#[test]
fn codex_exec_json_failing_the_same_way_between_patches_fires_repeated_failure() {
    let mut lines = vec![r#"{"type":"thread.started","thread_id":"t1"}"#.to_string()];
    for i in 0..3 {
        lines.push(format!(
            r#"{{"type":"item.completed","item":{{"id":"item_{i}a","type":"file_change","changes":[{{"path":"src/app.ts","kind":"update","n":{i}}}],"status":"completed"}}}}"#
        ));
        lines.push(format!(
            r#"{{"type":"item.completed","item":{{"id":"item_{i}b","type":"command_execution","command":"bash -lc 'npm test'","aggregated_output":"FAIL src/app.test.ts\n  ● app › renders\n Tests: 1 failed, 4 passed, 5 total","exit_code":1,"status":"failed"}}}}"#
        ));
    }
    let fired = firing(&feed(&lines));
    assert!(
        fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::RepeatedFailure),
        "{fired:?}"
    );
}

/// A Cline/Roo/Kilo task history (`api_conversation_history.json`) from (assistant text, user
/// text) exchanges.
fn cline_task(exchanges: &[(String, String)]) -> Vec<u8> {
    let mut messages = vec![serde_json::json!({"role": "user", "ts": 1, "content": [
        {"type": "text", "text": "<task>\nRename the config loader\n</task>"}]})];
    for (i, (said, answer)) in exchanges.iter().enumerate() {
        messages.push(serde_json::json!({"role": "assistant", "ts": 2 * i + 2,
            "content": [{"type": "text", "text": said}]}));
        messages.push(serde_json::json!({"role": "user", "ts": 2 * i + 3, "content": [
            {"type": "text", "text": answer},
            {"type": "text", "text": "<environment_details>\n# Current Time\n</environment_details>"}]}));
    }
    serde_json::to_vec(&messages).unwrap()
}

fn loop_names(bytes: &[u8]) -> Vec<&'static str> {
    drover_signals::scan_bytes(bytes)
        .iter()
        .filter_map(|f| match f {
            drover_signals::Finding::Loop { detector, .. } if *detector != "budget" => {
                Some(*detector)
            }
            _ => None,
        })
        .collect()
}

fn replace_in_file(from: &str, to: &str) -> String {
    format!(
        "I'll update the loader.\n<replace_in_file>\n<path>src/config.ts</path>\n<diff>\n<<<<<<< SEARCH\n{from}\n=======\n{to}\n>>>>>>> REPLACE\n</diff>\n</replace_in_file>"
    )
}

#[test]
fn a_cline_task_resending_a_failed_diff_after_reading_the_file_fires_edit_retry() {
    let failed = "[replace_in_file for 'src/config.ts'] Result:\nThe tool execution failed with the following error:\n<error>\nThe SEARCH block:\nexport function loadConfig() {\n...does not match anything in the file.\n</error>".to_string();
    let read = (
        "Let me read the file again.\n<read_file>\n<path>src/config.ts</path>\n</read_file>"
            .to_string(),
        "[read_file for 'src/config.ts'] Result:\nexport function loadSettings() {}".to_string(),
    );
    let edit = replace_in_file(
        "export function loadConfig() {",
        "export function readConfig() {",
    );
    let bytes = cline_task(&[(edit.clone(), failed.clone()), read, (edit, failed)]);
    assert_eq!(
        drover_signals::transcript::detect_format(&bytes).as_str(),
        "cline-task"
    );
    assert!(
        loop_names(&bytes).contains(&"edit_retry"),
        "{:?}",
        loop_names(&bytes)
    );
}

#[test]
fn a_cline_task_making_progress_stays_silent_and_flipping_edits_fire() {
    let ok = "[replace_in_file for 'src/config.ts'] Result:\nThe content was successfully saved to src/config.ts.".to_string();
    let (a, b, c) = (
        "const retries = 3;",
        "const retries = 5;",
        "const retries = 8;",
    );
    let forward = cline_task(&[
        (replace_in_file(a, b), ok.clone()),
        (replace_in_file(b, c), ok.clone()),
        (
            replace_in_file("const delay = 1;", "const delay = 2;"),
            ok.clone(),
        ),
    ]);
    assert!(
        loop_names(&forward).is_empty(),
        "{:?}",
        loop_names(&forward)
    );
    let flipping = cline_task(&[
        (replace_in_file(a, b), ok.clone()),
        (replace_in_file(b, a), ok.clone()),
        (replace_in_file(a, b), ok),
    ]);
    assert!(
        loop_names(&flipping).contains(&"oscillation"),
        "{:?}",
        loop_names(&flipping)
    );
}

#[test]
fn claude_tool_calls_that_lost_their_bullet_still_count_as_the_same_call() {
    let call =
        "    Bash(git add settings.py && git commit -m \"Fix CORS for booster PATCH requests";
    let mut lines: Vec<String> = (0..4).map(|_| call.to_string()).collect();
    lines.push(format!("  ● {}", call.trim_start()));
    let fired = firing(&feed(&lines));
    assert!(
        fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::ToolCallRepetition),
        "{fired:?}"
    );
    // Prose that mentions a tool is no call.
    let prose: Vec<String> = (0..6)
        .map(|i| format!("Bashing the build {i} times did not help"))
        .collect();
    assert!(firing(&feed(&prose)).is_empty());
}

#[test]
fn harness_rejections_inside_stream_json_fire_rejected_replies_unless_the_agent_acts() {
    let reject = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[ERROR] You did not use a tool in your previous response! Please retry with a tool use."}]}}"#;
    let said = |i: u32| {
        format!(
            r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"text","text":"I have finished the task, version {i}."}}]}}}}"#
        )
    };
    let mut lines = Vec::new();
    for i in 0..3 {
        lines.push(said(i));
        lines.push(reject.to_string());
    }
    let fired = firing(&feed(&lines));
    assert!(
        fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::RejectedReplies),
        "{fired:?}"
    );
    // A valid action between the rejections: short retries, not a streak.
    let mut lines = Vec::new();
    for i in 0..3 {
        lines.push(said(i));
        lines.push(reject.to_string());
        lines.extend(bash(10 + i, "ls", &format!("file{i}.txt")));
    }
    let fired = firing(&feed(&lines));
    assert!(
        !fired
            .iter()
            .any(|(d, _)| *d == OutputDetector::RejectedReplies),
        "{fired:?}"
    );
}

/// One Gemini CLI tool box as the terminal shows it.
fn gemini_box(status: &str, call: &str, body: &str) -> Vec<String> {
    vec![
        " ╭──────────────────────────────────────────────────────────╮".to_string(),
        format!(" │ {status}  {call}"),
        " │".to_string(),
        format!(" │    {body}"),
        " ╰──────────────────────────────────────────────────────────╯".to_string(),
    ]
}

#[test]
fn a_gemini_edit_failing_again_after_a_read_fires_edit_retry() {
    let edit = "Edit AGENTS.rst: *   **`MeanReversionScalpe... => *   **`MeanReversionScalpe...";
    let err = "Error: Failed to edit, could not find the string to replace.";
    let mut lines = vec!["✦ I will update the strategy list.".to_string()];
    lines.extend(gemini_box("✖", edit, err));
    lines.extend(gemini_box("✔", "ReadFile AGENTS.rst", "Read 120 lines."));
    lines.push("✦ Let me try the replacement again.".to_string());
    lines.extend(gemini_box("✖", edit, err));
    let fired = firing(&feed(&lines));
    let retry = fired
        .iter()
        .find(|(d, _)| *d == OutputDetector::EditRetry)
        .unwrap_or_else(|| panic!("no edit_retry in {fired:?}"));
    assert!(
        retry.1[0].contains("the same edit failed 2 times"),
        "{retry:?}"
    );
    assert!(retry.1[1].contains("Edit AGENTS.rst"), "{retry:?}");
}

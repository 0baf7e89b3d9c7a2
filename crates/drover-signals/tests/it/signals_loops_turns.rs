//! Turn-level loop detectors on transcripts: the same action with the same result, A-B-A-B
//! oscillation, monologues and format-error loops, sessions repeated after completion, chants;
//! and the healthy look-alikes that must stay silent (fail then pass, a file re-shown by each
//! edit, changing test counts).

use drover_signals::{
    Finding, LoopChange, LoopFinding, OutputDetector, OutputLimits, OutputLoopDetector, ScanLimits,
    TurnLimits, scan_bytes, scan_bytes_with,
};

fn feed(lines: &[String]) -> Vec<LoopFinding> {
    let mut d = OutputLoopDetector::default();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        d.feed(l.as_bytes(), i as u64 + 1, &mut out);
    }
    d.finish(lines.len() as u64, &mut out);
    out
}

fn first(findings: &[LoopFinding], detector: OutputDetector) -> Option<(u64, u64, Vec<String>)> {
    findings.iter().find_map(|f| match &f.change {
        LoopChange::Holding {
            first: true,
            since,
            evidence,
        } if f.detector == detector => Some((f.at, *since, evidence.clone())),
        _ => None,
    })
}

fn fired(findings: &[LoopFinding]) -> Vec<OutputDetector> {
    let mut v: Vec<_> = findings
        .iter()
        .filter(|f| matches!(f.change, LoopChange::Holding { first: true, .. }))
        .map(|f| f.detector)
        .collect();
    v.dedup();
    v
}

/// Claude Code stream-json: one tool call and its result.
fn call(tool: &str, input: &str, result: &str, is_error: bool) -> Vec<String> {
    vec![
        format!(
            r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_01{:016}","name":"{tool}","input":{input}}}]}}}}"#,
            result.len()
        ),
        format!(
            r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_01x","content":{},"is_error":{is_error}}}]}}}}"#,
            serde_json::to_string(result).unwrap()
        ),
    ]
}

#[test]
fn the_same_command_failing_the_same_way_three_times_fires_with_evidence() {
    let mut lines = vec![r#"{"type":"system","subtype":"init","session_id":"s1"}"#.to_string()];
    lines.extend(call(
        "Read",
        r#"{"file_path":"src/lib.rs"}"#,
        "fn main() {}",
        false,
    ));
    for _ in 0..3 {
        lines.extend(call(
            "Bash",
            r#"{"command":"cargo build"}"#,
            "error[E0425]: cannot find value `x` in this scope",
            true,
        ));
    }
    let findings = feed(&lines);
    let (at, since, evidence) =
        first(&findings, OutputDetector::RepeatedAction).expect("repeated_action fires");
    assert_eq!(at, 9, "the third result is line 9: {findings:?}");
    assert_eq!(since, 4, "since the first of the three calls");
    assert!(evidence[0].contains("same error 3 times"), "{evidence:?}");
    assert!(evidence[1].contains("cargo build"), "{evidence:?}");
    assert!(evidence[2].contains("cannot find value"), "{evidence:?}");
}

#[test]
fn failing_then_passing_and_changing_counts_do_not_fire() {
    let mut lines = Vec::new();
    for (passed, failed) in [(10, 2), (10, 2), (11, 1), (12, 0), (12, 0)] {
        lines.extend(call(
            "Bash",
            r#"{"command":"pytest -q"}"#,
            &format!("{passed} passed, {failed} failed in 0.{passed}s"),
            failed > 0,
        ));
    }
    assert_eq!(fired(&feed(&lines)), vec![]);
}

#[test]
fn an_edit_that_reshows_the_file_each_time_is_progress() {
    let mut lines = Vec::new();
    for i in 0..8 {
        lines.extend(call(
            "Edit",
            &format!(r#"{{"file_path":"src/cart.py","old_string":"qty * {i}","new_string":"qty * {}"}}"#, i + 1),
            &format!("The file src/cart.py has been updated.\n1 def total(qty):\n2     return qty * {}\n", i + 1),
            false,
        ));
        lines.extend(call(
            "Bash",
            r#"{"command":"python -m pytest"}"#,
            "1 failed",
            true,
        ));
    }
    // Each edit is new work: no action repeats back to back, no cycle. The test run that fails
    // the same way after every edit is the failing-test streak, judged as such.
    assert_eq!(fired(&feed(&lines)), vec![OutputDetector::RepeatedFailure]);
}

#[test]
fn two_actions_alternating_with_the_same_results_fire_oscillation() {
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.extend(call(
            "Bash",
            r#"{"command":"grep -rn getPolicy src"}"#,
            "src/base.ts:731: getPolicy()",
            false,
        ));
        lines.extend(call(
            "Bash",
            r#"{"command":"grep -rn PolicyImpl src"}"#,
            "",
            false,
        ));
    }
    let findings = feed(&lines);
    let (_, since, evidence) =
        first(&findings, OutputDetector::Oscillation).expect("oscillation fires");
    assert_eq!(since, 1);
    assert!(
        evidence[0].contains("cycle of 2 actions repeated 3 times"),
        "{evidence:?}"
    );
    assert!(evidence[1].contains("getPolicy"), "{evidence:?}");
    assert!(evidence[2].contains("PolicyImpl"), "{evidence:?}");
}

#[test]
fn answering_without_an_action_and_getting_the_same_format_error_fires_monologue() {
    // A mini-swe-agent trajectory (text-based): three replies without a command block, each
    // answered by the harness's format error.
    let mut messages = vec![
        serde_json::json!({"role": "system", "content": "You are a helpful assistant."}),
        serde_json::json!({"role": "user", "content": "Fix the bug in cart.py"}),
        serde_json::json!({"role": "assistant", "content": "THOUGHT: look\n\n```bash\ncat cart.py\n```"}),
        serde_json::json!({"role": "user", "content": "<returncode>0</returncode>\n<output>def total(): pass</output>"}),
    ];
    for i in 0..3 {
        messages.push(serde_json::json!({"role": "assistant", "content": format!("I will now fix the function (attempt {i}).")}));
        messages.push(serde_json::json!({"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks, found 0 actions."}));
    }
    let doc = serde_json::json!({"info": {"mini_version": "1.0"}, "messages": messages, "trajectory_format": "mini-swe-agent-1"});
    let findings = scan_bytes(doc.to_string().as_bytes());
    let loops: Vec<_> = findings
        .iter()
        .filter_map(|f| match f {
            Finding::Loop {
                detector, evidence, ..
            } => Some((*detector, evidence.clone())),
            _ => None,
        })
        .collect();
    // Seen both as turns without an action answered the same, and as the harness's rejection
    // streak (its words read inside the JSON document); both name the format error.
    let names: Vec<&str> = loops.iter().map(|(d, _)| *d).collect();
    assert_eq!(names, ["rejected_replies", "monologue"], "{loops:?}");
    let mono = &loops[1].1;
    assert!(mono[0].contains("each answered the same"), "{loops:?}");
    assert!(mono[2].contains("EXACTLY ONE action"), "{loops:?}");
    assert!(
        loops[0].1.iter().any(|l| l.contains("EXACTLY ONE action")),
        "{loops:?}"
    );
}

fn session(result: &str) -> Vec<String> {
    let mut s = vec![r#"{"type":"system","subtype":"init","session_id":"x"}"#.to_string()];
    s.extend(call(
        "Read",
        r#"{"file_path":"TASKS.md"}"#,
        "- [x] all tasks done",
        false,
    ));
    s.extend(call(
        "Bash",
        r#"{"command":"git status --short"}"#,
        result,
        false,
    ));
    s.push(r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"All tasks are complete."}]}}"#.to_string());
    s
}

#[test]
fn sessions_that_repeat_the_same_reads_after_completion_fire_session_repeat() {
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.extend(session(""));
    }
    let findings = feed(&lines);
    let (_, since, evidence) =
        first(&findings, OutputDetector::SessionRepeat).expect("session_repeat fires");
    assert_eq!(since, 2, "since the first call of the first session");
    assert!(
        evidence[0].starts_with("3 sessions in a row"),
        "{evidence:?}"
    );
    assert!(evidence[1].contains("TASKS.md"), "{evidence:?}");

    // A session that finds something new breaks the run.
    let mut lines = Vec::new();
    for r in ["", "", " M src/lib.rs"] {
        lines.extend(session(r));
    }
    assert_eq!(fired(&feed(&lines)), vec![]);
}

/// A relaunching harness's log: a session banner, then what the session printed.
fn quiet_session(n: u32, said: &str) -> Vec<String> {
    vec![
        "═══════════════════════════════".to_string(),
        format!("Ralph Session Started: Tue Feb 10 22:{n:02}:11 +04 2026"),
        "═══════════════════════════════".to_string(),
        format!("[22:{n:02}:17] {said}"),
    ]
}

#[test]
fn sessions_without_actions_that_say_the_same_fire_session_repeat() {
    let lines: Vec<String> = (1..=3)
        .flat_map(|n| quiet_session(n, "TOKENS: 750 / 80000 (0%) [read:0KB write:0KB]"))
        .collect();
    let findings = feed(&lines);
    let (_, since, evidence) =
        first(&findings, OutputDetector::SessionRepeat).expect("session_repeat fires");
    assert_eq!(since, 4, "since what the first session said");
    assert_eq!(
        evidence,
        vec![
            "3 sessions in a row took no action and said the same".to_string(),
            "said: TOKENS: 750 / 80000 (0%) [read:0KB write:0KB]".to_string(),
        ]
    );

    // Sessions whose report moves (more tokens, work read and written) are different sessions.
    let lines: Vec<String> = [
        "TOKENS: 750 / 80000 (0%) [read:0KB write:0KB]",
        "TOKENS: 43620 / 80000 (54%) [read:12KB write:3KB]",
        "TOKENS: 51200 / 80000 (64%) [read:20KB write:9KB]",
    ]
    .iter()
    .zip(1..)
    .flat_map(|(said, n)| quiet_session(n, said))
    .collect();
    assert!(
        !fired(&feed(&lines)).contains(&OutputDetector::SessionRepeat),
        "a moving report is progress"
    );
}

#[test]
fn a_chant_fires_but_timestamped_heartbeats_do_not() {
    let mut lines = vec!["✦ I have completed the task.".to_string()];
    for _ in 0..6 {
        lines.push(
            "  I have completed the task. Now I will remove the temporary file created.".into(),
        );
    }
    let findings = feed(&lines);
    let (_, _, evidence) = first(&findings, OutputDetector::Chant).expect("chant fires");
    assert!(
        evidence[0].contains("the same 1 line written 5 times"),
        "{evidence:?}"
    );

    let beats: Vec<String> = (0..200)
        .map(|s| format!("still waiting for the build server to answer ({s}s elapsed)"))
        .collect();
    assert_eq!(fired(&feed(&beats)), vec![]);
}

/// OpenManus step log (loguru prefix), the shape of the real loop in the corpus.
fn openmanus(thoughts: &[&str]) -> String {
    let mut log = String::new();
    for (i, t) in thoughts.iter().enumerate() {
        let p = format!("2025-03-11 21:37:{:02}.015 | INFO     | app.agent", 10 + i);
        log.push_str(&format!(
            "{p}.toolcall:think:53 - ✨ Manus's thoughts: {t}\n"
        ));
        log.push_str(&format!(
            "{p}.toolcall:think:54 - 🛠️ Manus selected 0 tools to use\n"
        ));
        log.push_str(&format!("{p}.base:run:137 - Executing step {}/20\n", i + 2));
    }
    log
}

#[test]
fn the_same_answer_without_a_tool_each_step_fires_and_says_since_when() {
    let same = "I'm ready to assist you with any tasks you have in mind.";
    let log = openmanus(&["Let me look at the task first.", same, same, same]);
    let findings = scan_bytes(log.as_bytes());
    let Some(Finding::Loop {
        detector,
        since,
        evidence,
        ..
    }) = findings.first()
    else {
        panic!("no finding: {findings:?}");
    };
    assert_eq!(*detector, "monologue");
    // Since the first of the three identical answers (line 4), not the first quiet turn.
    assert_eq!(*since, 4);
    assert_eq!(evidence[1], format!("assistant: {same}"));

    // Different answers, or a tool used in between, are work.
    let varied = openmanus(&["Reading the file.", "Now the tests.", "Writing the fix."]);
    assert!(scan_bytes(varied.as_bytes()).is_empty());
}

#[test]
fn transcript_thresholds_come_from_the_limits() {
    let same = "I'm ready to assist you with any tasks you have in mind.";
    let log = openmanus(&[same, same, same]);
    let with = |turns: Option<TurnLimits>| {
        scan_bytes_with(
            log.as_bytes(),
            ScanLimits {
                output: Some(OutputLimits {
                    turns,
                    ..OutputLimits::default()
                }),
                ..ScanLimits::default()
            },
        )
        .len()
    };
    assert_eq!(with(Some(TurnLimits::default())), 1);
    let four = TurnLimits {
        monologue_turns: 4,
        ..TurnLimits::default()
    };
    assert_eq!(with(Some(four)), 0);
    assert_eq!(with(None), 0);
}

#[test]
fn a_sentence_chanted_inside_one_paragraph_fires() {
    let mut line = String::from("Now I'll examine the logger setup to find the duplicates. ");
    for _ in 0..8 {
        line.push_str("I will update the task list to reflect the new step. ");
    }
    let findings = feed(&[line]);
    let (_, _, evidence) = first(&findings, OutputDetector::Chant).expect("chant fires");
    assert_eq!(
        evidence[1],
        "I will update the task list to reflect the new step."
    );

    // A long paragraph of different sentences is prose.
    let prose = "The parser reads each line. It keeps a small state between lines. Long lines \
                 are cut before parsing. Nothing here repeats at all. The tests cover each case.";
    assert_eq!(fired(&feed(&[prose.to_string()])), vec![]);
}

/// Two parallel calls per turn whose results come back in the other order: each result is
/// paired with its own call by tool-use id, so the evidence names the command that failed next
/// to its error (paired in order, the failing `make lint` would be shown with the file's text).
#[test]
fn parallel_calls_are_paired_with_their_results_by_tool_use_id() {
    let mut lines = vec![r#"{"type":"system","subtype":"init","session_id":"s1"}"#.to_string()];
    for i in 0..3 {
        lines.push(format!(
            r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_a{i}","name":"Bash","input":{{"command":"make lint"}}}},{{"type":"tool_use","id":"toolu_b{i}","name":"Read","input":{{"file_path":"notes.md"}}}}]}}}}"#
        ));
        lines.push(format!(
            r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_b{i}","content":"notes: lint target pending"}},{{"type":"tool_result","tool_use_id":"toolu_a{i}","content":"make: *** No rule to make target 'lint'.","is_error":true}}]}}}}"#
        ));
    }
    let findings = feed(&lines);
    let (_, _, evidence) =
        first(&findings, OutputDetector::Oscillation).expect("the two-call cycle repeats");
    let lint = evidence
        .iter()
        .find(|e| e.contains("make lint"))
        .expect("the lint call is in the evidence");
    assert!(lint.contains("No rule to make target"), "{lint}");
    let read = evidence
        .iter()
        .find(|e| e.contains("notes.md"))
        .expect("the read is in the evidence");
    assert!(read.contains("lint target pending"), "{read}");
}

/// Claude Code stream-json: one assistant message of text.
fn says(text: &str) -> String {
    format!(
        r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"text","text":{}}}]}}}}"#,
        serde_json::to_string(text).unwrap()
    )
}

/// The same plan written three times with a few words changed fires `paraphrase` with the
/// first and the last version as evidence; the same plans around different commands are
/// narration of progress and stay silent.
#[test]
fn a_reworded_plan_written_three_times_fires_unless_work_happens_between() {
    let plans = [
        "Let me check the billing settings first. I will open the account page, read the plan and the usage, then compare them with the invoice.",
        "Let me check the billing settings again. I will open the account page, read the plan and the usage, and then compare them with the invoice.",
        "Let me check the billing settings once more. I will open the account page, read the current plan and the usage, then compare them with the invoice.",
    ];
    let mut lines = vec![r#"{"type":"system","subtype":"init","session_id":"s1"}"#.to_string()];
    lines.extend(plans.iter().map(|p| says(p)));
    let findings = feed(&lines);
    let (_, since, evidence) =
        first(&findings, OutputDetector::Paraphrase).expect("the third version fires");
    assert_eq!(since, 2, "the repetition began with the first plan");
    assert!(evidence[1].starts_with("first: Let me check the billing settings first."));
    assert!(evidence[2].starts_with("last: Let me check the billing settings once more."));

    let mut worked = vec![r#"{"type":"system","subtype":"init","session_id":"s1"}"#.to_string()];
    for (i, p) in plans.iter().enumerate() {
        worked.push(says(p));
        worked.extend(call(
            "Bash",
            &format!(r#"{{"command":"billing show --page {i}"}}"#),
            &format!("page {i}: 3 invoices"),
            false,
        ));
    }
    assert!(!fired(&feed(&worked)).contains(&OutputDetector::Paraphrase));
}

/// Codex session files: parallel `function_call`s answered out of order are paired by
/// `call_id`, so the failing command is shown with its own error.
#[test]
fn codex_calls_are_paired_with_their_outputs_by_call_id() {
    let mut lines = vec![r#"{"type":"session_meta","payload":{"id":"s1"}}"#.to_string()];
    for i in 0..3 {
        for (id, cmd) in [("a", "make lint"), ("b", "cat notes.md")] {
            lines.push(format!(
                r#"{{"type":"response_item","payload":{{"type":"function_call","name":"shell","arguments":"{{\"command\":[\"bash\",\"-lc\",\"{cmd}\"]}}","call_id":"call_{id}{i}"}}}}"#
            ));
        }
        lines.push(format!(
            r#"{{"type":"response_item","payload":{{"type":"function_call_output","call_id":"call_b{i}","output":"notes: lint target pending"}}}}"#
        ));
        lines.push(format!(
            r#"{{"type":"response_item","payload":{{"type":"function_call_output","call_id":"call_a{i}","output":"make: *** No rule to make target 'lint'.  Stop. (exit code 2)"}}}}"#
        ));
    }
    let findings = feed(&lines);
    let (_, _, evidence) =
        first(&findings, OutputDetector::Oscillation).expect("the two-call cycle repeats");
    let lint = evidence
        .iter()
        .find(|e| e.contains("make lint"))
        .expect("the lint call is in the evidence");
    assert!(lint.contains("No rule to make target"), "{lint}");
}

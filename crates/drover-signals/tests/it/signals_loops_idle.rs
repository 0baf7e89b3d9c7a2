//! An idle agent's waiting lines ("No open tasks left … waiting for new work", printed every
//! poll) are no loop while the agent spends nothing; the same lines with tokens spent between
//! them are one (an agent that asks its model every poll and is told to wait).

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

fn fired(findings: &[LoopFinding]) -> Vec<OutputDetector> {
    let mut names: Vec<OutputDetector> = findings
        .iter()
        .filter(|f| matches!(f.change, LoopChange::Holding { first: true, .. }))
        .map(|f| f.detector)
        .collect();
    names.dedup();
    names
}

/// What the demo's worker prints while no task is open, one line per poll.
fn idle(polls: usize) -> Vec<String> {
    (0..polls)
        .map(|_| "No open tasks left at 3f9a2c1 — waiting for new work".to_string())
        .collect()
}

#[test]
fn an_idle_worker_polling_for_work_raises_nothing() {
    assert_eq!(fired(&feed(&idle(200))), vec![]);
}

#[test]
fn an_agent_that_asks_its_model_at_every_poll_and_waits_is_a_loop() {
    // Claude Code stream-json: each poll is a model turn, paid for, answered "waiting".
    let lines: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"type":"assistant","message":{{"id":"msg_{i:04}","role":"assistant","content":[{{"type":"text","text":"No open tasks left at 3f9a2c1 — waiting for new work"}}],"usage":{{"input_tokens":1200,"output_tokens":40}}}}}}"#
            )
        })
        .collect();
    let findings = feed(&lines);
    assert_eq!(fired(&findings), vec![OutputDetector::Chant]);
    let evidence = findings
        .iter()
        .find_map(|f| match &f.change {
            LoopChange::Holding { evidence, .. } => Some(evidence.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        evidence.iter().any(|l| l.contains("token usage")),
        "{evidence:?}"
    );
    // The same words from a script that polls without a model stay silent.
    assert_eq!(fired(&feed(&idle(20))), vec![]);
}

#[test]
fn idle_lines_between_real_work_do_not_hide_a_chant_of_the_agent() {
    // The agent's own sentence chanted is a loop whether or not tokens are printed.
    let mut lines = idle(3);
    lines.extend(
        (0..8).map(|_| "I will now re-run the build to verify the borrow fix.".to_string()),
    );
    assert_eq!(fired(&feed(&lines)), vec![OutputDetector::Chant]);
}

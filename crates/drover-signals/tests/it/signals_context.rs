//! Context health on real transcripts (tests/fixtures/context, sources in SOURCES.toml): the
//! compactions drover reports and how full the context was at each match what the transcript
//! states, and `drover scan --json` reports each compaction on its own line.

use std::path::Path;

use drover_signals::transcript::context::{
    CompactTrigger, ContextEvent, ContextTracker, WindowTable,
};
use drover_signals::{Finding, scan_bytes};

fn fixture(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/context");
    std::fs::read_to_string(root.join(name)).unwrap()
}

/// Every context event of a transcript, with its 1-based line.
fn events(text: &str) -> Vec<(usize, ContextEvent)> {
    let mut t = ContextTracker::new(WindowTable::default());
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| t.feed(l).map(|e| (i + 1, e)))
        .collect()
}

#[test]
fn every_fixture_has_its_source_recorded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/context");
    let sources = std::fs::read_to_string(root.join("SOURCES.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&sources).unwrap();
    let listed: Vec<&str> = manifest["fixture"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f.get("repo").is_some() && f.get("commit").is_some());
            f["file"].as_str().unwrap()
        })
        .collect();
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "SOURCES.toml" {
            assert!(listed.contains(&name.as_str()), "{name} has no source");
        }
    }
}

#[test]
fn claude_session_auto_compaction_at_85_percent() {
    let ev = events(&fixture("claude-session-spotter-autocompact.jsonl"));
    let compactions: Vec<_> = ev
        .iter()
        .filter_map(|(l, e)| match e {
            ContextEvent::Compaction(c) => Some((*l, c)),
            ContextEvent::Usage(_) => None,
        })
        .collect();
    assert_eq!(compactions.len(), 1);
    let (line, c) = compactions[0];
    assert_eq!(line, 2);
    assert_eq!(c.trigger, Some(CompactTrigger::Auto));
    assert_eq!(c.pre_tokens, Some(170_251));
    // preTokens of claude-opus-4-6's 200k window.
    assert_eq!(c.percent(), Some(85));
    let before = c.before.as_ref().unwrap();
    assert_eq!((before.used, before.percent()), (164_831, Some(82)));
    let ContextEvent::Usage(after) = &ev.last().unwrap().1 else {
        panic!("no reading after the compaction")
    };
    assert_eq!((after.used, after.percent()), (36_081, Some(18)));
    assert_eq!(after.model.as_deref(), Some("claude-opus-4-6"));
}

#[test]
fn codex_session_compaction_counted_once_at_82_percent() {
    let ev = events(&fixture("codex-session-localpush-compacted.jsonl"));
    let compactions: Vec<_> = ev
        .iter()
        .filter_map(|(l, e)| match e {
            ContextEvent::Compaction(c) => Some((*l, c)),
            ContextEvent::Usage(_) => None,
        })
        .collect();
    assert_eq!(compactions.len(), 1);
    let (line, c) = compactions[0];
    assert_eq!(line, 4);
    assert_eq!((c.trigger, c.pre_tokens), (None, None));
    let before = c.before.as_ref().unwrap();
    assert_eq!((before.used, before.window), (212_134, Some(258_400)));
    assert_eq!(c.percent(), Some(82));
    // The token counts repeated right after the compaction (no request in them) are no reading.
    let readings: Vec<_> = ev
        .iter()
        .filter_map(|(l, e)| match e {
            ContextEvent::Usage(u) => Some((*l, u.used, u.percent())),
            ContextEvent::Compaction(_) => None,
        })
        .collect();
    assert_eq!(
        readings,
        vec![(1, 212_134, Some(82)), (7, 48_687, Some(18))]
    );
}

#[test]
fn scan_json_reports_each_compaction_on_its_own_line() {
    let lines = |name: &str| -> Vec<String> {
        scan_bytes(fixture(name).as_bytes())
            .iter()
            .filter(|f| matches!(f, Finding::Compaction { .. }))
            .map(Finding::to_json_line)
            .collect()
    };
    assert_eq!(
        lines("claude-session-spotter-autocompact.jsonl"),
        vec![r#"{"kind":"compaction","line":2,"trigger":"auto","pre_tokens":170251}"#]
    );
    assert_eq!(
        lines("codex-session-localpush-compacted.jsonl"),
        vec![r#"{"kind":"compaction","line":4,"trigger":null,"pre_tokens":null}"#]
    );
}

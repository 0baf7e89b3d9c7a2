//! The shared branch's check on screen: the header says `main ✓ <sha>` while green and
//! `main ✗ <sha> since 14:02 (worker-3)` while red (with the hold), and the locks view lists the
//! recent checks with verdict, counts, duration and who landed each commit.

use drover::core::{
    CheckOutcome, CheckRecord, CommitInfo, Culprit, Landing, MainState, MainView, Snapshot,
    TestSummary, Verdict,
};
use drover::keys::Keymap;
use drover::theme::Theme;
use drover::ui::palette::View;
use drover::ui::{UiState, render, sample};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// 14:02 UTC on the sample's day.
fn at_1402() -> u64 {
    sample::NOW - sample::NOW % 86_400_000 + (14 * 60 + 2) * 60_000
}

fn screen(snap: &Snapshot, view: View, w: u16, h: u16) -> String {
    let mut ui = UiState::new(Keymap::default_map(), false);
    ui.now_ms = sample::NOW;
    ui.size = (w, h);
    ui.on_snapshot(snap);
    ui.view = view;
    let theme = Theme::load("dark", None).unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, snap, &ui, &theme)).unwrap();
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        let mut skip = 0;
        for x in 0..w {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            s.push_str(sym);
        }
        s.push('\n');
    }
    s
}

fn check(commit: &str, state: MainState, failed: u64, slot: Option<&str>) -> CheckRecord {
    CheckRecord {
        commit: commit.into(),
        author: "worker-3 <worker-3@agents.local>".into(),
        summary: "tighten the parser".into(),
        started_at: at_1402(),
        duration_ms: 42_000,
        bisect: false,
        outcome: CheckOutcome::Ran {
            state,
            summary: TestSummary {
                passed: 120,
                failed,
                skipped: 0,
                errors: 0,
                verdict: if failed > 0 {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
                failing: Vec::new(),
            },
            exit_code: i64::from(failed > 0),
        },
        landed_by: slot.map(|s| Landing {
            slot: s.into(),
            run_started: 0,
            generation: 2,
        }),
    }
}

fn red() -> MainView {
    let landing = Landing {
        slot: "worker-3".into(),
        run_started: 0,
        generation: 2,
    };
    MainView {
        state: MainState::Red,
        commit: Some("1a2b3c4d5e6f".into()),
        since: Some(at_1402()),
        hold: true,
        culprit: Some(Culprit {
            commit: CommitInfo {
                id: "1a2b3c4d5e6f".into(),
                author: "worker-3 <worker-3@agents.local>".into(),
                summary: "tighten the parser".into(),
                at: 0,
            },
            exact: true,
            range_from: None,
            landed_by: Some(landing),
            failing: vec!["parser::rejects_empty".into()],
        }),
        checks: vec![
            check("1a2b3c4d5e6f", MainState::Red, 1, Some("worker-3")),
            CheckRecord {
                outcome: CheckOutcome::Failed {
                    error: "the check timed out after 30m".into(),
                },
                ..check("99aa88bb77cc", MainState::Green, 0, None)
            },
            check("0f0e0d0c0b0a", MainState::Green, 0, Some("worker-1")),
        ],
        ..MainView::default()
    }
}

#[test]
fn the_header_says_red_since_when_and_who_landed_it() {
    let mut snap = sample::snapshot(vec![]);
    snap.main = Some(red());
    let s = screen(&snap, View::Fleet, 160, 30);
    let header: String = s.lines().take(2).collect();
    assert!(
        header.contains("main ✗ 1a2b3c4d since 14:02 (worker-3)"),
        "{header}"
    );
    assert!(header.contains("new runs held"), "{header}");
}

#[test]
fn the_header_says_green_with_the_tip() {
    let mut snap = sample::snapshot(vec![]);
    snap.main = Some(MainView {
        state: MainState::Green,
        commit: Some("0f0e0d0c0b0a".into()),
        since: Some(at_1402()),
        ..MainView::default()
    });
    let s = screen(&snap, View::Fleet, 160, 30);
    assert!(s.lines().next().unwrap().contains("main ✓ 0f0e0d0c"), "{s}");
}

#[test]
fn the_locks_view_lists_recent_checks_with_who_landed_them() {
    let mut snap = sample::snapshot(vec![]);
    snap.main = Some(red());
    let s = screen(&snap, View::Locks, 160, 30);
    assert!(s.contains("Checks of main (3)"), "{s}");
    let row = s
        .lines()
        .skip(2)
        .find(|l| l.contains("1a2b3c4d"))
        .expect("red row");
    assert!(
        row.contains("red") && row.contains("120") && row.contains("worker-3"),
        "{row}"
    );
    assert!(row.contains("42s"), "{row}");
    let failed = s
        .lines()
        .find(|l| l.contains("99aa88bb"))
        .expect("failed row");
    assert!(
        failed.contains("failed") && failed.contains("timed out"),
        "{failed}"
    );
    // Without a check configured, the locks view is unchanged.
    let plain = screen(&sample::snapshot(vec![]), View::Locks, 160, 30);
    assert!(!plain.contains("Checks of main"));
}

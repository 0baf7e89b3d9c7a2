//! The TUI shows the upstream's state: "upstream empty — waiting for the first push" in the
//! header (and the empty Locks view), and the fleet's hold p50/p90 with the adaptive threshold
//! in the Locks view's title.

use drover::core::{LockView, UpstreamState, UpstreamView};
use drover::keys::Keymap;
use drover::theme::Theme;
use drover::ui::palette::View;
use drover::ui::{UiState, render, sample};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn screen(snap: &drover::core::Snapshot, view: View) -> String {
    let mut ui = UiState::new(Keymap::default_map(), false);
    ui.now_ms = sample::NOW;
    ui.size = (160, 30);
    ui.on_snapshot(snap);
    ui.view = view;
    let theme = Theme::load("dark", None).expect("theme");
    let mut t = Terminal::new(TestBackend::new(160, 30)).expect("terminal");
    t.draw(|f| render(f, snap, &ui, &theme)).expect("draw");
    let buf = t.backend().buffer().clone();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

#[test]
fn an_empty_upstream_is_said_in_the_header_and_the_locks_view() {
    let mut snap = sample::fleet(3);
    snap.locks.clear();
    snap.upstream.state = UpstreamState::Empty;
    let text = screen(&snap, View::Locks);
    let header: String = text.lines().take(2).collect::<Vec<_>>().join("\n");
    assert!(
        header.contains("upstream empty — waiting for the first push"),
        "{header}"
    );
    assert_eq!(
        text.matches("upstream empty — waiting for the first push")
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn the_locks_view_shows_the_fleets_hold_times() {
    let mut snap = sample::fleet(3);
    snap.upstream = UpstreamView {
        state: UpstreamState::Ready,
        releases: 143,
        hold_p50: Some(20 * 60_000),
        hold_p90: Some(2 * 3_600_000),
    };
    snap.locks = vec![LockView {
        task: "parser".into(),
        holder: Some("implementer-1".into()),
        claimed_at: sample::NOW - 3_600_000,
        holder_is_slot: true,
        overdue: false,
        stale: false,
        release_requested: false,
        claims: 1,
        claim_commit: Some("c1".into()),
    }];
    let text = screen(&snap, View::Locks);
    assert!(
        text.contains("hold p50 20m · p90 2h 0m (143 released)"),
        "{text}"
    );
    assert!(text.contains("3 × p90 = 6h 0m"), "{text}");
    assert!(!text.contains("upstream empty"), "{text}");
}

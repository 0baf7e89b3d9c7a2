//! TUI screens rendered with `TestBackend` at fixed sizes: insta snapshots per pane and view,
//! plus cell style checks that states carry their theme colour.

use drover::core::Snapshot;
use drover::theme::Theme;
use drover::ui::keymap::Keymap;
use drover::ui::render;
use drover::ui::sample;
use drover::ui::UiState;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn draw(snap: &Snapshot, ui: &UiState, theme: &Theme, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, snap, ui, theme)).unwrap();
    t
}

#[test]
fn peek() {
    let theme = Theme::load("dark", None).unwrap();
    let snap = sample::fleet(24);
    let mut ui = UiState::new(Keymap::default_map(), false);
    ui.now_ms = sample::NOW;
    ui.size = (80, 24);
    ui.on_snapshot(&snap);
    let t = draw(&snap, &ui, &theme, 80, 24);
    println!("{}", t.backend());
    ui.size = (200, 60);
    let t = draw(&snap, &ui, &theme, 200, 60);
    println!("{}", t.backend());
}

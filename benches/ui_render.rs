//! Frame time of the TUI: 200 slots at 200x60 (budget: 2 ms per frame in release), plus
//! 80x24 and the other views for comparison. Each frame moves the selection, so every frame
//! differs from the one before (what a key press or a snapshot change costs).
//!
//! Run: `cargo bench --bench ui_render`

use std::time::{Duration, Instant};

use drover::keys::Keymap;
use drover::logs::ring::LogHub;
use drover::theme::Theme;
use drover::ui::palette::View;
use drover::ui::sample;
use drover::ui::state::Focus;
use drover::ui::{UiState, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const FRAMES: usize = 2_000;

fn measure(name: &str, w: u16, h: u16, view: View, focus: Focus) -> Duration {
    let theme = Theme::load("dark", None).expect("built-in theme");
    let snap = sample::fleet(200);
    let hub = LogHub::new(5_000, 8 << 20);
    for i in 0..2_000u64 {
        hub.push(
            "implementer-1",
            sample::NOW - 2_000_000 + i * 1000,
            i % 9 == 0,
            format!("\u{1b}[32mstep {i}\u{1b}[0m: running cargo test -p parser -- --nocapture; error count {}", i % 7),
        );
    }
    let mut ui = UiState::new(Keymap::default_map(), false);
    ui.now_ms = sample::NOW;
    ui.size = (w, h);
    ui.view = view;
    ui.focus = focus;
    ui.on_snapshot(&snap);
    ui.sync_logs(&hub);
    ui.logs.set_search("error");
    ui.logs.jump_newest();
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let mut times = Vec::with_capacity(FRAMES);
    let names: Vec<String> = snap.slots.iter().take(40).map(|s| s.slot.clone()).collect();
    for i in 0..FRAMES {
        ui.fleet.selected = Some(names[i % names.len()].clone());
        let t = Instant::now();
        term.draw(|f| render(f, &snap, &ui, &theme)).expect("draw");
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / FRAMES as u32;
    let p50 = times[FRAMES / 2];
    let p99 = times[FRAMES * 99 / 100];
    println!(
        "ui_render {name:<28} {w}x{h}: mean {:>7.3} ms  p50 {:>7.3} ms  p99 {:>7.3} ms  ({FRAMES} frames, 200 slots)",
        mean.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
    );
    mean
}

fn main() {
    if cfg!(debug_assertions) {
        println!("note: debug build — run `cargo bench --bench ui_render` for release figures");
    }
    let main = measure("fleet + logs", 200, 60, View::Fleet, Focus::Table);
    measure("fleet + logs", 80, 24, View::Fleet, Focus::Table);
    measure("logs focused (search)", 200, 60, View::Fleet, Focus::Detail);
    measure("locks", 200, 60, View::Locks, Focus::Table);
    measure("alerts", 200, 60, View::Alerts, Focus::Table);
    let budget = Duration::from_millis(2);
    println!(
        "ui_render budget: 200 slots at 200x60 {} the 2 ms target ({:.3} ms mean)",
        if main <= budget { "meets" } else { "MISSES" },
        main.as_secs_f64() * 1e3
    );
}

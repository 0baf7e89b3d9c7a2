//! TUI screens rendered with `TestBackend` at fixed sizes: insta snapshots per view and pane
//! (80x24 and 200x60), cell style checks that states carry their theme colour and a symbol or
//! word besides, and a size sweep showing every view fits any terminal.

use std::collections::BTreeMap;
use std::sync::Arc;

use drover::core::{
    Command, CommandRequest, DockerStatus, Effect, Fleet, FleetSpec, Input, RoleSpec, SlotState,
    Snapshot,
};
use drover::keys::Keymap;
use drover::logs::ring::LogHub;
use drover::theme::Theme;
use drover::ui::feed::StoredEvent;
use drover::ui::palette::View;
use drover::ui::sample;
use drover::ui::state::{DetailTab, Focus, InputKind, Overlay};
use drover::ui::{RoleInfo, UiState, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;

fn theme(name: &str) -> Theme {
    Theme::load(name, None).unwrap()
}

fn ui_for(snap: &Snapshot, w: u16, h: u16) -> UiState {
    let mut ui = UiState::new(Keymap::default_map(), false);
    ui.now_ms = sample::NOW;
    ui.size = (w, h);
    ui.on_snapshot(snap);
    ui
}

fn draw(snap: &Snapshot, ui: &UiState, theme: &Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(ui.size.0, ui.size.1)).unwrap();
    t.draw(|f| render(f, snap, ui, theme)).unwrap();
    t
}

fn snap_screen(name: &str, t: &Terminal<TestBackend>) {
    insta::with_settings!({
        snapshot_path => "../fixtures/tui/snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, t.backend());
    });
}

/// The screen as text; the cell after a double-width character is skipped, as a terminal
/// does.
fn text_of(buf: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
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

/// Position of the first occurrence of `needle` on screen, outside the selected row (whose
/// highlight style replaces the cell colours).
fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    find_in(buf, needle, true)
}

fn find_in(buf: &Buffer, needle: &str, skip_selected: bool) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let mut row = String::new();
        let mut xs = Vec::new();
        for x in 0..buf.area.width {
            let sym = buf[(x, y)].symbol();
            for _ in sym.chars() {
                xs.push(x);
            }
            row.push_str(sym);
        }
        if skip_selected && row.contains('▶') {
            continue;
        }
        if let Some(i) = row.find(needle) {
            let ci = row[..i].chars().count();
            return Some((xs[ci], y));
        }
    }
    None
}

fn logs_hub() -> LogHub {
    let hub = LogHub::new(1000, 1 << 20);
    for i in 0..60u64 {
        let text = match i % 6 {
            0 => format!("\u{1b}[32m$ cargo test\u{1b}[0m -- run {i}"),
            1 => "   Compiling parser v0.3.1 (/workspace/parser)".to_string(),
            2 => format!("test lexer::tests::unicode_{i} ... ok"),
            3 => "error[E0308]: mismatched types --> src/check.rs:88:17".to_string(),
            4 => "test result: ok. 390 passed; 0 failed; 0 ignored; finished in 2.31s".to_string(),
            _ => "Tool call: edit_file src/check.rs (a rather long line that will need wrapping when the pane is narrow)".to_string(),
        };
        hub.push(
            "implementer-1",
            sample::NOW - 60_000 + i * 1000,
            i % 6 == 3,
            text,
        );
    }
    hub
}

/// Sets PROGRESS.md as viewed, then delivers the update (so its new lines are marked).
fn with_progress(ui: &mut UiState, theme: &Theme) {
    let (before, after) = sample::progress_docs();
    ui.progress.set_doc(Arc::new(before), theme);
    ui.progress.set_doc(Arc::new(after), theme);
}

fn events() -> Vec<StoredEvent> {
    let kinds = [
        (
            "started",
            Some("implementer-1"),
            None,
            "implementer-1 started (generation 2)",
        ),
        (
            "died",
            Some("implementer-4"),
            None,
            "implementer-4 exited 1 after 0.9s: ERROR: Missing environment variable: OPENAI_API_KEY",
        ),
        (
            "blocked",
            Some("implementer-4"),
            None,
            "implementer-4 blocked: same failure 3 times",
        ),
        (
            "command",
            Some("reviewer-1"),
            Some("ops"),
            "ops: pause reviewer-1 → accepted",
        ),
        (
            "docker_down",
            None,
            None,
            "Docker unreachable: connection refused",
        ),
    ];
    (1..=25)
        .map(|i| {
            let (kind, slot, who, msg) = kinds[i as usize % kinds.len()];
            StoredEvent {
                id: i,
                ts_ms: (sample::NOW - 600_000 + i as u64 * 20_000) as i64,
                slot: slot.map(str::to_string),
                kind: kind.into(),
                who: who.map(str::to_string),
                payload: serde_json::json!({ "message": msg }).to_string(),
            }
        })
        .collect()
}

fn role_info() -> BTreeMap<String, RoleInfo> {
    let mut m = BTreeMap::new();
    m.insert(
        "implementer".to_string(),
        RoleInfo {
            image: "agents/claude-worker:1.4".into(),
            command: Some(
                "sh -c 'while true; do agent -p \"$(cat AGENT_PROMPT.md)\"; done'".into(),
            ),
            memory: "2g".into(),
            cpus: "1.5".into(),
            pids: "512".into(),
            env_names: vec![
                "ANTHROPIC_API_KEY".into(),
                "GIT_AUTHOR_NAME".into(),
                "MODE".into(),
            ],
            required_env: vec!["ANTHROPIC_API_KEY".into()],
            mounts: vec!["/srv/upstream.git → /upstream".into()],
            hardening: "no-new-privileges, cap-drop ALL".into(),
        },
    );
    m
}

/// Every screen at both sizes, in one sweep so the snapshots stay in step.
#[test]
fn screens_at_80x24_and_200x60() {
    let th = theme("dark");
    let snap = sample::fleet(24);
    let hub = logs_hub();
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let size = format!("{w}x{h}");
        let mut ui = ui_for(&snap, w, h);
        ui.roles = role_info();
        ui.sync_logs(&hub);
        snap_screen(&format!("fleet_logs_{size}"), &draw(&snap, &ui, &th));

        ui.focus = Focus::Detail;
        ui.logs.set_search("error");
        ui.logs.wrap = true;
        snap_screen(&format!("logs_search_wrap_{size}"), &draw(&snap, &ui, &th));

        for (slot, tab, name) in [
            ("reviewer-4", DetailTab::Tests, "tests"),
            ("implementer-4", DetailTab::Alerts, "alerts"),
            ("implementer-4", DetailTab::Incidents, "incidents"),
            ("implementer-4", DetailTab::Container, "container"),
        ] {
            ui.fleet.selected = Some(slot.into());
            ui.sync_logs(&hub);
            ui.tab = tab;
            snap_screen(&format!("detail_{name}_{size}"), &draw(&snap, &ui, &th));
        }

        ui.focus = Focus::Table;
        ui.tab = DetailTab::Logs;
        ui.fleet.group_by_role = true;
        ui.fleet.filter = drover::ui::filter::FilterQuery::parse("!state:running");
        ui.on_snapshot(&snap);
        ui.sync_logs(&hub);
        snap_screen(
            &format!("fleet_grouped_filtered_{size}"),
            &draw(&snap, &ui, &th),
        );
        ui.fleet.group_by_role = false;
        ui.fleet.filter = Default::default();

        ui.view = View::Locks;
        snap_screen(&format!("locks_{size}"), &draw(&snap, &ui, &th));
        ui.view = View::Alerts;
        ui.alerts_selected = 1;
        snap_screen(&format!("alerts_{size}"), &draw(&snap, &ui, &th));
        ui.view = View::Events;
        ui.events.extend(events());
        snap_screen(&format!("events_{size}"), &draw(&snap, &ui, &th));
        ui.view = View::Progress;
        with_progress(&mut ui, &th);
        snap_screen(&format!("progress_{size}"), &draw(&snap, &ui, &th));

        ui.view = View::Fleet;
        ui.overlay = Overlay::Help { scroll: 0 };
        snap_screen(&format!("help_{size}"), &draw(&snap, &ui, &th));
        ui.overlay = Overlay::Confirm {
            intent: Command::Stop {
                slot: "implementer-2".into(),
            },
            why: None,
            prompt: "stop implementer-2? y to confirm, any other key cancels".into(),
        };
        snap_screen(&format!("confirm_{size}"), &draw(&snap, &ui, &th));
        ui.overlay = Overlay::Input {
            kind: InputKind::Palette,
            text: "scale implementer 6".into(),
            before: String::new(),
        };
        snap_screen(&format!("palette_{size}"), &draw(&snap, &ui, &th));
    }
}

#[test]
fn the_blocked_cell_uses_the_blocked_colour_and_says_blocked() {
    let th = theme("dark");
    let snap = sample::fleet(24);
    let ui = ui_for(&snap, 120, 50);
    let t = draw(&snap, &ui, &th);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "⊘ blocked").expect("a blocked row with symbol and word");
    assert_eq!(buf[(x, y)].fg, th.state.blocked);
    assert!(buf[(x + 2, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find(buf, "● running").unwrap();
    assert_eq!(buf[(x, y)].fg, th.state.running);
    let (x, y) = find(buf, "↻ crashloop").unwrap();
    assert_eq!(buf[(x, y)].fg, th.state.backoff);
    let (x, y) = find(buf, "… stalled").unwrap();
    assert_eq!(buf[(x, y)].fg, th.health.stalled);
    let (x, y) = find(buf, "✗ 2/390").expect("failing tests read without colour");
    assert_eq!(buf[(x, y)].fg, th.verdict.fail);
}

#[test]
fn themes_switch_colours_and_mono_keeps_meaning() {
    let snap = sample::fleet(24);
    let ui = ui_for(&snap, 120, 50);
    let light = theme("light");
    let t = draw(&snap, &ui, &light);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "⊘ blocked").unwrap();
    assert_eq!(buf[(x, y)].fg, light.state.blocked);

    let mono = theme("mono");
    let t = draw(&snap, &ui, &mono);
    let buf = t.backend().buffer();
    let screen = text_of(buf);
    for word in [
        "⊘ blocked",
        "● running",
        "↻ crashloop",
        "… stalled",
        "✓ healthy",
    ] {
        assert!(screen.contains(word), "{word} missing in mono");
    }
    // The selection is still visible without colour.
    let (x, y) = find_in(buf, "▶implementer-1", false).unwrap();
    assert!(buf[(x + 1, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn container_tab_shows_env_names_never_values() {
    let th = theme("dark");
    let snap = sample::fleet(24);
    let mut ui = ui_for(&snap, 100, 40);
    ui.roles = role_info();
    ui.fleet.selected = Some("implementer-1".into());
    ui.tab = DetailTab::Container;
    ui.focus = Focus::Detail;
    let screen = text_of(draw(&snap, &ui, &th).backend().buffer());
    assert!(screen.contains("ANTHROPIC_API_KEY=<redacted>"), "{screen}");
    assert!(screen.contains("MODE=<redacted>"));
    assert!(screen.contains("agents/claude-worker:1.4"));
    assert!(screen.contains("memory 2g · cpus 1.5 · pids 512"));
}

#[test]
fn header_reports_docker_down_read_only_and_metrics() {
    let th = theme("dark");
    let mut snap = sample::fleet(10);
    snap.docker = DockerStatus::Down {
        error: "connection refused".into(),
        since: sample::NOW - 90_000,
    };
    let mut ui = ui_for(&snap, 160, 30);
    ui.read_only = true;
    let t = draw(&snap, &ui, &th);
    let buf = t.backend().buffer();
    let screen = text_of(buf);
    assert!(
        screen.contains("✗ docker DOWN 1m — connection refused"),
        "{screen}"
    );
    assert!(screen.contains("READ-ONLY"));
    assert!(screen.contains("MTTR p50 12s p95 3m"));
    assert!(screen.contains("auto-recovered 92%"));
    assert!(screen.contains("read-only: actions disabled"));
    assert!(
        !screen.contains("p pause"),
        "operator hints are hidden in read-only mode"
    );
    let (x, y) = find(buf, "✗ docker DOWN").unwrap();
    assert_eq!(buf[(x, y)].fg, th.severity.critical);
}

#[test]
fn any_size_renders_every_view_without_panicking() {
    let th = theme("dark");
    let snap = sample::fleet(60);
    let hub = logs_hub();
    for (w, h) in [
        (1, 1),
        (20, 5),
        (40, 12),
        (80, 24),
        (100, 30),
        (149, 40),
        (150, 45),
        (250, 70),
    ] {
        let mut ui = ui_for(&snap, w, h);
        ui.sync_logs(&hub);
        ui.events.extend(events());
        with_progress(&mut ui, &th);
        for view in View::ALL {
            ui.view = view;
            for focus in [Focus::Table, Focus::Detail] {
                ui.focus = focus;
                for tab in DetailTab::ALL {
                    ui.tab = tab;
                    draw(&snap, &ui, &th);
                }
            }
        }
        ui.overlay = Overlay::Help { scroll: 500 };
        draw(&snap, &ui, &th);
    }
}

#[test]
fn at_80x24_the_essentials_of_a_row_are_readable() {
    let th = theme("dark");
    let snap = sample::fleet(200);
    let ui = ui_for(&snap, 80, 24);
    let screen = text_of(draw(&snap, &ui, &th).backend().buffer());
    for needle in [
        "implementer-1 ",
        "● running",
        "✓ healthy",
        "task-100 2m",
        "200 slots",
        "MTTR p50 12s p95 3m",
    ] {
        assert!(
            screen.contains(needle),
            "`{needle}` not on an 80x24 screen:\n{screen}"
        );
    }
}

/// The core itself builds the snapshot: a preflight failure blocks one slot, two others run.
#[test]
fn renders_a_snapshot_from_the_real_core() {
    let spec = FleetSpec::new("demo", vec![RoleSpec::new("implementer", 3, "h1")]);
    let mut fleet = Fleet::new(spec, 7);
    let now = sample::NOW;
    let mut queue: Vec<Input> = vec![
        Input::DockerUp,
        Input::ContainersListed { containers: vec![] },
    ];
    let mut ids = 0;
    while let Some(input) = queue.pop() {
        for e in fleet.handle(now, input) {
            match e {
                Effect::RunPreflight { slot, .. } => queue.push(Input::PreflightResult {
                    result: if slot == "implementer-2" {
                        Err("required env OPENAI_API_KEY is not set".into())
                    } else {
                        Ok(())
                    },
                    slot,
                }),
                Effect::Create {
                    slot, generation, ..
                } => {
                    ids += 1;
                    queue.push(Input::ContainerCreated {
                        slot,
                        generation,
                        id: format!("c{ids:011}"),
                    });
                }
                Effect::Start { slot, id } => queue.push(Input::ContainerStarted { slot, id }),
                _ => {}
            }
        }
    }
    let out = fleet.command(
        now,
        CommandRequest {
            command: Command::Pause {
                slot: "implementer-3".into(),
            },
            who: "ops".into(),
            why: None,
        },
    );
    for e in out.effects {
        if let Effect::Pause { slot, id } = e {
            fleet.handle(now, Input::ContainerPaused { slot, id });
        }
    }
    let snap = fleet.snapshot(now);
    assert!(matches!(
        snap.slot("implementer-2").map(|s| &s.state),
        Some(SlotState::Blocked { .. })
    ));
    let th = theme("dark");
    let mut ui = ui_for(&snap, 100, 24);
    ui.fleet.selected = Some("implementer-3".into());
    let t = draw(&snap, &ui, &th);
    let buf = t.backend().buffer();
    let screen = text_of(buf);
    assert!(screen.contains("3 slots"), "{screen}");
    let (x, y) = find(buf, "⊘ blocked").expect("blocked row");
    assert_eq!(buf[(x, y)].fg, th.state.blocked);
    assert!(screen.contains("● running"));
    assert!(screen.contains("‖ paused"));
}

/// Container output is untrusted: escapes, control bytes and a 10 MB line must neither reach
/// the terminal nor grow the pane's memory.
#[test]
fn hostile_log_lines_render_safely() {
    let th = theme("dark");
    let snap = sample::fleet(4);
    let hub = LogHub::new(100, 64 << 20);
    hub.push("implementer-1", sample::NOW, false, "x".repeat(10 << 20));
    hub.push(
        "implementer-1",
        sample::NOW,
        true,
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\u{0}\u{8}\u{9b}6n\r",
    );
    hub.push(
        "implementer-1",
        sample::NOW,
        false,
        "日本語 and emoji 🚀 width",
    );
    let mut ui = ui_for(&snap, 80, 24);
    ui.sync_logs(&hub);
    let held: usize = ui.logs.lines().iter().map(|l| l.text.len()).sum();
    assert!(
        held < 16 * 1024,
        "the pane keeps a bounded copy, not 10 MB ({held} bytes)"
    );
    for wrap in [false, true] {
        ui.logs.wrap = wrap;
        let t = draw(&snap, &ui, &th);
        let screen = text_of(t.backend().buffer());
        assert!(
            !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
            "{screen}"
        );
        assert!(screen.contains("red"), "{screen}");
        assert!(screen.contains("日本語 and emoji 🚀 width"), "{screen}");
    }
}

/// The log pane's title says when older lines are being read from the log file, when the
/// start of the log is on screen, and when the newest lines are not held.
#[test]
fn log_title_tells_where_older_lines_stand() {
    use drover::ui::logview::OlderLines;
    let th = theme("dark");
    let snap = sample::fleet(4);
    let mut ui = ui_for(&snap, 200, 60);
    ui.sync_logs(&logs_hub());
    ui.focus = Focus::Detail;
    let screen = |ui: &UiState| text_of(draw(&snap, ui, &th).backend().buffer());
    ui.logs.older = OlderLines::Loading;
    assert!(screen(&ui).contains("loading older lines…"));
    ui.logs.older = OlderLines::AtStart;
    ui.logs.scroll_up(1);
    assert!(
        !screen(&ui).contains("start of log"),
        "the top is not on screen"
    );
    ui.logs.scroll_top(10);
    ui.logs.older = OlderLines::AtStart;
    assert!(screen(&ui).contains("start of log"));
    ui.logs.older = OlderLines::Unavailable;
    assert!(screen(&ui).contains("no log files here"));
    ui.logs.detached = true;
    let s = screen(&ui);
    assert!(s.contains("no log files here · newest not held (G)"), "{s}");
}

/// Why a slot is blocked is on the main screen: a REASON column when the table is wide, the
/// selected slot's reason under the table when narrow; a slot that never started says so in
/// its logs tab, and its container tab shows the missing variable as missing.
#[test]
fn why_a_slot_is_blocked_is_on_the_main_screen() {
    let th = theme("dark");
    let mut snap = sample::fleet(6);
    let reason =
        "required environment variable ANTHROPIC_API_KEY missing or empty in drover's environment";
    let slot = {
        let s = &mut snap.slots[0];
        s.state = SlotState::Blocked {
            reason: reason.into(),
            by: drover::core::Actor::Drover,
        };
        s.reason = Some(reason.into());
        s.starts = 0;
        s.restarts = 0;
        s.last_exit = None;
        s.slot.clone()
    };
    let never = "never started: ANTHROPIC_API_KEY missing";

    let wide = ui_for(&snap, 320, 50);
    let screen = text_of(draw(&snap, &wide, &th).backend().buffer());
    assert!(screen.contains("REASON"), "{screen}");
    let row = screen
        .lines()
        .find(|l| l.contains(&format!("│▶{slot} ")) || l.contains(&format!("│ {slot} ")))
        .unwrap_or_else(|| panic!("{slot} row:\n{screen}"));
    assert!(row.contains(never), "{row}");

    let mut narrow = ui_for(&snap, 80, 24);
    narrow.fleet.selected = Some(slot.clone());
    let screen = text_of(draw(&snap, &narrow, &th).backend().buffer());
    assert!(!screen.contains("REASON"), "{screen}");
    assert!(
        screen.contains(&format!("{slot}: never started")),
        "the status line under the table:\n{screen}"
    );
    let footer = screen.lines().last().unwrap_or_default();
    assert!(
        footer.contains("? help") && footer.contains("q quit"),
        "{footer}"
    );

    let mut detail = ui_for(&snap, 120, 40);
    detail.fleet.selected = Some(slot.clone());
    detail.focus = Focus::Detail;
    // An empty hub: the slot never printed anything.
    detail.sync_logs(&LogHub::new(16, 1 << 20));
    let screen = text_of(draw(&snap, &detail, &th).backend().buffer());
    assert!(!screen.contains("no output yet"), "{screen}");
    assert!(screen.contains(never), "{screen}");
    detail.roles = role_info();
    detail.tab = DetailTab::Container;
    let screen = text_of(draw(&snap, &detail, &th).backend().buffer());
    assert!(
        screen.contains("ANTHROPIC_API_KEY missing (required"),
        "{screen}"
    );
    assert!(!screen.contains("ANTHROPIC_API_KEY=<redacted>"), "{screen}");
    assert!(screen.contains("MODE=<redacted>"), "{screen}");
}

/// The header says how many slots wait out a usage limit and when the next one resets; the
/// CTX column shows each slot's context, red from 85 %.
#[test]
fn the_header_counts_limited_slots_and_ctx_shows_the_context() {
    let th = theme("dark");
    let mut snap = sample::fleet(16);
    snap.limits = drover::core::LimitsView {
        throttled: 6,
        slots: 16,
        next_reset: Some(snap.at + 42 * 60_000),
        groups: Vec::new(),
    };
    let ui = ui_for(&snap, 200, 30);
    let t = draw(&snap, &ui, &th);
    let text = text_of(t.backend().buffer());
    assert!(text.contains("6/16 limited · next reset"), "{text}");
    assert!(text.contains("(in 42m)"), "{text}");
    assert!(text.contains("CTX"), "{text}");
    let high = snap
        .slots
        .iter()
        .find(|s| s.context.as_ref().and_then(|c| c.percent) >= Some(85))
        .expect("a slot over 85 %");
    let p = high.context.as_ref().and_then(|c| c.percent).unwrap();
    assert!(text.contains(&format!("{p}%")), "{text}");
}

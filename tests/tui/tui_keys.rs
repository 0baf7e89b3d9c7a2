//! Keys as an operator presses them: navigation, filtering, sorting, operator actions with
//! confirmations, read-only mode, the command palette, take-over and hand-back — first on the
//! UI state alone, then through the real event loop with channels fed by the test.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use drover::core::{AlertRef, Command, CommandReply, SlotState, Snapshot};
use drover::keys::Keymap;
use drover::logs::ring::LogHub;
use drover::theme::Theme;
use drover::ui::key_handling::Outcome;
use drover::ui::palette::View;
use drover::ui::sample::{self, slot, snapshot};
use drover::ui::state::{DetailTab, Focus, Overlay};
use drover::ui::{CommandEnvelope, Face, LoopExit, NoEvents, UiOptions, UiState, face_channels};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn ui(snap: &Snapshot) -> UiState {
    let mut ui = UiState::new(Keymap::default_map(), false);
    ui.now_ms = sample::NOW;
    ui.size = (120, 40);
    ui.on_snapshot(snap);
    ui
}

fn press(ui: &mut UiState, snap: &Snapshot, keys: &str) -> Vec<Outcome> {
    keys.chars()
        .flat_map(|c| ui.handle_key(snap, key(c)))
        .collect()
}

fn typed(ui: &mut UiState, snap: &Snapshot, text: &str) {
    for c in text.chars() {
        ui.handle_key(snap, key(c));
    }
}

fn send(intent: Command) -> Outcome {
    Outcome::Send { intent, why: None }
}

#[test]
fn vim_and_arrow_keys_move_the_selection() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    assert_eq!(ui.selected_slot(), Some("implementer-1"));
    press(&mut ui, &snap, "jj");
    assert_eq!(ui.selected_slot(), Some("implementer-3"));
    ui.handle_key(&snap, code(KeyCode::Up));
    assert_eq!(ui.selected_slot(), Some("implementer-2"));
    press(&mut ui, &snap, "G");
    assert_eq!(ui.selected_slot(), Some("tester-4"));
    press(&mut ui, &snap, "g");
    assert_eq!(ui.selected_slot(), Some("implementer-1"));
    ui.handle_key(&snap, code(KeyCode::PageDown));
    assert!(ui.selected_slot() != Some("implementer-1"));
}

#[test]
fn slash_filters_while_typing_and_esc_restores() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    press(&mut ui, &snap, "/");
    typed(&mut ui, &snap, "state:blocked");
    assert_eq!(
        ui.selected_slot(),
        Some("implementer-4"),
        "selection follows the filter"
    );
    ui.handle_key(&snap, code(KeyCode::Enter));
    assert_eq!(ui.fleet.filter.raw, "state:blocked");
    press(&mut ui, &snap, "j");
    assert_eq!(
        ui.selected_slot(),
        Some("implementer-10"),
        "moves among blocked slots only"
    );
    // Editing and cancelling puts the previous filter back.
    press(&mut ui, &snap, "/");
    typed(&mut ui, &snap, "xyz");
    ui.handle_key(&snap, code(KeyCode::Esc));
    assert_eq!(ui.fleet.filter.raw, "state:blocked");
    // Esc in the table clears the filter.
    ui.handle_key(&snap, code(KeyCode::Esc));
    assert!(ui.fleet.filter.is_empty());
    // An unknown field is reported.
    press(&mut ui, &snap, "/");
    typed(&mut ui, &snap, "colour:red");
    ui.handle_key(&snap, code(KeyCode::Enter));
    assert!(
        ui.status
            .as_ref()
            .unwrap()
            .text
            .contains("unknown filter field colour")
    );
}

#[test]
fn sort_and_group_keys() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    press(&mut ui, &snap, "oo");
    assert_eq!(ui.fleet.sort.name(), "state");
    ui.fleet.selected = None;
    ui.on_snapshot(&snap);
    assert_eq!(
        ui.selected_slot(),
        Some("implementer-4"),
        "blocked slots sort first"
    );
    press(&mut ui, &snap, "O");
    assert!(ui.fleet.descending);
    press(&mut ui, &snap, "R");
    assert!(ui.fleet.group_by_role);
}

#[test]
fn pause_is_sent_at_once_but_stop_asks_first() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    assert_eq!(
        press(&mut ui, &snap, "p"),
        [send(Command::Pause {
            slot: "implementer-1".into()
        })]
    );
    assert!(press(&mut ui, &snap, "x").is_empty());
    assert!(matches!(ui.overlay, Overlay::Confirm { .. }));
    assert!(
        press(&mut ui, &snap, "n").is_empty(),
        "any other key cancels"
    );
    assert_eq!(ui.overlay, Overlay::None);
    assert!(ui.status.as_ref().unwrap().text.starts_with("cancelled"));
    press(&mut ui, &snap, "x");
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::Stop {
            slot: "implementer-1".into()
        })]
    );
    press(&mut ui, &snap, "r");
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::Restart {
            slot: "implementer-1".into()
        })]
    );
}

#[test]
fn block_asks_for_a_reason_then_confirmation() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    press(&mut ui, &snap, "b");
    ui.handle_key(&snap, code(KeyCode::Enter));
    assert!(ui.status.as_ref().unwrap().text.contains("needs a reason"));
    press(&mut ui, &snap, "b");
    typed(&mut ui, &snap, "loops on task-101");
    assert!(ui.handle_key(&snap, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::Block {
            slot: "implementer-1".into(),
            reason: "loops on task-101".into()
        })]
    );
}

#[test]
fn scale_keys_count_the_role_and_ask_before_scaling_down() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    assert_eq!(
        press(&mut ui, &snap, "+"),
        [send(Command::Scale {
            role: "implementer".into(),
            replicas: 17
        })]
    );
    assert!(press(&mut ui, &snap, "-").is_empty());
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::Scale {
            role: "implementer".into(),
            replicas: 15
        })]
    );
}

#[test]
fn read_only_disables_every_operator_action() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    ui.read_only = true;
    for k in "purxsbBtH+-".chars() {
        assert!(ui.handle_key(&snap, key(k)).is_empty(), "{k}");
        assert!(
            ui.status.as_ref().unwrap().text.starts_with("read-only"),
            "{k}: {:?}",
            ui.status
        );
        assert_eq!(ui.overlay, Overlay::None);
    }
    press(&mut ui, &snap, ":");
    typed(&mut ui, &snap, "pause implementer-2");
    assert!(ui.handle_key(&snap, code(KeyCode::Enter)).is_empty());
    assert!(ui.status.as_ref().unwrap().text.contains("read-only"));
    // Looking around still works.
    press(&mut ui, &snap, "j2");
    assert_eq!(ui.view, View::Locks);
    assert!(press(&mut ui, &snap, "d").is_empty());
}

#[test]
fn palette_runs_commands_and_completes_names() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    press(&mut ui, &snap, ":");
    typed(&mut ui, &snap, "pause rev");
    ui.handle_key(&snap, code(KeyCode::Tab));
    typed(&mut ui, &snap, "3");
    assert_eq!(
        ui.handle_key(&snap, code(KeyCode::Enter)),
        [send(Command::Pause {
            slot: "reviewer-3".into()
        })]
    );
    press(&mut ui, &snap, ":");
    typed(&mut ui, &snap, "theme light");
    assert_eq!(
        ui.handle_key(&snap, code(KeyCode::Enter)),
        [Outcome::SetTheme("light".into())]
    );
    press(&mut ui, &snap, ":");
    typed(&mut ui, &snap, "scale implementer 6");
    assert!(
        ui.handle_key(&snap, code(KeyCode::Enter)).is_empty(),
        "a scale-down asks first"
    );
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::Scale {
            role: "implementer".into(),
            replicas: 6
        })]
    );
    press(&mut ui, &snap, ":");
    typed(&mut ui, &snap, "frobnicate");
    ui.handle_key(&snap, code(KeyCode::Enter));
    assert!(ui.status.as_ref().unwrap().text.contains("unknown command"));
    press(&mut ui, &snap, ":");
    typed(&mut ui, &snap, "events");
    assert_eq!(
        ui.handle_key(&snap, code(KeyCode::Enter)),
        [Outcome::RefreshEvents]
    );
    assert_eq!(ui.view, View::Events);
}

#[test]
fn views_locks_release_and_alerts_acknowledge() {
    let snap = sample::fleet(24);
    let mut ui = ui(&snap);
    press(&mut ui, &snap, "2");
    assert_eq!(ui.view, View::Locks);
    press(&mut ui, &snap, "d");
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::ReleaseLock {
            task: "task-123".into()
        })],
        "the stalest lock is listed first"
    );
    press(&mut ui, &snap, "4");
    assert_eq!(ui.view, View::Alerts);
    let first = drover::ui::rows::alerts_sorted(&snap)[0].id;
    assert_eq!(
        press(&mut ui, &snap, "a"),
        [send(Command::AckAlert {
            alert: AlertRef::Id(first)
        })]
    );
    press(&mut ui, &snap, "G");
    assert!(
        press(&mut ui, &snap, "a").is_empty(),
        "the last alert is already acknowledged"
    );
    ui.handle_key(&snap, code(KeyCode::Esc));
    assert_eq!(ui.view, View::Fleet);
}

#[test]
fn detail_tabs_and_log_keys() {
    let snap = sample::fleet(24);
    let hub = LogHub::new(1000, 1 << 20);
    for i in 0..100u64 {
        let t = if i % 10 == 0 {
            format!("ERROR {i}")
        } else {
            format!("ok {i}")
        };
        hub.push("implementer-1", i, false, t);
    }
    let mut ui = ui(&snap);
    ui.sync_logs(&hub);
    ui.handle_key(&snap, code(KeyCode::Enter));
    assert_eq!(ui.focus, Focus::Detail);
    press(&mut ui, &snap, "f");
    assert!(!ui.logs.follow);
    press(&mut ui, &snap, "kkk");
    assert_eq!(ui.logs.bottom_seq(), Some(96));
    press(&mut ui, &snap, "G");
    assert!(ui.logs.follow);
    press(&mut ui, &snap, "/");
    typed(&mut ui, &snap, "error");
    ui.handle_key(&snap, code(KeyCode::Enter));
    assert_eq!(ui.logs.current_match_seq(), Some(90));
    press(&mut ui, &snap, "N");
    assert_eq!(ui.logs.current_match_seq(), Some(80));
    press(&mut ui, &snap, "n");
    assert_eq!(ui.logs.current_match_seq(), Some(90));
    press(&mut ui, &snap, "w");
    assert!(ui.logs.wrap);
    press(&mut ui, &snap, "l");
    assert_eq!(ui.tab, DetailTab::Tests);
    ui.handle_key(&snap, code(KeyCode::BackTab));
    assert_eq!(ui.tab, DetailTab::Logs);
    // `]`/`[` (what the Quickstart teaches) work inside the detail pane too.
    press(&mut ui, &snap, "]]");
    assert_eq!(ui.tab, DetailTab::Alerts);
    assert_eq!(ui.focus, Focus::Detail);
    press(&mut ui, &snap, "[");
    assert_eq!(ui.tab, DetailTab::Tests);
    press(&mut ui, &snap, "[");
    ui.handle_key(&snap, code(KeyCode::Esc));
    assert_eq!(ui.focus, Focus::Table);
    press(&mut ui, &snap, "]");
    assert_eq!(ui.tab, DetailTab::Tests, "and from the table");
}

#[test]
fn take_over_opens_a_shell_and_asks_to_hand_back() {
    let mut s = slot("implementer-1", SlotState::Running);
    s.container_id = Some("abc123".into());
    let snap = snapshot(vec![s, slot("implementer-2", SlotState::Pending)]);
    let mut ui = ui(&snap);
    let out = press(&mut ui, &snap, "t");
    assert_eq!(
        out,
        [send(Command::TakeOver {
            slot: "implementer-1".into()
        })]
    );
    let intent = Command::TakeOver {
        slot: "implementer-1".into(),
    };
    let out = ui.on_reply(&snap, &intent, Ok(CommandReply::Accepted));
    assert_eq!(
        out,
        [Outcome::OpenShell {
            slot: "implementer-1".into(),
            container: "abc123".into(),
            tmux_window: false
        }]
    );
    ui.after_shell("implementer-1", Ok(()));
    assert_eq!(
        press(&mut ui, &snap, "y"),
        [send(Command::HandBack {
            slot: "implementer-1".into()
        })]
    );
    // In tmux the operator chooses where the shell goes.
    ui.tmux = true;
    assert!(
        ui.on_reply(&snap, &intent, Ok(CommandReply::Unchanged))
            .is_empty()
    );
    assert!(matches!(ui.overlay, Overlay::ShellWhere { .. }));
    assert_eq!(
        press(&mut ui, &snap, "w"),
        [Outcome::OpenShell {
            slot: "implementer-1".into(),
            container: "abc123".into(),
            tmux_window: true
        }]
    );
    // No container: say so instead of failing later.
    let intent2 = Command::TakeOver {
        slot: "implementer-2".into(),
    };
    assert!(
        ui.on_reply(&snap, &intent2, Ok(CommandReply::Accepted))
            .is_empty()
    );
    assert!(ui.status.as_ref().unwrap().text.contains("no container"));
    // Refusals are shown.
    ui.on_reply(
        &snap,
        &intent2,
        Ok(CommandReply::Refused {
            why: "taken over by alice".into(),
        }),
    );
    assert!(
        ui.status
            .as_ref()
            .unwrap()
            .text
            .contains("refused — taken over by alice")
    );
}

#[test]
fn keymap_overrides_drive_handling_and_hints() {
    let snap = sample::fleet(24);
    let mut o = std::collections::BTreeMap::new();
    o.insert("pause".to_string(), "P".to_string());
    let mut ui = UiState::new(Keymap::with_overrides(&o).unwrap(), false);
    ui.on_snapshot(&snap);
    assert!(press(&mut ui, &snap, "p").is_empty());
    assert_eq!(
        press(&mut ui, &snap, "P"),
        [send(Command::Pause {
            slot: "implementer-1".into()
        })]
    );
}

// --- The event loop, fed through channels as the supervisor would. ---

type Input = futures::channel::mpsc::UnboundedSender<std::io::Result<Event>>;

/// A face on a 100x30 test terminal, its feed, and the sender of terminal events.
fn face(
    snap: Snapshot,
) -> (
    Face,
    drover::ui::FaceFeed,
    Input,
    futures::channel::mpsc::UnboundedReceiver<std::io::Result<Event>>,
) {
    let logs: Arc<dyn drover::ui::LogSource> = Arc::new(LogHub::new(100, 1 << 16));
    let (channels, feed) = face_channels(snap, logs, Arc::new(NoEvents));
    let mut opts = UiOptions::plain(Theme::load("dark", None).unwrap());
    opts.who = "alice".into();
    let face = Face::new(channels, opts).unwrap();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    (face, feed, tx, rx)
}

/// A fleet whose screen does not change with the clock (no timestamps).
fn timeless() -> Snapshot {
    snapshot(vec![
        slot("implementer-1", SlotState::Running),
        slot("implementer-2", SlotState::Running),
    ])
}

#[tokio::test(start_paused = true)]
async fn idle_screen_is_not_redrawn_and_changes_are() {
    let (mut face, feed, input, rx) = face(timeless());
    let task = tokio::spawn(async move {
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let exit = face.run_loop(&mut term, rx).await.unwrap();
        (exit, face.draws, term)
    });
    // Ten idle (virtual) seconds: one initial frame and nothing else.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut next = timeless();
    next.slots[1].state = SlotState::Blocked {
        reason: "x".into(),
        by: drover::core::Actor::Drover,
    };
    next.version = 2;
    next.state_version = 2;
    feed.snapshot.send(Arc::new(next)).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    input.unbounded_send(Ok(Event::Key(key('j')))).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    input.unbounded_send(Ok(Event::Key(key('q')))).unwrap();
    let (exit, draws, term) = task.await.unwrap();
    assert_eq!(exit, LoopExit::Quit);
    assert_eq!(
        draws, 3,
        "initial frame, the snapshot change, the key — nothing while idle"
    );
    let screen = format!("{}", term.backend());
    assert!(screen.contains("⊘ blocked"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn output_activity_alone_is_drawn_once_a_second_not_per_snapshot() {
    let (mut face, feed, input, rx) = face(timeless());
    let task = tokio::spawn(async move {
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let exit = face.run_loop(&mut term, rx).await.unwrap();
        (exit, face.draws)
    });
    // Busy agents: 25 snapshots a second for 4 seconds in which only last-activity moved.
    let base = timeless();
    for n in 0..100u64 {
        let mut next = base.clone();
        next.version = 2 + n;
        next.state_version = base.state_version;
        feed.snapshot.send(Arc::new(next)).unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    input.unbounded_send(Ok(Event::Key(key('q')))).unwrap();
    let (exit, draws) = task.await.unwrap();
    assert_eq!(exit, LoopExit::Quit);
    assert!(
        draws <= 1 + 5,
        "{draws} frames for 100 activity-only snapshots in 4 s (one per clock tick expected)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_becomes_a_command_and_the_reply_reaches_the_screen() {
    let (mut face, mut feed, input, rx) = face(timeless());
    let task = tokio::spawn(async move {
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let exit = face.run_loop(&mut term, rx).await.unwrap();
        (exit, term)
    });
    input.unbounded_send(Ok(Event::Key(key('p')))).unwrap();
    let CommandEnvelope {
        request: req,
        reply,
    } = tokio::time::timeout(Duration::from_secs(5), feed.commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        req.command,
        Command::Pause {
            slot: "implementer-1".into()
        }
    );
    assert_eq!(req.who, "alice");
    reply.send(CommandReply::Accepted).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A destructive key waits for `y`: nothing is sent before it.
    input.unbounded_send(Ok(Event::Key(key('x')))).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(feed.commands.try_recv().is_err());
    input.unbounded_send(Ok(Event::Key(key('y')))).unwrap();
    let CommandEnvelope {
        request: req,
        reply,
    } = tokio::time::timeout(Duration::from_secs(5), feed.commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        req.command,
        Command::Stop {
            slot: "implementer-1".into()
        }
    );
    reply
        .send(CommandReply::Refused {
            why: "retiring".into(),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    input.unbounded_send(Ok(Event::Key(key('q')))).unwrap();
    let (exit, term) = task.await.unwrap();
    assert_eq!(exit, LoopExit::Quit);
    let screen = format!("{}", term.backend());
    assert!(
        screen.contains("stop implementer-1: refused — retiring"),
        "{screen}"
    );
}

#[tokio::test(start_paused = true)]
async fn take_over_returns_from_the_loop_to_run_the_shell() {
    let mut s = slot("implementer-1", SlotState::Running);
    s.container_id = Some("abc123".into());
    let (mut face, mut feed, input, rx) = face(snapshot(vec![s]));
    let task = tokio::spawn(async move {
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        face.run_loop(&mut term, rx).await.unwrap()
    });
    input.unbounded_send(Ok(Event::Key(key('t')))).unwrap();
    let CommandEnvelope {
        request: req,
        reply,
    } = feed.commands.recv().await.unwrap();
    assert_eq!(
        req.command,
        Command::TakeOver {
            slot: "implementer-1".into()
        }
    );
    reply.send(CommandReply::Accepted).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exit,
        LoopExit::Shell {
            slot: "implementer-1".into(),
            container: "abc123".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn supervisor_gone_is_reported_not_spun_on() {
    let (mut face, feed, input, rx) = face(timeless());
    drop(feed);
    let task = tokio::spawn(async move {
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let exit = face.run_loop(&mut term, rx).await.unwrap();
        (exit, face.draws, term)
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    input.unbounded_send(Ok(Event::Key(key('q')))).unwrap();
    let (_, draws, term) = task.await.unwrap();
    assert!(
        draws <= 3,
        "{draws} frames: the closed channels must not wake the loop"
    );
    assert!(format!("{}", term.backend()).contains("the supervisor has stopped"));
}

#[test]
fn progress_view_jumps_between_changed_lines() {
    let snap = sample::fleet(4);
    let mut ui = ui(&snap);
    ui.size = (80, 12);
    let theme = Theme::load("dark", None).unwrap();
    let (before, after) = sample::progress_docs();
    ui.progress.set_doc(Arc::new(before), &theme);
    ui.progress.set_doc(Arc::new(after), &theme);
    assert_eq!(ui.progress.changed, [9, 10], "the two new task lines");
    press(&mut ui, &snap, "3");
    assert_eq!(ui.view, View::Progress);
    press(&mut ui, &snap, "n");
    let rows = drover::ui::render::progress_rows(&ui);
    let first = ui.progress.scroll;
    assert!(
        ui.progress.lines[rows[first].source].changed,
        "n lands on a changed line"
    );
    press(&mut ui, &snap, "n");
    assert!(ui.progress.scroll > first);
    press(&mut ui, &snap, "N");
    assert_eq!(ui.progress.scroll, first);
    // Leaving the view marks it as read; the next update is compared with this text.
    press(&mut ui, &snap, "1");
    assert!(ui.progress.changed.is_empty());
    assert!(ui.progress.lines.iter().all(|l| !l.changed));
}

#[test]
fn events_view_filters_by_field_and_text() {
    let snap = sample::fleet(4);
    let mut ui = ui(&snap);
    let ev = |id: i64, slot: &str, kind: &str| drover::ui::feed::StoredEvent {
        id,
        ts_ms: id * 1000,
        slot: Some(slot.into()),
        kind: kind.into(),
        who: None,
        payload: "{}".into(),
    };
    ui.events.extend(vec![
        ev(1, "implementer-1", "started"),
        ev(2, "implementer-2", "died"),
        ev(3, "implementer-1", "died"),
    ]);
    assert!(
        !ui.events.extend(vec![ev(2, "x", "old")]),
        "already seen ids are ignored"
    );
    press(&mut ui, &snap, "5/");
    typed(&mut ui, &snap, "kind:died slot:implementer-1");
    ui.handle_key(&snap, code(KeyCode::Enter));
    let ids: Vec<i64> = ui.events.visible().iter().map(|e| e.id).collect();
    assert_eq!(ids, [3]);
}

mod random_keys {
    use super::*;
    use proptest::prelude::*;

    fn any_key() -> impl Strategy<Value = KeyEvent> {
        let chars = proptest::char::range(' ', '~').prop_map(key);
        let codes = proptest::sample::select(vec![
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Backspace,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
        ])
        .prop_map(code);
        let ctrl = proptest::char::range('a', 'z')
            .prop_map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
        prop_oneof![6 => chars, 3 => codes, 1 => ctrl]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever an operator mashes: no panic, selections stay valid, and read-only mode
        /// never lets a command out.
        #[test]
        fn any_key_sequence_is_safe(keys in proptest::collection::vec(any_key(), 1..120), read_only: bool) {
            let snap = sample::fleet(30);
            let mut ui = ui(&snap);
            ui.read_only = read_only;
            ui.size = (90, 26);
            let theme = Theme::load("dark", None).unwrap();
            for k in keys {
                let out = ui.handle_key(&snap, k);
                if read_only {
                    prop_assert!(!out.iter().any(|o| matches!(o, Outcome::Send { .. })), "{out:?}");
                }
                if let Some(sel) = ui.selected_slot() {
                    prop_assert!(snap.slot(sel).is_some());
                }
                let mut t = Terminal::new(TestBackend::new(90, 26)).unwrap();
                t.draw(|f| drover::ui::render(f, &snap, &ui, &theme)).unwrap();
            }
        }
    }
}

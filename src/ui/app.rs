//! Key handling: a key goes through the overlay (help, confirmation, text input) or the keymap
//! to an [`Action`]; UI-only actions change [`UiState`], operator actions become
//! [`Outcome::Send`] (after a confirmation when destructive). Replies to sent commands come
//! back through [`UiState::on_reply`].
//!
//! Invariants: no I/O here — everything that leaves the UI is an [`Outcome`] the event loop
//! performs; read-only mode never yields `Send`; a destructive intent is only sent after `y`.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::core::{Alert, CommandReply, LockView, SlotState, Snapshot};

use super::LogSource;
use super::filter::FilterQuery;
use super::fleet::{Column, move_selection, settle_selection, visible_slots};
use super::intent::Intent;
use super::keymap::{Action, KeyChord};
use super::layout::page_rows;
use super::palette::{self, PaletteCommand, PaletteContext, View};
use super::render::progress_rows;
use super::state::{DetailTab, Focus, InputKind, Overlay, UiState};

/// What the event loop must do after a key or a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this operator intent to the supervisor.
    Send {
        intent: Intent,
        why: Option<String>,
    },
    Quit,
    /// Load and apply this theme.
    SetTheme(String),
    /// Run an interactive shell in `container` (the TUI suspends unless `tmux_window`).
    OpenShell {
        slot: String,
        container: String,
        tmux_window: bool,
    },
    /// Read new events from the store now.
    RefreshEvents,
}

/// Alerts in the order the alerts view lists them: unacknowledged first, then by severity
/// and recency.
pub fn alerts_sorted(snap: &Snapshot) -> Vec<&Alert> {
    let mut v: Vec<&Alert> = snap.alerts.iter().collect();
    v.sort_by(|a, b| {
        a.acked
            .is_some()
            .cmp(&b.acked.is_some())
            .then(b.severity.cmp(&a.severity))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.id.cmp(&b.id))
    });
    v
}

/// Locks in the order the locks view lists them: stale, then overdue, then by task.
pub fn locks_sorted(snap: &Snapshot) -> Vec<&LockView> {
    let mut v: Vec<&LockView> = snap.locks.iter().collect();
    v.sort_by(|a, b| {
        b.stale
            .cmp(&a.stale)
            .then(b.overdue.cmp(&a.overdue))
            .then(a.task.cmp(&b.task))
    });
    v
}

/// Current replicas of `role` (slots being scaled away not counted).
fn replicas(snap: &Snapshot, role: &str) -> u32 {
    let n = snap
        .slots
        .iter()
        .filter(|s| s.role == role && s.state != SlotState::Retiring)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl UiState {
    /// Handles one key event.
    pub fn handle_key(&mut self, snap: &Snapshot, key: KeyEvent) -> Vec<Outcome> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.status = None;
        match std::mem::take(&mut self.overlay) {
            Overlay::None => {}
            Overlay::Help { scroll } => {
                self.help_key(key, scroll);
                return Vec::new();
            }
            Overlay::Confirm { intent, why, .. } => {
                if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                    return vec![Outcome::Send { intent, why }];
                }
                self.info(format!("cancelled: {intent}"));
                return Vec::new();
            }
            Overlay::Input { kind, text, before } => {
                return self.input_key(snap, key, kind, text, before);
            }
            Overlay::ShellWhere { slot, container } => {
                return match key.code {
                    KeyCode::Char('w' | 'W') => vec![Outcome::OpenShell {
                        slot,
                        container,
                        tmux_window: true,
                    }],
                    KeyCode::Enter | KeyCode::Char('h') => vec![Outcome::OpenShell {
                        slot,
                        container,
                        tmux_window: false,
                    }],
                    _ => {
                        self.info(format!(
                            "{slot} stays taken over — hand it back with the hand_back key"
                        ));
                        Vec::new()
                    }
                };
            }
        }
        let chord = KeyChord::from_event(&key);
        let Some(action) = self.keymap.lookup(self.chain(), chord) else {
            return Vec::new();
        };
        if self.read_only && action.is_operator() {
            self.error(format!("read-only: {action} is disabled"));
            return Vec::new();
        }
        self.apply(snap, action)
    }

    fn help_key(&mut self, key: KeyEvent, scroll: u16) {
        let scroll = match key.code {
            KeyCode::Esc | KeyCode::Char('?' | 'q') => return,
            KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(10),
            KeyCode::PageUp => scroll.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => 0,
            _ => scroll,
        };
        self.overlay = Overlay::Help { scroll };
    }

    fn input_key(
        &mut self,
        snap: &Snapshot,
        key: KeyEvent,
        kind: InputKind,
        mut text: String,
        before: String,
    ) -> Vec<Outcome> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                self.apply_live(snap, &kind, &before);
                return Vec::new();
            }
            KeyCode::Enter => return self.submit(snap, kind, text),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char('w') if ctrl => {
                let keep = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
                text.truncate(keep);
            }
            KeyCode::Char('c') if ctrl => {
                self.apply_live(snap, &kind, &before);
                return Vec::new();
            }
            KeyCode::Tab if kind == InputKind::Palette => {
                let slots: Vec<&str> = snap.slots.iter().map(|s| s.slot.as_str()).collect();
                if let Some(done) = palette::complete(&text, &slots) {
                    text = done;
                }
            }
            KeyCode::Char(c) if !ctrl && text.chars().count() < 500 => text.push(c),
            _ => {}
        }
        self.apply_live(snap, &kind, &text);
        self.overlay = Overlay::Input { kind, text, before };
        Vec::new()
    }

    /// Pasted text goes into an open input line (first line only).
    pub fn handle_paste(&mut self, snap: &Snapshot, pasted: &str) {
        if let Overlay::Input { kind, text, .. } = &mut self.overlay {
            let line = pasted.lines().next().unwrap_or_default();
            text.extend(line.chars().filter(|c| !c.is_control()).take(500));
            let (kind, text) = (kind.clone(), text.clone());
            self.apply_live(snap, &kind, &text);
        }
    }

    /// Filters apply while typing.
    fn apply_live(&mut self, snap: &Snapshot, kind: &InputKind, text: &str) {
        match kind {
            InputKind::FleetFilter => {
                self.fleet.filter = FilterQuery::parse(text);
                settle_selection(snap, &mut self.fleet);
            }
            InputKind::EventFilter => {
                self.events.filter = FilterQuery::parse(text);
                self.events.selected = 0;
            }
            _ => {}
        }
    }

    fn submit(&mut self, snap: &Snapshot, kind: InputKind, text: String) -> Vec<Outcome> {
        match kind {
            InputKind::FleetFilter => {
                let unknown = self
                    .fleet
                    .filter
                    .unknown_fields(super::fleet::FILTER_FIELDS)
                    .join(", ");
                if !unknown.is_empty() {
                    self.error(format!(
                        "unknown filter field {unknown} — use {}",
                        super::fleet::FILTER_FIELDS.join(", ")
                    ));
                }
            }
            InputKind::EventFilter => {}
            InputKind::LogSearch => {
                self.logs.set_search(text.trim());
                match &self.logs.search {
                    Some(s) if s.matches.is_empty() => {
                        self.error(format!("no match for `{}`", s.query));
                    }
                    Some(s) => self.info(format!("{} matching lines", s.matches.len())),
                    None => {}
                }
            }
            InputKind::Palette => return self.run_palette(snap, &text),
            InputKind::BlockReason { slot } => {
                let reason = text.trim();
                if reason.is_empty() {
                    self.error("block needs a reason — nothing sent");
                    return Vec::new();
                }
                return self.propose(
                    snap,
                    Intent::Block {
                        slot,
                        reason: reason.to_string(),
                    },
                    None,
                );
            }
        }
        Vec::new()
    }

    fn run_palette(&mut self, snap: &Snapshot, text: &str) -> Vec<Outcome> {
        let is_slot = |s: &str| snap.slot(s).is_some();
        let selected_alert = alerts_sorted(snap)
            .get(self.alerts_selected)
            .filter(|_| self.view == View::Alerts)
            .map(|a| a.id);
        let ctx = PaletteContext {
            selected_slot: self.selected_slot(),
            selected_alert,
            is_slot: &is_slot,
        };
        match palette::parse(text, &ctx) {
            Err(e) => {
                self.error(e);
                Vec::new()
            }
            Ok(PaletteCommand::Operator { intent, why }) => {
                if self.read_only {
                    self.error(format!("read-only: cannot {intent}"));
                    return Vec::new();
                }
                self.propose(snap, intent, why)
            }
            Ok(PaletteCommand::Theme(name)) => vec![Outcome::SetTheme(name)],
            Ok(PaletteCommand::Filter(f)) => {
                self.view = View::Fleet;
                self.fleet.filter = FilterQuery::parse(&f);
                settle_selection(snap, &mut self.fleet);
                Vec::new()
            }
            Ok(PaletteCommand::Sort(col)) => {
                match Column::parse(&col) {
                    Some(c) => {
                        self.fleet.sort = c;
                        self.info(format!("sorted by {}", c.name()));
                    }
                    None => self.error(format!(
                        "sort: unknown column `{col}` — {}",
                        Column::ALL.map(Column::name).join(", ")
                    )),
                }
                Vec::new()
            }
            Ok(PaletteCommand::View(v)) => self.switch_view(v),
            Ok(PaletteCommand::Help) => {
                self.overlay = Overlay::Help { scroll: 0 };
                Vec::new()
            }
            Ok(PaletteCommand::Quit) => vec![Outcome::Quit],
        }
    }

    /// Sends `intent`, or asks first when it is destructive.
    fn propose(&mut self, snap: &Snapshot, intent: Intent, why: Option<String>) -> Vec<Outcome> {
        let current = match &intent {
            Intent::Scale { role, .. } => Some(replicas(snap, role)),
            _ => None,
        };
        if intent.is_destructive(current) {
            let prompt = format!("{intent}? y to confirm, any other key cancels");
            self.overlay = Overlay::Confirm {
                intent,
                why,
                prompt,
            };
            Vec::new()
        } else {
            vec![Outcome::Send { intent, why }]
        }
    }

    /// The slot the operator is looking at (fleet view).
    pub fn selected_slot(&self) -> Option<&str> {
        self.fleet.selected.as_deref()
    }

    fn switch_view(&mut self, v: View) -> Vec<Outcome> {
        if self.view == View::Progress && v != View::Progress {
            self.progress.mark_viewed();
        }
        self.view = v;
        if v == View::Events {
            return vec![Outcome::RefreshEvents];
        }
        Vec::new()
    }

    fn apply(&mut self, snap: &Snapshot, action: Action) -> Vec<Outcome> {
        use Action::*;
        let page = page_rows(self);
        match action {
            Quit => return vec![Outcome::Quit],
            Help => self.overlay = Overlay::Help { scroll: 0 },
            Palette => {
                self.overlay = Overlay::Input {
                    kind: InputKind::Palette,
                    text: String::new(),
                    before: String::new(),
                }
            }
            Back => self.back(snap),
            ViewFleet => return self.switch_view(View::Fleet),
            ViewLocks => return self.switch_view(View::Locks),
            ViewProgress => return self.switch_view(View::Progress),
            ViewAlerts => return self.switch_view(View::Alerts),
            ViewEvents => return self.switch_view(View::Events),
            Up => self.motion(snap, -1),
            Down => self.motion(snap, 1),
            PageUp => self.motion(snap, -(page as isize)),
            PageDown => self.motion(snap, page as isize),
            Top => self.motion_end(snap, false),
            Bottom => self.motion_end(snap, true),
            Filter => {
                let (kind, raw) = if self.view == View::Events {
                    (InputKind::EventFilter, self.events.filter.raw.clone())
                } else {
                    (InputKind::FleetFilter, self.fleet.filter.raw.clone())
                };
                self.overlay = Overlay::Input {
                    kind,
                    text: raw.clone(),
                    before: raw,
                };
            }
            SortNext => {
                let cols: Vec<Column> = Column::ALL
                    .into_iter()
                    .filter(|c| !(self.fleet.group_by_role && *c == Column::Role))
                    .collect();
                let i = cols.iter().position(|c| *c == self.fleet.sort).unwrap_or(0);
                self.fleet.sort = cols[(i + 1) % cols.len()];
                self.info(format!("sorted by {}", self.fleet.sort.name()));
            }
            SortReverse => {
                self.fleet.descending = !self.fleet.descending;
                let dir = if self.fleet.descending {
                    "reversed"
                } else {
                    "normal"
                };
                self.info(format!("sorted by {} ({dir})", self.fleet.sort.name()));
            }
            GroupByRole => {
                self.fleet.group_by_role = !self.fleet.group_by_role;
                settle_selection(snap, &mut self.fleet);
            }
            OpenDetail => {
                if self.fleet.selected.is_some() {
                    self.focus = Focus::Detail;
                }
            }
            NextTab | PrevTab => {
                self.tab = self.tab.step(if action == NextTab { 1 } else { -1 });
                self.detail_scroll = 0;
            }
            Pause | Resume | Restart | Stop | Start | Block | Unblock | TakeOver | HandBack
            | ScaleUp | ScaleDown => return self.slot_action(snap, action),
            Search => {
                let q = self.logs.search.as_ref().map(|s| s.query.clone());
                self.overlay = Overlay::Input {
                    kind: InputKind::LogSearch,
                    text: q.clone().unwrap_or_default(),
                    before: q.unwrap_or_default(),
                };
            }
            NextMatch | PrevMatch => {
                let moved = if action == NextMatch {
                    self.logs.next_match()
                } else {
                    self.logs.prev_match()
                };
                if !moved {
                    self.error("no search matches — / to search");
                }
            }
            ToggleFollow => {
                self.logs.toggle_follow();
                self.info(if self.logs.follow {
                    "following new lines"
                } else {
                    "follow paused — G jumps to the newest line"
                });
            }
            ToggleWrap => self.logs.wrap = !self.logs.wrap,
            ReleaseLock => {
                let Some(lock) = locks_sorted(snap).get(self.locks_selected).copied() else {
                    self.error("no lock selected");
                    return Vec::new();
                };
                if !lock.stale && !lock.overdue {
                    self.info(format!(
                        "note: the lock on {} is neither stale nor overdue",
                        lock.task
                    ));
                }
                return self.propose(
                    snap,
                    Intent::ReleaseLock {
                        task: lock.task.clone(),
                    },
                    None,
                );
            }
            Acknowledge => {
                let Some(alert) = alerts_sorted(snap).get(self.alerts_selected).copied() else {
                    self.error("no alert selected");
                    return Vec::new();
                };
                if alert.acked.is_some() {
                    self.info("already acknowledged");
                    return Vec::new();
                }
                return self.propose(snap, Intent::Acknowledge { alert: alert.id }, None);
            }
            NextChange | PrevChange => self.jump_change(action == NextChange),
        }
        Vec::new()
    }

    fn back(&mut self, snap: &Snapshot) {
        if self.view != View::Fleet {
            self.switch_view(View::Fleet);
        } else if self.focus == Focus::Detail {
            self.focus = Focus::Table;
        } else if !self.fleet.filter.is_empty() {
            self.fleet.filter = FilterQuery::default();
            settle_selection(snap, &mut self.fleet);
            self.info("filter cleared");
        }
    }

    fn slot_action(&mut self, snap: &Snapshot, action: Action) -> Vec<Outcome> {
        let Some(slot) = self.selected_slot().map(str::to_string) else {
            self.error("no slot selected");
            return Vec::new();
        };
        let role = snap.slot(&slot).map(|s| s.role.clone()).unwrap_or_default();
        let intent = match action {
            Action::Pause => Intent::Pause { slot },
            Action::Resume => Intent::Resume { slot },
            Action::Restart => Intent::Restart { slot },
            Action::Stop => Intent::Stop { slot },
            Action::Start => Intent::Start { slot },
            Action::Unblock => Intent::Unblock { slot },
            Action::TakeOver => Intent::TakeOver { slot },
            Action::HandBack => Intent::HandBack { slot },
            Action::Block => {
                self.overlay = Overlay::Input {
                    kind: InputKind::BlockReason { slot },
                    text: String::new(),
                    before: String::new(),
                };
                return Vec::new();
            }
            Action::ScaleUp | Action::ScaleDown => {
                let n = replicas(snap, &role);
                let replicas = if action == Action::ScaleUp {
                    n.saturating_add(1)
                } else {
                    n.saturating_sub(1)
                };
                Intent::Scale { role, replicas }
            }
            _ => return Vec::new(),
        };
        self.propose(snap, intent, None)
    }

    fn motion(&mut self, snap: &Snapshot, delta: isize) {
        let step = delta.unsigned_abs();
        match (self.view, self.focus, self.tab) {
            (View::Fleet, Focus::Table, _) => move_selection(snap, &mut self.fleet, delta),
            (View::Fleet, Focus::Detail, DetailTab::Logs) => {
                if delta < 0 {
                    self.logs.scroll_up(step);
                } else {
                    self.logs.scroll_down(step);
                }
            }
            (View::Fleet, Focus::Detail, _) => {
                let s = u16::try_from(step).unwrap_or(u16::MAX);
                self.detail_scroll = if delta < 0 {
                    self.detail_scroll.saturating_sub(s)
                } else {
                    self.detail_scroll.saturating_add(s)
                };
            }
            (View::Locks, ..) => {
                self.locks_selected = moved(self.locks_selected, delta, snap.locks.len());
            }
            (View::Alerts, ..) => {
                self.alerts_selected = moved(self.alerts_selected, delta, snap.alerts.len());
            }
            (View::Events, ..) => {
                let n = self.events.visible().len();
                self.events.selected = moved(self.events.selected, delta, n);
            }
            (View::Progress, ..) => {
                let rows = progress_rows(self).len();
                let max = rows.saturating_sub(page_rows(self));
                self.progress.scroll = self.progress.scroll.saturating_add_signed(delta).min(max);
            }
        }
    }

    fn motion_end(&mut self, snap: &Snapshot, end: bool) {
        match (self.view, self.focus, self.tab) {
            (View::Fleet, Focus::Table, _) => {
                let n = visible_slots(snap, &self.fleet).len() as isize;
                move_selection(snap, &mut self.fleet, if end { n } else { -n });
            }
            (View::Fleet, Focus::Detail, DetailTab::Logs) => {
                if end {
                    self.logs.jump_newest();
                } else {
                    self.logs.scroll_top(page_rows(self));
                }
            }
            (View::Fleet, Focus::Detail, _) => {
                self.detail_scroll = if end { u16::MAX } else { 0 };
            }
            _ => self.motion(snap, if end { isize::MAX / 2 } else { isize::MIN / 2 }),
        }
    }

    fn jump_change(&mut self, forward: bool) {
        let rows = progress_rows(self);
        let changed: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| self.progress.lines.get(r.source).is_some_and(|l| l.changed))
            .map(|(i, _)| i)
            .collect();
        let cur = self.progress.scroll;
        let target = if forward {
            changed.iter().find(|i| **i > cur).or(changed.first())
        } else {
            changed.iter().rev().find(|i| **i < cur).or(changed.last())
        };
        match target {
            Some(t) => self.progress.scroll = *t,
            None => self.info("no changes since last viewed"),
        }
    }

    /// Keeps selections valid after a new snapshot.
    pub fn on_snapshot(&mut self, snap: &Snapshot) {
        settle_selection(snap, &mut self.fleet);
        self.locks_selected = self.locks_selected.min(snap.locks.len().saturating_sub(1));
        self.alerts_selected = self
            .alerts_selected
            .min(snap.alerts.len().saturating_sub(1));
    }

    /// Points the log pane at the selected slot and copies new lines; true when the pane
    /// would look different.
    pub fn sync_logs(&mut self, source: &dyn LogSource) -> bool {
        let Some(sel) = self.fleet.selected.clone() else {
            return false;
        };
        let switched = self.logs.slot() != Some(sel.as_str());
        self.logs.attach(&sel);
        self.logs.pull(source) || switched
    }

    /// Whether the log pane is on screen (and so worth polling).
    pub fn logs_visible(&self) -> bool {
        self.view == View::Fleet && self.tab == DetailTab::Logs && self.fleet.selected.is_some()
    }

    /// Handles the supervisor's answer to a sent intent.
    pub fn on_reply(
        &mut self,
        snap: &Snapshot,
        intent: &Intent,
        reply: Result<CommandReply, String>,
    ) -> Vec<Outcome> {
        self.in_flight = self.in_flight.saturating_sub(1);
        match reply {
            Ok(CommandReply::Accepted) | Ok(CommandReply::Unchanged)
                if matches!(intent, Intent::TakeOver { .. }) =>
            {
                let Some(slot) = intent.slot() else {
                    return Vec::new();
                };
                let Some(container) = snap.slot(slot).and_then(|s| s.container_id.clone()) else {
                    self.error(format!(
                        "{slot} is taken over, but it has no container to open a shell in — start it, or hand it back"
                    ));
                    return Vec::new();
                };
                if self.tmux {
                    self.overlay = Overlay::ShellWhere {
                        slot: slot.to_string(),
                        container,
                    };
                    return Vec::new();
                }
                return vec![Outcome::OpenShell {
                    slot: slot.to_string(),
                    container,
                    tmux_window: false,
                }];
            }
            Ok(CommandReply::Accepted) => self.info(format!("{intent}: accepted")),
            Ok(CommandReply::Unchanged) => {
                self.info(format!("{intent}: already so, nothing to do"))
            }
            Ok(CommandReply::NotFound { what }) => {
                self.error(format!("{intent}: no such {what}"));
            }
            Ok(CommandReply::Refused { why }) => self.error(format!("{intent}: refused — {why}")),
            Err(e) => self.error(format!("{intent}: {e}")),
        }
        Vec::new()
    }

    /// After the take-over shell ended: ask whether to hand the slot back.
    pub fn after_shell(&mut self, slot: &str, result: Result<(), String>) {
        let prefix = match result {
            Ok(()) => "shell closed".to_string(),
            Err(e) => format!("shell failed: {e}"),
        };
        self.overlay = Overlay::Confirm {
            intent: Intent::HandBack {
                slot: slot.to_string(),
            },
            why: None,
            prompt: format!(
                "{prefix}. Hand {slot} back to drover? y hands back, any other key keeps it"
            ),
        };
    }
}

fn moved(cur: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    cur.saturating_add_signed(delta).min(len - 1)
}

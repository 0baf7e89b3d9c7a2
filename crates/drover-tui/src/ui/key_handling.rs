//! Key handling: a key goes through the overlay (help, confirmation, text input) or the
//! keymap to an [`Action`](crate::keys::Action); UI-only actions change [`UiState`],
//! operator actions become [`Outcome::Send`] (after a confirmation when destructive). Replies
//! to sent commands come back through [`UiState::on_reply`].
//!
//! Invariants: no I/O here — everything that leaves the UI is an [`Outcome`] the event loop
//! performs; read-only mode never yields `Send`; a destructive intent is only sent after `y`.

use crate::core::Command;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::core::Snapshot;

use super::filter::FilterQuery;
use super::fleet::{Column, settle_selection};
use super::palette::{self, PaletteCommand, PaletteContext, View};
use super::rows::{alerts_sorted, replicas};
use super::state::{InputKind, Overlay, UiState};
use crate::keys::KeyChord;

/// What the event loop must do after a key or a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this operator intent to the supervisor.
    Send {
        intent: Command,
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
            text.push_str(&crate::untrusted::one_line(line, 500));
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
                    Command::Block {
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
    pub(super) fn propose(
        &mut self,
        snap: &Snapshot,
        intent: Command,
        why: Option<String>,
    ) -> Vec<Outcome> {
        let current = match &intent {
            Command::Scale { role, .. } => Some(replicas(snap, role)),
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
}

//! What actions do: the keymap's UI actions (views, motion, tabs, sort and filter toggles),
//! operator actions on the selected slot, lock or alert, and what happens when the supervisor
//! answers a command or the take-over shell ends.
//!
//! Invariants: selections are by name and always valid for the current snapshot; operator
//! actions go through `propose`, which asks before anything destructive.

use crate::core::{AlertRef, Command};
use crate::core::{CommandReply, Snapshot};

use super::LogSource;
use super::filter::FilterQuery;
use super::fleet::{Column, move_selection, settle_selection, visible_slots};
use super::key_handling::Outcome;
use super::layout::page_rows;
use super::palette::View;
use super::render::progress_rows;
use super::rows::{alerts_sorted, locks_sorted, replicas};
use super::state::{DetailTab, Focus, InputKind, Overlay, UiState};
use crate::keys::Action;

impl UiState {
    /// The slot the operator is looking at (fleet view).
    pub fn selected_slot(&self) -> Option<&str> {
        self.fleet.selected.as_deref()
    }

    pub(super) fn switch_view(&mut self, v: View) -> Vec<Outcome> {
        if self.view == View::Progress && v != View::Progress {
            self.progress.mark_viewed();
        }
        self.view = v;
        if v == View::Events {
            return vec![Outcome::RefreshEvents];
        }
        Vec::new()
    }

    pub(super) fn apply(&mut self, snap: &Snapshot, action: Action) -> Vec<Outcome> {
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
                // Only the columns the table shows: HOST exists only over several engines.
                let several_hosts = !snap.hosts.is_empty();
                let cols: Vec<Column> = Column::ALL
                    .into_iter()
                    .filter(|c| !(self.fleet.group_by_role && *c == Column::Role))
                    .filter(|c| *c != Column::Host || several_hosts)
                    .collect();
                let i = cols.iter().position(|c| *c == self.fleet.sort).unwrap_or(0);
                if let Some(c) = cols.get((i + 1) % cols.len().max(1)) {
                    self.fleet.sort = *c;
                }
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
                    Command::ReleaseLock {
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
                return self.propose(
                    snap,
                    Command::AckAlert {
                        alert: AlertRef::Id(alert.id),
                    },
                    None,
                );
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
            Action::Pause => Command::Pause { slot },
            Action::Resume => Command::Resume { slot },
            Action::Restart => Command::Restart { slot },
            Action::Stop => Command::Stop { slot },
            Action::Start => Command::Start { slot },
            Action::Unblock => Command::Unblock { slot },
            Action::TakeOver => Command::TakeOver { slot },
            Action::HandBack => Command::HandBack { slot },
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
                Command::Scale { role, replicas }
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
                    self.logs.note_top_reached(page_rows(self));
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
        intent: &Command,
        reply: Result<CommandReply, String>,
    ) -> Vec<Outcome> {
        self.in_flight = self.in_flight.saturating_sub(1);
        match reply {
            Ok(CommandReply::Accepted) | Ok(CommandReply::Unchanged)
                if matches!(intent, Command::TakeOver { .. }) =>
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
            Ok(CommandReply::NotStored { error }) => self.error(format!(
                "{intent}: in effect but NOT STORED (the store is failing: {error})"
            )),
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
            intent: Command::HandBack {
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

//! Everything the screen shows besides the Snapshot: the current view, focus and tab, the
//! fleet table's sort/filter/selection, the log pane, the events list, the PROGRESS.md view,
//! overlays (help, confirmation, text input) and the status line.
//!
//! Invariants: `UiState` holds only bounded data (log and event copies are capped); it is
//! changed by the app's key handling and by the event loop's pulls, and read by `render`.

use crate::core::Command;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::line_changes::changes_since;
use crate::theme::Theme;

use super::feed::{ProgressView, StoredEvent};
use super::filter::{FilterQuery, Filterable};
use super::fleet::FleetTable;
use super::logview::LogView;
use super::markdown::{MdLine, render_markdown};
use super::palette::View;
use crate::keys::{CHAINS, Keymap, Mode};

/// Lines of one slot's log kept in the pane.
pub const LOG_CAP: usize = 5_000;
/// Events kept for the events view.
pub const EVENT_CAP: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Table,
    Detail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailTab {
    Logs,
    Tests,
    Alerts,
    Incidents,
    Container,
    Runs,
}

impl DetailTab {
    pub const ALL: [DetailTab; 6] = [
        DetailTab::Logs,
        DetailTab::Tests,
        DetailTab::Alerts,
        DetailTab::Incidents,
        DetailTab::Container,
        DetailTab::Runs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            DetailTab::Logs => "Logs",
            DetailTab::Tests => "Tests",
            DetailTab::Alerts => "Alerts",
            DetailTab::Incidents => "Incidents",
            DetailTab::Container => "Container",
            DetailTab::Runs => "Runs",
        }
    }

    pub fn step(self, delta: isize) -> Self {
        let n = Self::ALL.len() as isize;
        let i = Self::ALL.iter().position(|t| *t == self).unwrap_or(0) as isize;
        // rem_euclid keeps the index in 0..n.
        Self::ALL[((i + delta).rem_euclid(n)) as usize]
    }
}

/// What a line of typed text is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// The fleet filter (applied while typing).
    FleetFilter,
    /// The events filter (applied while typing).
    EventFilter,
    /// Log search (applied on Enter).
    LogSearch,
    Palette,
    /// The reason for blocking `slot`.
    BlockReason {
        slot: String,
    },
}

impl InputKind {
    pub fn prompt(&self) -> String {
        match self {
            InputKind::FleetFilter | InputKind::EventFilter => "/".into(),
            InputKind::LogSearch => "search: ".into(),
            InputKind::Palette => ":".into(),
            InputKind::BlockReason { slot } => format!("block {slot} — reason: "),
        }
    }
}

/// A modal layer over the views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Overlay {
    #[default]
    None,
    Help {
        scroll: u16,
    },
    /// Asks y/n before sending `intent`.
    Confirm {
        intent: Command,
        why: Option<String>,
        prompt: String,
    },
    Input {
        kind: InputKind,
        text: String,
        /// The text before editing started (restored by Esc for live filters).
        before: String,
    },
    /// In tmux: open the take-over shell in a new window or here.
    ShellWhere {
        slot: String,
        container: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub kind: StatusKind,
}

/// What the container tab shows about a role (from the config; env values never kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleInfo {
    pub image: String,
    pub command: Option<String>,
    pub memory: String,
    pub cpus: String,
    pub pids: String,
    /// Names from `env` and `pass_env`; values are never copied into the UI.
    pub env_names: Vec<String>,
    /// `required_env`: shown as missing when the preflight blocked the slot for them.
    pub required_env: Vec<String>,
    pub mounts: Vec<String>,
    pub hardening: String,
}

/// The events view's copy of the persisted log.
#[derive(Clone, Debug, Default)]
pub struct EventsState {
    /// Oldest first, at most [`EVENT_CAP`].
    pub rows: VecDeque<StoredEvent>,
    pub last_id: i64,
    pub filter: FilterQuery,
    /// Index among the filtered rows, newest first.
    pub selected: usize,
    pub error: Option<String>,
    pub loaded: bool,
}

/// Field names the events filter understands.
pub const EVENT_FILTER_FIELDS: &[&str] = &["slot", "kind", "who"];

impl Filterable for StoredEvent {
    fn field(&self, field: &str) -> Option<&str> {
        match field {
            "slot" => self.slot.as_deref(),
            "kind" => Some(&self.kind),
            "who" => self.who.as_deref(),
            _ => None,
        }
    }

    fn fuzzy_texts(&self) -> Vec<&str> {
        let mut v = vec![self.kind.as_str(), self.payload.as_str()];
        v.extend(self.slot.as_deref());
        v.extend(self.who.as_deref());
        v
    }
}

impl EventsState {
    /// Adds newly read events (ids above `last_id`), keeping the newest [`EVENT_CAP`].
    pub fn extend(&mut self, events: Vec<StoredEvent>) -> bool {
        let mut added = false;
        for e in events {
            if e.id <= self.last_id {
                continue;
            }
            self.last_id = e.id;
            self.rows.push_back(e);
            added = true;
        }
        while self.rows.len() > EVENT_CAP {
            self.rows.pop_front();
        }
        self.loaded = true;
        added
    }

    /// Filtered rows, newest first.
    pub fn visible(&self) -> Vec<&StoredEvent> {
        self.rows
            .iter()
            .rev()
            .filter(|e| self.filter.matches(*e))
            .collect()
    }
}

/// The PROGRESS.md view: the document, the text the operator last viewed (to mark what
/// changed since), the rendered lines (cached per document and theme) and the scroll position.
#[derive(Clone, Debug, Default)]
pub struct ProgressState {
    pub doc: Arc<ProgressView>,
    /// The text as it was when the operator last left the view; the first text read counts
    /// as seen, so a fresh start marks nothing.
    pub seen: Option<String>,
    /// 0-based source lines new since `seen`.
    pub changed: Vec<usize>,
    pub lines: Vec<MdLine>,
    /// First wrapped row shown.
    pub scroll: usize,
}

impl ProgressState {
    pub fn set_doc(&mut self, doc: Arc<ProgressView>, theme: &Theme) {
        let text = doc.text.as_deref().unwrap_or_default();
        if self.seen.is_none() && doc.text.is_some() {
            self.seen = Some(text.to_string());
        }
        let blank: Vec<bool> = text.lines().map(|l| l.trim().is_empty()).collect();
        self.changed = match &self.seen {
            // A new blank line is not news.
            Some(seen) => changes_since(seen, text)
                .new_lines
                .into_iter()
                .filter(|i| !blank.get(*i).copied().unwrap_or(true))
                .collect(),
            None => Vec::new(),
        };
        self.lines = render_markdown(text, &self.changed, theme);
        self.doc = doc;
    }

    /// The operator has seen the current text: nothing is new any more.
    pub fn mark_viewed(&mut self) {
        if let Some(t) = &self.doc.text {
            self.seen = Some(t.clone());
        }
        self.changed.clear();
        for l in &mut self.lines {
            l.changed = false;
        }
    }
}

/// The UI's own state (see the module docs).
#[derive(Clone, Debug)]
pub struct UiState {
    pub view: View,
    pub focus: Focus,
    pub tab: DetailTab,
    pub fleet: FleetTable,
    pub logs: LogView,
    /// Scroll of the non-log detail tabs.
    pub detail_scroll: u16,
    pub locks_selected: usize,
    pub alerts_selected: usize,
    pub events: EventsState,
    pub progress: ProgressState,
    pub overlay: Overlay,
    pub status: Option<Status>,
    /// Wall-clock time used for ages (set by the event loop, so rendering stays pure).
    pub now_ms: u64,
    /// Terminal size, for page sizes and layout decisions made outside rendering.
    pub size: (u16, u16),
    pub read_only: bool,
    pub keymap: Keymap,
    pub roles: BTreeMap<String, RoleInfo>,
    /// Commands sent and not yet answered.
    pub in_flight: usize,
    /// Whether a tmux window can host the take-over shell.
    pub tmux: bool,
}

impl UiState {
    pub fn new(keymap: Keymap, read_only: bool) -> Self {
        Self {
            view: View::Fleet,
            focus: Focus::Table,
            tab: DetailTab::Logs,
            fleet: FleetTable::default(),
            logs: LogView::new(LOG_CAP),
            detail_scroll: 0,
            locks_selected: 0,
            alerts_selected: 0,
            events: EventsState::default(),
            progress: ProgressState::default(),
            overlay: Overlay::None,
            status: None,
            now_ms: 0,
            size: (80, 24),
            read_only,
            keymap,
            roles: BTreeMap::new(),
            in_flight: 0,
            tmux: false,
        }
    }

    /// The keymap modes consulted for a key, most specific first.
    pub fn chain(&self) -> &'static [Mode] {
        let i = match self.view {
            View::Fleet => match (self.focus, self.tab) {
                (Focus::Table, _) => 0,
                (Focus::Detail, DetailTab::Logs) => 1,
                (Focus::Detail, _) => 2,
            },
            View::Locks => 3,
            View::Alerts => 4,
            View::Events => 5,
            View::Progress => 6,
        };
        CHAINS[i]
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            kind: StatusKind::Info,
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            kind: StatusKind::Error,
        });
    }
}

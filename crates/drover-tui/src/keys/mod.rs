//! The one keymap table `(mode, key, action, description)`: it drives key handling, the help
//! overlay and the status-bar hints, and takes user overrides by action name. The default rows
//! are in `defaults.rs`; overrides are applied in `overrides.rs`.
//!
//! Invariants (checked by [`Keymap::validate`] and enforced on every override): along every
//! lookup chain a screen uses ([`CHAINS`]) a key reaches at most one action, so no binding
//! silently shadows another.

use std::fmt;
use std::str::FromStr;

use crossterm::event::KeyCode;

mod check;
mod chord;
mod defaults;
mod overrides;

pub use check::{BindingProblem, binding_problems};
pub use chord::KeyChord;
use defaults::defaults;

/// A group of bindings. A screen looks keys up through a chain of modes, most specific first
/// (see [`CHAINS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Global,
    Motion,
    Fleet,
    Slot,
    Detail,
    Logs,
    Locks,
    Alerts,
    Events,
    Progress,
}

impl Mode {
    pub const ALL: [Mode; 10] = [
        Mode::Global,
        Mode::Motion,
        Mode::Fleet,
        Mode::Slot,
        Mode::Detail,
        Mode::Logs,
        Mode::Locks,
        Mode::Alerts,
        Mode::Events,
        Mode::Progress,
    ];

    /// The heading used in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Mode::Global => "Everywhere",
            Mode::Motion => "Moving",
            Mode::Fleet => "Fleet table",
            Mode::Slot => "Selected slot (fleet and detail)",
            Mode::Detail => "Detail pane",
            Mode::Logs => "Logs tab",
            Mode::Locks => "Locks view",
            Mode::Alerts => "Alerts view",
            Mode::Events => "Events view",
            Mode::Progress => "PROGRESS.md view",
        }
    }
}

macro_rules! actions {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Everything a key can ask for. The config names actions by their `name()`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The name used in `[ui.keys]` and in the help overlay.
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name),* }
            }
        }

        impl FromStr for Action {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($name => Ok(Action::$variant),)* _ => Err(()) }
            }
        }
    };
}

actions! {
    Quit => "quit",
    Help => "help",
    Palette => "palette",
    Back => "back",
    ViewFleet => "view_fleet",
    ViewLocks => "view_locks",
    ViewProgress => "view_progress",
    ViewAlerts => "view_alerts",
    ViewEvents => "view_events",
    Up => "up",
    Down => "down",
    PageUp => "page_up",
    PageDown => "page_down",
    Top => "top",
    Bottom => "bottom",
    Filter => "filter",
    SortNext => "sort_next",
    SortReverse => "sort_reverse",
    GroupByRole => "group_by_role",
    OpenDetail => "open_detail",
    NextTab => "next_tab",
    PrevTab => "prev_tab",
    Pause => "pause",
    Resume => "resume",
    Restart => "restart",
    Stop => "stop",
    Start => "start",
    Block => "block",
    Unblock => "unblock",
    TakeOver => "take_over",
    HandBack => "hand_back",
    ScaleUp => "scale_up",
    ScaleDown => "scale_down",
    Search => "search",
    NextMatch => "next_match",
    PrevMatch => "prev_match",
    ToggleFollow => "toggle_follow",
    ToggleWrap => "toggle_wrap",
    ReleaseLock => "release_lock",
    Acknowledge => "acknowledge",
    NextChange => "next_change",
    PrevChange => "prev_change",
}

impl Action {
    /// Actions that change the fleet (sent to the supervisor): disabled in read-only mode.
    pub fn is_operator(self) -> bool {
        matches!(
            self,
            Action::Pause
                | Action::Resume
                | Action::Restart
                | Action::Stop
                | Action::Start
                | Action::Block
                | Action::Unblock
                | Action::TakeOver
                | Action::HandBack
                | Action::ScaleUp
                | Action::ScaleDown
                | Action::ReleaseLock
                | Action::Acknowledge
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key string or an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error(
        "unknown key `{0}` — use a character (`p`, `G`, `/`), a name (Enter, Esc, Tab, BackTab, Space, Up, Down, Left, Right, PageUp, PageDown, Home, End, Backspace, Delete, Insert, F1-F12) or ctrl-/alt- plus a key"
    )]
    UnknownKey(String),
    #[error("unknown action `{name}` in [ui.keys]{hint} — actions: {all}")]
    UnknownAction {
        name: String,
        hint: String,
        all: String,
    },
    #[error("[ui.keys] {action} has no key")]
    NoKey { action: String },
    #[error("key `{key}` is bound twice in {mode}: to `{first}` and to `{second}`")]
    Duplicate {
        key: String,
        mode: String,
        first: String,
        second: String,
    },
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub mode: Mode,
    pub key: KeyChord,
    pub action: Action,
    pub description: &'static str,
}

/// The lookup chains the screens use, most specific mode first. Every mode is in one.
pub const CHAINS: [&[Mode]; 7] = {
    use Mode::*;
    [
        &[Fleet, Slot, Motion, Global],
        &[Logs, Detail, Slot, Motion, Global],
        &[Detail, Slot, Motion, Global],
        &[Locks, Motion, Global],
        &[Alerts, Motion, Global],
        &[Events, Motion, Global],
        &[Progress, Motion, Global],
    ]
};

/// The live keymap: the default table with the user's overrides applied.
#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Keymap {
    pub fn default_map() -> Self {
        let bindings = defaults()
            .into_iter()
            .map(|(mode, key, action, description)| Binding {
                mode,
                // The default table is a literal checked by `defaults_are_valid`.
                key: key.parse().unwrap_or(KeyChord::plain(KeyCode::Null)),
                action,
                description,
            })
            .collect();
        Self { bindings }
    }

    /// Conflicts in the table: within any lookup chain (see [`CHAINS`]) one key reaching two
    /// different actions — which covers a key twice in one mode.
    pub fn validate(&self) -> Vec<KeymapError> {
        let mut errors: Vec<KeymapError> = Vec::new();
        for chain in CHAINS {
            let in_chain: Vec<&Binding> = self
                .bindings
                .iter()
                .filter(|b| chain.contains(&b.mode))
                .collect();
            for (i, a) in in_chain.iter().enumerate() {
                for b in &in_chain[..i] {
                    if a.key != b.key || a.action == b.action {
                        continue;
                    }
                    let err = KeymapError::Duplicate {
                        key: a.key.to_string(),
                        mode: if a.mode == b.mode {
                            a.mode.title().to_string()
                        } else {
                            format!("{} / {}", b.mode.title(), a.mode.title())
                        },
                        first: b.action.to_string(),
                        second: a.action.to_string(),
                    };
                    if !errors.contains(&err) {
                        errors.push(err);
                    }
                }
            }
        }
        errors
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The action bound to `key`, looking through `chain` (most specific mode first).
    pub fn lookup(&self, chain: &[Mode], key: KeyChord) -> Option<Action> {
        chain.iter().find_map(|mode| {
            self.bindings
                .iter()
                .find(|b| b.mode == *mode && b.key == key)
                .map(|b| b.action)
        })
    }

    /// The keys of `action` (in the first mode of `chain` where it is bound), for hints.
    pub fn keys_for(&self, chain: &[Mode], action: Action) -> Vec<KeyChord> {
        chain
            .iter()
            .map(|mode| {
                self.bindings
                    .iter()
                    .filter(|b| b.mode == *mode && b.action == action)
                    .map(|b| b.key)
                    .collect::<Vec<_>>()
            })
            .find(|keys| !keys.is_empty())
            .unwrap_or_default()
    }

    /// The first key of `action` as text, or `None` when it is unbound in `chain`.
    pub fn key_label(&self, chain: &[Mode], action: Action) -> Option<String> {
        self.keys_for(chain, action).first().map(|k| k.to_string())
    }

    /// Help rows per mode: (mode, keys joined, action, description), in table order.
    pub fn help_rows(&self) -> Vec<(Mode, String, Action, &'static str)> {
        let mut rows: Vec<(Mode, String, Action, &'static str)> = Vec::new();
        for mode in Mode::ALL {
            for b in self.bindings.iter().filter(|b| b.mode == mode) {
                if let Some(row) = rows
                    .iter_mut()
                    .find(|(m, _, a, _)| *m == mode && *a == b.action)
                {
                    row.1.push_str(&format!(" {}", b.key));
                } else {
                    rows.push((mode, b.key.to_string(), b.action, b.description));
                }
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn chord(s: &str) -> KeyChord {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        for (_, key, action, _) in defaults() {
            assert!(key.parse::<KeyChord>().is_ok(), "{action}: `{key}`");
        }
        assert_eq!(Keymap::default_map().validate(), vec![]);
    }

    #[test]
    fn every_action_is_bound() {
        let map = Keymap::default_map();
        for a in Action::ALL {
            assert!(
                map.bindings().iter().any(|b| b.action == *a),
                "{a} has no key"
            );
        }
    }

    #[test]
    fn no_duplicate_key_within_a_mode() {
        let map = Keymap::default_map();
        for mode in Mode::ALL {
            let keys: Vec<_> = map
                .bindings()
                .iter()
                .filter(|b| b.mode == mode)
                .map(|b| b.key)
                .collect();
            for (i, k) in keys.iter().enumerate() {
                assert!(!keys[..i].contains(k), "{k} twice in {mode:?}");
            }
        }
    }

    #[test]
    fn help_lists_every_action_with_its_keys() {
        let map = Keymap::default_map();
        let rows = map.help_rows();
        for a in Action::ALL {
            assert!(rows.iter().any(|r| r.2 == *a), "{a} missing from help");
        }
        let down = rows.iter().find(|r| r.2 == Action::Down).unwrap();
        assert_eq!(down.1, "j ↓");
    }

    #[test]
    fn every_mode_is_reachable_through_a_chain() {
        for mode in Mode::ALL {
            assert!(CHAINS.iter().any(|c| c.contains(&mode)), "{mode:?}");
        }
    }

    #[test]
    fn lookup_follows_the_chain() {
        let map = Keymap::default_map();
        let logs = [
            Mode::Logs,
            Mode::Detail,
            Mode::Slot,
            Mode::Motion,
            Mode::Global,
        ];
        assert_eq!(map.lookup(&logs, chord("/")), Some(Action::Search));
        assert_eq!(map.lookup(&logs, chord("p")), Some(Action::Pause));
        assert_eq!(map.lookup(&logs, chord("q")), Some(Action::Quit));
        let locks = [Mode::Locks, Mode::Motion, Mode::Global];
        assert_eq!(map.lookup(&locks, chord("p")), None);
        assert_eq!(map.lookup(&locks, chord("d")), Some(Action::ReleaseLock));
        // `]`/`[` switch detail tabs from the table and from inside the detail pane.
        for chain in &CHAINS[..3] {
            assert_eq!(map.lookup(chain, chord("]")), Some(Action::NextTab));
            assert_eq!(map.lookup(chain, chord("[")), Some(Action::PrevTab));
        }
    }

    #[test]
    fn overrides_replace_keys_in_every_mode() {
        let mut o = BTreeMap::new();
        o.insert("pause".to_string(), "P".to_string());
        o.insert("next_tab".to_string(), "L ctrl-n".to_string());
        let map = Keymap::with_overrides(&o).unwrap();
        let slot = [Mode::Slot, Mode::Global];
        assert_eq!(map.lookup(&slot, chord("P")), Some(Action::Pause));
        assert_eq!(map.lookup(&slot, chord("p")), None);
        assert_eq!(
            map.lookup(&[Mode::Slot], chord("ctrl-n")),
            Some(Action::NextTab)
        );
        assert_eq!(
            map.lookup(&[Mode::Detail], chord("L")),
            Some(Action::NextTab)
        );
        assert_eq!(map.lookup(&[Mode::Detail], chord("tab")), None);
        assert_eq!(map.key_label(&slot, Action::Pause).as_deref(), Some("P"));
    }

    #[test]
    fn unknown_override_names_and_keys_are_rejected() {
        let mut o = BTreeMap::new();
        o.insert("pasue".to_string(), "P".to_string());
        o.insert("stop".to_string(), "hyper-x".to_string());
        let errs = Keymap::with_overrides(&o).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("unknown action `pasue`") && t.contains("did you mean `pause`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("unknown key `hyper-x`")),
            "{text:?}"
        );
    }

    #[test]
    fn conflicting_override_is_rejected() {
        let mut o = BTreeMap::new();
        o.insert("pause".to_string(), "r".to_string());
        let errs = Keymap::with_overrides(&o).unwrap_err();
        assert!(
            matches!(&errs[0], KeymapError::Duplicate { key, .. } if key == "r"),
            "{errs:?}"
        );
        let mut o = BTreeMap::new();
        o.insert("pause".to_string(), "q".to_string());
        assert!(Keymap::with_overrides(&o).is_err(), "q is global (quit)");
        let mut o = BTreeMap::new();
        o.insert("pause".to_string(), "  ".to_string());
        assert!(matches!(
            Keymap::with_overrides(&o).unwrap_err()[0],
            KeymapError::NoKey { .. }
        ));
    }
}

//! The rows of the default keymap, one `(mode, key, action, description)` per binding. Every
//! key is a literal that parses, and no two rows conflict along a lookup chain (both checked
//! by `defaults_are_valid` in `keys`).

use super::{Action, Mode};

/// The default table: k9s-like letters, vim motions and arrow keys side by side.
pub(super) fn defaults() -> Vec<(Mode, &'static str, Action, &'static str)> {
    use Action::*;
    use Mode::*;
    vec![
        (Global, "q", Quit, "quit drover's screen"),
        (Global, "ctrl-c", Quit, "quit drover's screen"),
        (Global, "?", Help, "show or hide this help"),
        (
            Global,
            ":",
            Palette,
            "command palette (:pause implementer-2, :theme light)",
        ),
        (Global, "esc", Back, "close, clear the filter or go back"),
        (Global, "1", ViewFleet, "fleet view"),
        (Global, "2", ViewLocks, "locks view"),
        (Global, "3", ViewProgress, "PROGRESS.md view"),
        (Global, "4", ViewAlerts, "alerts view"),
        (Global, "5", ViewEvents, "events / audit view"),
        (Motion, "k", Up, "up"),
        (Motion, "up", Up, "up"),
        (Motion, "j", Down, "down"),
        (Motion, "down", Down, "down"),
        (Motion, "ctrl-u", PageUp, "page up"),
        (Motion, "pageup", PageUp, "page up"),
        (Motion, "ctrl-d", PageDown, "page down"),
        (Motion, "pagedown", PageDown, "page down"),
        (Motion, "g", Top, "first row / oldest line"),
        (Motion, "home", Top, "first row / oldest line"),
        (
            Motion,
            "G",
            Bottom,
            "last row / newest line (logs: follow again)",
        ),
        (
            Motion,
            "end",
            Bottom,
            "last row / newest line (logs: follow again)",
        ),
        (
            Fleet,
            "/",
            Filter,
            "filter: text, state:blocked, role:x, health:stalled",
        ),
        (Fleet, "o", SortNext, "sort by the next column"),
        (Fleet, "O", SortReverse, "reverse the sort order"),
        (Fleet, "R", GroupByRole, "group rows by role"),
        (Fleet, "enter", OpenDetail, "focus the detail pane"),
        // In Slot, so they work from the table and inside the detail pane alike.
        (Slot, "]", NextTab, "next detail tab"),
        (Slot, "[", PrevTab, "previous detail tab"),
        (Slot, "p", Pause, "pause the slot"),
        (Slot, "u", Resume, "resume a paused slot"),
        (Slot, "r", Restart, "restart the slot (asks first)"),
        (Slot, "x", Stop, "stop the slot (asks first)"),
        (Slot, "s", Start, "start a stopped slot"),
        (
            Slot,
            "b",
            Block,
            "block the slot with a reason (asks first)",
        ),
        (Slot, "B", Unblock, "unblock the slot"),
        (
            Slot,
            "t",
            TakeOver,
            "take over: open a shell in the container",
        ),
        (Slot, "H", HandBack, "hand the slot back to drover"),
        (Slot, "+", ScaleUp, "one more replica of this role"),
        (
            Slot,
            "-",
            ScaleDown,
            "one replica fewer of this role (asks first)",
        ),
        (Detail, "tab", NextTab, "next tab"),
        (Detail, "l", NextTab, "next tab"),
        (Detail, "right", NextTab, "next tab"),
        (Detail, "shift-tab", PrevTab, "previous tab"),
        (Detail, "h", PrevTab, "previous tab"),
        (Detail, "left", PrevTab, "previous tab"),
        (Logs, "/", Search, "search the log"),
        (Logs, "n", NextMatch, "next match"),
        (Logs, "N", PrevMatch, "previous match"),
        (
            Logs,
            "f",
            ToggleFollow,
            "pause / resume following new lines",
        ),
        (Logs, "w", ToggleWrap, "wrap long lines on / off"),
        (
            Locks,
            "d",
            ReleaseLock,
            "release the selected stale lock (asks first)",
        ),
        (Alerts, "a", Acknowledge, "acknowledge the selected alert"),
        (Events, "/", Filter, "filter events: text, slot:x, kind:x"),
        (Progress, "n", NextChange, "next changed line"),
        (Progress, "N", PrevChange, "previous changed line"),
    ]
}

//! The fleet table's model: columns (with widths and drop priorities), how slots are
//! filtered, sorted and grouped, and the words and symbols that carry each state and health
//! without colour.
//!
//! Invariants: the same function orders rows for drawing and for navigation, so the selection
//! always moves to the row the operator sees next; selection is by slot name, stable across
//! snapshots and re-sorting.

use std::cmp::Ordering;

use crate::core::{Health, SlotState, SlotView, Snapshot, Verdict};

use super::filter::{FilterQuery, Filterable};

/// A fleet table column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Slot,
    /// The engine a slot runs on; only in a fleet over several hosts.
    Host,
    Role,
    State,
    Health,
    Uptime,
    Restarts,
    LastExit,
    Task,
    Tests,
    Alerts,
    /// How full the agent's context is, and the run's compactions.
    Context,
    Activity,
    /// Why the slot is in its state (blocked reason, last error, …); shown when there is room.
    Reason,
}

impl Column {
    pub const ALL: [Column; 14] = [
        Column::Slot,
        Column::Host,
        Column::Role,
        Column::State,
        Column::Health,
        Column::Uptime,
        Column::Restarts,
        Column::LastExit,
        Column::Task,
        Column::Tests,
        Column::Alerts,
        Column::Context,
        Column::Activity,
        Column::Reason,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Slot => "slot",
            Column::Host => "host",
            Column::Role => "role",
            Column::State => "state",
            Column::Health => "health",
            Column::Uptime => "uptime",
            Column::Restarts => "restarts",
            Column::LastExit => "exit",
            Column::Task => "task",
            Column::Tests => "tests",
            Column::Alerts => "alerts",
            Column::Context => "ctx",
            Column::Activity => "activity",
            Column::Reason => "reason",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Column::Slot => "SLOT",
            Column::Host => "HOST",
            Column::Role => "ROLE",
            Column::State => "STATE",
            Column::Health => "HEALTH",
            Column::Uptime => "UP",
            Column::Restarts => "RST",
            Column::LastExit => "LAST EXIT",
            Column::Task => "TASK",
            Column::Tests => "TESTS",
            Column::Alerts => "ALR",
            Column::Context => "CTX",
            Column::Activity => "ACTIVE",
            Column::Reason => "REASON",
        }
    }

    pub fn parse(name: &str) -> Option<Column> {
        Column::ALL
            .into_iter()
            .find(|c| c.name() == name || c.title().eq_ignore_ascii_case(name))
    }

    /// Width in cells: (minimum, preferred). The name columns depend on the names shown.
    pub fn width(self, names: NameWidths) -> (u16, u16) {
        match self {
            Column::Slot => (names.slot.clamp(8, 14), names.slot.clamp(8, 24)),
            Column::Host => (names.host.clamp(4, 12), names.host.clamp(4, 16)),
            Column::Role => (names.role.clamp(4, 16), names.role.clamp(4, 16)),
            Column::State => (12, 13),
            Column::Health => (9, 10),
            Column::Uptime => (5, 6),
            Column::Restarts => (3, 4),
            Column::LastExit => (9, 12),
            Column::Task => (14, 22),
            Column::Tests => (11, 17),
            Column::Alerts => (3, 3),
            Column::Context => (4, 7),
            Column::Activity => (6, 6),
            Column::Reason => (16, 48),
        }
    }

    /// Lower drops later on narrow terminals.
    pub fn priority(self) -> u8 {
        match self {
            Column::Slot | Column::State => 0,
            Column::Health | Column::Host => 1,
            Column::Alerts => 2,
            Column::Task => 3,
            Column::Tests => 4,
            Column::Restarts => 5,
            Column::Uptime => 6,
            Column::LastExit => 7,
            Column::Activity => 8,
            Column::Role | Column::Context => 9,
            // First to go: a narrow screen shows the selected slot's reason under the table.
            Column::Reason => 10,
        }
    }
}

/// Display widths of the longest slot and role names shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameWidths {
    pub slot: u16,
    pub role: u16,
    /// 0 when no slot names a host (one engine): the HOST column is then left out.
    pub host: u16,
}

impl NameWidths {
    pub fn of<'a>(slots: impl Iterator<Item = &'a SlotView>) -> Self {
        let w =
            |s: &str| u16::try_from(unicode_width::UnicodeWidthStr::width(s)).unwrap_or(u16::MAX);
        slots.fold(
            Self {
                slot: 4,
                role: 4,
                host: 0,
            },
            |acc, s| Self {
                slot: acc.slot.max(w(&s.slot)),
                role: acc.role.max(w(&s.role)),
                host: acc.host.max(s.host.as_deref().map_or(0, w)),
            },
        )
    }
}

/// Which columns fit in `width` (with one separator cell each), in display order, and the
/// width each gets. The role column is left out when rows are grouped by role.
pub fn fit_columns(width: u16, grouped: bool, names: NameWidths) -> Vec<(Column, u16)> {
    let mut cols: Vec<Column> = Column::ALL
        .into_iter()
        .filter(|c| !(grouped && *c == Column::Role) && *c != Column::Reason)
        .filter(|c| *c != Column::Host || names.host > 0)
        .collect();
    let need = |cols: &[Column], pick: fn((u16, u16)) -> u16| -> u16 {
        cols.iter().map(|c| pick(c.width(names)) + 1).sum()
    };
    while need(&cols, |w| w.0) > width && cols.len() > 2 {
        if let Some(worst) = cols.iter().copied().max_by_key(|c| c.priority()) {
            cols.retain(|c| *c != worst);
        }
    }
    // Hand out the spare width up to each column's preferred width, most important first.
    let mut widths: Vec<u16> = cols.iter().map(|c| c.width(names).0).collect();
    let mut spare = width.saturating_sub(need(&cols, |w| w.0));
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|i| cols[*i].priority());
    for i in order {
        let (min, pref) = cols[i].width(names);
        let add = (pref - min).min(spare);
        widths[i] += add;
        spare -= add;
    }
    // REASON only when every other column has its preferred width ("when wide"); narrower
    // screens show the selected slot's reason under the table instead.
    let (reason_min, reason_pref) = Column::Reason.width(names);
    if spare > reason_min {
        let w = (spare - 1).min(reason_pref);
        cols.push(Column::Reason);
        widths.push(w);
        spare -= w + 1;
    }
    // Whatever is left widens the free-text columns.
    if spare > 0
        && let Some(i) = cols.iter().position(|c| *c == Column::Task)
    {
        widths[i] += spare.min(20);
    }
    cols.into_iter().zip(widths).collect()
}

/// The table's view state.
#[derive(Clone, Debug)]
pub struct FleetTable {
    pub selected: Option<String>,
    pub sort: Column,
    pub descending: bool,
    pub group_by_role: bool,
    pub filter: FilterQuery,
}

impl Default for FleetTable {
    fn default() -> Self {
        Self {
            selected: None,
            sort: Column::Slot,
            descending: false,
            group_by_role: false,
            filter: FilterQuery::default(),
        }
    }
}

/// A row of the drawn table.
#[derive(Clone, Copy, Debug)]
pub enum FleetRow<'a> {
    /// A role heading when grouping: role name, slots shown, slots in the role.
    Group {
        role: &'a str,
        shown: usize,
        total: usize,
    },
    Slot(&'a SlotView),
}

/// Field names the fleet filter understands.
pub const FILTER_FIELDS: &[&str] = &["slot", "role", "host", "state", "health", "task", "reason"];

impl Filterable for SlotView {
    fn field(&self, field: &str) -> Option<&str> {
        match field {
            "slot" => Some(&self.slot),
            "role" => Some(&self.role),
            "host" => self.host.as_deref(),
            "state" => Some(if self.crash_looping && !self.state.holds_automation() {
                "crashloop"
            } else {
                self.state.label()
            }),
            "health" => Some(self.health.label()),
            "task" => self.task.as_ref().map(|t| t.task.as_str()),
            "reason" => self.reason.as_deref(),
            _ => None,
        }
    }

    fn fuzzy_texts(&self) -> Vec<&str> {
        let mut v = vec![self.slot.as_str(), self.role.as_str()];
        if let Some(t) = &self.task {
            v.push(&t.task);
        }
        v
    }
}

/// The slots that pass the filter, in table order.
pub fn visible_slots<'a>(snap: &'a Snapshot, t: &FleetTable) -> Vec<&'a SlotView> {
    let mut slots: Vec<&SlotView> = snap.slots.iter().filter(|s| t.filter.matches(*s)).collect();
    slots.sort_by(|a, b| {
        let group = if t.group_by_role {
            a.role.cmp(&b.role)
        } else {
            Ordering::Equal
        };
        let by = compare(a, b, t.sort, snap.at);
        let by = if t.descending { by.reverse() } else { by };
        group.then(by).then_with(|| natural_cmp(&a.slot, &b.slot))
    });
    slots
}

/// The drawn rows: slots, with role headings when grouping.
pub fn visible_rows<'a>(snap: &'a Snapshot, t: &FleetTable) -> Vec<FleetRow<'a>> {
    let slots = visible_slots(snap, t);
    if !t.group_by_role {
        return slots.into_iter().map(FleetRow::Slot).collect();
    }
    let mut rows = Vec::with_capacity(slots.len() + 8);
    let mut i = 0;
    // `i` indexes an existing slot and `shown >= 1` counts slots from it, so the slices hold.
    while let Some(first) = slots.get(i) {
        let role = first.role.as_str();
        let shown = slots[i..].iter().take_while(|s| s.role == role).count();
        let total = snap.slots.iter().filter(|s| s.role == role).count();
        rows.push(FleetRow::Group { role, shown, total });
        rows.extend(slots[i..i + shown].iter().map(|s| FleetRow::Slot(s)));
        i += shown;
    }
    rows
}

fn compare(a: &SlotView, b: &SlotView, col: Column, now: u64) -> Ordering {
    match col {
        Column::Slot => natural_cmp(&a.slot, &b.slot),
        Column::Role => a.role.cmp(&b.role),
        Column::Host => a.host.cmp(&b.host),
        Column::State => state_rank(a).cmp(&state_rank(b)),
        Column::Health => health_rank(&a.health).cmp(&health_rank(&b.health)),
        // Longest-running first reads better ascending, so compare start times.
        Column::Uptime => uptime(a, now).cmp(&uptime(b, now)).reverse(),
        Column::Restarts => b.restarts.cmp(&a.restarts),
        Column::LastExit => {
            let at = |s: &SlotView| s.last_exit.as_ref().map(|e| e.at);
            at(b).cmp(&at(a))
        }
        Column::Task => {
            let task = |s: &SlotView| s.task.as_ref().map(|t| t.task.clone());
            match (task(a), task(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        Column::Tests => test_rank(a).cmp(&test_rank(b)),
        Column::Alerts => b.open_alerts.cmp(&a.open_alerts),
        Column::Context => {
            let p = |s: &SlotView| s.context.as_ref().and_then(|c| c.percent);
            p(b).cmp(&p(a))
        }
        Column::Activity => b.last_activity.cmp(&a.last_activity),
        Column::Reason => {
            let r = |s: &SlotView| super::reason::slot_reason(s);
            match (r(a), r(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
    }
}

fn uptime(s: &SlotView, now: u64) -> Option<u64> {
    live(&s.state)
        .then(|| s.started_at.map(|t| now.saturating_sub(t)))
        .flatten()
}

/// Whether the slot has a running (or paused) process whose uptime means something.
pub fn live(state: &SlotState) -> bool {
    matches!(
        state,
        SlotState::Running | SlotState::Paused { .. } | SlotState::TakenOver { .. }
    )
}

/// States needing attention sort first.
fn state_rank(s: &SlotView) -> u8 {
    match &s.state {
        SlotState::Blocked { .. } => 0,
        _ if s.crash_looping => 1,
        SlotState::Exited { .. } => 2,
        SlotState::Backoff { .. } | SlotState::Throttled { .. } => 3,
        SlotState::TakenOver { .. } => 4,
        SlotState::Paused { .. } => 5,
        SlotState::Stopping | SlotState::Removing => 6,
        SlotState::Stopped { .. } | SlotState::Retiring => 7,
        SlotState::Pending => 8,
        SlotState::Preflight | SlotState::Creating | SlotState::Starting => 9,
        SlotState::Running => 10,
    }
}

fn health_rank(h: &Health) -> u8 {
    match h {
        Health::Stalled { .. } => 0,
        Health::Unready { .. } => 1,
        Health::Unknown => 2,
        Health::Healthy => 3,
    }
}

fn test_rank(s: &SlotView) -> (u8, std::cmp::Reverse<u64>) {
    match &s.last_test {
        None => (4, std::cmp::Reverse(0)),
        Some(t) => {
            let v = match t.summary.verdict {
                Verdict::Error => 0,
                Verdict::Fail => 1,
                Verdict::NoTests => 2,
                Verdict::Pass => 3,
            };
            (v, std::cmp::Reverse(t.summary.failed))
        }
    }
}

/// `implementer-2` before `implementer-10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> (String, Option<u64>) {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, tail) = s.split_at(s.len() - digits);
        (head.to_string(), tail.parse().ok())
    };
    let (ha, na) = split(a);
    let (hb, nb) = split(b);
    ha.cmp(&hb).then(na.cmp(&nb)).then_with(|| a.cmp(b))
}

/// A symbol that tells the state apart without colour (single-width characters only).
pub fn state_symbol(s: &SlotState) -> &'static str {
    match s {
        SlotState::Pending => "○",
        SlotState::Preflight | SlotState::Creating | SlotState::Starting => "◔",
        SlotState::Running => "●",
        SlotState::Paused { .. } => "‖",
        SlotState::Stopping | SlotState::Removing | SlotState::Retiring => "◌",
        SlotState::Exited { .. } => "×",
        SlotState::Backoff { .. } => "↻",
        SlotState::Throttled { .. } => "⧗",
        SlotState::Blocked { .. } => "⊘",
        SlotState::TakenOver { .. } => "»",
        SlotState::Stopped { .. } => "■",
    }
}

pub fn health_symbol(h: &Health) -> &'static str {
    match h {
        Health::Unknown => "·",
        Health::Healthy => "✓",
        Health::Unready { .. } => "!",
        Health::Stalled { .. } => "…",
    }
}

/// Moves the selection by `delta` rows among the visible slots (clamped), or to the first
/// visible slot when the selected one is not visible.
pub fn move_selection(snap: &Snapshot, t: &mut FleetTable, delta: isize) {
    let slots = visible_slots(snap, t);
    if slots.is_empty() {
        return;
    }
    let cur = t
        .selected
        .as_deref()
        .and_then(|sel| slots.iter().position(|s| s.slot == sel));
    let next = match cur {
        None => 0,
        Some(i) => i.saturating_add_signed(delta).min(slots.len() - 1),
    };
    t.selected = slots.get(next).map(|s| s.slot.clone());
}

/// Keeps a valid selection after the snapshot or the filter changed: the selected slot if it
/// is still visible, else the first visible one.
pub fn settle_selection(snap: &Snapshot, t: &mut FleetTable) {
    let slots = visible_slots(snap, t);
    let still = t
        .selected
        .as_deref()
        .is_some_and(|sel| slots.iter().any(|s| s.slot == sel));
    if !still {
        t.selected = slots.first().map(|s| s.slot.clone());
    }
}

/// The selected slot's row index among `rows`.
pub fn selected_row(rows: &[FleetRow<'_>], selected: Option<&str>) -> Option<usize> {
    let sel = selected?;
    rows.iter()
        .position(|r| matches!(r, FleetRow::Slot(s) if s.slot == sel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::sample::{slot, snapshot};

    #[test]
    fn natural_order_of_slot_names() {
        let mut v = vec![
            "implementer-10",
            "implementer-2",
            "implementer-1",
            "critic-3",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "critic-3",
                "implementer-1",
                "implementer-2",
                "implementer-10"
            ]
        );
    }

    #[test]
    fn columns_drop_by_priority_and_fit() {
        let names = NameWidths {
            slot: 14,
            role: 11,
            host: 0,
        };
        for w in [40u16, 80, 120, 200, 250] {
            let cols = fit_columns(w, false, names);
            let used: u16 = cols.iter().map(|(_, w)| w + 1).sum();
            assert!(used <= w.max(30), "{w}: {used}");
            assert_eq!(cols[0].0, Column::Slot);
            assert!(cols.iter().any(|(c, _)| *c == Column::State));
        }
        let narrow: Vec<Column> = fit_columns(77, false, names)
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert!(narrow.contains(&Column::Health) && narrow.contains(&Column::Alerts));
        assert!(narrow.contains(&Column::Task) && narrow.contains(&Column::Tests));
        assert!(!narrow.contains(&Column::Role), "{narrow:?}");
        let wide = fit_columns(200, false, names);
        // Every column but HOST, which only a fleet over several hosts has.
        assert_eq!(wide.len(), Column::ALL.len() - 1);
        assert!(!wide.iter().any(|(c, _)| *c == Column::Host));
        assert!(
            wide.iter().any(|(c, w)| *c == Column::Role && *w == 11),
            "the role column is never cut: {wide:?}"
        );
        let grouped: Vec<Column> = fit_columns(200, true, names)
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert!(!grouped.contains(&Column::Role));
    }

    #[test]
    fn filter_sort_and_group() {
        let mut a = slot("implementer-10", SlotState::Running);
        a.restarts = 1;
        let mut b = slot(
            "implementer-2",
            SlotState::Blocked {
                reason: "missing env".into(),
                by: crate::core::Actor::Drover,
            },
        );
        b.restarts = 3;
        let c = slot("reviewer-1", SlotState::Running);
        let snap = snapshot(vec![a, b, c]);
        let mut t = FleetTable::default();
        let names = |t: &FleetTable| -> Vec<String> {
            visible_slots(&snap, t)
                .iter()
                .map(|s| s.slot.clone())
                .collect()
        };
        assert_eq!(names(&t), ["implementer-2", "implementer-10", "reviewer-1"]);
        t.sort = Column::State;
        assert_eq!(names(&t)[0], "implementer-2", "blocked first");
        t.sort = Column::Restarts;
        assert_eq!(names(&t), ["implementer-2", "implementer-10", "reviewer-1"]);
        t.descending = true;
        assert_eq!(names(&t)[0], "reviewer-1");
        t.descending = false;
        t.filter = FilterQuery::parse("state:blocked");
        assert_eq!(names(&t), ["implementer-2"]);
        t.filter = FilterQuery::parse("role:rev");
        assert_eq!(names(&t), ["reviewer-1"]);
        t.filter = FilterQuery::default();
        t.group_by_role = true;
        t.sort = Column::Slot;
        let rows = visible_rows(&snap, &t);
        let heads: Vec<String> = rows
            .iter()
            .map(|r| match r {
                FleetRow::Group { role, shown, total } => format!("#{role} {shown}/{total}"),
                FleetRow::Slot(s) => s.slot.clone(),
            })
            .collect();
        assert_eq!(
            heads,
            [
                "#implementer 2/2",
                "implementer-2",
                "implementer-10",
                "#reviewer 1/1",
                "reviewer-1"
            ]
        );
    }

    #[test]
    fn selection_moves_in_visible_order_and_settles() {
        let snap = snapshot(vec![
            slot("a-1", SlotState::Running),
            slot("a-2", SlotState::Pending),
            slot("a-3", SlotState::Running),
        ]);
        let mut t = FleetTable::default();
        settle_selection(&snap, &mut t);
        assert_eq!(t.selected.as_deref(), Some("a-1"));
        move_selection(&snap, &mut t, 1);
        assert_eq!(t.selected.as_deref(), Some("a-2"));
        move_selection(&snap, &mut t, 10);
        assert_eq!(t.selected.as_deref(), Some("a-3"));
        move_selection(&snap, &mut t, -10);
        assert_eq!(t.selected.as_deref(), Some("a-1"));
        t.selected = Some("a-2".into());
        t.filter = FilterQuery::parse("state:running");
        settle_selection(&snap, &mut t);
        assert_eq!(
            t.selected.as_deref(),
            Some("a-1"),
            "hidden selection moves to a visible row"
        );
        t.selected = Some("a-3".into());
        settle_selection(&snap, &mut t);
        assert_eq!(
            t.selected.as_deref(),
            Some("a-3"),
            "a visible selection stays"
        );
    }
}

//! Screen geometry, shared by rendering and key handling (page sizes, scroll limits), so both
//! agree on what is visible.
//!
//! Invariants: every rect lies inside the frame; areas never overlap; a terminal of any size
//! (down to 1x1) yields a valid layout.

use ratatui::layout::{Constraint, Layout, Rect};

use super::palette::View;
use super::state::{Focus, UiState};

/// Header rows at the top.
pub const HEADER_ROWS: u16 = 2;
/// From this width up, the fleet table and the detail pane sit side by side.
pub const SIDE_BY_SIDE_WIDTH: u16 = 150;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub body: Rect,
    pub status: Rect,
    /// Fleet view only.
    pub table: Option<Rect>,
    /// Fleet view only.
    pub detail: Option<Rect>,
}

pub fn areas(frame: Rect, ui: &UiState) -> Areas {
    let [header, body, status] = Layout::vertical([
        Constraint::Length(HEADER_ROWS.min(frame.height)),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame);
    let (table, detail) = if ui.view == View::Fleet {
        fleet_split(body, ui.focus)
    } else {
        (None, None)
    };
    Areas {
        header,
        body,
        status,
        table,
        detail,
    }
}

fn fleet_split(body: Rect, focus: Focus) -> (Option<Rect>, Option<Rect>) {
    if body.width >= SIDE_BY_SIDE_WIDTH {
        let [t, d] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Fill(1)]).areas(body);
        return (Some(t), Some(d));
    }
    if focus == Focus::Detail {
        return (None, Some(body));
    }
    let [t, d] = Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(body);
    (Some(t), Some(d))
}

/// Rows of content inside a bordered block of `area`.
pub fn inner_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(2))
}

/// Rows available for the main list of the current view (for paging).
pub fn page_rows(ui: &UiState) -> usize {
    let frame = Rect::new(0, 0, ui.size.0, ui.size.1);
    let a = areas(frame, ui);
    let area = match (ui.view, ui.focus) {
        (View::Fleet, Focus::Table) => a.table.unwrap_or(a.body),
        (View::Fleet, Focus::Detail) => a.detail.unwrap_or(a.body),
        _ => a.body,
    };
    // Borders, and the table header or the tab bar.
    inner_rows(area).saturating_sub(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keymap;

    #[test]
    fn any_size_gives_areas_inside_the_frame() {
        let mut ui = UiState::new(Keymap::default_map(), false);
        for (w, h) in [(1, 1), (10, 3), (80, 24), (149, 40), (150, 40), (250, 70)] {
            for focus in [Focus::Table, Focus::Detail] {
                ui.focus = focus;
                let f = Rect::new(0, 0, w, h);
                let a = areas(f, &ui);
                for r in [
                    Some(a.header),
                    Some(a.body),
                    Some(a.status),
                    a.table,
                    a.detail,
                ]
                .into_iter()
                .flatten()
                {
                    assert!(f.contains(r.as_position()) || r.area() == 0, "{w}x{h}");
                    assert!(r.right() <= f.right() && r.bottom() <= f.bottom());
                }
                if let (Some(t), Some(d)) = (a.table, a.detail) {
                    assert!(!t.intersects(d), "{w}x{h} table and detail overlap");
                }
            }
        }
    }

    #[test]
    fn detail_takes_the_body_when_focused_on_narrow_terminals() {
        let mut ui = UiState::new(Keymap::default_map(), false);
        ui.focus = Focus::Detail;
        let a = areas(Rect::new(0, 0, 80, 24), &ui);
        assert_eq!(a.table, None);
        assert_eq!(a.detail, Some(a.body));
        let a = areas(Rect::new(0, 0, 200, 60), &ui);
        assert!(a.table.is_some(), "wide terminals keep both");
    }
}

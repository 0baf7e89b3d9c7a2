//! The log pane's older lines: when the operator scrolls to the top of what is held, the
//! pane asks for the page before it (read from the log file off the UI task, see
//! [`crate::ui::logpages`]) and merges the answer on top of the held lines.
//!
//! Invariants: at most one page is asked for at a time; a page is merged only into the slot
//! and epoch it was asked for, with seqs just below the oldest held line, so nothing is held
//! twice and the order is kept; when a page would exceed `max_held` lines or `max_bytes`, the
//! newest lines — the far end from where the operator reads — are dropped and the view is
//! detached until it follows again.

use crate::ui::feed::FileLine;
use crate::ui::logpages::{BOUNDARY_LINES, OlderAsk};
use crate::ui::text::find_matches;

use super::LogView;
use crate::ui::logpages::LogLine;

/// What is known about lines older than the held ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OlderLines {
    /// More may be read from the log file.
    #[default]
    More,
    /// A page is being read.
    Loading,
    /// The beginning of the oldest log file is held.
    AtStart,
    /// This face cannot read the log files (attached without a config).
    Unavailable,
    Failed(String),
}

impl LogView {
    /// Whether this face can read log files; without, older lines are never asked for.
    pub fn set_file_source(&mut self, available: bool) {
        self.files = available;
        self.front_changed();
    }

    /// Changes the epoch: the oldest held line is another one now (or the view moved).
    pub(super) fn front_changed(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.older = if self.files {
            OlderLines::More
        } else {
            OlderLines::Unavailable
        };
    }

    /// After scrolling up: when the oldest held line is on screen (`rows` tall pane), the
    /// page before it is wanted.
    pub fn note_top_reached(&mut self, rows: usize) {
        if self.top_shown(rows) && (!self.follow || self.lines.is_empty()) {
            self.older_wanted = true;
        }
    }

    /// Whether the oldest held line is within the bottom `rows` lines shown (early with
    /// wrapped lines, which take more than one row).
    pub fn top_shown(&self, rows: usize) -> bool {
        self.bottom_index().is_none_or(|i| i < rows.max(1))
    }

    /// What to read, when the operator wants older lines and none are being read; marks the
    /// view as loading.
    pub fn request_older(&mut self) -> Option<OlderAsk> {
        if !std::mem::take(&mut self.older_wanted) {
            return None;
        }
        if !matches!(self.older, OlderLines::More | OlderLines::Failed(_)) {
            return None;
        }
        let slot = self.slot.clone()?;
        self.older = OlderLines::Loading;
        Some(OlderAsk {
            slot,
            epoch: self.epoch,
            boundary: self.lines.iter().take(BOUNDARY_LINES).cloned().collect(),
        })
    }

    /// Puts a page (oldest first) on top of the held lines; false when it was asked for
    /// another slot or epoch and is dropped.
    pub fn merge_older(
        &mut self,
        slot: &str,
        epoch: u64,
        page: Vec<FileLine>,
        at_start: bool,
    ) -> bool {
        if self.slot.as_deref() != Some(slot) || epoch != self.epoch {
            return false;
        }
        let front = self.lines.front().map_or(0, |l| l.seq);
        let first = front.saturating_sub(i64::try_from(page.len()).unwrap_or(i64::MAX));
        let mut found = Vec::new();
        let mut lines = Vec::with_capacity(page.len());
        for (seq, l) in (first..).zip(page) {
            if let Some(s) = &self.search
                && !find_matches(&l.text, &s.query).is_empty()
            {
                found.push(seq);
            }
            self.held_bytes += l.text.len();
            lines.push(LogLine {
                seq,
                ts_ms: l.ts_ms,
                stderr: l.stderr,
                text: l.text,
            });
        }
        for l in lines.into_iter().rev() {
            self.lines.push_front(l);
        }
        if let Some(s) = &mut self.search
            && !found.is_empty()
        {
            s.current = s.current.map(|c| c + found.len());
            found.append(&mut s.matches);
            s.matches = found;
        }
        self.older = if at_start {
            OlderLines::AtStart
        } else {
            OlderLines::More
        };
        if let Some(height) = self.top_pinned {
            self.set_bottom_index(height.saturating_sub(1));
        }
        while (self.lines.len() > self.max_held || self.held_bytes > self.max_bytes)
            && self.lines.len() > 1
        {
            self.drop_newest();
        }
        true
    }

    /// The page asked for in `epoch` could not be read.
    pub fn older_failed(&mut self, slot: &str, epoch: u64, why: String) {
        if self.slot.as_deref() == Some(slot) && epoch == self.epoch {
            self.older = OlderLines::Failed(why);
        }
    }

    /// The epoch a page or a file position belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn drop_newest(&mut self) {
        let Some(old) = self.lines.pop_back() else {
            return;
        };
        self.held_bytes -= old.text.len();
        self.detached = true;
        self.follow = false;
        if let Some(s) = &mut self.search
            && s.matches.last() == Some(&old.seq)
        {
            s.matches.pop();
            let n = s.matches.len();
            s.current = s
                .current
                .and_then(|c| if c < n { Some(c) } else { n.checked_sub(1) });
        }
        let newest = self.lines.back().map(|l| l.seq);
        if self.anchor.is_none_or(|a| Some(a) > newest) {
            self.anchor = newest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::sample::SampleLogs;

    fn file_lines(range: std::ops::Range<u64>) -> Vec<FileLine> {
        range
            .map(|i| FileLine {
                ts_ms: i,
                stderr: false,
                text: format!("line {i}"),
            })
            .collect()
    }

    /// A view of slot `s` holding ring lines `from..to` (ts = number in the text).
    fn view_with_ring(from: u64, to: u64, view: LogView) -> (LogView, SampleLogs) {
        let hub = SampleLogs::new(10_000);
        for i in from..to {
            hub.push("s", i, false, format!("line {i}"));
        }
        let mut v = view;
        v.attach("s");
        v.pull(&hub);
        (v, hub)
    }

    fn texts(v: &LogView) -> Vec<String> {
        v.lines().iter().map(|l| l.text.clone()).collect()
    }

    #[test]
    fn scrolling_to_the_top_asks_once_and_a_page_lands_below_the_held_lines() {
        let (mut v, _hub) = view_with_ring(100, 200, LogView::new(1000));
        assert!(v.request_older().is_none(), "not asked while following");
        v.scroll_up(10);
        v.note_top_reached(20);
        assert!(v.request_older().is_none(), "line 0 is not on screen yet");
        v.scroll_up(1000);
        v.note_top_reached(20);
        let ask = v.request_older().unwrap();
        assert_eq!(ask.slot, "s");
        assert_eq!(
            ask.boundary.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(v.older, OlderLines::Loading);
        v.note_top_reached(20);
        assert!(v.request_older().is_none(), "one page at a time");
        let bottom = v.bottom_seq();
        assert!(v.merge_older("s", ask.epoch, file_lines(0..100), false));
        assert_eq!(v.older, OlderLines::More);
        assert_eq!(v.lines().len(), 200);
        let seqs: Vec<i64> = v.lines().iter().map(|l| l.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] + 1 == w[1]),
            "ascending, no gap"
        );
        assert_eq!(seqs[0], -100);
        assert_eq!(texts(&v)[99..101], ["line 99", "line 100"]);
        assert_eq!(v.bottom_seq(), bottom, "the screen stays where it was");
    }

    #[test]
    fn top_pins_the_view_to_the_new_top_and_start_of_log_stops_asking() {
        let (mut v, _hub) = view_with_ring(100, 200, LogView::new(1000));
        v.scroll_top(20);
        let ask = v.request_older().unwrap();
        assert!(v.merge_older("s", ask.epoch, file_lines(50..100), false));
        assert_eq!(v.bottom_index(), Some(19));
        assert_eq!(v.lines()[0].text, "line 50");
        v.scroll_top(20);
        let ask = v.request_older().unwrap();
        assert!(v.merge_older("s", ask.epoch, file_lines(0..50), true));
        assert_eq!(v.older, OlderLines::AtStart);
        v.scroll_top(20);
        assert!(v.request_older().is_none(), "the start of the log is held");
    }

    #[test]
    fn a_page_for_another_slot_or_epoch_is_dropped() {
        let (mut v, hub) = view_with_ring(0, 10, LogView::new(1000));
        v.scroll_top(5);
        let ask = v.request_older().unwrap();
        assert!(!v.merge_older("other", ask.epoch, file_lines(0..5), false));
        // Following again moves the view away from the page in flight.
        v.jump_newest();
        assert!(!v.merge_older("s", ask.epoch, file_lines(0..5), false));
        assert_eq!(v.lines().len(), 10);
        assert_eq!(v.older, OlderLines::More, "a new page may be asked for");
        v.older_failed("s", ask.epoch, "late".into());
        assert_eq!(v.older, OlderLines::More, "a stale failure is ignored too");
        hub.push("s", 10, false, "line 10");
        v.pull(&hub);
        assert_eq!(v.lines().len(), 11);
    }

    #[test]
    fn search_covers_merged_lines_and_keeps_its_place() {
        let (mut v, _hub) = view_with_ring(100, 110, LogView::new(1000));
        v.set_search("line 105");
        assert_eq!(v.current_match_seq(), Some(5));
        v.scroll_top(5);
        let ask = v.request_older().unwrap();
        assert!(v.merge_older("s", ask.epoch, file_lines(0..100), false));
        assert_eq!(v.current_match_seq(), Some(5), "still on the same line");
        v.set_search("line 42");
        assert_eq!(v.search.as_ref().unwrap().matches, [-58]);
        assert_eq!(v.current_match_seq(), Some(-58));
        assert!(v.next_match());
        assert_eq!(v.bottom_index(), Some(42));
    }

    #[test]
    fn held_lines_stay_bounded_dropping_the_far_end() {
        // 10 while following, 25 at most with older lines.
        let (mut v, hub) = view_with_ring(1000, 1010, LogView::with_bounds(10, 25, 1 << 20));
        v.set_search("line 100");
        for round in 0..3u64 {
            v.scroll_top(5);
            let ask = v.request_older().unwrap();
            let to = 1000 - 10 * round;
            assert!(v.merge_older("s", ask.epoch, file_lines(to - 10..to), false));
            assert!(v.lines().len() <= 25);
        }
        assert_eq!(v.lines().len(), 25);
        assert!(v.detached, "the newest lines were dropped");
        assert_eq!(v.lines()[0].text, "line 970");
        assert_eq!(v.lines().back().unwrap().text, "line 994");
        let s = v.search.as_ref().unwrap();
        assert!(
            s.matches
                .iter()
                .all(|m| v.lines().iter().any(|l| l.seq == *m))
        );
        // Detached: new ring lines are not pulled, the bottom stays at the newest held line.
        hub.push("s", 2000, false, "new");
        assert!(!v.pull(&hub));
        v.scroll_down(1000);
        assert!(!v.follow);
        assert_eq!(v.bottom_index(), Some(24));
        // Following again starts over from the ring's newest lines.
        v.jump_newest();
        assert!(!v.detached && v.follow);
        v.pull(&hub);
        assert_eq!(v.lines().len(), 10);
        assert_eq!(v.lines().back().unwrap().text, "new");
        // Paused, new lines fill up to the bound and then detach instead of eating the top.
        let (mut v, hub) = view_with_ring(0, 10, LogView::with_bounds(10, 15, 1 << 20));
        v.toggle_follow();
        for i in 10..30 {
            hub.push("s", i, false, format!("line {i}"));
        }
        v.pull(&hub);
        assert_eq!(v.lines().len(), 15);
        assert_eq!(v.lines()[0].text, "line 0");
        assert!(v.detached);
    }

    #[test]
    fn bytes_bound_the_held_lines_too() {
        let (mut v, _hub) = view_with_ring(100, 110, LogView::with_bounds(10, 10_000, 4096));
        v.scroll_top(5);
        let ask = v.request_older().unwrap();
        let page = (0..100)
            .map(|i| FileLine {
                ts_ms: i,
                stderr: true,
                text: "z".repeat(100),
            })
            .collect();
        assert!(v.merge_older("s", ask.epoch, page, false));
        let bytes: usize = v.lines().iter().map(|l| l.text.len()).sum();
        assert!(bytes <= 4096, "{bytes}");
        assert_eq!(v.lines()[0].text.len(), 100, "the oldest lines are kept");
    }

    #[test]
    fn without_log_files_nothing_is_asked() {
        let (mut v, _hub) = view_with_ring(0, 10, LogView::new(100));
        v.set_file_source(false);
        v.scroll_top(5);
        assert!(v.request_older().is_none());
        assert_eq!(v.older, OlderLines::Unavailable);
        v.attach("t");
        assert_eq!(v.older, OlderLines::Unavailable);
    }

    #[test]
    fn an_empty_pane_asks_when_scrolled_and_follows_the_loaded_lines() {
        let mut v = LogView::new(100);
        v.attach("s");
        v.scroll_up(1);
        v.note_top_reached(20);
        let ask = v.request_older().unwrap();
        assert!(ask.boundary.is_empty());
        assert!(v.merge_older("s", ask.epoch, file_lines(0..3), true));
        assert_eq!(v.bottom_seq(), Some(-1));
        assert_eq!(v.lines()[0].text, "line 0");
    }
}

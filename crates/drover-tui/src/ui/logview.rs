//! The log pane's state: a bounded copy of one slot's newest lines (sanitised once, when
//! pulled), older lines read back from the slot's log file in pages (see [`older`]),
//! follow / pause-follow, scrolling, wrap, and search with a current match.
//!
//! Invariants: at most `cap` lines are held while following, and at most `max_held` lines and
//! about `max_bytes` bytes otherwise; `lines` ascend by `seq` and `matches` holds the seqs of
//! held lines matching the query, ascending; when following, the bottom of the pane is the
//! newest line; `epoch` changes whenever the oldest held line changes other than by a merged
//! page, so pages and file positions meant for another oldest line are never merged.

pub mod older;

use std::collections::VecDeque;

use super::LogSource;
use super::logpages::LogLine;
use super::text::{find_matches, sanitize};

pub use older::OlderLines;

/// Older lines held on top of `cap`: five pages of [`super::logpages::PAGE_LINES`].
pub const OLDER_LINES: usize = 5 * super::logpages::PAGE_LINES;
/// Text bytes held at most (ring and file lines alike).
pub const MAX_HELD_BYTES: usize = 32 << 20;

#[derive(Clone, Debug, Default)]
pub struct LogSearch {
    pub query: String,
    /// Seqs of matching lines, ascending.
    pub matches: Vec<i64>,
    /// Index into `matches` of the current match.
    pub current: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct LogView {
    slot: Option<String>,
    lines: VecDeque<LogLine>,
    cap: usize,
    max_held: usize,
    max_bytes: usize,
    held_bytes: usize,
    next_seq: u64,
    /// New lines move the view down; off while the operator reads older lines.
    pub follow: bool,
    pub wrap: bool,
    /// The seq shown at the bottom of the pane while not following.
    anchor: Option<i64>,
    pub search: Option<LogSearch>,
    /// Lines older than the held ones, from the log file.
    pub older: OlderLines,
    /// Whether this face can read the log files at all.
    files: bool,
    epoch: u64,
    /// The operator scrolled to the top: the face should ask for the page before it.
    older_wanted: bool,
    /// Set by `scroll_top` (the pane height): a merged page is shown from its top.
    top_pinned: Option<usize>,
    /// The newest lines were left out to stay within bounds: nothing new is pulled until the
    /// view follows again.
    pub detached: bool,
}

/// A ring seq as a pane seq (ring seqs count lines since start and never near `i64::MAX`).
fn pane_seq(ring_seq: u64) -> i64 {
    i64::try_from(ring_seq).unwrap_or(i64::MAX)
}

impl LogView {
    pub fn new(cap: usize) -> Self {
        Self::with_bounds(cap, cap.saturating_add(OLDER_LINES), MAX_HELD_BYTES)
    }

    /// A view holding `cap` lines while following and up to `max_held` lines and `max_bytes`
    /// text bytes with older lines loaded or while paused.
    pub fn with_bounds(cap: usize, max_held: usize, max_bytes: usize) -> Self {
        let cap = cap.max(1);
        Self {
            slot: None,
            lines: VecDeque::new(),
            cap,
            max_held: max_held.max(cap),
            max_bytes: max_bytes.max(1),
            held_bytes: 0,
            next_seq: 0,
            follow: true,
            wrap: false,
            anchor: None,
            search: None,
            older: OlderLines::More,
            files: true,
            epoch: 0,
            older_wanted: false,
            top_pinned: None,
            detached: false,
        }
    }

    pub fn slot(&self) -> Option<&str> {
        self.slot.as_deref()
    }

    pub fn lines(&self) -> &VecDeque<LogLine> {
        &self.lines
    }

    /// Shows `slot` from now on; a different slot starts from its newest lines.
    pub fn attach(&mut self, slot: &str) {
        if self.slot.as_deref() == Some(slot) {
            return;
        }
        self.slot = Some(slot.to_string());
        self.start_over();
    }

    /// Drops every held line; the next pull starts from the newest lines.
    fn start_over(&mut self) {
        self.lines.clear();
        self.held_bytes = 0;
        self.next_seq = 0;
        self.follow = true;
        self.anchor = None;
        self.detached = false;
        self.top_pinned = None;
        self.older_wanted = false;
        if let Some(s) = &mut self.search {
            s.matches.clear();
            s.current = None;
        }
        self.front_changed();
    }

    /// Copies new lines from `source`; true when something was added.
    pub fn pull(&mut self, source: &dyn LogSource) -> bool {
        let Some(slot) = self.slot.clone() else {
            return false;
        };
        if self.detached {
            return false;
        }
        let fresh = if self.lines.is_empty() && self.next_seq == 0 {
            source.tail(&slot, self.cap)
        } else {
            source.since(&slot, self.next_seq)
        };
        let mut added = false;
        for l in fresh {
            if l.seq < self.next_seq && !self.lines.is_empty() {
                continue;
            }
            if !self.follow
                && (self.lines.len() >= self.max_held || self.held_bytes >= self.max_bytes)
            {
                // Paused, the operator reads older lines: the newest end is the far one.
                self.detached = true;
                break;
            }
            self.next_seq = l.seq + 1;
            let line = LogLine {
                seq: pane_seq(l.seq),
                ts_ms: l.ts_ms,
                stderr: l.stderr,
                text: sanitize(&l.text),
            };
            if let Some(s) = &mut self.search
                && !find_matches(&line.text, &s.query).is_empty()
            {
                s.matches.push(line.seq);
            }
            self.held_bytes += line.text.len();
            self.lines.push_back(line);
            added = true;
        }
        if self.follow {
            self.trim_front(self.cap);
        }
        added
    }

    /// Drops the oldest lines until at most `keep` lines (and `max_bytes`) are held.
    fn trim_front(&mut self, keep: usize) {
        while self.lines.len() > keep || (self.held_bytes > self.max_bytes && self.lines.len() > 1)
        {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.held_bytes -= old.text.len();
            self.forget(old.seq);
            self.front_changed();
        }
    }

    fn forget(&mut self, seq: i64) {
        if let Some(s) = &mut self.search
            && s.matches.first() == Some(&seq)
        {
            s.matches.remove(0);
            s.current = match s.current {
                Some(0) | None => None,
                Some(i) => Some(i - 1),
            };
        }
        if self.anchor.is_some_and(|a| a <= seq) {
            self.anchor = self.lines.front().map(|l| l.seq);
        }
    }

    /// The seq drawn at the bottom of the pane.
    pub fn bottom_seq(&self) -> Option<i64> {
        if self.follow {
            self.lines.back().map(|l| l.seq)
        } else {
            self.anchor.or_else(|| self.lines.back().map(|l| l.seq))
        }
    }

    /// Index in `lines` of the bottom line.
    pub fn bottom_index(&self) -> Option<usize> {
        let seq = self.bottom_seq()?;
        // Seqs ascend but may have gaps (the ring can drop lines before they are pulled).
        let i = self.lines.partition_point(|l| l.seq < seq);
        Some(i.min(self.lines.len().checked_sub(1)?))
    }

    fn set_bottom_index(&mut self, i: usize) {
        let i = i.min(self.lines.len().saturating_sub(1));
        self.anchor = self.lines.get(i).map(|l| l.seq);
        self.follow = false;
    }

    /// Scrolls towards older lines.
    pub fn scroll_up(&mut self, n: usize) {
        self.top_pinned = None;
        if let Some(i) = self.bottom_index() {
            self.set_bottom_index(i.saturating_sub(n));
        }
    }

    /// Scrolls towards newer lines; reaching the newest line resumes following (unless the
    /// newest lines were left out: then it stays at the newest held line).
    pub fn scroll_down(&mut self, n: usize) {
        self.top_pinned = None;
        if let Some(i) = self.bottom_index() {
            let target = i.saturating_add(n);
            if target + 1 >= self.lines.len() && !self.detached {
                self.jump_newest();
            } else {
                self.set_bottom_index(target);
            }
        }
    }

    /// Shows the oldest held lines (the top of the pane is then line 0) and asks for the page
    /// before them, which is shown from its top once merged.
    pub fn scroll_top(&mut self, height: usize) {
        self.set_bottom_index(height.saturating_sub(1));
        self.top_pinned = Some(height);
        self.older_wanted = true;
    }

    /// Follows the newest lines again; older lines beyond `cap` are dropped.
    pub fn jump_newest(&mut self) {
        self.top_pinned = None;
        self.older_wanted = false;
        if self.detached {
            self.start_over();
            return;
        }
        self.follow = true;
        self.anchor = None;
        self.trim_front(self.cap);
        // A page in flight would land on a view that moved away from it.
        self.front_changed();
    }

    pub fn toggle_follow(&mut self) {
        if self.follow {
            self.anchor = self.lines.back().map(|l| l.seq);
            self.follow = false;
        } else {
            self.jump_newest();
        }
    }

    /// Sets (or clears, with an empty query) the search and moves to the newest match at or
    /// above the bottom of the pane.
    pub fn set_search(&mut self, query: &str) {
        if query.is_empty() {
            self.search = None;
            return;
        }
        let matches: Vec<i64> = self
            .lines
            .iter()
            .filter(|l| !find_matches(&l.text, query).is_empty())
            .map(|l| l.seq)
            .collect();
        let bottom = self.bottom_seq().unwrap_or(i64::MAX);
        let current = matches
            .iter()
            .rposition(|s| *s <= bottom)
            .or_else(|| matches.len().checked_sub(1));
        self.search = Some(LogSearch {
            query: query.to_string(),
            matches,
            current: None,
        });
        if let Some(c) = current {
            self.go_to_match(c);
        }
    }

    fn go_to_match(&mut self, i: usize) {
        let Some(s) = &mut self.search else { return };
        let Some(seq) = s.matches.get(i).copied() else {
            return;
        };
        s.current = Some(i);
        self.anchor = Some(seq);
        self.follow = false;
        self.top_pinned = None;
    }

    /// Moves to the next (newer) match, wrapping around; false when there is none.
    pub fn next_match(&mut self) -> bool {
        let Some(s) = &self.search else { return false };
        if s.matches.is_empty() {
            return false;
        }
        let i = s.current.map_or(0, |c| (c + 1) % s.matches.len());
        self.go_to_match(i);
        true
    }

    /// Moves to the previous (older) match, wrapping around; false when there is none.
    pub fn prev_match(&mut self) -> bool {
        let Some(s) = &self.search else { return false };
        if s.matches.is_empty() {
            return false;
        }
        let n = s.matches.len();
        let i = s.current.map_or(n - 1, |c| (c + n - 1) % n);
        self.go_to_match(i);
        true
    }

    /// The seq of the current match, for highlighting it differently.
    pub fn current_match_seq(&self) -> Option<i64> {
        let s = self.search.as_ref()?;
        s.matches.get(s.current?).copied()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ui::feed::RingLine;
    use crate::ui::sample::SampleLogs;

    fn hub_with(lines: &[&str]) -> SampleLogs {
        let hub = SampleLogs::new(1000);
        for (i, l) in lines.iter().enumerate() {
            hub.push("impl-1", i as u64, false, l);
        }
        hub
    }

    #[test]
    fn pulls_tail_then_only_new_lines() {
        let hub = hub_with(&["a", "b", "c"]);
        let mut v = LogView::new(100);
        v.attach("impl-1");
        assert!(v.pull(&hub));
        assert_eq!(v.lines().len(), 3);
        assert!(!v.pull(&hub), "nothing new");
        hub.push("impl-1", 9, true, "\u{1b}[31mred\u{1b}[0m");
        assert!(v.pull(&hub));
        let last = v.lines().back().unwrap();
        assert_eq!((last.text.as_str(), last.stderr), ("red", true));
        assert_eq!(v.bottom_seq(), Some(3));
    }

    #[test]
    fn cap_bounds_memory_and_keeps_matches_consistent() {
        let hub = SampleLogs::new(10_000);
        let mut v = LogView::new(50);
        v.attach("impl-1");
        v.set_search("err");
        for i in 0..500u64 {
            hub.push(
                "impl-1",
                i,
                false,
                if i % 10 == 0 {
                    "err".into()
                } else {
                    format!("ok {i}")
                },
            );
            v.pull(&hub);
        }
        assert_eq!(v.lines().len(), 50);
        let first = v.lines().front().unwrap().seq;
        let s = v.search.as_ref().unwrap();
        assert!(s.matches.iter().all(|m| *m >= first));
        assert_eq!(s.matches.len(), 5);
    }

    #[test]
    fn follow_pause_scroll_and_jump() {
        let lines: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let hub = hub_with(&refs);
        let mut v = LogView::new(1000);
        v.attach("impl-1");
        v.pull(&hub);
        assert!(v.follow);
        v.scroll_up(10);
        assert!(!v.follow);
        assert_eq!(v.bottom_seq(), Some(89));
        hub.push("impl-1", 0, false, "new");
        v.pull(&hub);
        assert_eq!(v.bottom_seq(), Some(89), "paused view stays put");
        v.scroll_down(5);
        assert_eq!(v.bottom_seq(), Some(94));
        v.scroll_down(50);
        assert!(v.follow, "reaching the end follows again");
        assert_eq!(v.bottom_seq(), Some(100));
        v.toggle_follow();
        assert!(!v.follow);
        v.scroll_top(20);
        assert_eq!(v.bottom_seq(), Some(19));
        v.jump_newest();
        assert_eq!(v.bottom_seq(), Some(100));
    }

    #[test]
    fn search_moves_between_matches_and_wraps() {
        let hub = hub_with(&["x Error", "y", "z error", "w", "error again"]);
        let mut v = LogView::new(100);
        v.attach("impl-1");
        v.pull(&hub);
        v.set_search("error");
        assert_eq!(v.search.as_ref().unwrap().matches, [0, 2, 4]);
        assert_eq!(v.current_match_seq(), Some(4), "starts at the newest match");
        assert!(v.prev_match());
        assert_eq!(v.bottom_seq(), Some(2));
        assert!(v.next_match());
        assert!(v.next_match());
        assert_eq!(v.current_match_seq(), Some(0), "wraps to the oldest");
        v.set_search("Error");
        assert_eq!(v.search.as_ref().unwrap().matches, [0], "smart case");
        v.set_search("nothing");
        assert!(!v.next_match());
        v.set_search("");
        assert!(v.search.is_none());
    }

    struct Scripted(Mutex<Vec<RingLine>>);
    impl LogSource for Scripted {
        fn tail(&self, _: &str, _: usize) -> Vec<RingLine> {
            self.0.lock().unwrap().clone()
        }
        fn since(&self, _: &str, seq: u64) -> Vec<RingLine> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.seq >= seq)
                .cloned()
                .collect()
        }
    }

    #[test]
    fn switching_slot_starts_over() {
        let src = Scripted(Mutex::new(vec![RingLine {
            seq: 7,
            ts_ms: 0,
            stderr: false,
            text: "x".into(),
        }]));
        let mut v = LogView::new(10);
        v.attach("a");
        v.pull(&src);
        v.toggle_follow();
        v.attach("b");
        assert!(v.lines().is_empty());
        assert!(v.follow);
        assert!(v.pull(&src));
        assert_eq!(v.lines().len(), 1);
    }
}

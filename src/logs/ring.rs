//! The newest lines of each slot, kept in memory for the faces, the control socket and a
//! death's last lines; older lines are read back from the slot's log file.
//!
//! Invariants: a ring holds at most `max_lines` lines and `max_bytes` bytes of text (one line
//! longer than `max_bytes` is kept alone, so the newest line is always there); the text of all
//! lines lives in one byte buffer beside a fixed-size record per line — no allocation per line,
//! so memory is the text plus 16 bytes a line, and a long-running fleet does not fragment the
//! heap with millions of small strings freed out of order; sequence numbers never repeat
//! within a ring.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A line kept in memory for the faces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingLine {
    pub seq: u64,
    pub ts_ms: u64,
    pub stderr: bool,
    pub text: String,
}

/// Where one line's text is in the buffer, and what else is known of it (16 bytes).
#[derive(Clone, Copy, Debug)]
struct Entry {
    ts_ms: u64,
    len: u32,
    stderr: bool,
}

/// The newest lines of one slot, bounded in count and bytes.
#[derive(Debug)]
pub struct LogRing {
    /// Every held line's text, oldest first, back to back.
    text: VecDeque<u8>,
    entries: VecDeque<Entry>,
    max_lines: usize,
    max_bytes: usize,
    /// The sequence number of the next line pushed; the oldest held is `next_seq - len`.
    next_seq: u64,
}

impl LogRing {
    pub fn new(max_lines: usize, max_bytes: usize) -> Self {
        Self {
            text: VecDeque::new(),
            entries: VecDeque::new(),
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1024),
            next_seq: 0,
        }
    }

    pub fn push(&mut self, ts_ms: u64, stderr: bool, text: &str) {
        // A line is already cut at `max_line` (64 KiB by default) before it gets here; the
        // clamp only keeps the record's length honest if a caller ever passes more.
        let body = &text.as_bytes()[..text.floor_char_boundary(u32::MAX as usize)];
        self.text.extend(body);
        self.entries.push_back(Entry {
            ts_ms,
            len: body.len() as u32,
            stderr,
        });
        self.next_seq += 1;
        while self.entries.len() > self.max_lines
            || (self.text.len() > self.max_bytes && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.text.drain(..old.len as usize);
            }
        }
    }

    /// The newest `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<RingLine> {
        self.lines_from(self.entries.len().saturating_sub(n))
    }

    /// Lines with `seq >= from`, oldest first (for followers).
    pub fn since(&self, from: u64) -> Vec<RingLine> {
        let first = self.first_seq();
        let skip = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
        self.lines_from(skip.min(self.entries.len()))
    }

    /// The held lines from the `skip`-th oldest on.
    fn lines_from(&self, skip: usize) -> Vec<RingLine> {
        let mut start: usize = self.entries.iter().take(skip).map(|e| e.len as usize).sum();
        let first = self.first_seq() + skip as u64;
        let mut out = Vec::with_capacity(self.entries.len() - skip);
        for (seq, e) in (first..).zip(self.entries.iter().skip(skip)) {
            let end = start + e.len as usize;
            let bytes: Vec<u8> = self.text.range(start..end).copied().collect();
            out.push(RingLine {
                seq,
                ts_ms: e.ts_ms,
                stderr: e.stderr,
                // Whole lines pushed as `&str` are valid UTF-8; lossy only as a fallback.
                text: String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            });
            start = end;
        }
        out
    }

    fn first_seq(&self) -> u64 {
        self.next_seq - self.entries.len() as u64
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of text held.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Every slot's ring, shared between the log tasks (writers) and the faces (readers).
#[derive(Clone, Debug)]
pub struct LogHub {
    rings: Arc<Mutex<HashMap<String, LogRing>>>,
    max_lines: usize,
    max_bytes: usize,
}

impl LogHub {
    pub fn new(max_lines: usize, max_bytes: usize) -> Self {
        Self {
            rings: Arc::default(),
            max_lines,
            max_bytes,
        }
    }

    pub fn push(&self, slot: &str, ts_ms: u64, stderr: bool, text: impl AsRef<str>) {
        let text = text.as_ref();
        // A poisoned lock only means a reader panicked mid-read; the data is still usable.
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        match rings.get_mut(slot) {
            Some(ring) => ring.push(ts_ms, stderr, text),
            None => {
                let mut ring = LogRing::new(self.max_lines, self.max_bytes);
                ring.push(ts_ms, stderr, text);
                rings.insert(slot.to_string(), ring);
            }
        }
    }

    pub fn tail(&self, slot: &str, n: usize) -> Vec<RingLine> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings.get(slot).map(|r| r.tail(n)).unwrap_or_default()
    }

    pub fn since(&self, slot: &str, from: u64) -> Vec<RingLine> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings.get(slot).map(|r| r.since(from)).unwrap_or_default()
    }

    /// (lines, bytes) held for `slot`.
    pub fn usage(&self, slot: &str) -> (usize, usize) {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .get(slot)
            .map(|r| (r.len(), r.bytes()))
            .unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[RingLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn ring_respects_line_and_byte_caps() {
        let mut r = LogRing::new(3, 4096);
        for i in 0..10 {
            r.push(i, false, &format!("line {i}"));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(texts(&r.tail(2)), ["line 8", "line 9"]);
        let mut r = LogRing::new(1000, 2048);
        for _ in 0..100 {
            r.push(0, false, &"y".repeat(500));
        }
        assert!(r.bytes() <= 2048, "{}", r.bytes());
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn lines_come_back_whole_with_their_sequence_time_and_stream() {
        let mut r = LogRing::new(4, 4096);
        let pushed = ["héllo ✓", "", "stderr line", "🦀 crab", "last"];
        for (i, t) in pushed.iter().enumerate() {
            r.push(100 + i as u64, i == 2, t);
        }
        // The first line fell out (4 lines held): seqs 1..=4.
        let all = r.tail(10);
        assert_eq!(texts(&all), ["", "stderr line", "🦀 crab", "last"]);
        assert_eq!(
            all.iter()
                .map(|l| (l.seq, l.ts_ms, l.stderr))
                .collect::<Vec<_>>(),
            [
                (1, 101, false),
                (2, 102, true),
                (3, 103, false),
                (4, 104, false)
            ]
        );
        assert_eq!(texts(&r.since(3)), ["🦀 crab", "last"]);
        assert_eq!(texts(&r.since(0)).len(), 4, "older than held: all held");
        assert!(r.since(5).is_empty(), "nothing newer yet");
        assert_eq!(r.next_seq(), 5);
    }

    #[test]
    fn a_line_longer_than_the_byte_cap_is_kept_alone() {
        let mut r = LogRing::new(10, 1024);
        r.push(0, false, "short");
        r.push(1, false, &"x".repeat(3000));
        assert_eq!(r.len(), 1);
        assert_eq!(r.tail(1)[0].text.len(), 3000);
        r.push(2, false, "after");
        assert_eq!(texts(&r.tail(10)), ["after"]);
    }

    #[test]
    fn hub_keeps_one_ring_per_slot() {
        let hub = LogHub::new(2, 4096);
        hub.push("a", 1, false, "a1");
        hub.push("b", 1, false, "b1");
        hub.push("a", 2, false, "a2");
        hub.push("a", 3, false, "a3");
        assert_eq!(texts(&hub.tail("a", 10)), ["a2", "a3"]);
        assert_eq!(texts(&hub.tail("b", 10)), ["b1"]);
        assert_eq!(hub.usage("a"), (2, 4));
        assert!(hub.tail("c", 10).is_empty());
    }
}

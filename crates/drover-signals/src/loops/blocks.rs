//! Repeated blocks: the same `block_lines` consecutive lines (normalised) seen `block_repeats`
//! times, each occurrence not overlapping the previous one and starting within
//! [`GAP_FACTOR`] × `block_lines` lines of it (a block met again after a long healthy stretch
//! starts a new count). A block needs half its lines distinct: a single repeated line is a
//! heartbeat, not a loop. New content between two occurrences (a line of a few words never seen
//! recently, see [`super::Novelty`]) starts a new count: the same compiler warnings or the same
//! tool banner around new work each time is progress.
//!
//! Memory: the last `block_lines` hashes and texts, plus one entry per block seen within the
//! gap limit (older entries are dropped when the table grows past [`MAX_TRACKED`]).

use std::collections::{HashMap, VecDeque};

use super::{LoopChange, LoopFinding, OutputDetector, OutputLimits, evidence_line};
use crate::normalize::hash_sequence;

/// Occurrences further apart than this many block lengths do not add up.
pub const GAP_FACTOR: u64 = 20;
/// Tracked blocks before stale ones are dropped.
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Seen {
    count: u32,
    last_line: u64,
    /// Stamp of the first occurrence of the current count.
    since: u64,
}

#[derive(Debug)]
pub(super) struct BlockRepetition {
    block_lines: usize,
    repeats: u32,
    ring: VecDeque<(u64, String)>,
    seen: HashMap<u64, Seen>,
    line_no: u64,
    /// The firing block and the line of its last occurrence.
    firing: Option<(u64, u64)>,
}

impl BlockRepetition {
    pub(super) fn new(limits: &OutputLimits) -> Self {
        let block_lines = limits.block_lines.max(2) as usize;
        Self {
            block_lines,
            repeats: limits.block_repeats.max(2),
            ring: VecDeque::with_capacity(block_lines + 1),
            seen: HashMap::new(),
            line_no: 0,
            firing: None,
        }
    }

    fn gap_limit(&self) -> u64 {
        GAP_FACTOR * self.block_lines as u64
    }

    /// `last_novel`: the line number (as counted by [`super::Novelty`], which counts the same
    /// lines as this detector) of the latest line of new content.
    pub(super) fn feed(
        &mut self,
        hash: u64,
        text: &str,
        last_novel: u64,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        self.line_no += 1;
        self.ring.push_back((hash, evidence_line(text)));
        if self.ring.len() > self.block_lines {
            self.ring.pop_front();
        }
        if let Some((_, last)) = self.firing
            && self.line_no.saturating_sub(last) > self.gap_limit()
        {
            self.firing = None;
            out.push(LoopFinding {
                detector: OutputDetector::RepeatedBlock,
                at: stamp,
                change: LoopChange::Cleared,
            });
        }
        if self.ring.len() < self.block_lines {
            return;
        }
        let block = hash_sequence(self.ring.iter().map(|(h, _)| *h));
        let line = self.line_no;
        let gap = self.gap_limit();
        let bl = self.block_lines as u64;
        let entry = self.seen.entry(block).or_insert(Seen {
            count: 0,
            last_line: 0,
            since: stamp,
        });
        if entry.count > 0 && line.saturating_sub(entry.last_line) < bl {
            // Overlaps the occurrence already counted.
            return;
        }
        // New content since the previous occurrence (before this block began) is progress.
        let novel_between = last_novel > entry.last_line && last_novel + bl <= line;
        if entry.count == 0 || line.saturating_sub(entry.last_line) > gap || novel_between {
            *entry = Seen {
                count: 1,
                last_line: line,
                since: stamp,
            };
        } else {
            entry.count += 1;
            entry.last_line = line;
        }
        let seen = *entry;
        if self.seen.len() > MAX_TRACKED {
            self.seen
                .retain(|_, s| line.saturating_sub(s.last_line) <= gap);
        }
        if seen.count >= self.repeats && self.distinct_enough() {
            let first = self.firing.is_none();
            self.firing = Some((block, line));
            let mut evidence = vec![format!(
                "the same {}-line block {} times",
                self.block_lines, seen.count
            )];
            evidence.extend(self.ring.iter().take(9).map(|(_, t)| t.clone()));
            out.push(LoopFinding {
                detector: OutputDetector::RepeatedBlock,
                at: stamp,
                change: LoopChange::Holding {
                    first,
                    since: seen.since,
                    evidence,
                },
            });
        } else if let Some((b, _)) = self.firing
            && b == block
        {
            self.firing = Some((b, line));
        }
    }

    fn distinct_enough(&self) -> bool {
        let mut hashes: Vec<u64> = self.ring.iter().map(|(h, _)| *h).collect();
        hashes.sort_unstable();
        hashes.dedup();
        hashes.len() * 2 >= self.block_lines
    }
}

//! Pages of a slot's log older than the log pane holds, read back from the slot's log file by
//! a blocking task: where the held lines begin in the file, and the page before that.
//!
//! Invariants: a page never repeats a line the pane holds — file lines are skipped up to the
//! pane's oldest line, recognised by time, stream and text together with the held lines after
//! it, or, when it is not in the file, up to the first line older than it by time; a page holds
//! at most [`PAGE_LINES`] lines and about [`PAGE_BYTES`] bytes, sanitised as ring lines are;
//! the reader comes back with the page, so the next page continues where this one ended even
//! if the file rotated meanwhile.

use std::collections::VecDeque;

use super::feed::{FileLine, LogCursor, LogFileSource};
use super::text::sanitize;

/// A log line ready to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Order in the pane: a ring line keeps its ring seq, lines read back from the log file
    /// get the seqs below the oldest held line (so they may be negative).
    pub seq: i64,
    pub ts_ms: u64,
    pub stderr: bool,
    pub text: String,
}

/// Lines read per page.
pub const PAGE_LINES: usize = 2000;
/// Text bytes after which a page ends early (lines are up to `max_line` long in the file).
pub const PAGE_BYTES: usize = 4 << 20;
/// Held lines matched together to find where the pane begins in the file: one line alone
/// may repeat (blank lines, progress dots).
pub const BOUNDARY_LINES: usize = 3;

/// What the pane asks for: the lines before its oldest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OlderAsk {
    pub slot: String,
    /// The pane's epoch when asked; a page for another epoch is dropped.
    pub epoch: u64,
    /// The pane's oldest lines (at most [`BOUNDARY_LINES`]), oldest first.
    pub boundary: Vec<LogLine>,
}

/// Lines read back, oldest first, with the reader positioned before the oldest of them.
#[derive(Debug)]
pub struct Page {
    pub lines: Vec<FileLine>,
    /// The beginning of the oldest part was reached.
    pub at_start: bool,
    /// Where the next page starts; `None` at the start.
    pub reader: Option<Box<dyn LogCursor>>,
}

/// The answer to an [`OlderAsk`].
#[derive(Debug)]
pub struct OlderPage {
    pub slot: String,
    pub epoch: u64,
    pub result: Result<Page, String>,
}

/// Reads the page before the pane's oldest line (blocking: run it off the UI task). With
/// `reader` from the previous page it continues there; without, it opens generation
/// `generation` of the slot's log in `files` and skips what the pane holds.
pub fn read_older(
    files: &dyn LogFileSource,
    ask: &OlderAsk,
    generation: u64,
    reader: Option<Box<dyn LogCursor>>,
) -> OlderPage {
    let (mut reader, boundary) = match reader {
        Some(r) => (r, None),
        None => (
            files.open(&ask.slot, generation),
            Some(ask.boundary.as_slice()),
        ),
    };
    let result = read_page(reader.as_mut(), boundary).map(|(lines, at_start)| Page {
        lines,
        at_start,
        reader: (!at_start).then_some(reader),
    });
    OlderPage {
        slot: ask.slot.clone(),
        epoch: ask.epoch,
        result,
    }
}

/// A file line as the pane draws it.
fn clean(mut line: FileLine) -> FileLine {
    line.text = sanitize(&line.text);
    line
}

fn same(file: &FileLine, held: &LogLine) -> bool {
    file.ts_ms == held.ts_ms && file.stderr == held.stderr && file.text == held.text
}

/// Reads back past the lines the pane holds (see the module docs); the first older line, or
/// `None` when there is none.
fn skip_held(reader: &mut dyn LogCursor, boundary: &[LogLine]) -> Result<Option<FileLine>, String> {
    let Some(front) = boundary.first() else {
        return Ok(reader.prev_line()?.map(clean));
    };
    // A log that starts after the pane's oldest line (a newer container's) has nothing older;
    // checking its first record spares reading it all.
    if reader.oldest_ts_ms().is_some_and(|t| t > front.ts_ms) {
        return Ok(None);
    }
    let after = &boundary[1..boundary.len().min(BOUNDARY_LINES)];
    // The lines just after the one being looked at, nearest first.
    let mut newer: VecDeque<FileLine> = VecDeque::with_capacity(after.len() + 1);
    while let Some(line) = reader.prev_line()? {
        let line = clean(line);
        if line.ts_ms < front.ts_ms {
            return Ok(Some(line));
        }
        if newer.len() >= after.len()
            && same(&line, front)
            && newer.iter().zip(after).all(|(f, h)| same(f, h))
        {
            return Ok(reader.prev_line()?.map(clean));
        }
        newer.push_front(line);
        newer.truncate(after.len());
    }
    Ok(None)
}

/// One page back from `reader`: oldest first, and whether the start was reached. With a
/// `boundary` (the pane's oldest lines), the lines up to and including it are skipped first.
pub fn read_page(
    reader: &mut dyn LogCursor,
    boundary: Option<&[LogLine]>,
) -> Result<(Vec<FileLine>, bool), String> {
    let mut lines = Vec::new();
    let mut bytes = 0;
    if let Some(boundary) = boundary {
        match skip_held(reader, boundary)? {
            Some(l) => {
                bytes += l.text.len();
                lines.push(l);
            }
            None => return Ok((lines, true)),
        }
    }
    while lines.len() < PAGE_LINES && bytes < PAGE_BYTES {
        let Some(l) = reader.prev_line()? else { break };
        let l = clean(l);
        bytes += l.text.len();
        lines.push(l);
    }
    lines.reverse();
    Ok((lines, reader.at_start()))
}

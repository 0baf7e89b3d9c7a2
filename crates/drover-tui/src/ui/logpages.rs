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
use std::path::PathBuf;

use crate::config::Config;
use crate::logs::files::log_path;
use crate::logs::logfile::{FileLine, LogFileError, ReverseLogReader};

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

/// Where a face on this host finds the containers' log files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFiles {
    pub data_dir: PathBuf,
    /// `[logs] max_line`: longer records are cut as the follower cuts them.
    pub max_line: usize,
}

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
    pub reader: Option<ReverseLogReader>,
}

/// The answer to an [`OlderAsk`].
#[derive(Debug)]
pub struct OlderPage {
    pub slot: String,
    pub epoch: u64,
    pub result: Result<Page, String>,
}

impl LogFiles {
    /// The log files of the fleet `cfg` describes.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            data_dir: cfg.data_dir.clone(),
            max_line: usize::try_from(cfg.file.logs.max_line.0).unwrap_or(usize::MAX),
        }
    }

    /// Reads the page before the pane's oldest line (blocking: run it off the UI task).
    /// With `reader` from the previous page it continues there; without, it opens generation
    /// `generation` of the slot's log and skips what the pane holds.
    pub fn read_older(
        &self,
        ask: &OlderAsk,
        generation: u64,
        reader: Option<ReverseLogReader>,
    ) -> OlderPage {
        let (mut reader, boundary) = match reader {
            Some(r) => (r, None),
            None => {
                let path = log_path(&self.data_dir, &ask.slot, generation);
                (
                    ReverseLogReader::open(&path, self.max_line),
                    Some(ask.boundary.as_slice()),
                )
            }
        };
        let result = read_page(&mut reader, boundary)
            .map(|(lines, at_start)| Page {
                lines,
                at_start,
                reader: (!at_start).then_some(reader),
            })
            .map_err(|e| e.to_string());
        OlderPage {
            slot: ask.slot.clone(),
            epoch: ask.epoch,
            result,
        }
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
fn skip_held(
    reader: &mut ReverseLogReader,
    boundary: &[LogLine],
) -> Result<Option<FileLine>, LogFileError> {
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
    reader: &mut ReverseLogReader,
    boundary: Option<&[LogLine]>,
) -> Result<(Vec<FileLine>, bool), LogFileError> {
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::logs::files::rotated_part;

    const T0: u64 = 1_700_000_000_000;

    fn record(i: usize, text: &str) -> String {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(T0 + i as u64);
        format!("{} O {text}\n", humantime::format_rfc3339_nanos(at))
    }

    fn held(i: usize, text: &str) -> LogLine {
        LogLine {
            seq: i as i64,
            ts_ms: T0 + i as u64,
            stderr: false,
            text: text.into(),
        }
    }

    /// `<dir>/logs/s/1.log` with lines 0..n split over `parts` files (oldest in `.log.N`).
    fn write_log(dir: &std::path::Path, n: usize, parts: u32, text: impl Fn(usize) -> String) {
        let path = log_path(dir, "s", 1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let per = n.div_ceil(parts as usize);
        for p in 0..parts {
            let file = if p + 1 == parts {
                path.clone()
            } else {
                rotated_part(&path, parts - 1 - p)
            };
            let mut f = std::fs::File::create(file).unwrap();
            for i in (p as usize * per)..((p as usize + 1) * per).min(n) {
                f.write_all(record(i, &text(i)).as_bytes()).unwrap();
            }
        }
    }

    fn ask(boundary: Vec<LogLine>) -> OlderAsk {
        OlderAsk {
            slot: "s".into(),
            epoch: 7,
            boundary,
        }
    }

    fn files(dir: &std::path::Path) -> LogFiles {
        LogFiles {
            data_dir: dir.to_path_buf(),
            max_line: 4096,
        }
    }

    #[test]
    fn pages_go_back_from_the_held_lines_across_rotations_without_repeats() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 5000, 3, |i| format!("line {i}"));
        // The pane holds 4900..5000 (and the file has nothing newer).
        let boundary = (4900..4903)
            .map(|i| held(i, &format!("line {i}")))
            .collect();
        let f = files(dir.path());
        let page = f.read_older(&ask(boundary), 1, None);
        assert_eq!((page.slot.as_str(), page.epoch), ("s", 7));
        let page = page.result.unwrap();
        let texts: Vec<&str> = page.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts.len(), PAGE_LINES);
        assert_eq!(texts.first(), Some(&"line 2900"));
        assert_eq!(
            texts.last(),
            Some(&"line 4899"),
            "ends right before the pane"
        );
        assert!(!page.at_start);
        // The next pages continue through the older parts, oldest part last.
        let page = f
            .read_older(&ask(Vec::new()), 1, page.reader)
            .result
            .unwrap();
        assert_eq!(page.lines.len(), 2000);
        assert_eq!(page.lines[0].text, "line 900");
        let page = f
            .read_older(&ask(Vec::new()), 1, page.reader)
            .result
            .unwrap();
        assert_eq!(page.lines.len(), 900);
        assert_eq!(page.lines[0].text, "line 0");
        assert!(page.at_start && page.reader.is_none());
    }

    #[test]
    fn the_boundary_is_found_by_several_lines_when_one_repeats() {
        let dir = tempfile::tempdir().unwrap();
        // Every line says "tick" with the same time: only the held run pins the position.
        let path = log_path(dir.path(), "s", 1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut body = String::new();
        for i in 0..10 {
            body.push_str(&record(0, if i == 6 { "tock" } else { "tick" }));
        }
        // Lines written after the pane last pulled are skipped too.
        body.push_str(&record(1, "later"));
        std::fs::write(&path, body).unwrap();
        let tick = |seq| LogLine {
            seq,
            ts_ms: T0,
            stderr: false,
            text: "tick".into(),
        };
        let tock = LogLine {
            text: "tock".into(),
            ..tick(6)
        };
        // The pane holds lines 5..: tick, tock, tick.
        let page = files(dir.path())
            .read_older(&ask(vec![tick(5), tock, tick(7)]), 1, None)
            .result
            .unwrap();
        assert_eq!(page.lines.len(), 5, "lines 0..5 are older");
        assert!(page.at_start);
    }

    #[test]
    fn a_held_line_missing_from_the_file_falls_back_to_time() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 100, 1, |i| format!("line {i}"));
        let boundary = vec![held(50, "not in the file")];
        let page = files(dir.path())
            .read_older(&ask(boundary), 1, None)
            .result
            .unwrap();
        assert_eq!(page.lines.len(), 50);
        assert_eq!(page.lines.last().unwrap().text, "line 49");
    }

    #[test]
    fn a_log_newer_than_the_pane_or_missing_has_nothing_older() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 10, 1, |i| format!("line {i}"));
        let mut before = held(0, "from an earlier container");
        before.ts_ms = T0 - 1;
        let page = files(dir.path())
            .read_older(&ask(vec![before]), 1, None)
            .result
            .unwrap();
        assert!(page.lines.is_empty() && page.at_start);
        let page = files(dir.path())
            .read_older(&ask(vec![held(3, "line 3")]), 2, None)
            .result
            .unwrap();
        assert!(
            page.lines.is_empty() && page.at_start,
            "no generation 2 file"
        );
    }

    #[test]
    fn hostile_lines_are_sanitised_and_pages_are_bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 3000, 1, |i| {
            if i == 5 {
                "\u{1b}[2J\u{1b}]0;owned\u{7}clear".into()
            } else {
                // Two bytes a char: 2000 kept chars are 4000 bytes, so bytes end the page.
                "é".repeat(3000)
            }
        });
        let f = files(dir.path());
        let page = f.read_older(&ask(Vec::new()), 1, None).result.unwrap();
        // Each line is cut to the display cap (2000 chars and a note).
        let bytes: usize = page.lines.iter().map(|l| l.text.len()).sum();
        assert!(bytes <= PAGE_BYTES + 4096, "{bytes}");
        assert!(page.lines.len() < PAGE_LINES);
        let mut reader = page.reader;
        let mut all = page.lines;
        while let Some(r) = reader {
            let mut p = f.read_older(&ask(Vec::new()), 1, Some(r)).result.unwrap();
            p.lines.append(&mut all);
            all = p.lines;
            reader = p.reader;
        }
        assert_eq!(all.len(), 3000);
        assert_eq!(all[5].text, "clear");
    }
}

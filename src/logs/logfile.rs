//! Reads one container's persisted log backwards, newest record first, across its rotated
//! parts (`<gen>.log`, then `.log.1`, `.log.2`, …) — the faces use it to show lines older than
//! the in-memory ring. A record is what the follower writes: `<RFC 3339 time> <O|E> <text>\n`.
//!
//! Invariants: parts are opened once, newest first, and read through those handles, so a
//! rotation or removal after opening moves nothing under the reader; memory is bounded by one
//! read chunk plus `max_record` bytes whatever the files hold (10 MB lines, no newlines,
//! invalid UTF-8); a record longer than `max_record` is cut and marked as the follower marks
//! long lines; a missing file is a log with no lines, never an error.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::files::{cut_note, rotated_part};
use super::follow::ts_millis;

/// Bytes read per step backwards.
const CHUNK: usize = 64 * 1024;
/// More rotated parts than this are not looked for (the follower keeps `keep_files`, a few).
const MAX_PARTS: u32 = 256;
/// Room for a record's time, stream letter and cut note besides its text.
pub const RECORD_OVERHEAD: usize = 128;

/// One record of the log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLine {
    pub ts_ms: u64,
    pub stderr: bool,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One opened part and how far back it has been read.
#[derive(Debug)]
struct Part {
    file: File,
    path: PathBuf,
    /// Bytes from `end` on have been returned (or skipped); once a record has been read,
    /// `end` is 0 or just after a newline.
    end: u64,
    /// File bytes `[buf_start, buf_start + buf.len())`, never past `end`.
    buf: Vec<u8>,
    buf_start: u64,
    /// The newest part may end in a record still being written: skip it once.
    skip_unterminated: bool,
    /// The largest `buf` so far, for the memory-bound test.
    #[cfg(test)]
    peak: usize,
}

/// A backwards reader over the parts of one generation's log (see the module docs).
#[derive(Debug)]
pub struct ReverseLogReader {
    /// Newest first.
    parts: Vec<Part>,
    current: usize,
    max_record: usize,
}

impl ReverseLogReader {
    /// Opens `path` (`<gen>.log`) and its rotated parts as they are now; records longer than
    /// `max_line` plus [`RECORD_OVERHEAD`] bytes are cut. Parts that cannot be opened are
    /// skipped: their lines are simply not there.
    pub fn open(path: &Path, max_line: usize) -> Self {
        let mut parts = Vec::new();
        // (device, inode) of parts already opened: a rotation between two opens renames the
        // newest part to `.1`, which must not be read twice.
        let mut seen: Vec<(u64, u64)> = Vec::new();
        for n in 0..=MAX_PARTS {
            let part_path = if n == 0 {
                path.to_path_buf()
            } else {
                rotated_part(path, n)
            };
            let Ok(file) = File::open(&part_path) else {
                if n == 0 {
                    // `.log` is recreated right after a rotation; older parts may still exist.
                    continue;
                }
                break;
            };
            let Ok(meta) = file.metadata() else { continue };
            let id = (meta.dev(), meta.ino());
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            parts.push(Part {
                file,
                path: part_path,
                end: meta.len(),
                buf: Vec::new(),
                buf_start: meta.len(),
                skip_unterminated: parts.is_empty(),
                #[cfg(test)]
                peak: 0,
            });
        }
        Self {
            parts,
            current: 0,
            max_record: max_line.saturating_add(RECORD_OVERHEAD),
        }
    }

    /// The record before the last one returned (the newest on the first call), or `None` at
    /// the beginning of the oldest part.
    pub fn prev_line(&mut self) -> Result<Option<FileLine>, LogFileError> {
        while let Some(part) = self.parts.get_mut(self.current) {
            match part.prev_record(self.max_record) {
                Ok(Some(record)) => return Ok(Some(parse_record(&record))),
                Ok(None) => self.current += 1,
                Err(source) => {
                    return Err(LogFileError::Read {
                        path: part.path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(None)
    }

    /// Whether every record of every part has been returned.
    pub fn at_start(&self) -> bool {
        self.parts[self.current.min(self.parts.len())..]
            .iter()
            .all(|p| p.end == 0)
    }

    /// The time of the oldest record (the first of the oldest part), if it can be read.
    pub fn oldest_ts_ms(&self) -> Option<u64> {
        let mut file = &self.parts.last()?.file;
        let mut head = [0u8; 64];
        file.seek(SeekFrom::Start(0)).ok()?;
        let mut filled = 0;
        while filled < head.len() {
            match file.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        split_record(&head[..filled]).map(|(ts, _, _)| ts)
    }
}

impl Part {
    /// Reads `len` bytes ending at `buf_start` in front of the first `keep` bytes of `buf`.
    fn prepend(&mut self, len: usize, keep: usize) -> std::io::Result<()> {
        let from = self.buf_start - len as u64;
        let mut chunk = vec![0u8; len];
        // `File` reads through `&File`, which keeps `Part` free of interior mutability.
        let mut file = &self.file;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&self.buf[..keep.min(self.buf.len())]);
        self.buf = chunk;
        self.buf_start = from;
        #[cfg(test)]
        {
            self.peak = self.peak.max(self.buf.len());
        }
        Ok(())
    }

    /// The raw record before `end`, cut to `max` bytes (with a note of what was dropped).
    fn prev_record(&mut self, max: usize) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if self.end == 0 {
                self.buf = Vec::new();
                return Ok(None);
            }
            if self.buf.is_empty() {
                // Everything from `end` on is consumed, so the buffer restarts there.
                self.buf_start = self.end;
                let len = CHUNK.min(usize::try_from(self.end).unwrap_or(CHUNK));
                self.prepend(len, 0)?;
            }
            let terminated = self.buf.last() == Some(&b'\n');
            let content_end = self.end - u64::from(terminated);
            // Bytes from `searched_from` on hold no newline: they are all this record's.
            let mut searched_from = content_end;
            let start = loop {
                let upto = usize::try_from(searched_from - self.buf_start)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                if let Some(i) = memchr::memrchr(b'\n', &self.buf[..upto]) {
                    break self.buf_start + i as u64 + 1;
                }
                if self.buf_start == 0 {
                    break 0;
                }
                searched_from = self.buf_start;
                let len = CHUNK.min(usize::try_from(self.buf_start).unwrap_or(CHUNK));
                // The record starts in the chunk read next, and only its first `max` bytes are
                // kept: later bytes already read are its cut tail.
                self.prepend(len, max)?;
            };
            let offset = usize::try_from(start - self.buf_start).unwrap_or(usize::MAX);
            let total = usize::try_from(content_end - start).unwrap_or(usize::MAX);
            let kept = total.min(max);
            let mut record = self
                .buf
                .get(offset..offset.saturating_add(kept))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            if total > kept {
                record.extend_from_slice(cut_note(total - kept).as_bytes());
            }
            self.end = start;
            self.buf.truncate(offset);
            if std::mem::take(&mut self.skip_unterminated) && !terminated {
                continue;
            }
            if total == 0 {
                // A blank line is not a record the follower writes.
                continue;
            }
            return Ok(Some(record));
        }
    }
}

/// Splits `<time> <O|E> <text>` into (ms, stderr, text bytes).
fn split_record(record: &[u8]) -> Option<(u64, bool, &[u8])> {
    let space = record.iter().take(48).position(|b| *b == b' ')?;
    let ts = std::str::from_utf8(&record[..space]).ok()?;
    let ts_ms = ts_millis(ts)?;
    let rest = &record[space + 1..];
    let stderr = match rest.first()? {
        b'O' => false,
        b'E' => true,
        _ => return None,
    };
    match rest.get(1) {
        Some(b' ') => Some((ts_ms, stderr, &rest[2..])),
        None => Some((ts_ms, stderr, &[])),
        Some(_) => None,
    }
}

/// A record as a line; one that does not follow the format (a damaged file) is kept whole as
/// stdout text at time 0.
pub fn parse_record(record: &[u8]) -> FileLine {
    match split_record(record) {
        Some((ts_ms, stderr, text)) => FileLine {
            ts_ms,
            stderr,
            text: String::from_utf8_lossy(text).into_owned(),
        },
        None => FileLine {
            ts_ms: 0,
            stderr: false,
            text: String::from_utf8_lossy(record).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn record(i: usize, text: &str) -> String {
        let at =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_000 + i as u64);
        format!(
            "{} {} {text}\n",
            humantime::format_rfc3339_nanos(at),
            if i.is_multiple_of(2) { 'O' } else { 'E' }
        )
    }

    fn all_back(r: &mut ReverseLogReader) -> Vec<FileLine> {
        let mut out = Vec::new();
        while let Some(l) = r.prev_line().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn reads_parts_newest_first_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("3.log");
        // 3000 records over three parts; ~50 bytes each, so records straddle 64 KiB chunks.
        let mut n = 0;
        for (part, count) in [
            (rotated_part(&path, 2), 1000),
            (rotated_part(&path, 1), 1000),
            (path.clone(), 1000),
        ] {
            let mut f = File::create(part).unwrap();
            for _ in 0..count {
                f.write_all(record(n, &format!("line {n}")).as_bytes())
                    .unwrap();
                n += 1;
            }
        }
        let mut r = ReverseLogReader::open(&path, 1024);
        assert_eq!(r.oldest_ts_ms(), Some(1_700_000_000_000));
        let lines = all_back(&mut r);
        assert!(r.at_start());
        assert_eq!(lines.len(), 3000);
        for (k, l) in lines.iter().enumerate() {
            let i = 2999 - k;
            assert_eq!(l.text, format!("line {i}"));
            assert_eq!(l.ts_ms, 1_700_000_000_000 + i as u64);
            assert_eq!(l.stderr, i % 2 == 1);
        }
    }

    #[test]
    fn a_rotation_after_opening_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        std::fs::write(rotated_part(&path, 1), record(0, "old")).unwrap();
        std::fs::write(&path, record(1, "new")).unwrap();
        let mut r = ReverseLogReader::open(&path, 1024);
        // The writer rotates: `.log.1` is removed, `.log` becomes `.log.1`, a new `.log`.
        std::fs::remove_file(rotated_part(&path, 1)).unwrap();
        std::fs::rename(&path, rotated_part(&path, 1)).unwrap();
        std::fs::write(&path, record(2, "newest")).unwrap();
        let texts: Vec<String> = all_back(&mut r).into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["new", "old"]);
    }

    #[test]
    fn missing_files_have_no_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = ReverseLogReader::open(&dir.path().join("nope/1.log"), 1024);
        assert!(r.prev_line().unwrap().is_none());
        assert!(r.at_start());
        assert_eq!(r.oldest_ts_ms(), None);
    }

    #[test]
    fn huge_and_invalid_records_are_cut_in_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut f = File::create(&path).unwrap();
        f.write_all(record(0, "before").as_bytes()).unwrap();
        // 10 MB without a newline, then invalid UTF-8, then a record still being written.
        let mut huge = record(1, "").trim_end_matches('\n').as_bytes().to_vec();
        huge.extend(std::iter::repeat_n(b'x', 10 << 20));
        huge.push(b'\n');
        f.write_all(&huge).unwrap();
        let mut bad = record(2, "").trim_end_matches('\n').as_bytes().to_vec();
        bad.extend_from_slice(&[0xff, 0xfe, b'o', b'k', b'\n']);
        f.write_all(&bad).unwrap();
        f.write_all(b"2023-11-14T22:13:20.003Z O half writ")
            .unwrap();
        drop(f);
        let mut r = ReverseLogReader::open(&path, 1000);
        let l = r.prev_line().unwrap().unwrap();
        assert_eq!(
            l.text, "\u{fffd}\u{fffd}ok",
            "the unterminated tail is skipped"
        );
        let l = r.prev_line().unwrap().unwrap();
        assert!(l.text.starts_with("xxxx"), "{}", &l.text[..20]);
        assert!(
            l.text.len() < 1000 + RECORD_OVERHEAD + 64,
            "{}",
            l.text.len()
        );
        assert!(
            l.text.ends_with("bytes dropped]"),
            "{}",
            &l.text[l.text.len() - 60..]
        );
        assert!(
            r.parts[0].peak <= CHUNK + 1000 + RECORD_OVERHEAD,
            "{}",
            r.parts[0].peak
        );
        assert_eq!(r.prev_line().unwrap().unwrap().text, "before");
        assert!(r.prev_line().unwrap().is_none());
    }

    #[test]
    fn damaged_records_are_kept_as_text() {
        assert_eq!(
            parse_record(b"not a record"),
            FileLine {
                ts_ms: 0,
                stderr: false,
                text: "not a record".into()
            }
        );
        let l = parse_record(b"2023-11-14T22:13:20.003Z E");
        assert_eq!(
            (l.ts_ms, l.stderr, l.text.as_str()),
            (1_700_000_000_003, true, "")
        );
    }
}

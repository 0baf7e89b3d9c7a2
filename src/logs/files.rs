//! Container log plumbing: raw bytes are appended to a per-container file as they arrive (so a
//! removed container loses nothing), split into bounded lines, and kept in a per-slot ring for
//! the faces ([`super::ring`]).
//!
//! Invariants: memory per slot is bounded by the ring caps plus one `max_line` of partial input,
//! whatever the container prints (10 MB lines, no newlines at all, invalid UTF-8). Files rotate
//! at `file_max` and keep `keep_files` old parts.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Splits a byte stream into lines of at most `max_line` bytes. A longer line is cut: its first
/// `max_line` bytes are emitted with `truncated = true` and the rest is skipped up to the newline.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max_line: usize,
    /// Bytes dropped from the line currently being skipped.
    skipping: Option<usize>,
}

/// One line out of a [`LineSplitter`], without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitLine {
    pub bytes: Vec<u8>,
    /// The original line was longer; this many bytes were dropped.
    pub dropped: usize,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line: max_line.max(16),
            skipping: None,
        }
    }

    /// Feeds a chunk; calls `emit` for each completed (or cut) line.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut dyn FnMut(SplitLine)) {
        while !chunk.is_empty() {
            if let Some(dropped) = self.skipping.as_mut() {
                match chunk.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        *dropped += i;
                        let line = std::mem::take(&mut self.buf);
                        emit(SplitLine {
                            bytes: line,
                            dropped: *dropped,
                        });
                        self.skipping = None;
                        chunk = &chunk[i + 1..];
                    }
                    None => {
                        *dropped += chunk.len();
                        return;
                    }
                }
                continue;
            }
            let room = self.max_line - self.buf.len();
            match chunk.iter().take(room + 1).position(|b| *b == b'\n') {
                Some(i) => {
                    self.buf.extend_from_slice(&chunk[..i]);
                    let line = std::mem::take(&mut self.buf);
                    emit(SplitLine {
                        bytes: strip_cr(line),
                        dropped: 0,
                    });
                    chunk = &chunk[i + 1..];
                }
                None if chunk.len() <= room => {
                    self.buf.extend_from_slice(chunk);
                    return;
                }
                None => {
                    self.buf.extend_from_slice(&chunk[..room]);
                    self.skipping = Some(0);
                    chunk = &chunk[room..];
                }
            }
        }
    }

    /// Whether no partial line is buffered or being skipped: everything fed so far has been
    /// emitted.
    pub fn at_line_start(&self) -> bool {
        self.buf.is_empty() && self.skipping.is_none()
    }

    /// Emits what is left at end of stream as a final line.
    pub fn finish(&mut self, emit: &mut dyn FnMut(SplitLine)) {
        let dropped = self.skipping.take().unwrap_or(0);
        if !self.buf.is_empty() || dropped > 0 {
            emit(SplitLine {
                bytes: std::mem::take(&mut self.buf),
                dropped,
            });
        }
    }
}

fn strip_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

/// Appends to `<dir>/<generation>.log`, rotating to `.log.1`, `.log.2`… at `max_bytes`.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    keep: u32,
}

impl RotatingFile {
    pub fn open(path: PathBuf, max_bytes: u64, keep: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::store::private::create_private_dir_all(dir)?;
        }
        let file = crate::store::private::open_private_append(&path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            written,
            max_bytes: max_bytes.max(4096),
            keep,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.written + bytes.len() as u64 > self.max_bytes && self.written > 0 {
            self.rotate()?;
        }
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let part = |n: u32| rotated_part(&self.path, n);
        if self.keep == 0 {
            std::fs::remove_file(&self.path).ok();
        } else {
            std::fs::remove_file(part(self.keep)).ok();
            for n in (1..self.keep).rev() {
                std::fs::rename(part(n), part(n + 1)).ok();
            }
            std::fs::rename(&self.path, part(1))?;
        }
        self.file = crate::store::private::open_private_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

/// The `n`th rotated part of the log file at `path` (`<gen>.log.<n>`; 1 is the newest).
pub fn rotated_part(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The generation a file of a slot's log folder belongs to: `<gen>.log`, `<gen>.log.<n>`
/// (rotated parts) or `<gen>.log.pos` (resume mark).
fn generation_of(name: &str) -> Option<u64> {
    let (generation, rest) = name.split_once(".log")?;
    let tail_ok = rest.is_empty()
        || rest == ".pos"
        || rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !tail_ok {
        return None;
    }
    generation.parse().ok()
}

/// Removes whole older generations of the slot whose current log is `current` (oldest first)
/// until all its log files together take at most `max_total` bytes. The current generation's
/// files are never removed; files that are not drover's logs are neither counted nor touched.
/// Returns the generations removed.
pub fn prune_slot_logs(current: &Path, max_total: u64) -> std::io::Result<Vec<u64>> {
    let Some(dir) = current.parent() else {
        return Ok(Vec::new());
    };
    let current_gen = current
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(generation_of);
    let mut per_gen: std::collections::BTreeMap<u64, (u64, Vec<PathBuf>)> = Default::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A slot's first container: its log folder does not exist yet, so nothing to prune.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(generation) = entry.file_name().to_str().and_then(generation_of) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let slot = per_gen.entry(generation).or_default();
        slot.0 += meta.len();
        slot.1.push(entry.path());
    }
    let mut total: u64 = per_gen.values().map(|(size, _)| size).sum();
    let mut removed = Vec::new();
    for (generation, (size, files)) in per_gen {
        if total <= max_total {
            break;
        }
        if Some(generation) == current_gen {
            continue;
        }
        for f in files {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        total = total.saturating_sub(size);
        removed.push(generation);
    }
    Ok(removed)
}

/// What ends a line cut at `max_line`, in the ring and the file alike.
pub fn cut_note(dropped: usize) -> String {
    format!(" [drover: line cut, {dropped} bytes dropped]")
}

/// Where a container's log file lives: `<data>/logs/<slot>/<generation>.log`.
pub fn log_path(data_dir: &Path, slot: &str, generation: u64) -> PathBuf {
    data_dir
        .join("logs")
        .join(slot)
        .join(format!("{generation}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_generations_are_pruned_to_the_slot_total() {
        let dir = tempfile::tempdir().unwrap();
        let slot = dir.path().join("logs").join("w-1");
        std::fs::create_dir_all(&slot).unwrap();
        // Generations 1..=5: a 1000-byte log and a 1000-byte rotated part each, plus a mark.
        for g in 1..=5u64 {
            std::fs::write(slot.join(format!("{g}.log")), [b'a'; 1000]).unwrap();
            std::fs::write(slot.join(format!("{g}.log.1")), [b'a'; 1000]).unwrap();
            std::fs::write(slot.join(format!("{g}.log.pos")), [b' '; 64]).unwrap();
        }
        std::fs::write(slot.join("notes.txt"), [b'n'; 50_000]).unwrap();
        let current = slot.join("5.log");
        let removed = prune_slot_logs(&current, 4500).unwrap();
        assert_eq!(removed, [1, 2, 3], "oldest first until the total fits");
        for g in 1..=3 {
            assert!(!slot.join(format!("{g}.log")).exists());
            assert!(!slot.join(format!("{g}.log.1")).exists());
            assert!(!slot.join(format!("{g}.log.pos")).exists());
        }
        assert!(slot.join("4.log.1").exists() && slot.join("5.log").exists());
        assert!(slot.join("notes.txt").exists(), "not a log: untouched");
        // The current generation stays even when it alone is over the total.
        assert_eq!(prune_slot_logs(&current, 10).unwrap(), [4]);
        assert!(current.exists() && slot.join("5.log.1").exists());
        assert_eq!(generation_of("12.log.3"), Some(12));
        assert_eq!(generation_of("12.logx"), None);
        assert_eq!(generation_of("12.log.pos"), Some(12));
    }

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<SplitLine> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |l| out.push(l));
        }
        s.finish(&mut |l| out.push(l));
        out
    }

    #[test]
    fn lines_split_across_chunks() {
        let out = split(64, &[b"hel", b"lo\nwor", b"ld\r\nlast"]);
        let texts: Vec<&[u8]> = out.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(texts, vec![&b"hello"[..], b"world", b"last"]);
    }

    #[test]
    fn huge_line_is_cut_and_memory_stays_bounded() {
        let mut s = LineSplitter::new(1024);
        let mut out = Vec::new();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            s.feed(&chunk, &mut |l| out.push(l));
            assert!(s.buf.len() <= 1024);
        }
        s.feed(b"\nnext\n", &mut |l| out.push(l));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bytes.len(), 1024);
        assert_eq!(out[0].dropped, 160 * 64 * 1024 - 1024);
        assert_eq!(out[1].bytes, b"next");
    }

    #[test]
    fn file_rotates_and_keeps_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/1.log");
        let mut f = RotatingFile::open(path.clone(), 4096, 2).unwrap();
        for _ in 0..20 {
            f.write(&[b'a'; 1000]).unwrap();
        }
        assert!(path.exists());
        assert!(PathBuf::from(format!("{}.1", path.display())).exists());
        assert!(PathBuf::from(format!("{}.2", path.display())).exists());
        assert!(!PathBuf::from(format!("{}.3", path.display())).exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
    }

    #[test]
    fn a_slots_first_container_has_nothing_to_prune() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("worker-1/1.log");
        assert_eq!(prune_slot_logs(&first, 0).unwrap(), Vec::<u64>::new());
    }
}

//! PROGRESS.md: the team's running notes, read from the branch tip or from a host file, and a
//! line-level summary of what changed since the operator last looked.
//!
//! Content is capped at `MAX_PROGRESS_BYTES` (flagged as truncated) and sanitised (control
//! characters other than newline and tab replaced, `\r` dropped) so it can be rendered directly.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::error::UpstreamError;
use crate::untrusted::multi_line;
// The line diff is shared with the faces, which mark the new lines.
pub use drover_core::line_changes::{LineChanges, changes_since};

/// Bytes of PROGRESS.md kept; the rest is cut and `Progress::truncated` set.
pub const MAX_PROGRESS_BYTES: usize = 4 * 1024 * 1024;
/// A PROGRESS.md blob larger than this is not read at all (its size comes from the object
/// header): git can only inflate a blob whole, and a push of a few MB can hold gigabytes.
pub const MAX_PROGRESS_READ: u64 = 4 * MAX_PROGRESS_BYTES as u64;

/// What faces show instead of a PROGRESS.md too large to read.
pub(crate) fn too_large_notice(size: u64) -> String {
    format!(
        "[PROGRESS.md is {size} bytes, over the {MAX_PROGRESS_READ}-byte read limit: not read]\n"
    )
}

/// Where PROGRESS.md is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressSource {
    /// A path inside the repo, read at the branch tip.
    Repo { path: String },
    /// A file on the host.
    HostFile { path: PathBuf },
}

/// The last change to PROGRESS.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressChange {
    /// Commit time or file modification time, ms since the Unix epoch.
    pub time_ms: i64,
    /// The commit that last changed it (repo source only).
    pub commit: Option<String>,
    /// That commit's summary line (repo source only).
    pub summary: Option<String>,
}

/// PROGRESS.md as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub source: ProgressSource,
    /// Sanitised text, at most `MAX_PROGRESS_BYTES` of the file.
    pub content: String,
    pub truncated: bool,
    /// Size of the whole file in bytes.
    pub size: u64,
    pub last_change: Option<ProgressChange>,
}

impl Progress {
    /// Which lines of this content are new compared with `previous` (e.g. the text the operator
    /// last viewed).
    pub fn changes_since(&self, previous: &str) -> LineChanges {
        changes_since(previous, &self.content)
    }
}

/// PROGRESS.md in an update: only sent when it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressSnapshot {
    Present(Progress),
    /// The file does not exist (at the tip, or on the host).
    Missing,
}

/// Decodes and caps raw PROGRESS.md bytes.
pub(crate) fn decode(bytes: &[u8]) -> (String, bool) {
    let truncated = bytes.len() > MAX_PROGRESS_BYTES;
    let kept = &bytes[..bytes.len().min(MAX_PROGRESS_BYTES)];
    (multi_line(&String::from_utf8_lossy(kept)), truncated)
}

/// Cheap identity of a host file, to skip re-reading it when nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostFileStamp {
    modified_ns: u128,
    len: u64,
    inode: u64,
}

pub(crate) fn host_file_stamp(path: &Path) -> Result<Option<HostFileStamp>, UpstreamError> {
    match fs::metadata(path) {
        Ok(meta) => {
            let modified_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&meta);
            #[cfg(not(unix))]
            let inode = 0;
            Ok(Some(HostFileStamp {
                modified_ns,
                len: meta.len(),
                inode,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UpstreamError::ProgressFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads a host PROGRESS file (at most `MAX_PROGRESS_BYTES` of it); `None` when it is missing.
pub(crate) fn read_host_file(path: &Path) -> Result<Option<Progress>, UpstreamError> {
    let io_err = |source| UpstreamError::ProgressFile {
        path: path.to_owned(),
        source,
    };
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_PROGRESS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    let (content, truncated) = decode(&bytes);
    let time_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(Some(Progress {
        source: ProgressSource::HostFile {
            path: path.to_owned(),
        },
        content,
        truncated,
        size: meta.len(),
        last_change: Some(ProgressChange {
            time_ms,
            commit: None,
            summary: None,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_and_edited_lines_are_new() {
        let old = "# Progress\n- parser done\n- lexer failing\n";
        let new = "# Progress\n- parser done\n- lexer fixed\n- next: codegen\n";
        let c = changes_since(old, new);
        assert_eq!(c.new_lines, vec![2, 3]);
        assert_eq!(c.removed_lines, 1);
    }

    #[test]
    fn reordering_is_not_a_change_and_duplicates_count() {
        let c = changes_since("a\nb\n", "b\na\n");
        assert!(c.is_unchanged());
        let c = changes_since("x\n", "x\ny\nx\n");
        assert_eq!(c.new_lines, vec![1, 2]);
        assert_eq!(c.removed_lines, 0);
    }

    #[test]
    fn decode_caps_and_sanitises() {
        let (text, truncated) = decode(b"ok\r\n\x1b[2Jgone\xff\n");
        assert_eq!(
            text, "ok\ngone\u{fffd}\n",
            "the escape sequence goes as a whole"
        );
        assert!(!truncated);
        let big = vec![b'a'; MAX_PROGRESS_BYTES + 10];
        let (text, truncated) = decode(&big);
        assert_eq!(text.len(), MAX_PROGRESS_BYTES);
        assert!(truncated);
    }

    #[test]
    fn host_file_missing_is_none_and_present_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("PROGRESS.md");
        assert_eq!(read_host_file(&path).expect("read"), None);
        assert_eq!(host_file_stamp(&path).expect("stamp"), None);
        fs::write(&path, "# notes\n").expect("write");
        let p = read_host_file(&path).expect("read").expect("present");
        assert_eq!(p.content, "# notes\n");
        assert_eq!(p.size, 8);
        assert!(host_file_stamp(&path).expect("stamp").is_some());
    }
}

//! The lock table: one `Lock` per file under the locks folder at the branch tip.
//!
//! Every non-directory entry below the locks folder is a lock, at any depth: a nested file
//! `current_tasks/web/login.txt` is task `web/login` (the path relative to the locks folder, with
//! a trailing `.txt` dropped). Symlinks and submodule entries count too, since their presence is
//! what claims the task; their preview says what they are. Hidden entries (`.keep`, `.gitkeep`)
//! only keep the folder in git and are not locks. Names are shown lossily; the exact
//! bytes are kept for operations such as releasing the lock.

use std::collections::HashMap;
use std::fmt;

use git2::{Oid, Repository, Signature};

use super::error::{GitContext, UpstreamError};
use super::text::{LABEL_MAX_CHARS, display_label, holder_from_content, text_preview};

pub(crate) const MODE_TREE: i32 = 0o040_000;
pub(crate) const MODE_LINK: i32 = 0o120_000;
pub(crate) const MODE_GITLINK: i32 = 0o160_000;

/// Who holds a lock, and where that name came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Named in the lock file's content (see the accepted forms in `upstream::text`).
    File(String),
    /// The content names nobody; this is the author of the commit that made the claim.
    Author(String),
    /// The content names nobody and the author name is empty; this is the committer.
    Committer(String),
    /// Nothing names a holder.
    Unknown,
}

impl Holder {
    /// The holder's name, if any is known.
    pub fn name(&self) -> Option<&str> {
        match self {
            Holder::File(n) | Holder::Author(n) | Holder::Committer(n) => Some(n),
            Holder::Unknown => None,
        }
    }

    /// The content's holder, else the commit's author, else its committer, else unknown.
    pub(crate) fn resolve(
        from_file: Option<String>,
        author: &Signature,
        committer: &Signature,
    ) -> Holder {
        if let Some(name) = from_file {
            return Holder::File(name);
        }
        let author = display_label(author.name_bytes(), 64);
        if !author.trim().is_empty() {
            return Holder::Author(author.trim().to_owned());
        }
        let committer = display_label(committer.name_bytes(), 64);
        if !committer.trim().is_empty() {
            return Holder::Committer(committer.trim().to_owned());
        }
        Holder::Unknown
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::File(n) => f.write_str(n),
            Holder::Author(n) => write!(f, "{n} (commit author)"),
            Holder::Committer(n) => write!(f, "{n} (committer)"),
            Holder::Unknown => f.write_str("unknown"),
        }
    }
}

/// What kind of entry the lock file is; everything but `Text` has a bracketed preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockFileKind {
    Text,
    Empty,
    Binary,
    Symlink,
    Submodule,
}

/// One held task lock at the branch tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// Path under the locks folder without a trailing `.txt` (lossy, control characters escaped).
    pub task: String,
    /// Full path in the repo, for display (lossy).
    pub path: String,
    /// Exact path bytes in the repo.
    pub raw_path: Vec<u8>,
    pub holder: Holder,
    /// Commit time of the claim (the commit that added the file), ms since the Unix epoch.
    pub claimed_at_ms: i64,
    /// Id of the commit that added the file.
    pub claim_commit: String,
    pub kind: LockFileKind,
    /// Size of the file's content in bytes (0 for submodule entries).
    pub size: u64,
    /// First lines of the file, or `[empty]`, `[binary, 2.0 KiB]`, `[symlink -> target]`, ...
    pub text_preview: String,
    /// What the file and the claiming commit say about the holder (see `core::holders`).
    pub evidence: crate::core::HolderEvidence,
}

impl Lock {
    /// How long the lock has been held at `now_ms` (0 if the claim is in the future).
    pub fn held_for_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.claimed_at_ms).max(0)
    }
}

/// A tree entry's identity: same id and mode means same content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryState {
    pub id: Oid,
    pub mode: i32,
}

/// What a lock file's content says, computed once per blob.
#[derive(Debug, Clone)]
pub(crate) struct EntryInfo {
    pub kind: LockFileKind,
    pub size: u64,
    pub preview: String,
    pub holder: Option<String>,
    pub evidence: crate::core::HolderEvidence,
}

/// Per-blob cache of `EntryInfo`, so unchanged lock files (even 10 MB ones) are read once.
#[derive(Default)]
pub(crate) struct EntryInfoCache {
    by_entry: HashMap<(Oid, i32), EntryInfo>,
}

/// Bounded so a repo with endless distinct lock contents cannot grow the cache forever.
const ENTRY_CACHE_MAX: usize = 4096;
/// Lock files larger than this are not read (holder unknown, preview says why).
pub(crate) const MAX_LOCK_READ: u64 = 16 * 1024 * 1024;

impl EntryInfoCache {
    pub(crate) fn describe(
        &mut self,
        repo: &Repository,
        entry: EntryState,
    ) -> Result<EntryInfo, UpstreamError> {
        if let Some(info) = self.by_entry.get(&(entry.id, entry.mode)) {
            return Ok(info.clone());
        }
        let info = describe_entry(repo, entry)?;
        if self.by_entry.len() >= ENTRY_CACHE_MAX {
            self.by_entry.clear();
        }
        self.by_entry.insert((entry.id, entry.mode), info.clone());
        Ok(info)
    }
}

fn describe_entry(repo: &Repository, entry: EntryState) -> Result<EntryInfo, UpstreamError> {
    if entry.mode == MODE_GITLINK {
        let id = entry.id.to_string();
        return Ok(EntryInfo {
            kind: LockFileKind::Submodule,
            size: 0,
            preview: format!("[submodule {}]", id.get(..12).unwrap_or(&id)),
            holder: None,
            evidence: Default::default(),
        });
    }
    // A lock file is a name and a line or two; its size (from the object header) decides
    // whether it is read at all, so a huge well-compressed blob is never inflated.
    let size = blob_size(repo, entry.id)?;
    if size > MAX_LOCK_READ {
        return Ok(EntryInfo {
            kind: LockFileKind::Binary,
            size,
            preview: format!("[{size} bytes, not read]"),
            holder: None,
            evidence: Default::default(),
        });
    }
    let blob = repo.find_blob(entry.id).git("reading a lock file")?;
    let content = blob.content();
    if entry.mode == MODE_LINK {
        return Ok(EntryInfo {
            kind: LockFileKind::Symlink,
            size,
            preview: format!("[symlink -> {}]", display_label(content, LABEL_MAX_CHARS)),
            holder: None,
            evidence: Default::default(),
        });
    }
    let kind = if content.iter().all(u8::is_ascii_whitespace) {
        LockFileKind::Empty
    } else if super::text::is_binary(content) {
        LockFileKind::Binary
    } else {
        LockFileKind::Text
    };
    Ok(EntryInfo {
        kind,
        size,
        preview: text_preview(content),
        holder: holder_from_content(content),
        evidence: super::evidence::from_content(content),
    })
}

/// Task name for a path relative to the locks folder: lossy, with the file's extension (a
/// final `.` and 1–10 letters or digits, e.g. `.txt`, `.md`, `.lock`) dropped. Lock files of
/// any extension are locks; the extension is not part of the task.
pub(crate) fn task_name(rel_path: &[u8]) -> String {
    let name_start = rel_path
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let stem = rel_path[name_start..]
        .iter()
        .rposition(|&b| b == b'.')
        .filter(|&dot| dot > 0)
        .filter(|&dot| {
            let ext = &rel_path[name_start + dot + 1..];
            (1..=10).contains(&ext.len()) && ext.iter().all(u8::is_ascii_alphanumeric)
        })
        .map_or(rel_path, |dot| &rel_path[..name_start + dot]);
    let label = display_label(stem, LABEL_MAX_CHARS);
    if !cut_at_cap(stem) {
        return label;
    }
    // The label was cut at the cap, so two files whose names agree in their first
    // `LABEL_MAX_CHARS` characters would read the same and merge into one lock. A short stable
    // hash of the exact bytes keeps each file its own task.
    format!("{label} #{:08x}", fnv1a32(stem))
}

/// True if `display_label` cuts these bytes at [`LABEL_MAX_CHARS`].
fn cut_at_cap(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes).chars().count() > LABEL_MAX_CHARS
}

/// FNV-1a, 32 bits: stable across Rust versions and runs, so a task keeps its name from one
/// scan to the next and across restarts.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Full repo path bytes of a lock, given the locks folder and the relative path.
pub(crate) fn full_path(locks_dir: &str, rel_path: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(locks_dir.len() + 1 + rel_path.len());
    path.extend_from_slice(locks_dir.as_bytes());
    path.push(b'/');
    path.extend_from_slice(rel_path);
    path
}

/// A blob's size read from its object header, without inflating its content.
pub(crate) fn blob_size(repo: &Repository, id: Oid) -> Result<u64, UpstreamError> {
    let odb = repo.odb().git("opening the object database")?;
    let (size, _) = odb.read_header(id).git("reading an object header")?;
    Ok(size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_drop_txt_and_keep_nesting() {
        assert_eq!(task_name(b"parser.txt"), "parser");
        assert_eq!(task_name(b"web/login.txt"), "web/login");
        assert_eq!(task_name(b"notes.md"), "notes");
        assert_eq!(task_name(b"fix-v1.2-upgrade"), "fix-v1.2-upgrade");
        assert_eq!(task_name(b"noext"), "noext");
    }

    #[test]
    fn names_that_share_their_shown_form_stay_distinct_tasks() {
        let long_a = format!("{}a.txt", "x".repeat(300));
        let long_b = format!("{}b.txt", "x".repeat(300));
        let (a, b) = (task_name(long_a.as_bytes()), task_name(long_b.as_bytes()));
        assert_ne!(a, b, "two long names cut at the cap must not merge");
        assert!(a.chars().count() < LABEL_MAX_CHARS + 20, "{a}");
        assert_eq!(
            a,
            task_name(long_a.as_bytes()),
            "stable from one scan to the next"
        );
        assert_eq!(
            task_name(b"plain-name.txt"),
            "plain-name",
            "ordinary names are unchanged"
        );
        assert_eq!(task_name(b".txt"), ".txt");
        assert_eq!(task_name(b"caf\xe9.txt"), "caf\u{fffd}");
    }

    #[test]
    fn holder_display_says_where_the_name_came_from() {
        assert_eq!(
            Holder::File("implementer-1".into()).to_string(),
            "implementer-1"
        );
        assert_eq!(
            Holder::Author("alice".into()).to_string(),
            "alice (commit author)"
        );
        assert_eq!(Holder::Unknown.to_string(), "unknown");
        assert_eq!(Holder::Unknown.name(), None);
    }
}

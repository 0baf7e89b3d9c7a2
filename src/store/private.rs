//! Private files: the data dir holds the audit log, agent output and drover's own log, so it is
//! readable by its owner only — folders 0700, files 0600 — whatever the process umask, and a
//! folder found open to others is tightened (with a notice saying so).
//!
//! Invariants: everything here is idempotent and never widens a mode; symlinks are neither
//! followed nor changed (a link inside the data dir could point anywhere).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of folders drover creates in the data dir.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files drover creates in the data dir.
pub const FILE_MODE: u32 = 0o600;

/// Makes the process create files 0600 and folders 0700 from now on, so files made by
/// libraries (SQLite journals, drover's rolling log) are private too. Call it before any thread
/// starts: the umask is process-wide.
pub fn restrict_umask() {
    // SAFETY: umask(2) only swaps the process file-mode mask; it cannot fail and touches no
    // memory of ours.
    unsafe {
        libc::umask(0o077);
    }
}

/// What [`prepare_data_dir`] had to tighten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tightened {
    pub dir: PathBuf,
    /// Folders and files whose group/other permission bits were removed.
    pub tightened: usize,
}

impl std::fmt::Display for Tightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "data dir {} was readable by other users: removed group/other permissions from {} folders and files (it holds the audit log and agent output)",
            self.dir.display(),
            self.tightened
        )
    }
}

/// Creates `dir` (0700, parents included) or, if it exists, removes group/other permissions
/// from it and everything under it. `Some` says what had to change, for a logged notice.
pub fn prepare_data_dir(dir: &Path) -> io::Result<Option<Tightened>> {
    if std::fs::symlink_metadata(dir).is_err() {
        create_private_dir_all(dir)?;
        return Ok(None);
    }
    let mut tightened = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        // The data dir itself may be a symlink the operator chose; below it, links are left.
        let meta = if path == dir {
            std::fs::metadata(&path)?
        } else {
            match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                // Removed while walking (a log rotated away): nothing to tighten.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !0o077))?;
            tightened += 1;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok((tightened > 0).then(|| Tightened {
        dir: dir.to_path_buf(),
        tightened,
    }))
}

/// `create_dir_all` with folders made 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` for appending, creating it 0600 if missing.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Creates `path` empty and 0600 if it does not exist yet (SQLite then gives its WAL and
/// shared-memory files the database file's mode).
pub fn touch_private(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
}

//! Errors of the upstream adapter: each variant names what the operator must fix or what raced.

use std::path::PathBuf;

/// Everything that can go wrong while reading, watching or changing the upstream repo.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream repo not found: {} does not exist — create it with `git init --bare {}`", path.display(), path.display())]
    RepoMissing { path: PathBuf },

    #[error("upstream repo {} is not a git repository — [upstream] repo must name the bare repository agents push to", path.display())]
    NotARepo { path: PathBuf },

    #[error(
        "upstream repo {} is a git clone with a working tree, not a bare repo; point [upstream] repo at the shared bare upstream",
        path.display()
    )]
    NotBare { path: PathBuf },

    #[error("branch {branch} not found in upstream repo {}", path.display())]
    BranchMissing { branch: String, path: PathBuf },

    #[error("invalid {what} {value:?}: {why}")]
    InvalidSetting {
        what: &'static str,
        value: String,
        why: &'static str,
    },

    #[error("no lock for task {task:?} under {locks_dir}/")]
    LockNotFound { task: String, locks_dir: String },

    #[error("task {task:?} matches several lock files ({}); name one by its path", paths.join(", "))]
    AmbiguousTask { task: String, paths: Vec<String> },

    #[error(
        "could not release lock {task:?}: branch {branch} kept moving under us; gave up after {attempts} attempts"
    )]
    CasRetriesExhausted {
        task: String,
        branch: String,
        attempts: u32,
    },

    #[error("git error while {context}: {source}")]
    Git {
        context: &'static str,
        #[source]
        source: git2::Error,
    },

    #[error("cannot read progress file {}: {source}", path.display())]
    ProgressFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify_debouncer_full::notify::Error,
    },
}

/// Attaches a short "while ..." context to raw git2 errors.
pub(crate) trait GitContext<T> {
    fn git(self, context: &'static str) -> Result<T, UpstreamError>;
}

impl<T> GitContext<T> for Result<T, git2::Error> {
    fn git(self, context: &'static str) -> Result<T, UpstreamError> {
        self.map_err(|source| UpstreamError::Git { context, source })
    }
}

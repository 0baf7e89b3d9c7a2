//! `UpstreamRepo`: an open bare upstream repo plus everything derived from its history so far.
//!
//! All methods are synchronous and may take a while on big repos; async callers run them in
//! `spawn_blocking`. Every read first brings the derived state up to the current branch tip
//! (`refresh`), so the lock table, history and PROGRESS always describe the same commit.

use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository};

use super::error::{GitContext, UpstreamError};
use super::history::{ClaimEvent, ClaimHistory};
use super::locks::{EntryInfoCache, Holder, Lock, full_path, task_name};
use super::progress::{self, HostFileStamp, Progress, ProgressSnapshot, ProgressSource};
use super::scan::{self, PathIdCache, RefreshSummary, ScanPaths, ScanState, Scanner, entry_at};
use super::text::{LABEL_MAX_CHARS, display_label};

/// Default author and committer of drover's own commits (lock releases).
pub const DEFAULT_AUTHOR_NAME: &str = "drover";
pub const DEFAULT_AUTHOR_EMAIL: &str = "drover@localhost";
/// Default number of compare-and-swap attempts when releasing a lock.
pub const DEFAULT_RELEASE_ATTEMPTS: u32 = 5;

/// Everything that changed upstream since the previous update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUpdate {
    /// Branch tip (hex commit id) this update describes.
    pub tip: String,
    /// The whole lock table at `tip`, sorted by task.
    pub locks: Vec<Lock>,
    /// Claim history entries not sent before, oldest first.
    pub new_history_entries: Vec<ClaimEvent>,
    /// `new_history_entries` is the whole history (first update, or the branch was rewritten):
    /// replace, don't append.
    pub history_rescanned: bool,
    /// PROGRESS.md, only when it changed since the previous update.
    pub progress: Option<ProgressSnapshot>,
    /// New commits (the newest 1000), oldest first, with their author and holder evidence.
    pub new_commits: Vec<super::scan::NewCommit>,
    /// The followed branch does not exist yet (no first push, or HEAD names a missing branch):
    /// `tip` is empty and there are no locks; drover waits for the first push.
    pub empty: bool,
    /// Set only on an update that reports a failed read (every other field empty): the repo
    /// is briefly unreadable; reading is retried and a full update follows when it works.
    pub error: Option<String>,
}

impl UpstreamUpdate {
    /// The update that says reading failed (see `error`).
    pub fn failure(error: String) -> Self {
        UpstreamUpdate {
            tip: String::new(),
            locks: Vec::new(),
            new_history_entries: Vec::new(),
            history_rescanned: false,
            progress: None,
            new_commits: Vec::new(),
            empty: false,
            error: Some(error),
        }
    }
}

/// What identifies the PROGRESS content last sent, to send it only when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressIdentity {
    Repo(Option<Oid>),
    Host(Option<HostFileStamp>),
}

/// An open bare upstream repo; see the module docs.
pub struct UpstreamRepo {
    pub(super) repo: Repository,
    pub(super) path: PathBuf,
    /// Full ref name, e.g. `refs/heads/main`.
    pub(super) branch: String,
    /// The branch was named in the config; otherwise it follows HEAD, re-read at every refresh
    /// because a young repo's HEAD may name a branch nobody pushed.
    branch_configured: bool,
    pub(super) locks_dir: String,
    pub(super) progress: ProgressSource,
    pub(super) author_name: String,
    pub(super) author_email: String,
    pub(super) max_release_attempts: u32,
    pub(super) state: ScanState,
    entries: EntryInfoCache,
    ids: PathIdCache,
    last_progress_sent: Option<ProgressIdentity>,
    /// Whether the last update sent said "empty"; `None` before the first.
    last_empty_sent: Option<bool>,
}

impl UpstreamRepo {
    /// Opens the bare repo at `path`, following `branch` (`main` or `refs/heads/main`; default:
    /// the branch HEAD points at). `locks_dir` and `progress_path` are paths inside the repo,
    /// e.g. `current_tasks` and `PROGRESS.md`. Cheap: history is read by the first `refresh`.
    /// A repo without commits, or whose branch does not exist yet, opens fine and reads as
    /// empty until the branch appears; only a missing, non-git or non-bare path is an error.
    pub fn open(
        path: impl AsRef<Path>,
        branch: Option<&str>,
        locks_dir: &str,
        progress_path: &str,
    ) -> Result<Self, UpstreamError> {
        Self::open_inner(path.as_ref(), branch, locks_dir, progress_path, true)
    }

    /// Like `open`, but a clone with a working tree is fine too: for reading history only
    /// (`drover report --upstream`), never for supervising.
    pub(crate) fn open_any(
        path: &Path,
        branch: Option<&str>,
        locks_dir: &str,
    ) -> Result<Self, UpstreamError> {
        Self::open_inner(path, branch, locks_dir, "PROGRESS.md", false)
    }

    fn open_inner(
        path: &Path,
        branch: Option<&str>,
        locks_dir: &str,
        progress_path: &str,
        require_bare: bool,
    ) -> Result<Self, UpstreamError> {
        let path = path.to_owned();
        if !path.exists() {
            return Err(UpstreamError::RepoMissing { path });
        }
        let repo = match Repository::open(&path) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(UpstreamError::NotARepo { path });
            }
            Err(source) => {
                return Err(UpstreamError::Git {
                    context: "opening the upstream repo",
                    source,
                });
            }
        };
        if require_bare && !repo.is_bare() {
            return Err(UpstreamError::NotBare { path });
        }
        let locks_dir = normalise_repo_path("locks folder", locks_dir)?;
        let progress_path = normalise_repo_path("progress path", progress_path)?;
        let branch_configured = branch.is_some();
        let branch = match branch {
            Some(b) if b.starts_with("refs/") => b.to_owned(),
            Some(b) => format!("refs/heads/{b}"),
            None => head_branch(&repo, &path)?,
        };
        let mut this = UpstreamRepo {
            repo,
            path,
            branch,
            branch_configured,
            locks_dir,
            progress: ProgressSource::Repo {
                path: progress_path,
            },
            author_name: DEFAULT_AUTHOR_NAME.to_owned(),
            author_email: DEFAULT_AUTHOR_EMAIL.to_owned(),
            max_release_attempts: DEFAULT_RELEASE_ATTEMPTS,
            state: ScanState::default(),
            entries: EntryInfoCache::default(),
            ids: PathIdCache::default(),
            last_progress_sent: None,
            last_empty_sent: None,
        };
        this.follow_head();
        Ok(this)
    }

    /// Reads PROGRESS from a host file instead of the repo.
    #[must_use]
    pub fn with_host_progress(mut self, path: impl Into<PathBuf>) -> Self {
        self.progress = ProgressSource::HostFile { path: path.into() };
        self.state = ScanState::default();
        self.last_progress_sent = None;
        self
    }

    /// Author and committer of drover's own commits (default `drover <drover@localhost>`).
    #[must_use]
    pub fn with_release_author(mut self, name: &str, email: &str) -> Self {
        self.author_name = name.to_owned();
        self.author_email = email.to_owned();
        self
    }

    /// Compare-and-swap attempts before a release gives up (at least 1).
    #[must_use]
    pub fn with_max_release_attempts(mut self, attempts: u32) -> Self {
        self.max_release_attempts = attempts.max(1);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Full name of the followed branch, e.g. `refs/heads/main`.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn locks_dir(&self) -> &str {
        &self.locks_dir
    }

    pub fn progress_source(&self) -> &ProgressSource {
        &self.progress
    }

    /// Host paths to watch for changes: the repo's `refs/` (recursively) and root, plus the
    /// host PROGRESS file when configured.
    pub(super) fn host_progress_path(&self) -> Option<&Path> {
        match &self.progress {
            ProgressSource::HostFile { path } => Some(path),
            ProgressSource::Repo { .. } => None,
        }
    }

    /// The branch tip as stored now; `BranchMissing` when the branch does not exist (yet).
    pub(super) fn current_tip(&self) -> Result<Oid, UpstreamError> {
        self.tip_if_any()?
            .ok_or_else(|| UpstreamError::BranchMissing {
                branch: self.branch.clone(),
                path: self.path.clone(),
            })
    }

    /// The branch tip, or `None` while the branch does not exist (empty or young repo).
    fn tip_if_any(&self) -> Result<Option<Oid>, UpstreamError> {
        let reference = match self.repo.find_reference(&self.branch) {
            Ok(r) => r,
            // A repo whose HEAD is gone (moved, unmounted, being replaced) is unreadable, not
            // empty: its last lock table must not be dropped for a moment's absence.
            Err(_) if !self.path.join("HEAD").exists() => {
                return Err(UpstreamError::RepoMissing {
                    path: self.path.clone(),
                });
            }
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(source) => {
                return Err(UpstreamError::Git {
                    context: "reading the branch",
                    source,
                });
            }
        };
        let commit = reference.peel_to_commit().git("reading the branch tip")?;
        Ok(Some(commit.id()))
    }

    /// Without a configured branch, follows what HEAD names; when that branch does not exist
    /// but exactly one other branch does (HEAD says `master`, agents pushed `main`), follows
    /// that one. Errors leave the branch as it was: the next refresh tries again.
    fn follow_head(&mut self) {
        if self.branch_configured {
            return;
        }
        if let Ok(head) = head_branch(&self.repo, &self.path) {
            self.branch = head;
        }
        if self.repo.find_reference(&self.branch).is_ok() {
            return;
        }
        let Ok(refs) = self.repo.references_glob("refs/heads/*") else {
            return;
        };
        let names: Vec<String> = refs
            .flatten()
            .filter_map(|r| r.name().ok().map(str::to_owned))
            .take(2)
            .collect();
        if let [only] = names.as_slice() {
            self.branch = only.clone();
        }
    }

    /// The followed branch exists; false for an empty repo waiting for its first push.
    pub fn has_branch(&mut self) -> Result<bool, UpstreamError> {
        self.follow_head();
        Ok(self.tip_if_any()?.is_some())
    }

    /// Brings history up to the current tip, walking only new commits when the branch moved
    /// forward, and everything when it was rewritten.
    /// An absent branch reads as empty (and forgets a history whose branch was deleted).
    pub fn refresh(&mut self) -> Result<RefreshSummary, UpstreamError> {
        self.follow_head();
        let Some(tip) = self.tip_if_any()? else {
            let had_tip = self.state.tip.is_some();
            if had_tip {
                self.state = ScanState::default();
            }
            return Ok(RefreshSummary {
                tip_changed: had_tip,
                history_rescanned: had_tip,
                ..RefreshSummary::default()
            });
        };
        let progress_path = match &self.progress {
            ProgressSource::Repo { path } => Some(path.as_str()),
            ProgressSource::HostFile { .. } => None,
        };
        let mut scanner = Scanner {
            repo: &self.repo,
            paths: ScanPaths {
                locks_dir: &self.locks_dir,
                progress_path,
            },
            entries: &mut self.entries,
            ids: &mut self.ids,
        };
        scanner.advance(&mut self.state, tip)
    }

    /// The lock table at the current tip, sorted by task.
    pub fn lock_table(&mut self) -> Result<Vec<Lock>, UpstreamError> {
        self.refresh()?;
        self.read_lock_table()
    }

    /// The claim history up to the current tip.
    pub fn history(&mut self) -> Result<&ClaimHistory, UpstreamError> {
        self.refresh()?;
        Ok(&self.state.history)
    }

    /// PROGRESS.md now; `None` when the file does not exist.
    pub fn progress(&mut self) -> Result<Option<Progress>, UpstreamError> {
        self.refresh()?;
        self.read_progress()
    }

    /// Everything that changed since the previous call, or `None` when nothing did. The first
    /// call returns the full state.
    pub fn poll_update(&mut self) -> Result<Option<UpstreamUpdate>, UpstreamError> {
        let refresh = self.refresh()?;
        let empty = self.state.tip.is_none();
        let identity = self.progress_identity()?;
        let progress_changed = self.last_progress_sent != Some(identity);
        let empty_changed = self.last_empty_sent != Some(empty);
        if !refresh.tip_changed && !progress_changed && !empty_changed {
            return Ok(None);
        }
        self.last_empty_sent = Some(empty);
        let progress = if progress_changed {
            let snapshot = match self.read_progress()? {
                Some(p) => ProgressSnapshot::Present(p),
                None => ProgressSnapshot::Missing,
            };
            self.last_progress_sent = Some(identity);
            Some(snapshot)
        } else {
            None
        };
        Ok(Some(UpstreamUpdate {
            tip: refresh.tip,
            locks: self.read_lock_table()?,
            new_history_entries: refresh.new_entries,
            history_rescanned: refresh.history_rescanned,
            progress,
            new_commits: refresh.new_commits,
            empty,
            error: None,
        }))
    }

    /// Makes the next `poll_update` return the full lock table even when nothing changed
    /// (after a failed read, so the consumer learns the repo is readable again).
    pub fn resend_next(&mut self) {
        self.last_empty_sent = None;
    }

    /// The tip the derived state describes; `None` while the branch does not exist.
    fn scanned_tip(&self) -> Result<Option<Oid>, UpstreamError> {
        match self.state.tip {
            Some(tip) => Ok(Some(tip)),
            None => self.tip_if_any(),
        }
    }

    pub(super) fn read_lock_table(&mut self) -> Result<Vec<Lock>, UpstreamError> {
        let Some(tip) = self.scanned_tip()? else {
            return Ok(Vec::new());
        };
        let commit = self.repo.find_commit(tip).git("reading the branch tip")?;
        let tree = commit.tree().git("reading the branch tip")?;
        let locks_tree = entry_at(&tree, &self.locks_dir)?
            .filter(|e| e.mode == super::locks::MODE_TREE)
            .map(|e| e.id);
        let files = scan::diff_trees(&self.repo, None, locks_tree)?;
        let mut locks = Vec::with_capacity(files.len());
        for file in files {
            let Some(entry) = file.new else { continue };
            let info = self.entries.describe(&self.repo, entry)?;
            let open = self.state.open_claims.get(&file.rel_path);
            let holder = match (info.holder, open) {
                (Some(name), _) => Holder::File(name),
                (None, Some(open)) => open.holder.clone(),
                (None, None) => Holder::resolve(None, &commit.author(), &commit.committer()),
            };
            let mut evidence = info.evidence;
            evidence.author = match open {
                Some(open) => open.evidence.author.clone(),
                None => Some(display_label(commit.author().name_bytes(), 64)),
            };
            let raw_path = full_path(&self.locks_dir, &file.rel_path);
            locks.push(Lock {
                task: task_name(&file.rel_path),
                path: display_label(&raw_path, LABEL_MAX_CHARS),
                raw_path,
                holder,
                // Every present file has a claim in history; the tip is a safe stand-in.
                claimed_at_ms: open.map_or_else(|| scan::commit_time_ms(&commit), |o| o.time_ms),
                claim_commit: open.map_or(tip, |o| o.commit).to_string(),
                kind: info.kind,
                size: info.size,
                text_preview: info.preview,
                evidence,
            });
        }
        locks.sort_by(|a, b| {
            a.task
                .cmp(&b.task)
                .then_with(|| a.raw_path.cmp(&b.raw_path))
        });
        Ok(locks)
    }

    fn progress_identity(&self) -> Result<ProgressIdentity, UpstreamError> {
        match &self.progress {
            ProgressSource::HostFile { path } => {
                Ok(ProgressIdentity::Host(progress::host_file_stamp(path)?))
            }
            ProgressSource::Repo { path } => {
                let Some(tip) = self.scanned_tip()? else {
                    return Ok(ProgressIdentity::Repo(None));
                };
                let tree = self
                    .repo
                    .find_commit(tip)
                    .and_then(|c| c.tree())
                    .git("reading the branch tip")?;
                Ok(ProgressIdentity::Repo(entry_at(&tree, path)?.map(|e| e.id)))
            }
        }
    }

    fn read_progress(&self) -> Result<Option<Progress>, UpstreamError> {
        let path = match &self.progress {
            ProgressSource::HostFile { path } => return progress::read_host_file(path),
            ProgressSource::Repo { path } => path,
        };
        let Some(tip) = self.scanned_tip()? else {
            return Ok(None);
        };
        let tree = self
            .repo
            .find_commit(tip)
            .and_then(|c| c.tree())
            .git("reading the branch tip")?;
        // A folder or submodule entry at the progress path has no content to show.
        let Some(entry) = entry_at(&tree, path)?
            .filter(|e| e.mode != super::locks::MODE_TREE && e.mode != super::locks::MODE_GITLINK)
        else {
            return Ok(None);
        };
        // The size comes from the object header: a cheap push (a small pack of a huge,
        // well-compressed file) must not make drover inflate it.
        let size = super::locks::blob_size(&self.repo, entry.id)?;
        let (content, truncated) = if size > progress::MAX_PROGRESS_READ {
            (progress::too_large_notice(size), true)
        } else {
            let blob = self.repo.find_blob(entry.id).git("reading PROGRESS")?;
            progress::decode(blob.content())
        };
        Ok(Some(Progress {
            source: self.progress.clone(),
            content,
            truncated,
            size,
            last_change: self.state.progress_change.clone(),
        }))
    }
}

/// The branch HEAD points at (bare repos keep HEAD symbolic, even before the first commit).
fn head_branch(repo: &Repository, path: &Path) -> Result<String, UpstreamError> {
    let head = repo.find_reference("HEAD").git("reading HEAD")?;
    head.symbolic_target()
        .git("reading HEAD")?
        .map(str::to_owned)
        .ok_or_else(|| UpstreamError::BranchMissing {
            branch: "HEAD (detached: name the branch to follow)".to_owned(),
            path: path.to_owned(),
        })
}

/// Trims slashes and rejects paths that cannot name something inside the repo.
fn normalise_repo_path(what: &'static str, value: &str) -> Result<String, UpstreamError> {
    let trimmed = value.trim_matches('/');
    let invalid = |why| UpstreamError::InvalidSetting {
        what,
        value: value.to_owned(),
        why,
    };
    if trimmed.is_empty() {
        return Err(invalid("must name a path inside the repo"));
    }
    if trimmed
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(invalid(
            "must be a plain relative path without '.', '..' or '//'",
        ));
    }
    Ok(trimmed.to_owned())
}

//! The simulated agents' side of the shared upstream repo: read the branch tip (tasks, locks,
//! notes) and "push" a change with git2 the way `git push` behaves.
//!
//! Invariant: every push is a compare-and-swap of the branch ref from the tip the change was
//! built on to the new commit (`reference_matching`). If another agent pushed in between, the
//! push is rejected exactly like git's non-fast-forward rejection — nothing is overwritten and
//! history stays linear. A lock is claimed only by a commit that *adds* its file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, FileMode, ObjectType, Oid, Repository, Signature};

/// Folder of lock files at the tip (`current_tasks/<task>.txt`).
pub const LOCKS_DIR: &str = "current_tasks";
/// The team's task list.
pub const TASKS_FILE: &str = "TASKS.md";
/// The team's running notes.
pub const PROGRESS_FILE: &str = "PROGRESS.md";

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The branch moved since the change was built: the loser of a push race.
    #[error("rejected: {branch} is now at {actual}, not {expected} (fetch first)")]
    Rejected {
        branch: String,
        expected: Oid,
        actual: Oid,
    },
    /// Another push holds the branch's lock file at this very moment.
    #[error("rejected: another push is updating {branch} right now")]
    Locked { branch: String },
    #[error(transparent)]
    Git(#[from] git2::Error),
}

impl PushError {
    /// True for the outcomes `git push` reports as a rejected push (retry after a fetch).
    pub fn is_rejection(&self) -> bool {
        matches!(self, PushError::Rejected { .. } | PushError::Locked { .. })
    }
}

/// One line of TASKS.md: `- [ ] <id>: <title>` (open) or `- [x] <id>: <title>` (done).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub done: bool,
}

impl Task {
    /// The language tag at the end of the title (`(rust)`, `(python)`), if any.
    pub fn language(&self) -> Option<&str> {
        let t = self.title.trim_end();
        let open = t.rfind('(')?;
        t.strip_suffix(')').map(|s| &s[open + 1..])
    }
}

/// Parses the task list; lines that are not task items are ignored.
pub fn parse_tasks(text: &str) -> Vec<Task> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (done, rest) = if let Some(r) = line.strip_prefix("- [ ] ") {
                (false, r)
            } else if let Some(r) = line
                .strip_prefix("- [x] ")
                .or_else(|| line.strip_prefix("- [X] "))
            {
                (true, r)
            } else {
                return None;
            };
            let (id, title) = rest.split_once(':').unwrap_or((rest, ""));
            let id = id.trim();
            is_task_id(id).then(|| Task {
                id: id.to_string(),
                title: title.trim().to_string(),
                done,
            })
        })
        .collect()
}

/// Task ids become file names under the locks folder, so only plain slugs qualify.
fn is_task_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !s.starts_with('.')
}

/// Returns `text` with task `id` ticked off (`- [ ] id:` → `- [x] id:`); unchanged if absent.
pub fn mark_done(text: &str, id: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        match trimmed.strip_prefix("- [ ] ") {
            Some(rest)
                if rest
                    .split_once(':')
                    .is_some_and(|(task, _)| task.trim() == id) =>
            {
                out.push_str(indent);
                out.push_str("- [x] ");
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// What an agent sees after a fetch: the tip commit and the files it coordinates through.
#[derive(Clone, Debug)]
pub struct TipView {
    pub commit: Oid,
    pub tasks: Vec<Task>,
    pub tasks_text: String,
    /// Task id → lock file text, for every `current_tasks/<task>.txt` at the tip.
    pub locks: BTreeMap<String, String>,
    pub progress: String,
}

impl TipView {
    /// Open tasks nobody holds a lock on, in file order.
    pub fn claimable(&self) -> Vec<&Task> {
        self.tasks
            .iter()
            .filter(|t| !t.done && !self.locks.contains_key(&t.id))
            .collect()
    }

    /// Who holds `task`, from the `agent:` line of its lock file.
    pub fn holder(&self, task: &str) -> Option<&str> {
        self.locks.get(task).and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("agent:"))
                .map(str::trim)
        })
    }
}

/// A file change in a commit.
#[derive(Clone, Debug)]
pub enum Edit {
    Write { path: String, content: Vec<u8> },
    Remove { path: String },
}

/// Path of the lock file for `task`.
pub fn lock_path(task: &str) -> String {
    format!("{LOCKS_DIR}/{task}.txt")
}

/// The shared bare repository as one agent uses it.
pub struct TeamRepo {
    repo: Repository,
    path: PathBuf,
    /// The branch HEAD names (`refs/heads/main`): the one every agent pushes to.
    branch: String,
}

impl TeamRepo {
    /// Opens the bare repo at `path` and resolves the branch HEAD names.
    pub fn open(path: &Path) -> Result<Self, git2::Error> {
        let repo = Repository::open_bare(path)?;
        let branch = {
            let head = repo.find_reference("HEAD")?;
            match head.symbolic_target()? {
                Some(t) => t.to_string(),
                None => {
                    return Err(git2::Error::from_str(
                        "HEAD is detached; the upstream needs HEAD to name a branch",
                    ));
                }
            }
        };
        Ok(Self {
            repo,
            path: path.to_path_buf(),
            branch,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Short branch name (`main`), as git prints it in push output.
    pub fn branch_name(&self) -> &str {
        self.branch
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.branch)
    }

    /// Reads the branch tip: the "fetch" before every decision.
    pub fn fetch(&self) -> Result<TipView, git2::Error> {
        let commit = self.repo.find_reference(&self.branch)?.peel_to_commit()?;
        let tree = commit.tree()?;
        let tasks_text = self.read_text(&tree, TASKS_FILE)?;
        let progress = self.read_text(&tree, PROGRESS_FILE)?;
        let mut locks = BTreeMap::new();
        match tree.get_path(Path::new(LOCKS_DIR)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                let dir = self.repo.find_tree(entry.id())?;
                for e in dir.iter() {
                    let Ok(name) = e.name() else { continue };
                    let Some(task) = name.strip_suffix(".txt") else {
                        continue;
                    };
                    if e.kind() != Some(ObjectType::Blob) {
                        continue;
                    }
                    let blob = self.repo.find_blob(e.id())?;
                    locks.insert(
                        task.to_string(),
                        String::from_utf8_lossy(blob.content()).into_owned(),
                    );
                }
            }
            Ok(_) => {}
            Err(e) if e.code() == ErrorCode::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(TipView {
            commit: commit.id(),
            tasks: parse_tasks(&tasks_text),
            tasks_text,
            locks,
            progress,
        })
    }

    fn read_text(&self, tree: &git2::Tree<'_>, path: &str) -> Result<String, git2::Error> {
        match tree.get_path(Path::new(path)) {
            Ok(entry) => {
                let blob = self.repo.find_blob(entry.id())?;
                Ok(String::from_utf8_lossy(blob.content()).into_owned())
            }
            Err(e) if e.code() == ErrorCode::NotFound => Ok(String::new()),
            Err(e) => Err(e),
        }
    }

    /// Builds a commit applying `edits` on top of `base` (no ref is touched yet).
    pub fn commit_on(
        &self,
        base: Oid,
        author: &str,
        message: &str,
        edits: &[Edit],
    ) -> Result<Oid, git2::Error> {
        let parent = self.repo.find_commit(base)?;
        let baseline = parent.tree()?;
        let mut update = git2::build::TreeUpdateBuilder::new();
        for edit in edits {
            match edit {
                Edit::Write { path, content } => {
                    let blob = self.repo.blob(content)?;
                    update.upsert(path.as_str(), blob, FileMode::Blob);
                }
                Edit::Remove { path } => {
                    update.remove(path.as_str());
                }
            }
        }
        let tree_id = update.create_updated(&self.repo, &baseline)?;
        let tree = self.repo.find_tree(tree_id)?;
        let sig = Signature::now(author, &format!("{author}@agents.drover-demo"))?;
        self.repo
            .commit(None, &sig, &sig, message, &tree, &[&parent])
    }

    /// Moves the branch from `expected` to `new` only if it still points at `expected` — the
    /// atomic check a git server makes on push.
    pub fn push(&self, expected: Oid, new: Oid, message: &str) -> Result<(), PushError> {
        match self
            .repo
            .reference_matching(&self.branch, new, true, expected, message)
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::Modified => Err(PushError::Rejected {
                branch: self.branch_name().to_string(),
                expected,
                actual: self.repo.refname_to_id(&self.branch)?,
            }),
            Err(e) if e.code() == ErrorCode::Locked => Err(PushError::Locked {
                branch: self.branch_name().to_string(),
            }),
            Err(e) => Err(PushError::Git(e)),
        }
    }

    /// Commit on `base` and push it; `Rejected` when someone else pushed first.
    pub fn commit_and_push(
        &self,
        base: Oid,
        author: &str,
        message: &str,
        edits: &[Edit],
    ) -> Result<Oid, PushError> {
        let new = self.commit_on(base, author, message, edits)?;
        self.push(base, new, message)?;
        Ok(new)
    }

    /// `git pull --rebase && git push` until it lands: `change` rebuilds the edits from each
    /// fresh tip (`None`: nothing to do there), so concurrent pushes to other files are never
    /// lost. Returns (base, new commit, rejections) or `None`; gives up after `attempts`.
    pub fn push_rebasing(
        &self,
        author: &str,
        message: &str,
        attempts: u32,
        change: &dyn Fn(&TipView) -> Option<Vec<Edit>>,
    ) -> Result<Option<(Oid, Oid, u32)>, PushError> {
        let mut rejected = 0;
        loop {
            let tip = self.fetch()?;
            let Some(edits) = change(&tip) else {
                return Ok(None);
            };
            match self.commit_and_push(tip.commit, author, message, &edits) {
                Ok(new) => return Ok(Some((tip.commit, new, rejected))),
                Err(e) if e.is_rejection() && rejected + 1 < attempts => {
                    // A short growing back-off, so agents pushing at the same instant spread
                    // out instead of colliding on the ref lock again.
                    std::thread::sleep(std::time::Duration::from_millis(1 << rejected.min(6)));
                    rejected += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_parse_open_done_and_ignore_prose() {
        let text = "# Tasks\n\nSome prose.\n- [ ] a-1: first (rust)\n- [x] b_2: second\n  - [ ] c: nested\n- [ ] bad/id: no\n- [ ] d\n";
        let tasks = parse_tasks(text);
        let ids: Vec<(&str, bool)> = tasks.iter().map(|t| (t.id.as_str(), t.done)).collect();
        assert_eq!(
            ids,
            vec![("a-1", false), ("b_2", true), ("c", false), ("d", false)]
        );
        assert_eq!(tasks[0].language(), Some("rust"));
        assert_eq!(tasks[1].language(), None);
    }

    #[test]
    fn mark_done_ticks_only_the_named_task() {
        let text = "- [ ] a: x\n- [ ] ab: y\n- [ ] b: z";
        assert_eq!(mark_done(text, "ab"), "- [ ] a: x\n- [x] ab: y\n- [ ] b: z");
        assert_eq!(mark_done(text, "zz"), text);
    }
}

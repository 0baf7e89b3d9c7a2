//! What the shared branch's check needs from the repo: the first-parent commits since the last
//! tip seen (with their author lines), and a commit's tree written out into a private folder
//! for the check container to mount.
//!
//! Invariants: a checkout writes only inside its folder — every path component is a plain name
//! (no `..`, no `/`, no `.git`), symlinks are written as links and never followed, submodules
//! are skipped — and is bounded in files and bytes. The checkout itself has ordinary modes (the
//! check container's user must read it); the caller puts it in a private (0700) folder.

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Sort, TreeWalkMode, TreeWalkResult};

use super::UpstreamRepo;
use super::error::{GitContext, UpstreamError};

/// The most files one checkout writes.
pub const MAX_CHECKOUT_FILES: usize = 200_000;
/// The most bytes one checkout writes.
pub const MAX_CHECKOUT_BYTES: u64 = 4 << 30;

/// One commit of the branch, as the check reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchCommit {
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    pub summary: String,
    pub time_ms: i64,
}

/// A checkout that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("checkout of {commit} refused: {why}")]
    Refused { commit: String, why: String },
    #[error("checkout of {commit} into {}: {source}", path.display())]
    Io {
        commit: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UpstreamRepo {
    /// The branch's first-parent commits after `after` up to the tip, oldest first, at most
    /// `max` (the newest); all of the newest `max` when `after` is `None` or not on that path
    /// (a rewritten branch). Empty while the branch does not exist.
    pub fn commits_since(
        &self,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<BranchCommit>, UpstreamError> {
        let tip = match self.repo.find_reference(&self.branch) {
            Ok(r) => r.peel_to_commit().git("reading the branch tip")?.id(),
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).git("reading the branch"),
        };
        let stop = after.and_then(|a| Oid::from_str(a).ok());
        let mut walk = self.repo.revwalk().git("walking the branch")?;
        walk.set_sorting(Sort::TOPOLOGICAL)
            .git("walking the branch")?;
        walk.simplify_first_parent().git("walking the branch")?;
        walk.push(tip).git("walking the branch")?;
        let mut out = Vec::new();
        for oid in walk {
            let oid = oid.git("walking the branch")?;
            if Some(oid) == stop || out.len() >= max {
                break;
            }
            let c = self.repo.find_commit(oid).git("reading a commit")?;
            let a = c.author();
            out.push(BranchCommit {
                id: oid.to_string(),
                author: format!("{} <{}>", a.name().unwrap_or("?"), a.email().unwrap_or("?")),
                summary: c.summary().ok().flatten().unwrap_or("").to_string(),
                time_ms: c.time().seconds().saturating_mul(1000),
            });
        }
        out.reverse();
        Ok(out)
    }

    /// Writes `commit`'s tree into `dest` (created; must not exist yet).
    pub fn export_commit(&self, commit: &str, dest: &Path) -> Result<(), CheckoutError> {
        let refused = |why: String| CheckoutError::Refused {
            commit: commit.to_string(),
            why,
        };
        let io = |path: &Path, source: std::io::Error| CheckoutError::Io {
            commit: commit.to_string(),
            path: path.to_path_buf(),
            source,
        };
        let oid = Oid::from_str(commit).map_err(|_| refused("not a commit id".into()))?;
        let tree = self
            .repo
            .find_commit(oid)
            .git("reading the commit to check")?
            .tree()
            .git("reading the commit's tree")?;
        create_dir(dest).map_err(|e| io(dest, e))?;
        let (mut files, mut bytes) = (0usize, 0u64);
        let mut failure: Option<CheckoutError> = None;
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let Some(name) = entry.name().ok().filter(|n| plain_name(n)) else {
                failure = Some(refused(format!(
                    "the path {dir}{} is not a plain name",
                    String::from_utf8_lossy(entry.name_bytes())
                )));
                return TreeWalkResult::Abort;
            };
            if !dir.split('/').filter(|c| !c.is_empty()).all(plain_name) {
                failure = Some(refused(format!("the folder {dir} is not a plain path")));
                return TreeWalkResult::Abort;
            }
            let path = dest.join(dir).join(name);
            let result = match entry.kind() {
                Some(ObjectType::Tree) => std::fs::create_dir(&path),
                Some(ObjectType::Blob) => {
                    files += 1;
                    let blob = match self.repo.find_blob(entry.id()) {
                        Ok(b) => b,
                        Err(e) => {
                            failure = Some(
                                UpstreamError::Git {
                                    context: "reading a file to check",
                                    source: e,
                                }
                                .into(),
                            );
                            return TreeWalkResult::Abort;
                        }
                    };
                    bytes = bytes.saturating_add(blob.content().len() as u64);
                    if files > MAX_CHECKOUT_FILES || bytes > MAX_CHECKOUT_BYTES {
                        failure = Some(refused(format!(
                            "more than {MAX_CHECKOUT_FILES} files or {} GiB",
                            MAX_CHECKOUT_BYTES >> 30
                        )));
                        return TreeWalkResult::Abort;
                    }
                    write_blob(&path, blob.content(), entry.filemode())
                }
                // Submodules (commits) are not part of this repo's content.
                _ => Ok(()),
            };
            match result {
                Ok(()) => TreeWalkResult::Ok,
                Err(e) => {
                    failure = Some(io(&path, e));
                    TreeWalkResult::Abort
                }
            }
        })
        .or_else(|e| if failure.is_some() { Ok(()) } else { Err(e) })
        .git("writing the checkout")?;
        match failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }
}

/// A path component that stays where it is put.
fn plain_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && n != ".git" && !n.contains(['/', '\\', '\0'])
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o755).create(dir)
}

fn write_blob(path: &Path, content: &[u8], mode: i32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    // 0o120000: a symlink; its content is the target, written as a link (never followed).
    if mode == 0o120_000 {
        let target = String::from_utf8_lossy(content).into_owned();
        return std::os::unix::fs::symlink(target, path);
    }
    let exec = mode == 0o100_755;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if exec { 0o755 } else { 0o644 })
        .open(path)?;
    f.write_all(content)
}

//! History scanning: walks commits oldest first and turns changes under the locks folder into
//! `ClaimEvent`s, and changes to PROGRESS.md into its last-change record.
//!
//! Invariants:
//! - Incremental: after the first scan only commits reachable from the new tip and not from the
//!   last scanned one are walked. A tip that does not descend from the last one (force-push,
//!   rewrite) resets everything and rescans.
//! - Each change is attributed once, to the commit that made it. A merge only produces events
//!   for paths where its result differs from *every* parent (git's TREESAME rule), so a claim
//!   made on one side and merged is not counted twice, and a merge is not blamed for it.
//! - No recursion: nested folders are walked with an explicit stack, so no tree depth can
//!   overflow the stack.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use git2::{Commit, ErrorCode, Oid, Repository, Sort};

use super::error::{GitContext, UpstreamError};
use super::history::{ClaimEvent, ClaimEventKind, ClaimHistory};
use super::locks::{EntryInfoCache, EntryState, Holder, MODE_TREE, full_path, task_name};
use super::progress::ProgressChange;
use super::text::{LABEL_MAX_CHARS, display_label};

/// The claim behind a lock file that is present at the scanned tip.
#[derive(Debug, Clone)]
pub(crate) struct OpenClaim {
    pub holder: Holder,
    pub evidence: crate::core::HolderEvidence,
    pub time_ms: i64,
    pub commit: Oid,
}

/// Everything derived from history up to `tip`.
#[derive(Debug, Default)]
pub(crate) struct ScanState {
    pub tip: Option<Oid>,
    pub history: ClaimHistory,
    /// Keyed by the path relative to the locks folder (exact bytes).
    pub open_claims: HashMap<Vec<u8>, OpenClaim>,
    pub progress_change: Option<ProgressChange>,
}

/// What one refresh found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    /// The branch tip now (hex commit id).
    pub tip: String,
    /// The tip differs from the one seen by the previous refresh (always true on the first).
    pub tip_changed: bool,
    /// Events found in the commits walked by this refresh, oldest first.
    pub new_entries: Vec<ClaimEvent>,
    /// History was rebuilt from scratch (first scan, or the branch was rewritten):
    /// `new_entries` is then the whole history, replacing anything seen before.
    pub history_rescanned: bool,
    /// Commits walked by this refresh.
    pub commits_walked: usize,
    /// The newest commits walked (at most [`MAX_AUTHORS_REPORTED`]), oldest first: signs of
    /// life of the slots that made them, and what each slot landed.
    pub new_commits: Vec<NewCommit>,
}

/// One commit walked by a refresh, with what it says about who made it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCommit {
    /// Hex commit id.
    pub id: String,
    pub author: String,
    pub time_ms: i64,
    /// First line of the message (lossy, capped).
    pub summary: String,
    /// The message read as holder evidence (a `Slot:` trailer, a hostname, a container id),
    /// with the author; `core::SlotDirectory::attribute` names the slot.
    pub evidence: crate::core::HolderEvidence,
}

/// Commit authors reported per refresh at most (a first scan of a big repo walks them all).
pub const MAX_AUTHORS_REPORTED: usize = 1000;

/// A change to one file under the locks folder between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathChange {
    pub rel_path: Vec<u8>,
    pub old: Option<EntryState>,
    pub new: Option<EntryState>,
}

/// The ids a commit has at the two paths drover follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathIds {
    pub locks: Option<Oid>,
    pub progress: Option<EntryState>,
}

/// Per-commit `PathIds`, so a parent read as a child's parent is not read again. Bounded: in
/// a mostly linear history the parent was the previous commit, so a small cache suffices.
#[derive(Default)]
pub(crate) struct PathIdCache {
    by_commit: HashMap<Oid, PathIds>,
}

const PATH_ID_CACHE_MAX: usize = 8192;

/// What the scanner needs to know about the repo layout.
pub(crate) struct ScanPaths<'a> {
    pub locks_dir: &'a str,
    /// The in-repo PROGRESS path, or `None` when PROGRESS comes from a host file.
    pub progress_path: Option<&'a str>,
}

/// Borrowed pieces needed to scan; bundled to keep signatures short.
pub(crate) struct Scanner<'a> {
    pub repo: &'a Repository,
    pub paths: ScanPaths<'a>,
    pub entries: &'a mut EntryInfoCache,
    pub ids: &'a mut PathIdCache,
}

impl Scanner<'_> {
    /// Brings `state` up to `new_tip`, walking only what is new when possible.
    pub(crate) fn advance(
        &mut self,
        state: &mut ScanState,
        new_tip: Oid,
    ) -> Result<RefreshSummary, UpstreamError> {
        let mut summary = RefreshSummary {
            tip: new_tip.to_string(),
            ..RefreshSummary::default()
        };
        if state.tip == Some(new_tip) {
            return Ok(summary);
        }
        summary.tip_changed = true;
        // An error here means the old tip is gone (rewritten and pruned): rescan like any rewrite.
        let walk_from = state.tip.filter(|old| {
            self.repo
                .graph_descendant_of(new_tip, *old)
                .unwrap_or(false)
        });
        if walk_from.is_none() {
            *state = ScanState::default();
            summary.history_rescanned = true;
        }
        let mut walk = self.repo.revwalk().git("walking history")?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME | Sort::REVERSE)
            .git("walking history")?;
        walk.push(new_tip).git("walking history")?;
        if let Some(old) = walk_from {
            walk.hide(old).git("walking history")?;
        }
        for oid in walk {
            let oid = oid.git("walking history")?;
            let commit = self.repo.find_commit(oid).git("reading a commit")?;
            self.process_commit(state, &commit, &mut summary.new_entries)?;
            summary.commits_walked += 1;
            if summary.new_commits.len() >= MAX_AUTHORS_REPORTED {
                summary.new_commits.remove(0);
            }
            let author = String::from_utf8_lossy(commit.author().name_bytes()).into_owned();
            let mut evidence = super::evidence::from_content(commit.message_bytes());
            // Free words of a message name slots too easily ("as implementer-2 found"): only
            // its labelled lines and the author count.
            evidence.tokens.clear();
            evidence.author = Some(author.clone());
            summary.new_commits.push(NewCommit {
                id: oid.to_string(),
                author,
                time_ms: commit_time_ms(&commit),
                summary: commit_summary(&commit),
                evidence,
            });
        }
        state.tip = Some(new_tip);
        Ok(summary)
    }

    fn process_commit(
        &mut self,
        state: &mut ScanState,
        commit: &Commit<'_>,
        out: &mut Vec<ClaimEvent>,
    ) -> Result<(), UpstreamError> {
        let ids = self.path_ids(commit)?;
        let mut parents = Vec::with_capacity(commit.parent_count());
        for parent in commit.parent_ids() {
            parents.push(self.path_ids_of(parent)?);
        }

        let progress_changed = if parents.is_empty() {
            ids.progress.is_some()
        } else {
            parents.iter().all(|p| p.progress != ids.progress)
        };
        if progress_changed && self.paths.progress_path.is_some() {
            state.progress_change = Some(ProgressChange {
                time_ms: commit_time_ms(commit),
                commit: Some(commit.id().to_string()),
                summary: Some(commit_summary(commit)),
            });
        }

        let changes = match parents.split_first() {
            None => diff_trees(self.repo, None, ids.locks)?,
            Some(_) if parents.iter().any(|p| p.locks == ids.locks) => Vec::new(),
            Some((first, others)) => {
                let mut changes = diff_trees(self.repo, first.locks, ids.locks)?;
                if !others.is_empty() {
                    let mut other_maps = Vec::with_capacity(others.len());
                    for other in others {
                        other_maps.push(flatten(self.repo, other.locks)?);
                    }
                    changes.retain(|c| {
                        other_maps
                            .iter()
                            .all(|m| m.get(&c.rel_path).copied() != c.new)
                    });
                }
                changes
            }
        };
        for change in changes {
            let event = self.event_for(state, commit, change)?;
            state.history.record(event.clone());
            out.push(event);
        }
        Ok(())
    }

    fn event_for(
        &mut self,
        state: &mut ScanState,
        commit: &Commit<'_>,
        change: PathChange,
    ) -> Result<ClaimEvent, UpstreamError> {
        let time_ms = commit_time_ms(commit);
        let author = commit.author();
        let committer = commit.committer();
        let author_name = display_label(author.name_bytes(), 64).trim().to_owned();
        let with_author = |mut ev: crate::core::HolderEvidence, name: &str| {
            ev.author = Some(name.to_owned()).filter(|n| !n.is_empty());
            ev
        };
        let (kind, holder, held_ms, evidence) = match (change.old, change.new) {
            (old, Some(new)) => {
                let info = self.entries.describe(self.repo, new)?;
                let rewritten = old.is_some();
                if let Some(open) = state
                    .open_claims
                    .get_mut(&change.rel_path)
                    .filter(|_| rewritten)
                {
                    if let Some(name) = info.holder {
                        open.holder = Holder::File(name);
                    }
                    // The rewrite may add what the claim lacked; the claimer stays the author.
                    let claimer = open.evidence.author.clone().unwrap_or_default();
                    open.evidence = with_author(info.evidence, &claimer);
                    (
                        ClaimEventKind::Updated,
                        open.holder.clone(),
                        None,
                        open.evidence.clone(),
                    )
                } else {
                    // A new claim; or a rewrite whose claim was never seen (recorded as held
                    // from here so the lock table can still date it).
                    let holder = Holder::resolve(info.holder, &author, &committer);
                    let evidence = with_author(info.evidence, &author_name);
                    let open = OpenClaim {
                        holder: holder.clone(),
                        evidence: evidence.clone(),
                        time_ms,
                        commit: commit.id(),
                    };
                    state.open_claims.insert(change.rel_path.clone(), open);
                    let kind = if rewritten {
                        ClaimEventKind::Updated
                    } else {
                        ClaimEventKind::Claimed
                    };
                    (kind, holder, None, evidence)
                }
            }
            (Some(old), None) => match state.open_claims.remove(&change.rel_path) {
                Some(open) => (
                    ClaimEventKind::Released,
                    open.holder,
                    Some(time_ms.saturating_sub(open.time_ms)),
                    open.evidence,
                ),
                None => {
                    let info = self.entries.describe(self.repo, old)?;
                    let holder = info.holder.map_or(Holder::Unknown, Holder::File);
                    (ClaimEventKind::Released, holder, None, info.evidence)
                }
            },
            // `diff_trees` never reports a path absent on both sides.
            (None, None) => (
                ClaimEventKind::Updated,
                Holder::Unknown,
                None,
                Default::default(),
            ),
        };
        Ok(ClaimEvent {
            kind,
            task: task_name(&change.rel_path),
            path: display_label(
                &full_path(self.paths.locks_dir, &change.rel_path),
                LABEL_MAX_CHARS,
            ),
            holder,
            time_ms,
            commit: commit.id().to_string(),
            summary: commit_summary(commit),
            author: display_label(author.name_bytes(), 64),
            held_ms,
            evidence,
        })
    }

    pub(crate) fn path_ids_of(&mut self, oid: Oid) -> Result<PathIds, UpstreamError> {
        if let Some(ids) = self.ids.by_commit.get(&oid) {
            return Ok(*ids);
        }
        let commit = self.repo.find_commit(oid).git("reading a commit")?;
        self.path_ids(&commit)
    }

    fn path_ids(&mut self, commit: &Commit<'_>) -> Result<PathIds, UpstreamError> {
        if let Some(ids) = self.ids.by_commit.get(&commit.id()) {
            return Ok(*ids);
        }
        let tree = commit.tree().git("reading a commit's tree")?;
        let locks = entry_at(&tree, self.paths.locks_dir)?
            .filter(|e| e.mode == MODE_TREE)
            .map(|e| e.id);
        let progress = match self.paths.progress_path {
            Some(path) => entry_at(&tree, path)?.filter(|e| e.mode != MODE_TREE),
            None => None,
        };
        let ids = PathIds { locks, progress };
        if self.ids.by_commit.len() >= PATH_ID_CACHE_MAX {
            self.ids.by_commit.clear();
        }
        self.ids.by_commit.insert(commit.id(), ids);
        Ok(ids)
    }
}

/// The entry at `path` in `tree`, or `None` when nothing is there.
pub(crate) fn entry_at(
    tree: &git2::Tree<'_>,
    path: &str,
) -> Result<Option<EntryState>, UpstreamError> {
    match tree.get_path(Path::new(path)) {
        Ok(entry) => Ok(Some(EntryState {
            id: entry.id(),
            mode: entry.filemode(),
        })),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(source) => Err(UpstreamError::Git {
            context: "looking up a path",
            source,
        }),
    }
}

/// Every file-like entry changed between two trees, by path relative to them, sorted by path.
pub(crate) fn diff_trees(
    repo: &Repository,
    old: Option<Oid>,
    new: Option<Oid>,
) -> Result<Vec<PathChange>, UpstreamError> {
    let mut out = Vec::new();
    let mut pending = vec![(Vec::new(), old, new)];
    while let Some((prefix, old, new)) = pending.pop() {
        if old == new {
            continue;
        }
        let a = tree_entries(repo, old)?;
        let b = tree_entries(repo, new)?;
        let names: BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
        for name in names {
            let (ea, eb) = (a.get(name).copied(), b.get(name).copied());
            if ea == eb {
                continue;
            }
            let mut path = prefix.clone();
            path.extend_from_slice(name);
            let is_tree = |e: &EntryState| e.mode == MODE_TREE;
            let (sub_a, sub_b) = (
                ea.filter(is_tree).map(|e| e.id),
                eb.filter(is_tree).map(|e| e.id),
            );
            let (file_a, file_b) = (ea.filter(|e| !is_tree(e)), eb.filter(|e| !is_tree(e)));
            if file_a != file_b {
                out.push(PathChange {
                    rel_path: path.clone(),
                    old: file_a,
                    new: file_b,
                });
            }
            if sub_a.is_some() || sub_b.is_some() {
                path.push(b'/');
                pending.push((path, sub_a, sub_b));
            }
        }
    }
    out.sort_by(|x, y| x.rel_path.cmp(&y.rel_path));
    Ok(out)
}

/// Every file-like entry below a tree, by path relative to it.
pub(crate) fn flatten(
    repo: &Repository,
    tree: Option<Oid>,
) -> Result<HashMap<Vec<u8>, EntryState>, UpstreamError> {
    Ok(diff_trees(repo, None, tree)?
        .into_iter()
        .filter_map(|c| Some((c.rel_path, c.new?)))
        .collect())
}

fn tree_entries(
    repo: &Repository,
    id: Option<Oid>,
) -> Result<HashMap<Vec<u8>, EntryState>, UpstreamError> {
    let Some(id) = id else {
        return Ok(HashMap::new());
    };
    let tree = repo.find_tree(id).git("reading the locks folder")?;
    // Hidden entries (`.keep`, `.gitkeep`, `.gitignore`) exist to keep the folder in git; they
    // claim no task.
    Ok(tree
        .iter()
        .filter(|e| !e.name_bytes().starts_with(b"."))
        .map(|e| {
            (
                e.name_bytes().to_vec(),
                EntryState {
                    id: e.id(),
                    mode: e.filemode(),
                },
            )
        })
        .collect())
}

pub(crate) fn commit_time_ms(commit: &Commit<'_>) -> i64 {
    commit.time().seconds().saturating_mul(1000)
}

pub(crate) fn commit_summary(commit: &Commit<'_>) -> String {
    display_label(commit.summary_bytes().unwrap_or_default(), LABEL_MAX_CHARS)
}

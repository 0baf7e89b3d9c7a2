//! The team's board at the branch tip: backlog, in progress and done, from whatever the repo
//! keeps — three folders (`ideas/`, `current_tasks/`, `completed_tasks/`: one file per task), a
//! Markdown checklist (`- [ ]` waiting, `- [~]` in progress, `- [x]` done), or nothing.
//!
//! Invariants: every read is bounded (files counted without reading past
//! `BOARD_ITEMS_MAX` per column, blob size checked before reading, titles cut at
//! `TITLE_MAX_CHARS`) and every text shown is sanitised with `untrusted::one_line`. Counts are
//! exact whatever the bounds cut from `items`. In-progress holders and ages come from the lock
//! table (the same reading as the Locks view); completion times come from history
//! (`board_flow`: the commit that added the file to the done folder).

use std::path::Path;

use git2::{ObjectType, Oid, Repository};
use serde::Serialize;

use super::board_flow::{self, Flow};
pub use super::board_settings::{BoardSettings, BoardSource, DayCount};
use super::error::{GitContext, UpstreamError};
use super::locks::{MODE_GITLINK, MODE_LINK, MODE_TREE, task_name};
use super::repo::UpstreamRepo;
use super::scan::{entry_at, flatten};
use crate::untrusted;

/// Items listed per column; the count stays exact and `truncated` says what was left out.
pub const BOARD_ITEMS_MAX: usize = 100;
/// Characters of an item's title.
pub const TITLE_MAX_CHARS: usize = 120;
/// A task file larger than this is not read: its title is its name.
pub const TASK_FILE_MAX_BYTES: usize = 256 * 1024;
/// A checklist file larger than this is read up to this size only.
pub const CHECKLIST_MAX_BYTES: usize = 1024 * 1024;
/// The team-notes file whose absence the board explains.
pub const PROGRESS_FILE: &str = "PROGRESS.md";
/// Checklist files looked for, in order, when none is configured.
pub const CHECKLIST_CANDIDATES: &[&str] = &["TODO.md", "TASKS.md", "BACKLOG.md", "todo.md"];

/// One task on the board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BoardItem {
    /// Task name (file path below its folder without extension; for a checklist, its line).
    pub task: String,
    /// First heading or first line of its file, sanitised and bounded.
    pub title: String,
    /// In progress: who holds the lock (see `Holder`'s display).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// In progress: commit time of the claim, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_at_ms: Option<i64>,
    /// In progress: how long it has been held at the time the board was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_s: Option<i64>,
    /// Done: commit time of the commit that added it to the done folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at_ms: Option<i64>,
}

/// One column: exact count, bounded items.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BoardColumn {
    pub count: u64,
    pub items: Vec<BoardItem>,
    /// Set when `items` holds fewer than `count`, e.g. "first 100 of 413 shown".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

impl BoardColumn {
    fn from_items(mut items: Vec<BoardItem>, count: u64) -> Self {
        items.truncate(BOARD_ITEMS_MAX);
        let truncated = (items.len() as u64) < count;
        BoardColumn {
            truncated: truncated.then(|| format!("first {} of {count} shown", items.len())),
            count,
            items,
        }
    }
}

/// The board at the branch tip.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Board {
    /// `folders`, `checklist` or `none`.
    pub source: String,
    /// Where it was read, e.g. "ideas/, current_tasks/, completed_tasks/" or "TODO.md".
    pub location: String,
    pub tip: String,
    pub backlog: BoardColumn,
    pub in_progress: BoardColumn,
    pub done: BoardColumn,
    /// Done on the UTC day of `now` (folders: from history; checklist: unknown, 0).
    pub done_today: u64,
    /// Done per UTC day over the last 7 days, oldest first (days without any included).
    pub done_last_week: Vec<DayCount>,
    /// Whether PROGRESS.md is at the tip (the PROGRESS.md view says where the board is when not).
    pub has_progress_file: bool,
}

impl Board {
    /// What the PROGRESS.md view says when the repo keeps none.
    pub fn no_progress_note(&self) -> String {
        format!("this repo keeps no PROGRESS.md; {}", self.describe())
    }

    /// One line saying where the board is, for views that have no PROGRESS.md to show.
    pub fn describe(&self) -> String {
        match self.source.as_str() {
            "none" => "it keeps no board either (no task folders, no TODO checklist)".into(),
            _ => format!(
                "its board is {} — {} waiting, {} in progress, {} done",
                self.location, self.backlog.count, self.in_progress.count, self.done.count
            ),
        }
    }
}

/// Reads the board of `branch` (default: what HEAD names) in the repo at `path` at `now_ms`,
/// and the flow figures from its first-parent history when the board is folders.
pub fn read(
    path: &Path,
    branch: Option<&str>,
    settings: &BoardSettings,
    now_ms: i64,
) -> Result<(Board, Option<Flow>), UpstreamError> {
    let mut up = UpstreamRepo::open_any(path, branch, &settings.locks_dir)?;
    let Ok(tip) = up.current_tip() else {
        return Ok((Board::none(), None));
    };
    let tree_id = {
        let commit = up.repo.find_commit(tip).git("reading the tip commit")?;
        commit.tree_id()
    };
    let (backlog, locks, done, checklist, has_progress_file) = {
        let tree = up.repo.find_tree(tree_id).git("reading the tip tree")?;
        let (b, l, d, c) = tip_entries(&tree, settings)?;
        (b, l, d, c, blob_at(&tree, PROGRESS_FILE)?.is_some())
    };
    let any_folder = backlog.is_some() || locks.is_some() || done.is_some();
    let use_folders = match settings.source {
        BoardSource::Folders => true,
        BoardSource::Auto => any_folder,
        _ => false,
    };
    let use_checklist = match settings.source {
        BoardSource::Checklist => true,
        BoardSource::Auto => !any_folder && checklist.is_some(),
        _ => false,
    };
    let mut board = if use_folders {
        let flow = board_flow::read(&up, settings, now_ms)?;
        let board = folders_board(&mut up, settings, (backlog, done), &flow, now_ms)?;
        (board, Some(flow))
    } else if use_checklist {
        let board = match checklist {
            Some((name, id)) => checklist_board(&up.repo, &name, id)?,
            None => Board {
                source: "checklist".into(),
                location: settings
                    .checklist_file
                    .clone()
                    .unwrap_or_else(|| "TODO.md".into()),
                ..Board::default()
            },
        };
        (board, None)
    } else {
        (Board::none(), None)
    };
    board.0.tip = tip.to_string();
    board.0.has_progress_file = has_progress_file;
    Ok(board)
}

impl Board {
    fn none() -> Board {
        Board {
            source: "none".into(),
            ..Board::default()
        }
    }
}

type TipEntries = (Option<Oid>, Option<Oid>, Option<Oid>, Option<(String, Oid)>);

/// The three folders' trees and the checklist file's blob at the tip, where present.
fn tip_entries(
    tree: &git2::Tree<'_>,
    settings: &BoardSettings,
) -> Result<TipEntries, UpstreamError> {
    let dir = |d: &str| -> Result<Option<Oid>, UpstreamError> {
        Ok(entry_at(tree, d.trim_matches('/'))?
            .filter(|e| e.mode == MODE_TREE)
            .map(|e| e.id))
    };
    let (backlog, locks, done) = (
        dir(&settings.backlog_dir)?,
        dir(&settings.locks_dir)?,
        dir(&settings.done_dir)?,
    );
    let checklist = match &settings.checklist_file {
        Some(f) => blob_at(tree, f)?.map(|id| (f.clone(), id)),
        None => {
            let mut found = None;
            for f in CHECKLIST_CANDIDATES {
                if let Some(id) = blob_at(tree, f)? {
                    found = Some(((*f).to_owned(), id));
                    break;
                }
            }
            found
        }
    };
    Ok((backlog, locks, done, checklist))
}

fn blob_at(tree: &git2::Tree<'_>, path: &str) -> Result<Option<Oid>, UpstreamError> {
    Ok(entry_at(tree, path.trim_matches('/'))?
        .filter(|e| e.mode != MODE_TREE && e.mode != MODE_GITLINK && e.mode != MODE_LINK)
        .map(|e| e.id))
}

fn folders_board(
    up: &mut UpstreamRepo,
    settings: &BoardSettings,
    (backlog, done): (Option<Oid>, Option<Oid>),
    flow: &Flow,
    now_ms: i64,
) -> Result<Board, UpstreamError> {
    let repo = &up.repo;
    let (backlog_items, backlog_count) = folder_items(repo, backlog, |_, _| {})?;
    let (done_items, done_count) = folder_items(repo, done, |rel, item| {
        item.completed_at_ms = flow.completed_at_ms(rel);
    })?;
    // In progress: the lock table, which already names holders and claim times.
    let locks = up.lock_table()?;
    let in_count = locks.len() as u64;
    let in_items: Vec<BoardItem> = locks
        .iter()
        .take(BOARD_ITEMS_MAX)
        .map(|l| BoardItem {
            task: untrusted::one_line(&l.task, TITLE_MAX_CHARS),
            title: title_from_preview(&l.text_preview, &l.task),
            holder: Some(untrusted::one_line(&l.holder.to_string(), 80)),
            claimed_at_ms: Some(l.claimed_at_ms),
            age_s: Some(l.held_for_ms(now_ms) / 1000),
            completed_at_ms: None,
        })
        .collect();
    let dirs = [
        &settings.backlog_dir,
        &settings.locks_dir,
        &settings.done_dir,
    ];
    let location = dirs
        .iter()
        .map(|d| format!("{}/", d.trim_matches('/')))
        .collect::<Vec<_>>()
        .join(", ");
    let (done_today, done_last_week) = flow.recent_days(now_ms);
    Ok(Board {
        source: "folders".into(),
        location,
        tip: String::new(),
        backlog: BoardColumn::from_items(backlog_items, backlog_count),
        in_progress: BoardColumn::from_items(in_items, in_count),
        done: BoardColumn::from_items(done_items, done_count),
        done_today,
        done_last_week,
        has_progress_file: false,
    })
}

/// Every task file below a folder (hidden entries excluded): the count, and the first
/// `BOARD_ITEMS_MAX` by path with their titles.
fn folder_items(
    repo: &Repository,
    dir: Option<Oid>,
    mut fill: impl FnMut(&[u8], &mut BoardItem),
) -> Result<(Vec<BoardItem>, u64), UpstreamError> {
    let mut files: Vec<_> = flatten(repo, dir)?.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let count = files.len() as u64;
    let mut items = Vec::new();
    for (rel, entry) in files.iter().take(BOARD_ITEMS_MAX) {
        let task = task_name(rel);
        let title = if entry.mode == MODE_GITLINK || entry.mode == MODE_LINK {
            untrusted::one_line(&task, TITLE_MAX_CHARS)
        } else {
            match read_bounded(repo, entry.id)? {
                Some(bytes) => title_of(&bytes, &task),
                None => untrusted::one_line(&task, TITLE_MAX_CHARS),
            }
        };
        let mut item = BoardItem {
            task: untrusted::one_line(&task, TITLE_MAX_CHARS),
            title,
            holder: None,
            claimed_at_ms: None,
            age_s: None,
            completed_at_ms: None,
        };
        fill(rel, &mut item);
        items.push(item);
    }
    Ok((items, count))
}

/// A blob's bytes when it is no larger than `TASK_FILE_MAX_BYTES` (its size is read from the
/// object header first, so a huge file is never loaded).
fn read_bounded(repo: &Repository, id: Oid) -> Result<Option<Vec<u8>>, UpstreamError> {
    let odb = repo.odb().git("opening the object database")?;
    let (size, kind) = odb.read_header(id).git("reading an object header")?;
    if kind != ObjectType::Blob || size > TASK_FILE_MAX_BYTES {
        return Ok(None);
    }
    let blob = repo.find_blob(id).git("reading a task file")?;
    Ok(Some(blob.content().to_vec()))
}

/// The title of a task file: its first Markdown heading among the first lines, else its first
/// non-blank line (a leading `Task:`/`Title:` label dropped); the task name when the file is
/// empty or binary.
pub fn title_of(content: &[u8], task: &str) -> String {
    let head = &content[..content.len().min(4096)];
    if head.contains(&0) {
        return untrusted::one_line(task, TITLE_MAX_CHARS);
    }
    let text = String::from_utf8_lossy(head);
    let lines: Vec<&str> = text.lines().take(40).collect();
    let heading = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with('#') && l.trim_start_matches('#').starts_with(' '));
    let chosen = heading
        .map(|h| h.trim_start_matches('#').trim())
        .or_else(|| lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()))
        .map(drop_label)
        .filter(|t| !t.is_empty());
    untrusted::one_line(chosen.unwrap_or(task), TITLE_MAX_CHARS)
}

fn drop_label(line: &str) -> &str {
    for label in ["task:", "title:"] {
        if line.len() >= label.len()
            && line.is_char_boundary(label.len())
            && line[..label.len()].eq_ignore_ascii_case(label)
        {
            return line[label.len()..].trim();
        }
    }
    line
}

/// A lock's title from its preview (the lock table keeps the first lines, not the bytes).
fn title_from_preview(preview: &str, task: &str) -> String {
    if preview.starts_with('[') {
        return untrusted::one_line(task, TITLE_MAX_CHARS);
    }
    title_of(preview.as_bytes(), task)
}

fn checklist_board(repo: &Repository, name: &str, id: Oid) -> Result<Board, UpstreamError> {
    let blob = repo.find_blob(id).git("reading the checklist file")?;
    let content = blob.content();
    let content = &content[..content.len().min(CHECKLIST_MAX_BYTES)];
    let list = parse_checklist(&String::from_utf8_lossy(content));
    Ok(Board {
        source: "checklist".into(),
        location: untrusted::one_line(name, TITLE_MAX_CHARS),
        tip: String::new(),
        backlog: BoardColumn::from_items(list.backlog.0, list.backlog.1),
        in_progress: BoardColumn::from_items(list.in_progress.0, list.in_progress.1),
        done: BoardColumn::from_items(list.done.0, list.done.1),
        done_today: 0,
        done_last_week: Vec::new(),
        has_progress_file: false,
    })
}

/// The three columns of a checklist: (first items, exact count) each.
#[derive(Debug, Default)]
pub struct Checklist {
    pub backlog: (Vec<BoardItem>, u64),
    pub in_progress: (Vec<BoardItem>, u64),
    pub done: (Vec<BoardItem>, u64),
}

/// `- [ ]` / `* [ ]` / `1. [ ]` items are waiting, `[x]`/`[X]` done, `[~]`, `[-]`, `[/]` in
/// progress; any other line is not a task.
pub fn parse_checklist(text: &str) -> Checklist {
    let mut out = Checklist::default();
    for line in text.lines() {
        let t = line.trim_start();
        let rest = if let Some(r) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            r
        } else {
            let digits = t.bytes().take_while(u8::is_ascii_digit).count();
            match t.get(digits..).and_then(|r| r.strip_prefix(". ")) {
                Some(r) if digits > 0 => r,
                _ => continue,
            }
        };
        let Some(mark) = rest.get(..3) else { continue };
        let column = match mark {
            "[ ]" => &mut out.backlog,
            "[x]" | "[X]" => &mut out.done,
            "[~]" | "[-]" | "[/]" => &mut out.in_progress,
            _ => continue,
        };
        let title = untrusted::one_line(rest[3..].trim(), TITLE_MAX_CHARS);
        column.1 += 1;
        if column.0.len() < BOARD_ITEMS_MAX {
            column.0.push(BoardItem {
                task: title.clone(),
                title,
                holder: None,
                claimed_at_ms: None,
                age_s: None,
                completed_at_ms: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_prefer_a_heading_then_the_first_line_without_its_label() {
        assert_eq!(title_of(b"\n# Fix the parser\nbody", "t"), "Fix the parser");
        assert_eq!(
            title_of(b"Task: Fix busybox compilation\nStatus: x", "t"),
            "Fix busybox compilation"
        );
        assert_eq!(
            title_of(b"HIGH PRIORITY: use-def\n", "t"),
            "HIGH PRIORITY: use-def"
        );
        assert_eq!(title_of(b"", "fallback"), "fallback");
        assert_eq!(title_of(b"a\0b", "bin"), "bin");
        assert_eq!(title_of(b"\x1b[31mred\x1b[0m", "t"), "red");
        let long = "x".repeat(1000);
        assert!(title_of(long.as_bytes(), "t").chars().count() < TITLE_MAX_CHARS + 30);
    }

    /// First lines of task files of the public 16-agent C-compiler fleet, as read from
    /// wangdalian/claudes-c-compiler: `current_tasks/fix_busybox.txt` @ fb1c6e44,
    /// `completed_tasks/fix_braces_around_scalar_struct_init.md` @ 1dc0b9eb,
    /// `ideas/high_use_def_chains.txt` @ 5f6c6619.
    #[test]
    fn titles_of_a_real_fleets_task_files() {
        assert_eq!(
            title_of(
                b"Task: Fix busybox compilation and tests\nStatus: in_progress\n",
                "t"
            ),
            "Fix busybox compilation and tests"
        );
        assert_eq!(
            title_of(
                b"Task: Fix flat struct initialization with braces-around-scalar and array-of-struct fields\nStatus: Complete\n",
                "t"
            ),
            "Fix flat struct initialization with braces-around-scalar and array-of-struct fields"
        );
        assert_eq!(
            title_of(
                b"HIGH PRIORITY: Add use-def chains to the IR\n\nProblem:\n",
                "t"
            ),
            "HIGH PRIORITY: Add use-def chains to the IR"
        );
    }

    #[test]
    fn checklist_marks_sort_into_columns() {
        let c = parse_checklist(
            "# TODO\n- [ ] one\n* [x] two\n1. [~] three\n- [X] four\n- plain\n  - [ ] nested\n",
        );
        assert_eq!((c.backlog.1, c.in_progress.1, c.done.1), (2, 1, 2));
        assert_eq!(c.in_progress.0[0].title, "three");
    }
}

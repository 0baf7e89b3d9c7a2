//! `[upstream.board]`: where the team's board lives in the upstream repo (task folders, a
//! Markdown checklist, or nothing), and the check that its paths stay inside the repo.

use serde::{Deserialize, Serialize};

use super::diagnose::{Diagnostic, Seg, SourceIndex};

/// Which source the board reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardSource {
    /// Folders when any of the three is present, else a checklist file, else none.
    #[default]
    Auto,
    Folders,
    Checklist,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoardSection {
    pub source: BoardSource,
    /// Waiting tasks, one file each.
    pub backlog_dir: String,
    /// Claimed tasks (the lock files); default: `[upstream] locks_dir`.
    pub locks_dir: Option<String>,
    /// Done tasks, moved here from the locks folder.
    pub done_dir: String,
    /// A Markdown checklist (`- [ ]`, `- [~]`, `- [x]`); default: the first of TODO.md,
    /// TASKS.md, BACKLOG.md present.
    pub checklist_file: Option<String>,
}

impl Default for BoardSection {
    fn default() -> Self {
        BoardSection {
            source: BoardSource::Auto,
            backlog_dir: "ideas".into(),
            locks_dir: None,
            done_dir: "completed_tasks".into(),
            checklist_file: None,
        }
    }
}

/// Each path must be relative and stay inside the repo.
pub(super) fn validate(board: &BoardSection, index: &SourceIndex<'_>, out: &mut Vec<Diagnostic>) {
    let paths = [
        ("backlog_dir", Some(&board.backlog_dir)),
        ("locks_dir", board.locks_dir.as_ref()),
        ("done_dir", Some(&board.done_dir)),
        ("checklist_file", board.checklist_file.as_ref()),
    ];
    for (name, value) in paths {
        let Some(v) = value else { continue };
        let bad =
            v.trim_matches('/').is_empty() || v.starts_with('/') || v.split('/').any(|c| c == "..");
        if bad {
            out.push(index.at_path(
                &[
                    Seg::Key("upstream".into()),
                    Seg::Key("board".into()),
                    Seg::Key(name.into()),
                ],
                format!(
                    "{name} `{v}` must be a path inside the repo, like \"ideas\" (not empty, not absolute, no `..`)"
                ),
            ));
        }
    }
}

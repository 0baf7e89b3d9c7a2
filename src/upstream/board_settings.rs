//! Where the team's board lives in the repo (`[upstream.board]`) and the per-day count both the
//! board and its flow report: plain data shared by `board` and `board_flow`, so neither
//! imports the other's internals.

use serde::Serialize;

/// Which source the board reads (`[upstream.board] source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BoardSource {
    /// Folders when any of the three is present, else a checklist file, else none.
    #[default]
    Auto,
    Folders,
    Checklist,
    None,
}

/// Where the board lives in the repo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardSettings {
    pub source: BoardSource,
    pub backlog_dir: String,
    pub locks_dir: String,
    pub done_dir: String,
    /// `None`: the first of `CHECKLIST_CANDIDATES` present.
    pub checklist_file: Option<String>,
}

impl Default for BoardSettings {
    fn default() -> Self {
        BoardSettings {
            source: BoardSource::Auto,
            backlog_dir: "ideas".into(),
            locks_dir: "current_tasks".into(),
            done_dir: "completed_tasks".into(),
            checklist_file: None,
        }
    }
}

/// Tasks completed on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub completed: u64,
}

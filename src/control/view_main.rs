//! `upstream.main` in `status --json`: the shared branch's check as the operator reads it
//! (state, commit, since, the hold, the first red commit and who landed it).

use serde::{Deserialize, Serialize};

/// `upstream.main` in `status --json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MainStatus {
    /// `green`, `red` or `unknown` (not checked yet, or no tests found).
    pub state: String,
    /// The commit the state is about: the first red commit once known, else the checked tip.
    pub commit: Option<String>,
    /// Since when (ms since the epoch) main is in this state.
    pub since: Option<u64>,
    /// New runs are held until main is green (`on_red = "hold"`).
    pub hold: bool,
    /// Bisection is still narrowing the red range.
    pub bisecting: bool,
    /// The first red commit, its author and who landed it (when known).
    pub culprit: Option<MainCulprit>,
    /// Failing tests of the latest red check.
    pub failing: Vec<String>,
    /// The latest check's own failure (image missing, checkout failed, timeout).
    pub check_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MainCulprit {
    pub commit: String,
    pub author: String,
    pub summary: String,
    /// False when bisection could only narrow it to a range ending at `commit`.
    pub exact: bool,
    pub slot: Option<String>,
    /// Start of the run that landed it (with `slot`, its key in `drover report`).
    pub run_started: Option<u64>,
    pub failing: Vec<String>,
}

impl MainStatus {
    pub fn from_view(v: &crate::core::MainView) -> Self {
        MainStatus {
            state: v.state.label().to_string(),
            commit: v.commit.clone(),
            since: v.since,
            hold: v.hold,
            bisecting: v.bisecting,
            culprit: v.culprit.as_ref().map(|c| MainCulprit {
                commit: c.commit.id.clone(),
                author: c.commit.author.clone(),
                summary: c.commit.summary.clone(),
                exact: c.exact,
                slot: c.landed_by.as_ref().map(|l| l.slot.clone()),
                run_started: c.landed_by.as_ref().map(|l| l.run_started),
                failing: c.failing.clone(),
            }),
            failing: v.failing.clone(),
            check_error: v.check_error.clone(),
        }
    }
}

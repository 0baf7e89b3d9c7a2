//! The check of the shared branch ("main"): which commit to check next, what a check's test
//! statistics say about it, when main turns red or green, the bisection of a red range to its
//! first red commit, and whether new runs are held. Pure: the supervisor side checks commits
//! out and runs the check container, then feeds tips and results in with the time.
//!
//! Invariants: at most one check runs at a time; a tip is checked at most once per `every`
//! (bisection steps are not throttled, and there are at most `max_bisect` of them per red
//! range); only a passing run is green, a run without tests is unknown, and a check that could
//! not run (image missing, checkout failed, timeout) changes neither red nor green; a hold
//! (`on_red = "hold"`) lasts exactly while main is red and ends by itself on the first green.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::model::{Millis, TestSummary};
use drover_signals::Verdict;

/// Commits kept between the last checked tip and the newest (older ones are forgotten: a
/// longer red range is named by its ends, not bisected over its whole length).
pub const MAX_RANGE: usize = 1_000;
/// Checks the view keeps (the newest).
pub const MAX_CHECKS_KEPT: usize = 50;
/// Failing test names kept per check.
pub const MAX_FAILING: usize = 50;

/// What main is, by its latest decisive check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MainState {
    /// Not checked yet, or the latest check found no tests.
    #[default]
    Unknown,
    Green,
    Red,
}

impl MainState {
    pub fn label(self) -> &'static str {
        match self {
            MainState::Unknown => "unknown",
            MainState::Green => "green",
            MainState::Red => "red",
        }
    }
}

/// `[upstream.check] on_red`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRed {
    /// Raise `upstream_red`; slots go on as usual.
    #[default]
    Alert,
    /// Also start no new run (roles with `fixes_main` excepted) until main is green.
    Hold,
}

/// The check's policy, from `[upstream.check]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MainPolicy {
    /// At most one tip check per this interval.
    pub every: Millis,
    /// Extra checks allowed to find the first red commit of a red range.
    pub max_bisect: u32,
    pub on_red: OnRed,
}

/// One commit of the branch's first-parent history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    pub summary: String,
    pub at: Millis,
}

/// The slot run that landed a commit, from the run ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landing {
    pub slot: String,
    /// The run's start (with the slot, the run ledger's key).
    pub run_started: Millis,
    pub generation: u64,
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The command ran; its output's test statistics decide.
    Ran {
        state: MainState,
        summary: TestSummary,
        exit_code: i64,
    },
    /// The check itself failed (image missing, checkout failed, timeout, engine error):
    /// neither red nor green.
    Failed { error: String },
}

/// One check as the view lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub commit: String,
    pub author: String,
    pub summary: String,
    pub started_at: Millis,
    pub duration_ms: Millis,
    /// A bisection step (not a tip check).
    pub bisect: bool,
    pub outcome: CheckOutcome,
    /// Who landed the commit, when the run ledger knows.
    pub landed_by: Option<Landing>,
}

impl CheckRecord {
    /// `green`, `red`, `unknown` or `failed`.
    pub fn verdict(&self) -> &'static str {
        match &self.outcome {
            CheckOutcome::Ran { state, .. } => state.label(),
            CheckOutcome::Failed { .. } => "failed",
        }
    }
}

/// The first red commit of a red range, or the narrowest range bisection got to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Culprit {
    pub commit: CommitInfo,
    /// True when bisection (or a one-commit range) named it; false when it is only the newest
    /// commit of a range that could not be narrowed further (`range_from` is then set).
    pub exact: bool,
    /// The last commit known green before it, when a range is left.
    pub range_from: Option<String>,
    pub landed_by: Option<Landing>,
    pub failing: Vec<String>,
}

/// Main as faces, `status --json` and the core's hold rule see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MainView {
    pub state: MainState,
    /// The commit the state is about: the first red commit once known, else the red tip; the
    /// green or unknown tip otherwise.
    pub commit: Option<String>,
    /// Since when main is in this state.
    pub since: Option<Millis>,
    /// The commit range that turned red: (last green, first red tip]; empty when main was red
    /// from the first check.
    pub red_range: Option<(Option<String>, String)>,
    pub culprit: Option<Culprit>,
    /// Bisection is still narrowing the range.
    pub bisecting: bool,
    /// The failing tests of the latest red check.
    pub failing: Vec<String>,
    /// New runs are held (red with `on_red = "hold"`).
    pub hold: bool,
    /// The latest check's own failure, until a check runs again.
    pub check_error: Option<String>,
    /// Newest first, at most [`MAX_CHECKS_KEPT`].
    pub checks: Vec<CheckRecord>,
}

impl MainView {
    /// The short id of the commit the state is about.
    pub fn short_commit(&self) -> Option<&str> {
        self.commit.as_deref().map(|c| c.get(..8).unwrap_or(c))
    }
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Check `commit` now.
    Check { commit: CommitInfo, bisect: bool },
    /// Nothing before `at` (the next tip check's earliest time).
    WaitUntil(Millis),
    /// Nothing to check (or a check is running).
    Idle,
}

/// The test statistics of a check's output: every test run the readers found, and the command's
/// exit code. Green only when a run passed and none failed or errored and the command exited 0;
/// red on any failing or erroring run, or a non-zero exit after passing runs; unknown when no
/// test ran (whatever the exit code: a check that runs no tests proves nothing).
pub fn judge(runs: &[TestSummary], exit_code: i64) -> (MainState, TestSummary) {
    let mut sum = TestSummary {
        passed: 0,
        failed: 0,
        skipped: 0,
        errors: 0,
        verdict: Verdict::NoTests,
        failing: Vec::new(),
    };
    let (mut any_pass, mut any_bad) = (false, false);
    for r in runs {
        sum.passed = sum.passed.saturating_add(r.passed);
        sum.failed = sum.failed.saturating_add(r.failed);
        sum.skipped = sum.skipped.saturating_add(r.skipped);
        sum.errors = sum.errors.saturating_add(r.errors);
        for f in &r.failing {
            if sum.failing.len() < MAX_FAILING && !sum.failing.contains(f) {
                sum.failing.push(f.clone());
            }
        }
        match r.verdict {
            Verdict::Pass => any_pass = true,
            Verdict::Fail | Verdict::Error => any_bad = true,
            Verdict::NoTests => {}
        }
    }
    let state = if any_bad {
        sum.verdict = if runs.iter().any(|r| r.verdict == Verdict::Fail) {
            Verdict::Fail
        } else {
            Verdict::Error
        };
        MainState::Red
    } else if any_pass && exit_code == 0 {
        sum.verdict = Verdict::Pass;
        MainState::Green
    } else if any_pass {
        sum.verdict = Verdict::Error;
        MainState::Red
    } else {
        MainState::Unknown
    };
    (state, sum)
}

/// A red range being narrowed: indices into `range`, `lo` known green (`None` = the commit
/// before the range), `hi` known red.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bisect {
    lo: Option<usize>,
    hi: usize,
    used: u32,
    failing_at_hi: Vec<String>,
}

impl Bisect {
    fn mid(&self) -> Option<usize> {
        let lo = self.lo.map_or(0, |l| l + 1);
        (lo < self.hi).then(|| lo + (self.hi - lo) / 2)
    }
}

/// A check in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Running {
    commit: CommitInfo,
    bisect: bool,
    started: Millis,
}

/// The check's state machine (see the module doc).
#[derive(Clone, Debug)]
pub struct MainCheck {
    policy: MainPolicy,
    /// Commits after the last checked tip, oldest first; the last one is the newest tip.
    unchecked: VecDeque<CommitInfo>,
    /// The newest tip seen (checked or not).
    tip: Option<String>,
    last_checked_tip: Option<String>,
    last_tip_attempt: Option<Millis>,
    running: Option<Running>,
    /// The red range under investigation (oldest first), and the bisection over it.
    range: Vec<CommitInfo>,
    bisect: Option<Bisect>,
    view: MainView,
}

impl MainCheck {
    pub fn new(policy: MainPolicy) -> Self {
        Self {
            policy,
            unchecked: VecDeque::new(),
            tip: None,
            last_checked_tip: None,
            last_tip_attempt: None,
            running: None,
            range: Vec::new(),
            bisect: None,
            view: MainView::default(),
        }
    }

    /// Continues from a view read back from the store (state, commit, since, culprit): a
    /// restarted drover keeps holding while main is red. Its tip counts as checked.
    pub fn resume(policy: MainPolicy, view: MainView) -> Self {
        let mut m = Self::new(policy);
        m.last_checked_tip = view.checks.first().map(|c| c.commit.clone());
        m.tip = m.last_checked_tip.clone();
        m.view = view;
        m.view.bisecting = false;
        m.view.hold = m.hold();
        m
    }

    pub fn policy(&self) -> MainPolicy {
        self.policy
    }

    /// A new policy (reload): a hold follows `on_red` at once.
    pub fn set_policy(&mut self, policy: MainPolicy) {
        self.policy = policy;
        self.view.hold = self.hold();
    }

    pub fn view(&self) -> &MainView {
        &self.view
    }

    /// The newest tip seen.
    pub fn tip(&self) -> Option<&str> {
        self.tip.as_deref()
    }

    fn hold(&self) -> bool {
        self.view.state == MainState::Red && self.policy.on_red == OnRed::Hold
    }

    /// The branch moved: `commits` are the first-parent commits after the previously seen tip,
    /// oldest first, the last being the new tip (all of them when history was rewritten or on
    /// the first call; only the newest [`MAX_RANGE`] are kept).
    pub fn observe_tip(&mut self, commits: Vec<CommitInfo>) {
        let Some(last) = commits.last() else {
            return;
        };
        if self.tip.as_deref() == Some(last.id.as_str()) {
            return;
        }
        self.tip = Some(last.id.clone());
        for c in commits {
            if self.unchecked.len() >= MAX_RANGE {
                self.unchecked.pop_front();
            }
            self.unchecked.push_back(c);
        }
    }

    /// The next check, or when one may next be due.
    pub fn next(&self, now: Millis) -> Step {
        if self.running.is_some() {
            return Step::Idle;
        }
        if let Some(b) = &self.bisect
            && let Some(c) = b.mid().and_then(|i| self.range.get(i))
        {
            return Step::Check {
                commit: c.clone(),
                bisect: true,
            };
        }
        let Some(tip) = self.unchecked.back() else {
            return Step::Idle;
        };
        if self.last_checked_tip.as_deref() == Some(tip.id.as_str()) {
            return Step::Idle;
        }
        let at = self
            .last_tip_attempt
            .map_or(now, |t| t.saturating_add(self.policy.every));
        if at <= now {
            Step::Check {
                commit: tip.clone(),
                bisect: false,
            }
        } else {
            Step::WaitUntil(at)
        }
    }

    /// A check of `commit` began (as [`Self::next`] asked).
    pub fn started(&mut self, now: Millis, commit: CommitInfo, bisect: bool) {
        if !bisect {
            self.last_tip_attempt = Some(now);
        }
        self.running = Some(Running {
            commit,
            bisect,
            started: now,
        });
    }

    /// The running check ended with `outcome`; returns its record (for the store and the
    /// view). `None` when no check was running.
    pub fn finished(&mut self, now: Millis, outcome: CheckOutcome) -> Option<CheckRecord> {
        let run = self.running.take()?;
        let record = CheckRecord {
            commit: run.commit.id.clone(),
            author: run.commit.author.clone(),
            summary: run.commit.summary.clone(),
            started_at: run.started,
            duration_ms: now.saturating_sub(run.started),
            bisect: run.bisect,
            outcome: outcome.clone(),
            landed_by: None,
        };
        self.view.checks.insert(0, record.clone());
        self.view.checks.truncate(MAX_CHECKS_KEPT);
        match outcome {
            CheckOutcome::Failed { error } => {
                self.view.check_error = Some(error);
                if run.bisect {
                    // The step cannot be decided: the range stays as narrow as it got.
                    self.end_bisect(false);
                }
            }
            CheckOutcome::Ran { state, summary, .. } => {
                self.view.check_error = None;
                if run.bisect {
                    self.on_bisect_step(state, summary.failing);
                } else {
                    self.on_tip_checked(now, run.commit, state, summary.failing);
                }
            }
        }
        self.view.bisecting = self.bisect.is_some();
        self.view.hold = self.hold();
        Some(record)
    }

    fn on_tip_checked(
        &mut self,
        now: Millis,
        tip: CommitInfo,
        state: MainState,
        failing: Vec<String>,
    ) {
        self.last_checked_tip = Some(tip.id.clone());
        // Everything up to the checked tip is now covered by this verdict.
        let upto = self.unchecked.iter().position(|c| c.id == tip.id);
        let covered: Vec<CommitInfo> = match upto {
            Some(i) => self.unchecked.drain(..=i).collect(),
            None => vec![tip.clone()],
        };
        let was = self.view.state;
        match state {
            MainState::Green => {
                self.bisect = None;
                self.range.clear();
                self.view = MainView {
                    state: MainState::Green,
                    commit: Some(tip.id),
                    since: if was == MainState::Green {
                        self.view.since
                    } else {
                        Some(now)
                    },
                    checks: std::mem::take(&mut self.view.checks),
                    ..MainView::default()
                };
            }
            MainState::Red if was == MainState::Red => {
                // Still red: the first red commit and the hold stand.
                self.view.failing = failing;
            }
            MainState::Red => {
                let from = self.view.commit.clone().filter(|_| was == MainState::Green);
                self.view.state = MainState::Red;
                self.view.since = Some(now);
                self.view.commit = Some(tip.id.clone());
                self.view.failing = failing.clone();
                self.view.red_range = Some((from.clone(), tip.id.clone()));
                self.view.culprit = None;
                if was == MainState::Green {
                    self.range = covered;
                    if self.range.len() <= 1 {
                        self.set_culprit(tip, true, None, failing);
                    } else {
                        let hi = self.range.len() - 1;
                        self.bisect = Some(Bisect {
                            lo: None,
                            hi,
                            used: 0,
                            failing_at_hi: failing,
                        });
                        if self.policy.max_bisect == 0 {
                            self.end_bisect(false);
                        }
                    }
                }
            }
            MainState::Unknown => {
                // No tests ran: never green; a red main stays red (and held) until a green.
                if was != MainState::Red {
                    self.view.state = MainState::Unknown;
                    self.view.commit = Some(tip.id);
                    if was != MainState::Unknown {
                        self.view.since = Some(now);
                    }
                }
            }
        }
    }

    fn on_bisect_step(&mut self, state: MainState, failing: Vec<String>) {
        let Some(b) = self.bisect.as_mut() else {
            return;
        };
        let Some(mid) = b.mid() else {
            return self.end_bisect(true);
        };
        b.used = b.used.saturating_add(1);
        match state {
            MainState::Green => b.lo = Some(mid),
            MainState::Red => {
                b.hi = mid;
                b.failing_at_hi = failing;
            }
            // A commit without tests decides nothing: stop with the range as it is.
            MainState::Unknown => return self.end_bisect(false),
        }
        let (done, used) = (b.mid().is_none(), b.used);
        if done {
            self.end_bisect(true);
        } else if used >= self.policy.max_bisect {
            self.end_bisect(false);
        }
    }

    /// Ends bisection, naming the first red commit (`exact`) or the narrowest range.
    fn end_bisect(&mut self, exact: bool) {
        let Some(b) = self.bisect.take() else {
            return;
        };
        let exact = exact || b.mid().is_none();
        let Some(commit) = self.range.get(b.hi).cloned() else {
            return;
        };
        let from = match b.lo {
            Some(l) => self.range.get(l).map(|c| c.id.clone()),
            None => self.view.red_range.as_ref().and_then(|r| r.0.clone()),
        };
        self.set_culprit(commit, exact, from, b.failing_at_hi);
    }

    fn set_culprit(
        &mut self,
        commit: CommitInfo,
        exact: bool,
        from: Option<String>,
        failing: Vec<String>,
    ) {
        self.view.commit = Some(commit.id.clone());
        let landed_by = self
            .view
            .checks
            .iter()
            .find(|c| c.commit == commit.id)
            .and_then(|c| c.landed_by.clone());
        self.view.culprit = Some(Culprit {
            commit,
            exact,
            range_from: if exact { None } else { from },
            landed_by,
            failing,
        });
        self.view.bisecting = false;
    }

    /// The run ledger named who landed `commit`: kept on its checks and on the culprit.
    /// Returns true when anything changed.
    pub fn attribute(&mut self, commit: &str, landing: Landing) -> bool {
        let mut changed = false;
        for c in self.view.checks.iter_mut().filter(|c| c.commit == commit) {
            if c.landed_by.as_ref() != Some(&landing) {
                c.landed_by = Some(landing.clone());
                changed = true;
            }
        }
        if let Some(c) = self.view.culprit.as_mut()
            && c.commit.id == commit
            && c.landed_by.as_ref() != Some(&landing)
        {
            c.landed_by = Some(landing);
            changed = true;
        }
        changed
    }

    /// Whether a slot of a role with `fixes_main` (exempt) may start a new run now.
    pub fn holds(view: &MainView, fixes_main: bool) -> bool {
        view.hold && !fixes_main
    }
}

//! Everything that can happen to the fleet: facts observed by adapters and operator commands.
//! The core never fetches anything; it only reacts to these, with `now` given alongside.

use serde::{Deserialize, Serialize};

use super::claims::ClaimObservation;
use super::model::command::CommandRequest;
use super::model::{
    ActivityKind, DetectorAction, DockerOp, LockObservation, Millis, ObservedContainer, TestSummary,
};
use super::policy::FleetSpec;
use super::signature::{MAX_LINE_BYTES, MAX_LINES, MAX_REASON_BYTES, clean_text, cut};

/// Names (slots, tasks, detectors, people) longer than this are cut.
const MAX_NAME_BYTES: usize = 200;
/// Evidence lines and failing test names kept from one input.
const MAX_ITEMS: usize = 50;
/// Look-alike containers reported per listing (each raises an alert).
const MAX_FOREIGN: usize = 20;
/// Commits taken from one report (the upstream adapter sends at most this many).
const MAX_COMMITS: usize = 1_000;

/// How an operator's lock release ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReleaseReport {
    /// The branch now ends with `commit`, which removes the lock.
    Released { commit: String },
    /// Someone (its agent) removed it first.
    AlreadyReleased,
    /// Not released, on purpose: e.g. the task was claimed again since the operator asked.
    Refused { reason: String },
    /// The release could not be made (git error, too many lost races).
    Failed { error: String },
}

/// A commit on the followed branch, attributed to one of the fleet's slots by the upstream
/// adapter (the slot's identity in the commit, or the lock the commit claims or releases).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitObservation {
    pub slot: String,
    pub commit: String,
    /// Commit time.
    pub at: Millis,
    /// The commit's subject.
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// A full listing of this fleet's labelled containers. The core reconciles: adopts what
    /// matches, removes stale generations, spec-hash mismatches and orphans, creates what is
    /// missing. An unchanged world yields no effects at all.
    ContainersListed {
        containers: Vec<ObservedContainer>,
    },
    ContainerCreated {
        slot: String,
        generation: u64,
        id: String,
    },
    CreateFailed {
        slot: String,
        generation: u64,
        error: String,
    },
    ContainerStarted {
        slot: String,
        id: String,
    },
    StartFailed {
        slot: String,
        id: String,
        error: String,
    },
    /// The container's process ended (Docker `die`), reported the moment the event arrives so
    /// the fleet shows it at once; [`Input::ContainerDied`] follows with the tail of its output,
    /// and the slot makes no decision (restart, incident, block) before that.
    ContainerExited {
        slot: String,
        id: String,
        exit_code: i64,
    },
    /// The container's process ended (Docker `die`), with the tail of its output.
    ContainerDied {
        slot: String,
        id: String,
        exit_code: i64,
        oom_killed: bool,
        last_lines: Vec<String>,
    },
    ContainerPaused {
        slot: String,
        id: String,
    },
    ContainerUnpaused {
        slot: String,
        id: String,
    },
    ContainerRemoved {
        slot: String,
        id: String,
    },
    /// A stop, kill, pause, unpause or remove failed.
    OpFailed {
        slot: String,
        id: String,
        op: DockerOp,
        error: String,
    },
    /// `Err` carries the human reason (e.g. "required env OPENAI_API_KEY is not set").
    PreflightResult {
        slot: String,
        result: Result<(), String>,
    },
    ProbeResult {
        slot: String,
        id: String,
        ok: bool,
        detail: String,
    },
    /// A sign of life (throttled by the adapter), for stall detection.
    Activity {
        slot: String,
        kind: ActivityKind,
    },
    /// The lock table at the upstream tip (complete, replaces the previous one).
    LocksObserved {
        locks: Vec<LockObservation>,
    },
    /// The upstream's state and the fleet's hold times (replaces the previous report).
    UpstreamObserved {
        view: super::locks::UpstreamView,
    },
    /// The shared branch's check (`[upstream.check]`) changed: its state, first red commit,
    /// hold and recent checks, from the supervisor's `MainCheck` (replaces the previous one).
    MainObserved {
        view: Box<super::main_check::MainView>,
    },
    /// The upstream adapter's answer to [`crate::core::Effect::ReleaseLock`].
    ReleaseFinished {
        task: String,
        claim: Option<String>,
        outcome: ReleaseReport,
    },
    /// Claim commits of task locks not reported before, oldest first; `replace` when the
    /// adapter rescanned the whole history (first scan, rewritten branch).
    ClaimsObserved {
        claims: Vec<ClaimObservation>,
        replace: bool,
    },
    TestRunRecorded {
        slot: String,
        summary: TestSummary,
    },
    /// Commits on the followed branch attributed to slots, oldest first (the upstream
    /// adapter; after a rescan it sends its newest commits again, and the ledger counts each
    /// once). Only the run ledger uses them.
    CommitsObserved {
        commits: Vec<CommitObservation>,
    },
    /// Token usage the slot's agent printed since the last report (`rounds` usage lines).
    UsageObserved {
        slot: String,
        tokens: u64,
        rounds: u32,
        /// The same usage by kind (counted once per message) and its cost in micro-dollars
        /// by the `[pricing]` table (0 when no price applies).
        #[serde(default)]
        kinds: drover_signals::usage::Tokens,
        #[serde(default)]
        cost_micros: u64,
    },
    /// A log-fed loop detector's condition holds for `slot` (sent again while it holds); the
    /// core raises one alert and applies `action` once per firing. `since` is when the
    /// evidence began: a commit by the slot after it means progress, and the firing is ignored.
    DetectorFired {
        slot: String,
        detector: String,
        evidence: Vec<String>,
        action: DetectorAction,
        #[serde(default)]
        since: Option<Millis>,
    },
    DetectorCleared {
        slot: String,
        detector: String,
    },
    /// How full the slot's agent's context is: its last request was answered from `used`
    /// tokens of a `window`-token context (`None`: the model's window is unknown).
    ContextObserved {
        slot: String,
        used: u64,
        window: Option<u64>,
    },
    /// The harness compacted the slot's agent's context, as its output states: the trigger,
    /// the size just before and, when known, how full that was in percent of the window.
    CompactionObserved {
        slot: String,
        trigger: Option<drover_signals::transcript::context::CompactTrigger>,
        pre_tokens: Option<u64>,
        percent: Option<u32>,
    },
    /// The slot's agent printed usage lines too large to be real (more tokens than a model
    /// window, or more cost than a message can have): they were not counted. `ignored` is how
    /// many so far, `line` the last of them.
    UsageImplausible {
        slot: String,
        ignored: u64,
        line: String,
    },
    /// The slot's agent printed a usage-limit notice (`line`, ANSI stripped); `reset_at` is the
    /// reset it states, resolved by the adapter (which knows named time zones). The exit that
    /// follows decides whether the slot is throttled.
    UsageLimit {
        slot: String,
        reset_at: Option<Millis>,
        line: String,
    },
    DockerDown {
        error: String,
    },
    /// Containers of the latest listing that wear this fleet's labels but are not drover's
    /// (`name`, `why`): never adopted or removed, one warning alert each while they exist.
    ForeignContainers {
        containers: Vec<(String, String)>,
    },
    DockerUp,
    /// One host of a fleet over several engines became unreachable: its slots keep their last
    /// known state and get no operation until `HostUp`.
    HostDown {
        host: String,
        error: String,
    },
    /// The host is reachable again: a listing adopts what runs there.
    HostUp {
        host: String,
    },
    /// New configuration (e.g. after SIGHUP): roles added/removed/scaled, policies replaced,
    /// containers with a changed spec hash replaced. The fleet name never changes.
    SpecChanged {
        spec: FleetSpec,
    },
    /// A wake-up: time passed (see `Fleet::next_wakeup`).
    Tick,
    Operator {
        request: CommandRequest,
    },
}

impl Input {
    /// The same input with every piece of free text bounded (and errors cleaned), so garbage
    /// or gigantic input cannot bloat the core's state, its events or its snapshots.
    pub fn bounded(self) -> Input {
        let name = |s: String| cut(&s, MAX_NAME_BYTES).to_string();
        let text = |s: String| clean_text(&s, MAX_REASON_BYTES);
        let items = |v: Vec<String>, max: usize| -> Vec<String> {
            let skip = v.len().saturating_sub(MAX_ITEMS.max(max));
            v.into_iter()
                .skip(skip)
                .map(|l| cut(&l, MAX_LINE_BYTES).to_string())
                .collect()
        };
        match self {
            Input::CreateFailed {
                slot,
                generation,
                error,
            } => Input::CreateFailed {
                slot,
                generation,
                error: text(error),
            },
            Input::StartFailed { slot, id, error } => Input::StartFailed {
                slot,
                id,
                error: text(error),
            },
            Input::ContainerDied {
                slot,
                id,
                exit_code,
                oom_killed,
                last_lines,
            } => {
                let skip = last_lines.len().saturating_sub(MAX_LINES);
                Input::ContainerDied {
                    slot,
                    id,
                    exit_code,
                    oom_killed,
                    last_lines: last_lines
                        .into_iter()
                        .skip(skip)
                        .map(|l| cut(&l, MAX_LINE_BYTES).to_string())
                        .collect(),
                }
            }
            Input::OpFailed {
                slot,
                id,
                op,
                error,
            } => Input::OpFailed {
                slot,
                id,
                op,
                error: text(error),
            },
            Input::PreflightResult { slot, result } => Input::PreflightResult {
                slot,
                result: result.map_err(text),
            },
            Input::ProbeResult {
                slot,
                id,
                ok,
                detail,
            } => Input::ProbeResult {
                slot,
                id,
                ok,
                detail: text(detail),
            },
            Input::LocksObserved { locks } => Input::LocksObserved {
                locks: locks
                    .into_iter()
                    .map(|l| LockObservation {
                        task: name(l.task),
                        holder: l.holder.map(name),
                        claimed_at: l.claimed_at,
                        claim_commit: l.claim_commit.map(name),
                    })
                    .collect(),
            },
            Input::TestRunRecorded { slot, mut summary } => {
                summary.failing = items(summary.failing, 0)
                    .into_iter()
                    .map(|t| cut(&t, MAX_REASON_BYTES).to_string())
                    .collect();
                Input::TestRunRecorded { slot, summary }
            }
            Input::DetectorFired {
                slot,
                detector,
                evidence,
                action,
                since,
            } => Input::DetectorFired {
                slot,
                detector: name(detector),
                evidence: items(evidence, 0).into_iter().map(text).collect(),
                action,
                since,
            },
            Input::ClaimsObserved { claims, replace } => Input::ClaimsObserved {
                claims: claims
                    .into_iter()
                    .map(|c| ClaimObservation {
                        task: name(c.task),
                        holder: c.holder.map(name),
                        at: c.at,
                        commit: name(c.commit),
                        summary: text(c.summary),
                    })
                    .collect(),
                replace,
            },
            Input::CommitsObserved { commits } => {
                let skip = commits.len().saturating_sub(MAX_COMMITS);
                Input::CommitsObserved {
                    commits: commits
                        .into_iter()
                        .skip(skip)
                        .map(|c| CommitObservation {
                            slot: name(c.slot),
                            commit: name(c.commit),
                            at: c.at,
                            summary: text(c.summary),
                        })
                        .collect(),
                }
            }
            Input::DetectorCleared { slot, detector } => Input::DetectorCleared {
                slot,
                detector: name(detector),
            },
            Input::DockerDown { error } => Input::DockerDown { error: text(error) },
            Input::HostDown { host, error } => Input::HostDown {
                host: name(host),
                error: text(error),
            },
            Input::HostUp { host } => Input::HostUp { host: name(host) },
            Input::UpstreamObserved { mut view } => {
                if let super::locks::UpstreamState::Unreadable { error } = &mut view.state {
                    *error = text(std::mem::take(error));
                }
                Input::UpstreamObserved { view }
            }
            Input::MainObserved { mut view } => {
                // Commit texts, authors, test names and errors come from the repo and the
                // check's output: bounded and cleaned like any agent text.
                view.commit = view.commit.map(name);
                view.failing = items(view.failing, super::main_check::MAX_FAILING);
                view.check_error = view.check_error.map(text);
                view.red_range = view.red_range.map(|(a, b)| (a.map(name), name(b)));
                view.checks.truncate(super::main_check::MAX_CHECKS_KEPT);
                for c in &mut view.checks {
                    c.commit = name(std::mem::take(&mut c.commit));
                    c.author = text(std::mem::take(&mut c.author));
                    c.summary = text(std::mem::take(&mut c.summary));
                    match &mut c.outcome {
                        super::main_check::CheckOutcome::Failed { error } => {
                            *error = text(std::mem::take(error));
                        }
                        super::main_check::CheckOutcome::Ran { summary, .. } => {
                            summary.failing = items(
                                std::mem::take(&mut summary.failing),
                                super::main_check::MAX_FAILING,
                            );
                        }
                    }
                }
                if let Some(c) = view.culprit.as_mut() {
                    c.commit.id = name(std::mem::take(&mut c.commit.id));
                    c.commit.author = text(std::mem::take(&mut c.commit.author));
                    c.commit.summary = text(std::mem::take(&mut c.commit.summary));
                    c.range_from = c.range_from.take().map(name);
                    c.failing = items(
                        std::mem::take(&mut c.failing),
                        super::main_check::MAX_FAILING,
                    );
                }
                Input::MainObserved { view }
            }
            Input::ForeignContainers { containers } => Input::ForeignContainers {
                containers: containers
                    .into_iter()
                    .take(MAX_FOREIGN)
                    .map(|(n, why)| (name(n), text(why)))
                    .collect(),
            },
            Input::UsageImplausible {
                slot,
                ignored,
                line,
            } => Input::UsageImplausible {
                slot,
                ignored,
                line: clean_text(&line, MAX_LINE_BYTES),
            },
            Input::UsageLimit {
                slot,
                reset_at,
                line,
            } => Input::UsageLimit {
                slot,
                reset_at,
                line: cut(&line, MAX_LINE_BYTES).to_string(),
            },
            Input::ReleaseFinished {
                task,
                claim,
                outcome,
            } => Input::ReleaseFinished {
                task: name(task),
                claim: claim.map(name),
                outcome: match outcome {
                    ReleaseReport::Refused { reason } => ReleaseReport::Refused {
                        reason: text(reason),
                    },
                    ReleaseReport::Failed { error } => ReleaseReport::Failed { error: text(error) },
                    other => other,
                },
            },
            Input::Operator { mut request } => {
                request.who = name(request.who);
                request.why = request.why.map(text);
                if let super::model::command::Command::Block { reason, .. } = &mut request.command {
                    *reason = text(std::mem::take(reason));
                }
                Input::Operator { request }
            }
            other => other,
        }
    }

    /// The slot a slot-scoped input concerns.
    pub fn slot(&self) -> Option<&str> {
        match self {
            Input::ContainerCreated { slot, .. }
            | Input::CreateFailed { slot, .. }
            | Input::ContainerStarted { slot, .. }
            | Input::StartFailed { slot, .. }
            | Input::ContainerExited { slot, .. }
            | Input::ContainerDied { slot, .. }
            | Input::ContainerPaused { slot, .. }
            | Input::ContainerUnpaused { slot, .. }
            | Input::ContainerRemoved { slot, .. }
            | Input::OpFailed { slot, .. }
            | Input::PreflightResult { slot, .. }
            | Input::ProbeResult { slot, .. }
            | Input::Activity { slot, .. }
            | Input::TestRunRecorded { slot, .. }
            | Input::UsageObserved { slot, .. }
            | Input::DetectorFired { slot, .. }
            | Input::DetectorCleared { slot, .. }
            | Input::UsageImplausible { slot, .. }
            | Input::ContextObserved { slot, .. }
            | Input::CompactionObserved { slot, .. }
            | Input::UsageLimit { slot, .. } => Some(slot),
            _ => None,
        }
    }
}

//! The scheduling core: a pure, deterministic, synchronous state machine for the whole fleet.
//!
//! No I/O, no clock, no async: [`Fleet::handle`] takes the time and one [`Input`] (a fact an
//! adapter observed, or an operator [`Command`]) and returns [`Effect`]s (Docker operations,
//! records to persist, alerts, incidents). The supervisor executes them and feeds the results
//! back as inputs; [`Fleet::next_wakeup`] says when to send the next [`Input::Tick`];
//! [`Fleet::snapshot`] is what every face reads. Any scenario replays exactly from its inputs.
//!
//! A slot (`<role>-<n>`) owns at most one container at a time (its generation increases on
//! every recreate). Its *mode* says who holds it — drover (`Auto`) or an operator/policy
//! (`Paused`, `Stopped`, `Blocked`, `TakenOver`, `Retiring`) — and the state shown is derived
//! from the mode, the container as last observed and the Docker operation in flight:
//!
//! ```text
//!  Pending ──> Preflight ──> Creating ──> Starting ──> Running <──> Paused   (pause/resume)
//!                 │                          ^            │
//!                 │ failed                   │            │ exited / vanished / probe restart
//!                 v                          │            v
//!  Blocked{reason} <── same error ×N, ── Backoff{until} <─┤ failure: incident, backoff step,
//!      │               N restarts in          │           │ recovery tier (restart → recreate)
//!      │ unblock       window, tier           │ recreate  │
//!      v               exhausted              v           └ clean exit: restart at once (always)
//!  (fresh start)                          Removing ──> Creating         or Exited (on-failure/never)
//!
//!  any ──stop──> Stopping ──> Stopped        any ──take over──> TakenOver ──hand back──> (fresh start)
//!  any ──scale down──> Retiring ──> (slot removed)
//! ```
//!
//! Health is separate from state: `Unknown` (warming up for `min_uptime`, or no probe answer
//! yet), `Healthy`, `Unready` (probe failed `failure_threshold` times), `Stalled` (no activity
//! for `stall_after`). An incident opens when a slot leaves healthy service (a failure, a
//! stall, unreadiness, an automatic block) and closes when it is healthy again or an operator
//! closes it; MTTR, MTBF and the recovery rate come from incidents.
//!
//! Invariants the simulation test checks after every step: never two live containers for a
//! slot; no automatic start, restart or unpause of a Blocked, TakenOver, Paused or Stopped
//! slot; every backoff within its configured bounds; at most one open incident per slot and
//! closed ones closing after they opened; a listing of an unchanged world yields no effects.
//!
//! Contract with the supervisor and adapters: every Docker effect gets exactly one answer
//! (see [`Effect`]); inputs about one container arrive in the order they happened (take
//! start/die/pause/unpause/destroy from Docker's ordered event stream); a listing is taken when
//! `ListContainers` is executed, not replayed from a cache. Until the first listing after
//! Docker comes up, the core issues no Docker operation but `ListContainers`. Free text in
//! inputs is bounded and secret values are redacted by `handle` itself: `KEY=value` pairs by
//! key name, and known secret values by value with the masker the config installed in
//! [`crate::secrets`] (configuration, like the spec: no I/O and no clock behind it).
//!
//! Wake-ups: the core reports its next deadline through [`Fleet::next_wakeup`] instead of
//! emitting timer effects, so a stale timer can never fire an outdated decision; it also runs
//! any overdue timers at the start of every `handle`, so a late `Tick` only delays, never
//! skips, a decision.
//!
//! The files are layered, and no file imports one that imports it (`tests/house` checks it):
//! - **model** — plain data and the state the fleet holds: `model` (with `model::alert`,
//!   `model::incident`, `model::run`, `model::command`, `model::spend`, `model::throttle`),
//!   `signature`, `policy`, `effect`, `input`, `holders`; the books that keep their own records
//!   (`alerts`, `incidents`, `ledger`, `claims`, `locks`); `slot` (a slot's state, the context
//!   `Cx` rules run in, and the state changes every rule shares: `block`, `fresh_start`,
//!   `settle`); `fleet` (the `Fleet` itself).
//! - **rules per concern** — `run_limit`, `throttle`, `unblock`, `loops`, `failure`,
//!   `lifecycle`, `command`, `command_words`, `spend`, `runs`, `scale`: each imports the model;
//!   a rule calls another concern only through its entry points, in one direction (`failure`
//!   asks `loops`, `unblock`, `throttle` and `run_limit`; `lifecycle` asks `failure`,
//!   `throttle` and `run_limit`; `command` asks `throttle` and `run_limit`).
//! - **dispatch** — `dispatch` (inputs to rules), `health`, `reconcile`, `settle` (timers and
//!   the end of every `handle`) and `snapshot` (what the faces read).

mod alerts;
mod claims;
mod command;
mod command_words;
mod context;
mod dispatch;
mod effect;
mod failure;
mod fleet;
mod health;
mod holders;
mod hosts;
mod incidents;
mod input;
mod ledger;
mod lifecycle;
mod locks;
mod loops;
mod main_check;
mod main_rules;
mod model;
mod outages;
mod policy;
mod quota_groups;
mod reconcile;
mod run_limit;
mod runs;
mod scale;
mod settle;
mod signature;
mod slot;
mod snapshot;
mod spend;
mod throttle;
mod unblock;

pub use alerts::NotifyGate;
pub use claims::ClaimObservation;
pub use dispatch::MAX_LOCKS;
pub use drover_signals::transcript::context::CompactTrigger;
pub use effect::{
    Effect, EventKind, FailureStreak, FleetEvent, KeptClock, RecoveryStep, RestartPlan,
    ResumeState, SlotMode, SlotRecord,
};
pub use fleet::Fleet;
pub use holders::{HolderEvidence, SHORT_ID_LEN, SlotDirectory};
pub use hosts::{HostOutage, HostView, place};
pub use input::{CommitObservation, Input, ReleaseReport};
pub use locks::{
    ADAPTIVE_FACTOR, ADAPTIVE_MIN_RELEASES, LockView, UpstreamState, UpstreamView,
    adaptive_timeout, percentile,
};
pub use main_check::{
    CheckOutcome, CheckRecord, CommitInfo, Culprit, Landing, MAX_CHECKS_KEPT, MAX_FAILING,
    MAX_RANGE, MainCheck, MainPolicy, MainState, MainView, OnRed, Step as MainStep,
    judge as judge_check,
};
pub use model::DockerStatus;
pub use model::alert::{Acknowledgement, Alert, AlertKey, AlertKind, AlertRef, Severity};
pub use model::command::{Command, CommandOutcome, CommandReply, CommandRequest};
pub use model::context::{CompactionView, ContextView};
pub use model::human as human_duration;
pub use model::incident::{Incident, IncidentCause, Resolution, ServiceMetrics};
pub use model::run::{GRACE as LEDGER_GRACE, LandedCommit, RunEnd, RunRecord, TestPoint};
pub use model::spend::{SpendView, dollars};
pub use model::throttle::Throttle;
pub use model::{
    ActivityKind, Actor, ContainerStatus, DetectorAction, DockerOp, ExitInfo, ExitReason, Health,
    LockObservation, Millis, ObservedContainer, SlotState, TestSummary, Verdict, container_name,
    slot_name,
};
pub use model::{MAX_SLOTS, ScaleOverride};
pub use policy::ThrottlePolicy;
pub use policy::{
    BudgetRule, CompactionLoopRule, ContextHighRule, ContextPolicy, DetectorRule, FailingTestsRule,
    IdleAfterCompactionRule, LoopPolicy, ReclaimRule,
};
pub use policy::{
    CrashLoopPolicy, FleetSpec, ProbeAction, ProbePolicy, RecoveryPolicy, RestartMode,
    RestartPolicy, RoleSpec,
};
pub use signature::{explaining_line, failure_signature, normalise, strip_ansi};
pub use slot::TrendPoint;
pub use snapshot::{
    FleetMetrics, GroupLimits, HeldTask, LimitsView, RUN_COMMITS_SHOWN, RUNS_SHOWN, RunLimitView,
    SlotView, Snapshot, TestRecord, UsageView,
};
pub use throttle::TAIL_LINES as THROTTLE_TAIL_LINES;

//! The doing side of `[upstream.check]`: follows the branch tip, and when the core's
//! [`MainCheck`] asks for a check, writes that commit into a private checkout, runs the check
//! container through the runtime port, reads its output with drover's test readers and hands
//! the result back; names who landed each checked commit from the run ledger (the store);
//! stores every check and each red period; reports the view to the fleet as
//! [`Input::MainObserved`] (which raises `upstream_red` and holds runs).
//!
//! Invariants: one check at a time; a checkout lives under `<data_dir>/checks` (0700) only
//! while its check runs; the check's own failures (no engine, image missing, checkout failed,
//! timeout) are reported as such and never as red or green.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::now_ms;
use super::upstream::UpstreamLink;
use crate::config::Config;
use crate::config::schema_check::CheckSection;
use crate::core::{
    CheckOutcome, CheckRecord, CommitInfo, Input, Landing, MAX_CHECKS_KEPT, MAX_FAILING, MAX_RANGE,
    MainCheck, MainState, MainStep, MainView, Millis, TestSummary, judge_check,
};
use crate::signals::{Finding, scan_bytes};
use crate::store::{Store, StoreOp, StoreWriter};
use drover_runtime::{CheckRequest, EnvLookup, Runtime, RuntimeError};

/// How often the branch tip is read.
const POLL: Duration = Duration::from_millis(500);
/// Attempts to find who landed a red commit (the run ledger may learn of it after the check).
const ATTRIBUTION_TRIES: u32 = 120;

/// Everything the check task needs, taken from the supervisor at start.
pub struct MainChecker {
    pub config: Arc<Config>,
    pub check: CheckSection,
    pub link: UpstreamLink,
    pub docker: watch::Receiver<Option<Runtime>>,
    pub fleet_id: String,
    pub env: EnvLookup,
    pub inputs: mpsc::Sender<Input>,
    pub writer: StoreWriter,
    pub store: Store,
}

impl MainChecker {
    /// Resumes from the store and runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let machine = self.resume().await;
        let mut task = Task {
            open_red: (machine.view().state == MainState::Red).then(|| machine.view().clone()),
            machine,
            tries: 0,
            seq: 0,
            me: self,
        };
        task.report().await;
        let checks = checks_dir(&task.me.config);
        // Leftovers of an interrupted check: nothing in there is kept across runs.
        let _ = std::fs::remove_dir_all(&checks);
        if let Err(e) = crate::store::private::create_private_dir_all(&checks) {
            tracing::error!(error = %e, dir = %checks.display(), "the check's folder could not be made; no checks run");
            return;
        }
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
            task.poll_tip().await;
            task.retry_attribution().await;
            if let MainStep::Check { commit, bisect } = task.machine.next(now_ms()) {
                let docker = task.me.docker.borrow().clone();
                let Some(docker) = docker else { continue };
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = task.check(&docker, &checks, commit, bisect) => {}
                }
            }
        }
    }

    /// The state a previous drover left: an open red period (still red, still held), else the
    /// latest tip check's verdict; the latest checks either way.
    async fn resume(&self) -> MainCheck {
        let policy = self.check.policy();
        let checks: Vec<CheckRecord> =
            match self.store.main_checks_latest(MAX_CHECKS_KEPT as i64).await {
                Ok(rows) => rows
                    .into_iter()
                    .filter_map(|r| serde_json::from_value(r).ok())
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "earlier checks of main not read");
                    Vec::new()
                }
            };
        let open = self.store.main_red_open().await.ok().flatten();
        let view = match open.and_then(|p| serde_json::from_value::<MainView>(p.record).ok()) {
            Some(mut v) => {
                v.checks = checks;
                v
            }
            None => {
                let last = checks.iter().find(|c| !c.bisect);
                MainView {
                    state: match last.map(|c| &c.outcome) {
                        Some(CheckOutcome::Ran { state, .. }) => *state,
                        _ => MainState::Unknown,
                    },
                    commit: last.map(|c| c.commit.clone()),
                    since: last.map(|c| c.started_at),
                    checks,
                    ..MainView::default()
                }
            }
        };
        MainCheck::resume(policy, view)
    }
}

struct Task {
    machine: MainCheck,
    /// The red period written as open, as last written.
    open_red: Option<MainView>,
    /// Attribution attempts for the current culprit.
    tries: u32,
    /// Numbers checkout folders.
    seq: u64,
    me: MainChecker,
}

impl Task {
    async fn poll_tip(&mut self) {
        let link = self.me.link.clone();
        let after = self.machine.tip().map(str::to_string);
        let read = tokio::task::spawn_blocking(move || {
            link.open_repo()
                .and_then(|r| r.commits_since(after.as_deref(), MAX_RANGE))
        })
        .await;
        match read {
            Ok(Ok(commits)) if !commits.is_empty() => {
                self.machine
                    .observe_tip(commits.into_iter().map(commit_info).collect());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "branch tip not read for the check"),
            Err(e) => tracing::warn!(error = %e, "branch tip reader failed"),
        }
    }

    async fn check(
        &mut self,
        docker: &Runtime,
        checks: &std::path::Path,
        commit: CommitInfo,
        bisect: bool,
    ) {
        self.seq += 1;
        let dir = checks.join(format!(
            "{}-{}",
            commit.id.get(..12).unwrap_or(&commit.id),
            self.seq
        ));
        self.machine.started(now_ms(), commit.clone(), bisect);
        let outcome = self.run_container(docker, &dir, &commit).await;
        let _ = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || std::fs::remove_dir_all(dir)
        })
        .await;
        let Some(mut record) = self.machine.finished(now_ms(), outcome) else {
            return;
        };
        if let Some(landing) = self.landing(&record.commit).await {
            self.machine.attribute(&record.commit, landing.clone());
            record.landed_by = Some(landing);
        }
        log_check(&record);
        let op = StoreOp::MainCheck {
            commit: record.commit.clone(),
            started_ms: as_i64(record.started_at),
            duration_ms: as_i64(record.duration_ms),
            bisect: record.bisect,
            verdict: record.verdict().to_string(),
            record: serde_json::to_value(&record).unwrap_or_default(),
        };
        if self.me.writer.submit(op).await.is_err() {
            tracing::error!("the store writer stopped; checks of main are no longer stored");
        }
        self.report().await;
    }

    async fn run_container(
        &self,
        docker: &Runtime,
        dir: &std::path::Path,
        commit: &CommitInfo,
    ) -> CheckOutcome {
        let link = self.me.link.clone();
        let (id, target) = (commit.id.clone(), dir.to_path_buf());
        let checkout = tokio::task::spawn_blocking(move || {
            link.open_repo()
                .map_err(|e| e.to_string())
                .and_then(|r| r.export_commit(&id, &target).map_err(|e| e.to_string()))
        })
        .await;
        match checkout {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return failed(format!("checkout failed: {e}")),
            Err(e) => return failed(format!("checkout failed: {e}")),
        }
        let spec = self.me.config.check_spec(&self.me.check, dir);
        let name = drover_runtime::identity::check_name(&self.me.config.file.fleet.name);
        let env = Arc::clone(&self.me.env);
        let lookup = move |k: &str| env(k);
        let req = CheckRequest {
            name: &name,
            spec: &spec,
            fleet_id: &self.me.fleet_id,
            timeout: self.me.check.timeout.0,
            env: &lookup,
        };
        match docker.run_check(req).await {
            Ok(out) => {
                let runs: Vec<TestSummary> = scan_bytes(out.output.as_bytes())
                    .into_iter()
                    .filter_map(|f| match f {
                        Finding::TestRun { run, .. } => Some(summary_of(&run)),
                        _ => None,
                    })
                    .collect();
                let (state, summary) = judge_check(&runs, out.exit_code);
                CheckOutcome::Ran {
                    state,
                    summary,
                    exit_code: out.exit_code,
                }
            }
            Err(RuntimeError::Timeout(d)) => failed(format!(
                "the check timed out after {}",
                crate::core::human_duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            )),
            Err(RuntimeError::NotFound(what)) => failed(format!(
                "image {} is missing ({what}); build or pull it on the Docker host",
                self.me.check.image
            )),
            Err(e) => failed(format!("the check could not run: {e}")),
        }
    }

    /// The run that landed `commit`, from the run ledger in the store.
    async fn landing(&self, commit: &str) -> Option<Landing> {
        let runs = self.me.store.runs_with_commit(commit).await.ok()?;
        let r = &runs.last()?.record;
        Some(Landing {
            slot: r.get("slot")?.as_str()?.to_string(),
            run_started: r.get("started_at")?.as_u64()?,
            generation: r.get("generation")?.as_u64()?,
        })
    }

    /// A red commit nobody was named for yet: ask the ledger again (its commit may have been
    /// recorded after the check finished).
    async fn retry_attribution(&mut self) {
        let Some(c) = self.machine.view().culprit.as_ref() else {
            self.tries = 0;
            return;
        };
        if c.landed_by.is_some() || self.tries >= ATTRIBUTION_TRIES {
            return;
        }
        self.tries += 1;
        let id = c.commit.id.clone();
        if let Some(l) = self.landing(&id).await
            && self.machine.attribute(&id, l)
        {
            self.report().await;
        }
    }

    /// Sends the view to the fleet and writes the red period.
    async fn report(&mut self) {
        let view = self.machine.view().clone();
        let now = now_ms();
        let period = |since: Millis, until: Option<Millis>, v: &MainView| StoreOp::MainRed {
            since_ms: as_i64(since),
            until_ms: until.map(as_i64),
            commit: v.commit.clone().unwrap_or_default(),
            slot: v
                .culprit
                .as_ref()
                .and_then(|c| c.landed_by.as_ref())
                .map(|l| l.slot.clone()),
            record: serde_json::to_value(MainView {
                checks: Vec::new(),
                ..v.clone()
            })
            .unwrap_or_default(),
        };
        let mut ops = Vec::new();
        match (view.state == MainState::Red, self.open_red.take()) {
            (true, _) => {
                ops.push(period(view.since.unwrap_or(now), None, &view));
                self.open_red = Some(view.clone());
            }
            // The period keeps what it was: the commit that broke main and who landed it.
            (false, Some(last)) => {
                let until = view.since.unwrap_or(now);
                ops.push(period(last.since.unwrap_or(until), Some(until), &last));
            }
            (false, None) => {}
        }
        for op in ops {
            let _ = self.me.writer.submit(op).await;
        }
        let _ = self
            .me
            .inputs
            .send(Input::MainObserved {
                view: Box::new(view),
            })
            .await;
    }
}

fn failed(error: String) -> CheckOutcome {
    CheckOutcome::Failed { error }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn commit_info(c: crate::upstream::BranchCommit) -> CommitInfo {
    CommitInfo {
        id: c.id,
        author: c.author,
        summary: c.summary,
        at: u64::try_from(c.time_ms).unwrap_or(0),
    }
}

/// Counts, verdict and the failing tests' names (reasons stay in the check's output).
fn summary_of(run: &crate::signals::TestRun) -> TestSummary {
    TestSummary {
        passed: run.passed,
        failed: run.failed,
        skipped: run.skipped,
        errors: run.errors,
        verdict: run.verdict,
        failing: run
            .failures
            .iter()
            .take(MAX_FAILING)
            .map(|f| f.name.clone())
            .collect(),
    }
}

/// One journal line per check.
fn log_check(r: &CheckRecord) {
    let commit = r.commit.get(..10).unwrap_or(&r.commit);
    let what = match &r.outcome {
        CheckOutcome::Ran {
            summary, exit_code, ..
        } => format!(
            "{} passed, {} failed, exit {exit_code}{}",
            summary.passed,
            summary.failed,
            if summary.failing.is_empty() {
                String::new()
            } else {
                format!(" — failing: {}", summary.failing.join(", "))
            }
        ),
        CheckOutcome::Failed { error } => error.clone(),
    };
    tracing::info!(
        target: "drover::events",
        kind = "main_check",
        commit,
        verdict = r.verdict(),
        bisect = r.bisect,
        duration_ms = r.duration_ms,
        "check of main at {commit}{}: {} ({what})",
        if r.bisect { " (bisecting)" } else { "" },
        r.verdict()
    );
}

/// Where the check's checkouts live.
pub fn checks_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("checks")
}

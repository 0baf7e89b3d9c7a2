//! Worker-like behaviours (worker, flaky, reclaimer, missing-env with its key): the claim →
//! work → test → note → release loop of a real fleet agent.
//!
//! Invariant: a task is only worked on after its claim push won, and an agent only ever
//! removes a lock that names itself at the tip it pushes on.

use fastrand::Rng;

use super::{Agent, Claim, now_rfc3339, short};
use crate::demo::runner_output::{
    Failure, Reason, Runner, Suite, pick_failures, render, seed_of, suite_for,
};
use crate::demo::team_repo::{
    Edit, PROGRESS_FILE, TASKS_FILE, Task, TeamRepo, lock_path, mark_done,
};

/// How a worker-like agent's test runs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    /// Fails a few times with real reasons, fixes, passes.
    Steady,
    /// Alternates fail/pass on the same test across runs.
    Flaky,
    /// Always fails the same tests on its one task and re-claims it.
    Reclaiming,
}

impl Agent<'_> {
    pub(super) fn run_worker(&mut self, repo: &TeamRepo, style: Style) -> anyhow::Result<i32> {
        let mut sticky: Option<String> = None;
        let mut lost: Option<String> = None;
        while !self.finished() {
            let tip = repo.fetch()?;
            let task = match (&sticky, style) {
                (Some(id), Style::Reclaiming) => tip.tasks.iter().find(|t| &t.id == id && !t.done),
                _ => None,
            }
            .or_else(|| {
                let open: Vec<&Task> = tip
                    .claimable()
                    .into_iter()
                    .filter(|t| lost.as_deref() != Some(t.id.as_str()))
                    .collect();
                (!open.is_empty()).then(|| open[self.rng.usize(..open.len())])
            })
            .cloned();
            lost = None;
            let Some(task) = task else {
                sticky = None;
                self.say(format!(
                    "No open tasks left at {} — waiting for new work",
                    short(tip.commit)
                ))?;
                self.rounds += 1;
                self.pause(20.0);
                continue;
            };
            if let Some(holder) = tip.holder(&task.id).filter(|h| *h != self.opts.slot) {
                let holder = holder.to_string();
                self.say(format!("{} is held by {holder}; waiting for it", task.id))?;
                sticky = None;
                self.pause(5.0);
                continue;
            }
            match self.claim(repo, &tip, &task)? {
                Claim::Won => {}
                Claim::Lost { holder } => {
                    let why = match holder {
                        Some(h) => format!("{} was claimed by {h} first", task.id),
                        None => "upstream moved while I was claiming".to_string(),
                    };
                    self.say(format!("hint: {why} — picking another task"))?;
                    lost = Some(task.id.clone());
                    self.pause(1.0);
                    continue;
                }
            }
            let passed = self.do_task(repo, &task, style)?;
            sticky = (style == Style::Reclaiming && !passed).then(|| task.id.clone());
            self.rounds += 1;
            self.pause(5.0);
        }
        Ok(0)
    }

    /// Commits `current_tasks/<task>.txt` on `tip` and pushes it with compare-and-swap.
    pub(super) fn source_file(suite: &Suite) -> String {
        match suite.runner {
            Runner::Cargo => format!("engine/src/{}.rs", suite.module),
            Runner::Pytest => format!("service/{}.py", suite.module),
        }
    }

    /// Works on a claimed task; returns whether its tests passed in the end.
    fn do_task(&mut self, repo: &TeamRepo, task: &Task, style: Style) -> anyhow::Result<bool> {
        let suite = suite_for(task);
        let file = Self::source_file(&suite);
        self.say(format!("● Read({file})"))?;
        let lines = self.rng.u32(80..400);
        self.say(format!("  ⎿  Read {lines} lines"))?;
        self.pause(4.0);
        let keyword = match suite.runner {
            Runner::Cargo => "fn",
            Runner::Pytest => "def",
        };
        self.say(format!(
            "● Grep(\"{keyword} {}\", path: {})",
            suite.module,
            file.rsplit_once('/').map_or(".", |(d, _)| d)
        ))?;
        let matches = self.rng.u32(1..6);
        self.say(format!(
            "  ⎿  Found {matches} match{}",
            if matches == 1 { "" } else { "es" }
        ))?;
        self.pause(3.0);
        self.edit(&file)?;
        self.pause(5.0);
        let passed = match style {
            Style::Steady => {
                let failing_runs = self.rng.usize(0..=2);
                for k in 0..failing_runs {
                    let n = if k == 0 { self.rng.usize(1..=3) } else { 1 };
                    let failures = pick_failures(&suite, &mut self.rng, n);
                    self.test_run(&suite, &failures)?;
                    self.fix(&suite, &failures)?;
                }
                self.test_run(&suite, &[])?;
                true
            }
            Style::Flaky => {
                let flaky = flaky_failure(&suite);
                let mut passed = false;
                for _ in 0..3 {
                    if self.test_runs.is_multiple_of(2) {
                        self.test_run(&suite, std::slice::from_ref(&flaky))?;
                        self.say("Timing failure again — re-running to check for flakiness")?;
                        self.pause(3.0);
                    } else {
                        self.test_run(&suite, &[])?;
                        passed = true;
                        break;
                    }
                }
                passed
            }
            Style::Reclaiming => {
                // The same failures every attempt: seeded by the task, not by the agent.
                let failures = pick_failures(&suite, &mut Rng::with_seed(seed_of(&task.id)), 2);
                self.test_run(&suite, &failures)?;
                self.say(format!(
                    "I could not make {} pass; releasing {} so it can be retried",
                    suite.tests[failures.first().map_or(0, |f| f.test)],
                    task.id
                ))?;
                false
            }
        };
        let input = self.rng.u32(2_000..9_000);
        let output = self.rng.u32(300..2_000);
        let turns = self.rng.u32(3..15);
        self.say(format!(
            "{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":{turns},\"usage\":{{\"input_tokens\":{input},\"output_tokens\":{output}}}}}"
        ))?;
        self.note_and_release(repo, task, passed)?;
        Ok(passed)
    }

    fn edit(&mut self, file: &str) -> std::io::Result<()> {
        self.say(format!("● Update({file})"))?;
        let add = self.rng.u32(2..30);
        let del = self.rng.u32(0..10);
        self.say(format!(
            "  ⎿  Updated {file} with {add} additions and {del} removals"
        ))
    }

    fn fix(&mut self, suite: &Suite, failures: &[Failure]) -> std::io::Result<()> {
        let names: Vec<&str> = failures
            .iter()
            .filter_map(|f| suite.tests.get(f.test).map(String::as_str))
            .collect();
        self.say(format!(
            "{} failing: {} — looking at the cause",
            failures.len(),
            names.join(", ")
        ))?;
        self.pause(4.0);
        let file = Self::source_file(suite);
        self.edit(&file)?;
        self.pause(3.0);
        Ok(())
    }

    fn test_run(&mut self, suite: &Suite, failures: &[Failure]) -> std::io::Result<()> {
        let cmd = match suite.runner {
            Runner::Cargo => format!("cargo test -p engine {}", suite.module),
            Runner::Pytest => "python -m pytest tests/".to_string(),
        };
        self.say(format!("● Bash({cmd})"))?;
        self.pause(5.0);
        let run = render(suite, failures, &mut self.rng);
        self.test_runs += 1;
        self.say_all(&run.lines)
    }

    /// Appends to PROGRESS.md (ticking the task off when it passed), then removes the lock —
    /// each as its own pushed commit, rebased on the current tip like `git pull --rebase`.
    fn note_and_release(
        &mut self,
        repo: &TeamRepo,
        task: &Task,
        passed: bool,
    ) -> anyhow::Result<()> {
        let slot = self.opts.slot.clone();
        let line = if passed {
            format!(
                "- {} {slot}: {} done — tests pass\n",
                now_rfc3339(),
                task.id
            )
        } else {
            format!(
                "- {} {slot}: {} FAILED — tests still failing, lock released for a retry\n",
                now_rfc3339(),
                task.id
            )
        };
        self.say("● Update(PROGRESS.md)")?;
        let branch = repo.branch_name().to_string();
        let id = task.id.clone();
        let message = if passed {
            format!("progress: {id} done")
        } else {
            format!("progress: {id} failed")
        };
        self.say(format!(
            "● Bash(git commit -am \"{message}\" && git pull --rebase && git push origin HEAD:{branch})"
        ))?;
        let (old, new, retries) = repo
            .push_rebasing(&slot, &message, 20, &|tip| {
                let mut progress = tip.progress.clone();
                if !progress.is_empty() && !progress.ends_with('\n') {
                    progress.push('\n');
                }
                progress.push_str(&line);
                let mut edits = vec![Edit::Write {
                    path: PROGRESS_FILE.into(),
                    content: progress.into_bytes(),
                }];
                if passed {
                    edits.push(Edit::Write {
                        path: TASKS_FILE.into(),
                        content: mark_done(&tip.tasks_text, &id).into_bytes(),
                    });
                }
                Some(edits)
            })?
            .ok_or_else(|| anyhow::anyhow!("progress commit had nothing to change"))?;
        self.pushed(repo, old, new, retries)?;
        self.pause(2.0);
        let path = lock_path(&task.id);
        self.say(format!(
            "● Bash(git rm {path} && git commit -m \"release {id}\" && git push)"
        ))?;
        let message = format!("release {id}");
        let me = slot.clone();
        let released = repo.push_rebasing(&slot, &message, 20, &|tip| {
            // Only our own lock: an operator may have released it and someone else re-claimed.
            (tip.holder(&id) == Some(me.as_str()))
                .then(|| vec![Edit::Remove { path: path.clone() }])
        })?;
        match released {
            Some((old, new, retries)) => self.pushed(repo, old, new, retries)?,
            None => self.say(format!(
                "{} is no longer locked by {slot} at upstream; nothing to release",
                task.id
            ))?,
        }
        Ok(())
    }

    fn pushed(
        &mut self,
        repo: &TeamRepo,
        old: git2::Oid,
        new: git2::Oid,
        retries: u32,
    ) -> std::io::Result<()> {
        let branch = repo.branch_name();
        for _ in 0..retries {
            self.say(format!(
                " ! [rejected]        HEAD -> {branch} (fetch first)"
            ))?;
            self.say(format!(
                "Successfully rebased and updated refs/heads/{branch}."
            ))?;
        }
        self.say(format!("To {}", repo.path().display()))?;
        self.say(format!(
            "   {}..{}  HEAD -> {}",
            short(old),
            short(new),
            branch
        ))
    }
}

/// The one timing-sensitive test the flaky agent trips over, with a reason in the suite's style.
fn flaky_failure(suite: &Suite) -> Failure {
    let test = (0..suite.tests.len())
        .find(|i| !suite.skipped.contains(i))
        .unwrap_or(0);
    let reason = match suite.runner {
        Runner::Cargo => "retry fired after 731ms, expected <= 500ms".to_string(),
        Runner::Pytest => "AssertionError: retry fired after 0.73s, expected <= 0.50s".to_string(),
    };
    Failure {
        test,
        reason: Reason::Message(reason),
        line: 88,
        code: Some(
            "assert elapsed <= 0.5, f\"retry fired after {elapsed:.2f}s, expected <= 0.50s\""
                .into(),
        ),
    }
}

//! Routing of each [`Input`] to the part of the core that handles it, plus the fleet-wide
//! inputs handled here: Docker going down or coming back, and loop-detector firings.
//!
//! Invariant: while Docker is down no Docker effect is emitted; operations in flight when it
//! went down are treated as lost, and the listing requested when it is back decides.

use serde_json::json;

use super::effect::{Effect, EventKind};
use super::failure as fail;
use super::fleet::{DockerLink, Fleet, Scope, event};
use super::health::{on_activity, on_probe};
use super::input::{Input, ReleaseReport};
use super::lifecycle as life;
use super::loops;
use super::model::alert::{AlertKey, AlertKind, Severity};
use super::model::{ActivityKind, DetectorAction, DockerStatus, LockObservation, Millis};
use super::policy::RoleSpec;
use super::slot::{Cx, Slot};
use super::throttle;

/// The most upstream locks the core keeps (and every face shows).
pub const MAX_LOCKS: usize = 10_000;

impl Fleet {
    pub(crate) fn dispatch(
        &mut self,
        now: Millis,
        input: Input,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if let Some(slot) = input.slot()
            && !self.index.contains_key(slot)
        {
            return self.foreign_slot_input(now, input, out);
        }
        let at = |f: &Self, slot: &str| f.index.get(slot).copied();
        match input {
            Input::ContainersListed { containers } => self.reconcile(now, containers, out, scope),
            Input::ContainerCreated {
                slot,
                generation,
                id,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_created(s, r, cx, generation, &id)
                });
            }
            Input::CreateFailed {
                slot,
                generation,
                error,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_create_failed(s, r, cx, generation, &error)
                });
            }
            Input::ContainerStarted { slot, id } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_started(s, r, cx, &id);
                    super::context::sync_run(s, cx);
                });
            }
            Input::StartFailed { slot, id, error } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_start_failed(s, r, cx, &id, &error)
                });
            }
            Input::ContainerExited {
                slot,
                id,
                exit_code,
            } => {
                // No effect follows (the decision waits for the lines), yet faces must show it.
                scope.visible |= self
                    .on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                        fail::on_exited(s, cx, &id, exit_code)
                    })
                    .unwrap_or(false);
            }
            Input::ContainerDied {
                slot,
                id,
                exit_code,
                oom_killed,
                last_lines,
            } => {
                if self.removals.contains_key(&id) {
                    return;
                }
                let i = at(self, &slot);
                let before = i.and_then(|i| self.before_death(i, &id));
                self.on_slot(i, now, out, scope, |s, r, cx| {
                    fail::on_died(s, r, cx, &id, exit_code, oom_killed, &last_lines)
                });
                if let Some(i) = i {
                    if let Some(before) = &before {
                        self.after_death(i, before);
                    }
                    self.spread_throttle(i, now, out, scope);
                }
            }
            Input::ContainerPaused { slot, id } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    life::on_paused(s, cx, &id)
                });
            }
            Input::ContainerUnpaused { slot, id } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    life::on_unpaused(s, cx, &id)
                });
            }
            Input::ContainerRemoved { slot, id } => {
                if self.removals.remove(&id).is_some() {
                    return;
                }
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_removed(s, r, cx, &id)
                });
            }
            Input::OpFailed {
                slot,
                id,
                op,
                error,
            } => {
                if let Some(r) = self.removals.get_mut(&id) {
                    // Retried after the operation timeout.
                    r.requested_at = Some(now);
                    return;
                }
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    life::on_op_failed(s, cx, &id, op, &error)
                });
            }
            Input::PreflightResult { slot, result } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    life::on_preflight(s, r, cx, &result)
                });
            }
            Input::ProbeResult {
                slot,
                id,
                ok,
                detail,
            } => {
                scope.visible = true;
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    on_probe(s, r, cx, &id, ok, &detail)
                });
            }
            Input::Activity { slot, kind } => {
                let changed = self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    if kind == ActivityKind::Commit {
                        loops::on_commit(s, cx);
                    }
                    super::context::on_output(s, cx);
                    on_activity(s, r, cx)
                });
                scope.activity |= changed.unwrap_or(false);
            }
            Input::TestRunRecorded { slot, summary } => {
                scope.visible = true;
                self.ledger.test_run(now, &slot, &summary);
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    loops::on_test_run(s, r, cx, &summary);
                    s.record_test(cx.now, summary);
                    on_activity(s, r, cx);
                });
            }
            Input::UsageObserved {
                slot,
                tokens,
                rounds,
                kinds,
                cost_micros,
            } => {
                scope.visible = true;
                self.record_spend(now, at(self, &slot), &kinds, cost_micros, out);
                self.ledger.usage(now, &slot, &kinds, cost_micros);
                let task = self.locks.held_by(&slot).map(|l| l.task.clone());
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    loops::on_usage(s, r, cx, task.as_deref(), tokens, rounds)
                });
            }
            Input::LocksObserved { locks } => {
                scope.locks = true;
                let locks = self.cap_locks(now, locks, out);
                self.ledger_locks(now, &locks);
                scope.visible |= self.locks.observe(locks);
            }
            Input::CommitsObserved { commits } => {
                scope.visible |= self.ledger_commits(commits);
            }
            Input::UpstreamObserved { view } => {
                scope.locks = true;
                scope.visible |= self.locks.set_upstream(view);
            }
            Input::MainObserved { view } => self.on_main(now, *view, out, scope),
            Input::ClaimsObserved { claims, replace } => {
                scope.locks = true;
                scope.visible = true;
                self.claims.observe(claims, replace);
            }
            Input::DetectorFired {
                slot,
                detector,
                evidence,
                action,
                since,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    detector_fired(s, r, cx, &detector, &evidence, action, since)
                });
            }
            Input::ContextObserved { slot, used, window } => {
                scope.visible = true;
                self.ledger.context(now, &slot, used, window);
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    super::context::on_reading(s, r, cx, used, window)
                });
            }
            Input::CompactionObserved {
                slot,
                trigger,
                pre_tokens,
                percent,
            } => {
                scope.visible = true;
                let view = super::model::context::CompactionView {
                    at: now,
                    trigger,
                    pre_tokens,
                    percent,
                };
                self.ledger.compaction(&slot, view);
                self.on_slot(at(self, &slot), now, out, scope, |s, r, cx| {
                    super::context::on_compaction(s, r, cx, trigger, pre_tokens, percent)
                });
            }
            Input::DetectorCleared { slot, detector } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, cx| {
                    cx.clear(&s.name, AlertKind::Loop { detector })
                });
            }
            Input::ReleaseFinished {
                task,
                claim,
                outcome,
            } => {
                scope.visible |= self.release_finished(now, &task, claim.as_deref(), &outcome, out);
            }
            Input::UsageImplausible {
                slot,
                ignored,
                line,
            } => {
                // One alert per slot, updated as more lines are ignored: never one per line.
                scope.visible = true;
                self.alerts.raise(
                    now,
                    AlertKey::slot(&slot, AlertKind::ImplausibleUsage),
                    Severity::Warning,
                    &format!(
                        "{ignored} usage line(s) ignored as implausible (over {} tokens or ${} per line); last: {line}",
                        drover_signals::usage::MAX_LINE_TOKENS,
                        drover_signals::usage::MAX_LINE_COST_MICROS / 1_000_000
                    ),
                    &[],
                    out,
                );
            }
            Input::UsageLimit {
                slot,
                reset_at,
                line,
            } => {
                self.on_slot(at(self, &slot), now, out, scope, |s, _, _| {
                    throttle::on_limit_seen(s, reset_at, &line)
                });
            }
            Input::DockerDown { error } => self.docker_down(now, error, out, scope),
            Input::ForeignContainers { containers } => {
                // Only a raised or cleared alert changes what faces show.
                let before = out.len();
                self.foreign_containers(now, &containers, out);
                if out.len() > before {
                    scope.all = true;
                }
            }
            Input::DockerUp => self.docker_up(now, out, scope),
            Input::HostDown { host, error } => self.host_down(now, host, error, out, scope),
            Input::HostUp { host } => self.host_up(now, host, out, scope),
            Input::SpecChanged { spec } => self.apply_spec(now, spec, out, scope),
            Input::Tick => {}
            Input::Operator { request } => {
                let reply = self.apply_command(now, request, out, scope);
                self.last_reply = Some(reply);
            }
        }
    }

    /// Inputs naming a slot that does not exist (scaled away): only container facts matter —
    /// a container created or started for it is removed.
    fn foreign_slot_input(&mut self, now: Millis, input: Input, out: &mut Vec<Effect>) {
        match input {
            Input::ContainerCreated { slot, id, .. } | Input::ContainerStarted { slot, id } => {
                self.extras.push((slot, id));
                self.settle_extras(now, out);
            }
            Input::ContainerRemoved { id, .. } => {
                self.removals.remove(&id);
            }
            Input::OpFailed { id, .. } => {
                if let Some(r) = self.removals.get_mut(&id) {
                    r.requested_at = Some(now);
                }
            }
            _ => {}
        }
    }

    fn docker_down(
        &mut self,
        now: Millis,
        error: String,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if let DockerStatus::Down { error: e, .. } = &mut self.docker.status {
            scope.visible |= *e != error;
            *e = error;
            return;
        }
        self.docker = DockerLink {
            status: DockerStatus::Down {
                error: error.clone(),
                since: now,
            },
            synced: false,
            listing_since: None,
        };
        // Answers to operations in flight may never come: a listing decides after reconnect.
        for s in &mut self.slots {
            s.in_flight = None;
            s.probe.in_flight_since = None;
        }
        for r in self.removals.values_mut() {
            r.requested_at = None;
        }
        let key = AlertKey::fleet(AlertKind::DockerDown);
        self.alerts.raise(
            now,
            key,
            Severity::Critical,
            &format!("Docker unreachable: {error}"),
            &[],
            out,
        );
        out.push(event(
            now,
            None,
            EventKind::DockerDown,
            format!("docker unreachable: {error}"),
            json!({ "error": error }),
        ));
        scope.all = true;
    }

    /// At most [`MAX_LOCKS`] of an upstream's lock table, the ones held by this fleet's slots
    /// first (they drive task timeouts), then by task name; past the cap one warning alert says
    /// the table is truncated, cleared when the table fits again. A push of 100 000 lock files
    /// must not grow every snapshot, reply and redraw with it.
    fn cap_locks(
        &mut self,
        now: Millis,
        mut locks: Vec<LockObservation>,
        out: &mut Vec<Effect>,
    ) -> Vec<LockObservation> {
        let key = AlertKey::fleet(AlertKind::LocksTruncated);
        if locks.len() <= MAX_LOCKS {
            if self.alerts.is_active(&key) {
                self.alerts.clear(now, &key, out);
            }
            return locks;
        }
        let total = locks.len();
        let ours = |l: &LockObservation| {
            l.holder
                .as_deref()
                .is_some_and(|h| self.index.contains_key(h))
        };
        locks.sort_by(|a, b| ours(b).cmp(&ours(a)).then_with(|| a.task.cmp(&b.task)));
        locks.truncate(MAX_LOCKS);
        self.alerts.raise(
            now,
            key,
            Severity::Warning,
            &format!(
                "lock table truncated: the upstream holds {total} lock files, drover shows {MAX_LOCKS}"
            ),
            &[],
            out,
        );
        locks
    }

    /// One warning alert per look-alike container while it exists; cleared when it is gone.
    fn foreign_containers(
        &mut self,
        now: Millis,
        containers: &[(String, String)],
        out: &mut Vec<Effect>,
    ) {
        let gone = self.alerts.keys_where(|k| match &k.kind {
            AlertKind::ForeignContainer { name } => !containers.iter().any(|(n, _)| n == name),
            _ => false,
        });
        for key in gone {
            self.alerts.clear(now, &key, out);
        }
        for (name, why) in containers {
            let key = AlertKey::fleet(AlertKind::ForeignContainer { name: name.clone() });
            if self.alerts.is_active(&key) {
                continue;
            }
            self.alerts.raise(
                now,
                key,
                Severity::Warning,
                &format!(
                    "container {name} wears this fleet's labels but is not drover's ({why}): left alone — remove it if it is a leftover"
                ),
                &[],
                out,
            );
        }
    }

    /// Audits how a release ended; one that did not remove the claim may be asked again.
    fn release_finished(
        &mut self,
        now: Millis,
        task: &str,
        claim: Option<&str>,
        outcome: &ReleaseReport,
        out: &mut Vec<Effect>,
    ) -> bool {
        let (message, done) = match outcome {
            ReleaseReport::Released { commit } => (
                format!(
                    "lock {task} released in {}",
                    commit.get(..10).unwrap_or(commit)
                ),
                true,
            ),
            ReleaseReport::AlreadyReleased => (format!("lock {task} was already released"), true),
            ReleaseReport::Refused { reason } => {
                (format!("lock {task} not released: {reason}"), false)
            }
            ReleaseReport::Failed { error } => {
                (format!("lock {task} release failed: {error}"), false)
            }
        };
        out.push(event(
            now,
            None,
            EventKind::LockRelease,
            message,
            json!({ "task": task, "claim": claim, "outcome": outcome }),
        ));
        !done && self.locks.release_ended(task, claim)
    }

    fn docker_up(&mut self, now: Millis, out: &mut Vec<Effect>, scope: &mut Scope) {
        if self.docker.status != DockerStatus::Up {
            self.docker.status = DockerStatus::Up;
            self.docker.synced = false;
            out.push(event(
                now,
                None,
                EventKind::DockerUp,
                "docker reachable".into(),
                json!({}),
            ));
            scope.visible = true;
        }
        if !self.docker.synced && self.docker.listing_since.is_none() {
            self.want_listing = true;
        }
    }
}

fn detector_fired(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    detector: &str,
    evidence: &[String],
    action: DetectorAction,
    since: Option<Millis>,
) {
    // Repetition during which the slot committed is a busy agent, not a loop.
    if since.is_some_and(|t| s.last_commit.is_some_and(|c| c >= t)) {
        return;
    }
    let first = evidence.first().map(String::as_str).unwrap_or("");
    let msg = format!(
        "loop detected by {detector}{}",
        if first.is_empty() {
            String::new()
        } else {
            format!(": {first}")
        }
    );
    let firing = loops::Firing {
        detector,
        action,
        severity: Severity::Warning,
        message: &msg,
        evidence,
    };
    loops::fire(s, role, cx, firing);
}

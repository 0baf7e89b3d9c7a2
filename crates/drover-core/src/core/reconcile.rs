//! Reconciliation of a full Docker listing with what the core believes.
//!
//! Per slot: keep the newest-generation container (the current one on ties), mark every other
//! one for removal, adopt the keeper if it is new to us, and turn status differences into the
//! transitions that were missed (a death, a start, a pause). Containers whose slot label names
//! no current slot are orphans and are removed. A listing must be taken when the adapter
//! executes `ListContainers` (not replayed from a cache): it is then never older than the
//! operations answered before it, and answers arriving after it are idempotent.
//!
//! An unchanged world (every container as believed, nothing missing) changes nothing and so
//! yields no effects.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::effect::{Effect, EventKind, SlotMode};
use super::failure::{on_died, vanished};
use super::fleet::{Fleet, Scope, event};
use super::lifecycle::{begin_run, on_removed};
use super::model::alert::{AlertKey, AlertKind};
use super::model::{ContainerStatus, DockerStatus, ObservedContainer};
use super::policy::RoleSpec;
use super::signature::short;
use super::slot::{Container, Cx, PendingOp, Slot};

impl Fleet {
    pub(crate) fn reconcile(
        &mut self,
        now: u64,
        listed: Vec<ObservedContainer>,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if self.docker.status != DockerStatus::Up {
            out.push(event(
                now,
                None,
                EventKind::DockerUp,
                "docker reachable".into(),
                json!({}),
            ));
        }
        if !self.docker.synced {
            scope.visible = true;
        }
        self.docker.status = DockerStatus::Up;
        self.docker.synced = true;
        self.docker.listing_since = None;
        self.alerts
            .clear(now, &AlertKey::fleet(AlertKind::DockerDown), out);

        let listed_ids: HashSet<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        self.removals
            .retain(|id, _| listed_ids.contains(id.as_str()));
        let mut per_slot: HashMap<&str, Vec<&ObservedContainer>> = HashMap::new();
        for c in &listed {
            if self.removals.contains_key(&c.id) {
                continue;
            }
            if self.index.contains_key(&c.slot) {
                per_slot.entry(c.slot.as_str()).or_default().push(c);
            } else {
                self.extras.push((c.slot.clone(), c.id.clone()));
            }
        }
        for i in 0..self.slots.len() {
            let Some(name) = self.slots.get(i).map(|s| s.name.clone()) else {
                continue;
            };
            let observed = per_slot.remove(name.as_str()).unwrap_or_default();
            // Its host is down: what ran there is unknown, not gone (kept as last seen).
            if self.outage_of(i).is_some() {
                continue;
            }
            self.on_slot(Some(i), now, out, scope, |s, role, cx| {
                observe(s, role, cx, &observed)
            });
        }
        scope.all = true;
    }
}

fn observe(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, observed: &[&ObservedContainer]) {
    s.awaiting_listing = false;
    let current = s.container_id().map(str::to_string);
    let keeper = observed.iter().copied().max_by(|a, b| {
        a.generation
            .cmp(&b.generation)
            .then((Some(&a.id) == current.as_ref()).cmp(&(Some(&b.id) == current.as_ref())))
            .then(a.status.is_live().cmp(&b.status.is_live()))
            .then(b.id.cmp(&a.id))
    });
    for o in observed {
        if keeper.is_some_and(|k| k.id != o.id) {
            cx.extras.push((s.name.clone(), o.id.clone()));
        }
    }
    let Some(k) = keeper else {
        let removing = match s.in_flight.as_ref().map(|f| &f.op) {
            Some(PendingOp::Remove { id }) => Some(id.clone()),
            _ => None,
        };
        match removing {
            // The removal we asked for is done; its answer may still be on the way.
            Some(id) => on_removed(s, role, cx, &id),
            None if s.container.is_some() => vanished(s, role, cx),
            None => {}
        }
        return;
    };
    if current.as_deref() == Some(k.id.as_str()) {
        return compare(s, role, cx, k);
    }
    if s.container.is_some() {
        vanished(s, role, cx);
    }
    adopt(s, role, cx, k);
}

/// Takes `k` as the slot's container.
fn adopt(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, k: &ObservedContainer) {
    let known = s.rec.container_id.as_deref() == Some(k.id.as_str());
    let missed_exit = match k.status {
        ContainerStatus::Exited { code } => Some(code),
        _ => None,
    };
    s.container = Some(Container {
        id: k.id.clone(),
        generation: k.generation,
        spec_hash: k.spec_hash.clone(),
        // An exit we did not see is replayed below from a live state.
        status: if missed_exit.is_some() && needs_exit_decision(s) {
            ContainerStatus::Running
        } else {
            k.status.clone()
        },
        // Docker's container list carries no start time: a live run of unknown start counts
        // from when drover first saw it, so its timers (warm-up, stall, run limit) have a base.
        started_at: k
            .started_at
            .or_else(|| k.status.is_live().then_some(cx.now)),
        replace: k.spec_hash != role.spec_hash,
        warmed_up: false,
        watched_from: cx.now,
    });
    s.rec.generation = s.rec.generation.max(k.generation);
    s.rec.container_id = Some(k.id.clone());
    if k.status.is_live() {
        begin_run(s, role, k.started_at.unwrap_or(cx.now));
    }
    if !known {
        cx.event(
            &s.name,
            EventKind::Adopted,
            None,
            format!(
                "{}: adopted container {} (generation {})",
                s.name,
                short(&k.id),
                k.generation
            ),
            json!({ "id": k.id, "generation": k.generation, "status": k.status }),
        );
    }
    if let Some(code) = missed_exit
        && needs_exit_decision(s)
    {
        // The exit happened while drover was away: the run lasted FinishedAt - StartedAt, not
        // until now. Uptime is measured from `started_at` to now, so shift it for this one
        // decision and put Docker's value back after.
        let ran = k
            .started_at
            .zip(k.finished_at)
            .map(|(start, end)| end.saturating_sub(start));
        if let (Some(ran), Some(c)) = (ran, s.container.as_mut()) {
            c.started_at = Some(cx.now.saturating_sub(ran));
        }
        on_died(s, role, cx, &k.id, code, false, &[]);
        if let Some(c) = s.container.as_mut()
            && c.id == k.id
        {
            c.started_at = k.started_at;
        }
    }
}

/// An exited container with no decision recorded (no restart planned, not finished, not held
/// by an operator): its exit happened while drover was not watching.
fn needs_exit_decision(s: &Slot) -> bool {
    s.rec.mode == SlotMode::Auto && s.rec.restart.is_none() && !s.rec.completed
}

/// The listed container is the one we know: apply what changed behind our back.
fn compare(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, k: &ObservedContainer) {
    // Its exit is known and its last lines are on their way: that report decides.
    let lines_coming = s.exit_pending.as_ref().is_some_and(|p| p.id == k.id);
    let Some(c) = s.container.as_mut() else {
        return;
    };
    if k.spec_hash != role.spec_hash {
        c.replace = true;
    }
    match (&c.status, &k.status) {
        (ContainerStatus::Exited { .. }, ContainerStatus::Exited { code })
            if k.started_at.is_some() && k.started_at > c.started_at =>
        {
            // A whole run we did not see: it started after the run we know ended, and exited.
            let code = *code;
            c.status = ContainerStatus::Running;
            c.started_at = k.started_at;
            s.rec.starts += 1;
            on_died(s, role, cx, &k.id, code, false, &[]);
        }
        (ContainerStatus::Exited { .. }, ContainerStatus::Exited { .. }) => {}
        (a, b) if a == b => {}
        (_, ContainerStatus::Exited { .. }) if lines_coming => {}
        (_, ContainerStatus::Exited { code }) => {
            let code = *code;
            if k.started_at.is_some() {
                c.started_at = k.started_at;
            }
            on_died(s, role, cx, &k.id, code, false, &[]);
        }
        (
            ContainerStatus::Created | ContainerStatus::Exited { .. },
            ContainerStatus::Running | ContainerStatus::Paused,
        ) => {
            c.status = k.status.clone();
            c.started_at = Some(k.started_at.unwrap_or(cx.now));
            c.warmed_up = false;
            let started = c.started_at.unwrap_or(cx.now);
            s.rec.restart = None;
            s.rec.completed = false;
            s.rec.starts += 1;
            // Started again outside drover: a new run, whose clock starts fresh.
            s.rec.run_clock = None;
            begin_run(s, role, started);
            cx.event(
                &s.name,
                EventKind::Started,
                None,
                format!("{}: found running (started outside drover)", s.name),
                json!({ "id": k.id }),
            );
        }
        (_, status) => c.status = status.clone(),
    }
}

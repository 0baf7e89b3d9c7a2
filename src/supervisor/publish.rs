//! Publishing snapshots to the faces, and keeping one log follower per live container in step
//! with what a snapshot shows.
//!
//! Invariants: a change the faces show as state (anything but last-activity times) is
//! published at once; a change of activity times alone is published at most once per
//! [`ACTIVITY_EVERY`] — the resolution the faces show ages at — so fifty chatty agents cost one
//! snapshot a second, not one per signs-of-life input; a deferred change is published when its
//! time comes even if nothing else happens. Followers are checked on every publish; a
//! follower's parts are built only when one is started.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Driver, container_log, now_ms, output};
use crate::core::Snapshot;

/// How often a change of activity times alone reaches the faces.
pub const ACTIVITY_EVERY: Duration = Duration::from_secs(1);

/// What was published last, and when a deferred activity change is due.
#[derive(Debug, Default)]
pub struct Published {
    version: u64,
    state_version: u64,
    at: Option<Instant>,
    due: Option<Instant>,
}

impl Published {
    /// When the loop must wake to publish a deferred activity change.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Whether a fleet at (`version`, `state_version`) is published now, at `now`; `false`
    /// defers an activity-only change to [`Published::due`].
    fn decide(&mut self, version: u64, state_version: u64, now: Instant) -> bool {
        if version == self.version {
            self.due = None;
            return false;
        }
        let activity_only = state_version == self.state_version;
        if activity_only
            && let Some(next) = self.at.map(|at| at + ACTIVITY_EVERY)
            && now < next
        {
            self.due = Some(next);
            return false;
        }
        self.version = version;
        self.state_version = state_version;
        self.at = Some(now);
        self.due = None;
        true
    }
}

impl Driver {
    pub(super) fn publish(&mut self) {
        let (version, state_version) = (self.fleet.version(), self.fleet.state_version());
        if !self
            .published
            .decide(version, state_version, Instant::now())
        {
            return;
        }
        let snapshot = Arc::new(self.fleet.snapshot(now_ms()));
        self.sync_followers(&snapshot);
        self.snapshot_tx.send_replace(snapshot);
    }

    /// One follower per live container, derived from the state the core reports.
    fn sync_followers(&self, snapshot: &Snapshot) {
        let Some(docker) = self.docker.borrow().clone() else {
            return;
        };
        for view in &snapshot.slots {
            let live = view.state.has_live_container();
            let Some(id) = view.container_id.as_deref().filter(|_| live) else {
                continue;
            };
            let tests = self
                .config
                .file
                .roles
                .iter()
                .find(|r| r.name == view.role)
                .map(|r| &r.tests);
            self.followers.ensure(id, || {
                let target = crate::logs::follow::Follow {
                    docker: docker.clone(),
                    id: id.to_string(),
                    slot: view.slot.clone(),
                    file: container_log(&self.config.data_dir, &view.slot, view.generation),
                    limits: self.limits.clone(),
                    hub: self.hub.clone(),
                };
                let watch = output::OutputWatch::from_config(
                    &self.config.file.loops,
                    &self.config.file.pricing,
                    crate::config::schema_context::windows(&self.config.file.context_windows),
                );
                let parsers = tests.map(|t| t.parsers.clone()).unwrap_or_default();
                let sink = output::AgentOutput::new(
                    view.slot.clone(),
                    self.inputs_tx.clone(),
                    self.writer.clone(),
                    watch,
                    &parsers,
                );
                (target, Box::new(sink))
            });
            if let Some(dir) = tests.and_then(|t| t.junit_dir.as_ref()) {
                self.junit.ensure(id, || super::junit::JunitSource {
                    docker: docker.clone(),
                    id: id.to_string(),
                    slot: view.slot.clone(),
                    dir: dir.clone(),
                    since_ms: view.started_at.unwrap_or(0).max(self.started_ms),
                    writer: self.writer.clone(),
                    inputs: self.inputs_tx.clone(),
                    drained: self.followers.drained(id),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_change_is_published_at_once_and_activity_at_most_once_a_second() {
        let t0 = Instant::now();
        let mut p = Published::default();
        assert!(p.decide(1, 1, t0), "the first snapshot");
        assert!(!p.decide(1, 1, t0), "nothing new");
        // Activity only: deferred to a second after the last publish.
        assert!(!p.decide(2, 1, t0 + Duration::from_millis(100)));
        assert_eq!(p.due(), Some(t0 + ACTIVITY_EVERY));
        assert!(!p.decide(3, 1, t0 + Duration::from_millis(500)));
        assert_eq!(p.due(), Some(t0 + ACTIVITY_EVERY));
        // A state change goes out at once, with the activity that came before it.
        assert!(p.decide(4, 4, t0 + Duration::from_millis(600)));
        assert_eq!(p.due(), None);
        // The deferred activity is published when due.
        assert!(!p.decide(5, 4, t0 + Duration::from_millis(700)));
        let due = p.due().expect("deferred");
        assert_eq!(due, t0 + Duration::from_millis(600) + ACTIVITY_EVERY);
        assert!(p.decide(5, 4, due));
        assert_eq!(p.due(), None);
    }
}

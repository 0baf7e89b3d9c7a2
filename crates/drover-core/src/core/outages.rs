//! A host of a fleet over several engines lost or regained while the others carry on.
//!
//! Invariants: a slot on a host that is down is frozen — its last known state is kept (shown
//! with the outage's age), no engine operation is issued for it (`Fleet::on_slot` sees Docker
//! as not ready for it), and an operator command for it is refused, never acknowledged as
//! done. A host coming back asks for a listing, which adopts what survived there.

use serde_json::json;

use super::effect::{Effect, EventKind};
use super::fleet::{Fleet, Scope, event};
use super::hosts::{HostOutage, HostView, place};
use super::model::Millis;
use super::model::alert::{AlertKey, AlertKind, Severity};

impl Fleet {
    /// The host slot `i` is placed on, if the fleet has several.
    pub(crate) fn host_of(&self, i: usize) -> Option<&str> {
        let s = self.slots.get(i)?;
        place(&self.roles.get(s.role)?.spec.hosts, s.n)
    }

    /// The outage of the host slot `i` is on, if that host is down.
    pub(crate) fn outage_of(&self, i: usize) -> Option<(&str, &HostOutage)> {
        let host = self.host_of(i)?;
        self.hosts_down.get(host).map(|o| (host, o))
    }

    /// Every host some role names, in first-named order, with its outage if any.
    pub(crate) fn host_views(&self) -> Vec<HostView> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.roles {
            for h in &r.spec.hosts {
                if !names.contains(&h.as_str()) {
                    names.push(h);
                }
            }
        }
        for h in self.hosts_down.keys() {
            if !names.contains(&h.as_str()) {
                names.push(h);
            }
        }
        names
            .into_iter()
            .map(|n| HostView {
                name: n.to_string(),
                down: self.hosts_down.get(n).cloned(),
            })
            .collect()
    }

    pub(crate) fn host_down(
        &mut self,
        now: Millis,
        host: String,
        error: String,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if let Some(o) = self.hosts_down.get_mut(&host) {
            scope.visible |= o.error != error;
            o.error = error;
            return;
        }
        self.hosts_down.insert(
            host.clone(),
            HostOutage {
                error: error.clone(),
                since: now,
            },
        );
        // Answers to operations in flight on that host may never come: the listing after it
        // returns decides.
        for i in 0..self.slots.len() {
            if self.host_of(i) == Some(host.as_str())
                && let Some(s) = self.slots.get_mut(i)
            {
                s.in_flight = None;
                s.probe.in_flight_since = None;
            }
        }
        self.alerts.raise(
            now,
            AlertKey::fleet(AlertKind::HostDown { host: host.clone() }),
            Severity::Critical,
            &format!("host {host} unreachable: {error}"),
            &[],
            out,
        );
        out.push(event(
            now,
            None,
            EventKind::HostDown,
            format!("host {host} unreachable: {error}"),
            json!({ "host": host, "error": error }),
        ));
        scope.all = true;
    }

    pub(crate) fn host_up(
        &mut self,
        now: Millis,
        host: String,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        let Some(o) = self.hosts_down.remove(&host) else {
            return;
        };
        self.alerts.clear(
            now,
            &AlertKey::fleet(AlertKind::HostDown { host: host.clone() }),
            out,
        );
        out.push(event(
            now,
            None,
            EventKind::HostUp,
            format!(
                "host {host} reachable again after {}",
                super::model::human(now.saturating_sub(o.since))
            ),
            json!({ "host": host, "down_ms": now.saturating_sub(o.since) }),
        ));
        // What happened there meanwhile is learnt from a listing: its containers are adopted.
        self.want_listing = true;
        scope.all = true;
    }

    /// Why an operator command for slot `slot` cannot be carried out now, if its host is down.
    pub(crate) fn host_refusal(&self, slot: &str) -> Option<String> {
        let i = *self.index.get(slot)?;
        let (host, o) = self.outage_of(i)?;
        Some(format!(
            "host {host} is unreachable ({}): nothing was done; try again when it is back",
            o.error
        ))
    }
}

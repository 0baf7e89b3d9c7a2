//! Changing the fleet's shape: scaling a role and applying a new specification.
//!
//! Scaling down retires the highest-numbered slots (stop, remove, then the slot disappears);
//! scaling up adds slots or brings retiring ones back. A new spec replaces policies, adds and
//! retires roles, and marks containers whose spec hash changed for replacement.
//!
//! Invariant: `ctl scale` is an override of the config's replicas, stored and shown while in
//! force; a reload keeps it until the config's own replicas for the role change (the config
//! then wins, with an event saying the override ended).

use serde_json::json;

use super::effect::{Effect, EventKind, SlotMode};
use super::fleet::{Fleet, RoleEntry, Scope, event};
use super::model::command::CommandReply;
use super::model::{MAX_SLOTS, Millis, ScaleOverride};
use super::policy::FleetSpec;
use super::slot::fresh_start;

impl Fleet {
    /// Overrides in force, by role.
    pub fn scale_overrides(&self) -> Vec<ScaleOverride> {
        self.roles
            .iter()
            .filter(|r| r.active && r.spec.replicas != r.configured)
            .map(|r| ScaleOverride {
                role: r.spec.name.clone(),
                replicas: r.spec.replicas,
                configured: r.configured,
            })
            .collect()
    }

    fn persist_scale(&self, ri: usize, out: &mut Vec<Effect>) {
        if let Some(r) = self.roles.get(ri) {
            out.push(Effect::PersistScale(ScaleOverride {
                role: r.spec.name.clone(),
                replicas: r.spec.replicas,
                configured: r.configured,
            }));
        }
    }

    pub(crate) fn scale(
        &mut self,
        now: Millis,
        role: &str,
        replicas: u32,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) -> CommandReply {
        let Some(ri) = self
            .roles
            .iter()
            .position(|r| r.active && r.spec.name == role)
        else {
            return CommandReply::NotFound {
                what: format!("role {role}"),
            };
        };
        let current = self.roles.get(ri).map_or(0, |r| r.spec.replicas);
        if replicas == current {
            return CommandReply::Unchanged;
        }
        let others: u32 = self
            .roles
            .iter()
            .enumerate()
            .filter(|(i, r)| *i != ri && r.active)
            .map(|(_, r)| r.spec.replicas)
            .fold(0, u32::saturating_add);
        if replicas > current && others.saturating_add(replicas) > MAX_SLOTS {
            return CommandReply::Refused {
                why: format!(
                    "a fleet has at most {MAX_SLOTS} slots; the other roles have {others}, so {role} can have at most {}",
                    MAX_SLOTS.saturating_sub(others)
                ),
            };
        }
        if let Some(s) = self.slots.iter().find(|s| {
            s.role == ri && s.n > replicas && matches!(s.rec.mode, SlotMode::TakenOver { .. })
        }) {
            return CommandReply::Refused {
                why: format!("{} is taken over; hand it back first", s.name),
            };
        }
        self.set_replicas(now, ri, replicas, out, scope);
        self.persist_scale(ri, out);
        out.push(event(
            now,
            None,
            EventKind::Scaled,
            format!("{role}: scaled from {current} to {replicas}"),
            json!({ "role": role, "from": current, "to": replicas }),
        ));
        CommandReply::Accepted
    }

    fn set_replicas(
        &mut self,
        now: Millis,
        ri: usize,
        replicas: u32,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        if let Some(r) = self.roles.get_mut(ri) {
            r.spec.replicas = replicas;
        }
        for i in 0..self.slots.len() {
            let Some((n, role)) = self.slots.get(i).map(|s| (s.n, s.role)) else {
                continue;
            };
            if role != ri {
                continue;
            }
            self.on_slot(Some(i), now, out, scope, |s, _, cx| {
                // A taken-over slot is left to its operator; it retires when handed back.
                let held = matches!(s.rec.mode, SlotMode::TakenOver { .. });
                if n > replicas && s.rec.mode != SlotMode::Retiring && !held {
                    cx.clear(&s.name, super::model::alert::AlertKind::Blocked);
                    s.rec.mode = SlotMode::Retiring;
                    s.rec.restart = None;
                    s.restart_requested = false;
                } else if n <= replicas && s.rec.mode == SlotMode::Retiring {
                    s.rec.mode = SlotMode::Auto;
                    fresh_start(s, cx);
                }
            });
        }
        let existing: Vec<u32> = self
            .slots
            .iter()
            .filter(|s| s.role == ri)
            .map(|s| s.n)
            .collect();
        for n in 1..=replicas {
            if !existing.contains(&n) {
                self.add_slot(ri, n);
            }
        }
        self.sort_slots();
        scope.all = true;
        scope.touched.clear();
    }

    pub(crate) fn apply_spec(
        &mut self,
        now: Millis,
        spec: FleetSpec,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        self.op_timeout = spec.op_timeout;
        self.spend.cap = spec.daily_budget_micros;
        self.spend.slot_cap = spec.slot_daily_budget_micros;
        self.spend.role_caps = spec.role_daily_budget_micros.clone();
        let names: Vec<String> = spec.roles.iter().map(|r| r.name.clone()).collect();
        for role in spec.roles {
            let mut replicas = role.replicas;
            let mut override_ended = false;
            let ri = match self.roles.iter().position(|r| r.spec.name == role.name) {
                Some(ri) => {
                    let hash_changed = self
                        .roles
                        .get(ri)
                        .is_some_and(|r| r.spec.spec_hash != role.spec_hash);
                    let mut ended = None;
                    if let Some(entry) = self.roles.get_mut(ri) {
                        let old_replicas = entry.spec.replicas;
                        let overridden = entry.active && old_replicas != entry.configured;
                        if overridden && role.replicas == entry.configured {
                            // The config did not touch this role's replicas: the override holds.
                            replicas = old_replicas;
                        } else if overridden {
                            ended = Some((old_replicas, role.replicas));
                        }
                        entry.spec = role.clone();
                        entry.spec.replicas = old_replicas;
                        entry.active = true;
                        entry.configured = role.replicas;
                    }
                    if let Some((from, to)) = ended {
                        out.push(event(
                            now,
                            None,
                            EventKind::Scaled,
                            format!(
                                "{}: the config's replicas changed to {to}; the scale override of {from} ends",
                                role.name
                            ),
                            json!({ "role": role.name, "from": from, "to": to, "override_ended": true }),
                        ));
                        override_ended = true;
                    }
                    if hash_changed {
                        for s in self.slots.iter_mut().filter(|s| s.role == ri) {
                            if let Some(c) = s.container.as_mut() {
                                c.replace = c.spec_hash != role.spec_hash;
                            }
                        }
                    }
                    ri
                }
                None => {
                    let mut entry = RoleEntry {
                        spec: role,
                        active: true,
                        configured: replicas,
                    };
                    entry.spec.replicas = 0;
                    self.roles.push(entry);
                    self.roles.len() - 1
                }
            };
            self.set_replicas(now, ri, replicas, out, scope);
            if override_ended {
                self.persist_scale(ri, out);
            }
        }
        let removed: Vec<usize> = self
            .roles
            .iter()
            .enumerate()
            .filter(|(_, r)| r.active && !names.contains(&r.spec.name))
            .map(|(i, _)| i)
            .collect();
        for ri in removed {
            self.set_replicas(now, ri, 0, out, scope);
            if let Some(r) = self.roles.get_mut(ri) {
                r.active = false;
            }
        }
        self.review_blocks(now, out, scope);
        out.push(event(
            now,
            None,
            EventKind::SpecChanged,
            "configuration applied".into(),
            json!({ "roles": names }),
        ));
        scope.all = true;
    }
}

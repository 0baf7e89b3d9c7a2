//! Changing the fleet's shape: scaling a role and applying a new specification.
//!
//! Scaling down retires the highest-numbered slots (stop, remove, then the slot disappears);
//! scaling up adds slots or brings retiring ones back. A new spec replaces policies, adds and
//! retires roles, and marks containers whose spec hash changed for replacement.

use serde_json::json;

use super::command::CommandReply;
use super::effect::{Effect, EventKind, SlotMode};
use super::failure::fresh_start;
use super::fleet::{Fleet, RoleEntry, Scope, event};
use super::model::Millis;
use super::policy::FleetSpec;

/// The most slots a fleet may have, all roles together: every slot costs a log follower, a
/// ring and a row in every snapshot, and a mistyped `replicas` must not take the host down.
/// The config check refuses more, and so does `ctl scale`.
pub const MAX_SLOTS: u32 = 1_000;

impl Fleet {
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
                    cx.clear(&s.name, super::alerts::AlertKind::Blocked);
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
            let replicas = role.replicas;
            let ri = match self.roles.iter().position(|r| r.spec.name == role.name) {
                Some(ri) => {
                    let hash_changed = self
                        .roles
                        .get(ri)
                        .is_some_and(|r| r.spec.spec_hash != role.spec_hash);
                    if let Some(entry) = self.roles.get_mut(ri) {
                        let old_replicas = entry.spec.replicas;
                        entry.spec = role.clone();
                        entry.spec.replicas = old_replicas;
                        entry.active = true;
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
                    };
                    entry.spec.replicas = 0;
                    self.roles.push(entry);
                    self.roles.len() - 1
                }
            };
            self.set_replicas(now, ri, replicas, out, scope);
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

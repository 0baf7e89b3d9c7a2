//! The fleet's usage limits at a glance, by quota group: how many slots are limited, when the
//! next limit resets, which groups are held — the first question after an alert storm — and
//! `ctl resume --group`, which ends a whole group's throttle at once.
//!
//! A slot counts as limited while it is throttled (waiting for its restart time) or holds a
//! throttle whose reset is still ahead (a running peer of a limited group, whose next exit
//! waits). Groups are the roles' quota groups (`[roles.limits] group`, else the role's name).

use super::effect::Effect;
use super::fleet::{Fleet, Scope};
use super::model::command::CommandReply;
use super::model::throttle::{GroupLimits, LimitsView};
use super::model::{Millis, SlotState};

impl Fleet {
    fn group_of_slot(&self, i: usize) -> Option<&str> {
        let s = self.slots.get(i)?;
        let r = self.roles.get(s.role)?;
        Some(r.spec.throttle.group_of(&r.spec.name))
    }

    /// The limits summary at `now`.
    pub(crate) fn limits_view(&self, now: Millis) -> LimitsView {
        let mut v = LimitsView {
            slots: self.slots.len() as u32,
            ..LimitsView::default()
        };
        let mut groups: std::collections::BTreeMap<&str, GroupLimits> = Default::default();
        for (i, s) in self.slots.iter().enumerate() {
            let Some(group) = self.group_of_slot(i) else {
                continue;
            };
            let g = groups.entry(group).or_insert_with(|| GroupLimits {
                group: group.to_string(),
                ..GroupLimits::default()
            });
            g.slots += 1;
            let waiting = matches!(s.state(), SlotState::Throttled { .. });
            let until = s.rec.throttle.as_ref().map(|t| t.until);
            if !(waiting || until.is_some_and(|u| u > now)) {
                continue;
            }
            g.throttled += 1;
            v.throttled += 1;
            if let Some(u) = until {
                g.until = Some(g.until.map_or(u, |old| old.max(u)));
                v.next_reset = Some(v.next_reset.map_or(u, |old| old.min(u)));
            }
        }
        v.groups = groups.into_values().filter(|g| g.throttled > 0).collect();
        v
    }

    /// `ctl resume --group NAME`: every slot of the quota group that waits out a limit starts
    /// again now (an operator knows the account works again: a new key, a raised plan).
    pub(crate) fn resume_group(
        &mut self,
        now: Millis,
        group: &str,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) -> CommandReply {
        let members: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.group_of_slot(i) == Some(group))
            .collect();
        if members.is_empty() {
            return CommandReply::NotFound {
                what: format!("quota group {group}"),
            };
        }
        let mut ended = false;
        for i in members {
            ended |= self
                .on_slot(Some(i), now, out, scope, |s, _, cx| {
                    s.rec.mode == super::effect::SlotMode::Auto && super::throttle::resume(s, cx)
                })
                .unwrap_or(false);
        }
        if ended {
            CommandReply::Accepted
        } else {
            CommandReply::Unchanged
        }
    }
}

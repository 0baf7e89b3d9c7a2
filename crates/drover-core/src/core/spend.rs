//! What the fleet spends: tokens by kind and their cost per slot (current run and since drover
//! started) and per UTC day for the whole fleet, and the optional daily cap (`[budget]
//! daily_usd`): once today's spend reaches it, no new session starts (running ones finish)
//! until the next UTC midnight, and a fleet alert says so.
//!
//! Invariants: spend only grows within a day; the cap never stops, pauses or kills a running
//! container; the hold ends by itself at midnight UTC (a wake-up is scheduled for it). The
//! day's spend is persisted as it changes (`Effect::PersistSpend`) and read back at start, so
//! a restart of drover neither forgets it nor lifts a hold.

use serde_json::json;

use super::effect::{Effect, EventKind};
use super::fleet::{Fleet, event};
use super::model::Millis;
use super::model::alert::{AlertKey, AlertKind, Severity};
use super::model::spend::{DAY, dollars};
use drover_signals::usage::Tokens;

impl Fleet {
    /// Usage reported for slot `i`: adds it to the slot's run and total, and to the fleet's
    /// day; raises the budget alert when this reaches the cap.
    pub(crate) fn record_spend(
        &mut self,
        now: Millis,
        i: Option<usize>,
        kinds: &Tokens,
        cost_micros: u64,
        out: &mut Vec<Effect>,
    ) {
        let scoped_before = self.scoped_hold(now, i).is_some();
        if let Some(s) = i.and_then(|i| self.slots.get_mut(i)) {
            s.run_tokens.add(kinds);
            s.run_cost_micros = s.run_cost_micros.saturating_add(cost_micros);
            s.cost_micros = s.cost_micros.saturating_add(cost_micros);
            let today = now / DAY;
            if s.day_spend.0 != today {
                s.day_spend = (today, 0);
            }
            s.day_spend.1 = s.day_spend.1.saturating_add(cost_micros);
        }
        if !scoped_before {
            self.raise_scoped_hold(now, i, out);
        }
        self.roll_day(now, out);
        let was_held = self.spend.held(now);
        let sp = &mut self.spend;
        sp.tokens.add(kinds);
        sp.total_micros = sp.total_micros.saturating_add(cost_micros);
        sp.today_micros = sp.today_micros.saturating_add(cost_micros);
        sp.dirty |= cost_micros > 0;
        if !was_held && let Some(cap) = sp.cap.filter(|_| sp.held(now)) {
            let msg = format!(
                "daily budget reached: {} of {} spent today; no new sessions start until 00:00 UTC (running ones finish)",
                dollars(sp.today_micros),
                dollars(cap)
            );
            self.alerts.raise(
                now,
                AlertKey::fleet(AlertKind::DailyBudget),
                Severity::Warning,
                &msg,
                &[],
                out,
            );
            out.push(event(
                now,
                None,
                EventKind::BudgetHold,
                msg,
                json!({ "today_micros": sp.today_micros, "cap_micros": cap }),
            ));
        }
    }

    /// Today's spend of slot `i` and of its role, each against its scoped cap: when either is
    /// reached, the next UTC midnight (the slot starts no new session until then).
    pub(crate) fn scoped_hold(&self, now: Millis, i: Option<usize>) -> Option<Millis> {
        self.scoped_reason(now, i?).map(|_| (now / DAY + 1) * DAY)
    }

    /// Which scoped cap slot `i` reached today (`slot` or `role`), as a message, and the slots
    /// it holds.
    fn scoped_reason(&self, now: Millis, i: usize) -> Option<(&'static str, String, Vec<usize>)> {
        let today = now / DAY;
        let spent = |s: &super::slot::Slot| {
            if s.day_spend.0 == today {
                s.day_spend.1
            } else {
                0
            }
        };
        let s = self.slots.get(i)?;
        if let Some(cap) = self.spend.slot_cap.filter(|c| spent(s) >= *c) {
            let msg = format!(
                "slot daily budget reached: {} of {} spent today by {}; it starts no new session until 00:00 UTC",
                dollars(spent(s)),
                dollars(cap),
                s.name
            );
            return Some(("slot", msg, vec![i]));
        }
        let role = &self.roles.get(s.role)?.spec.name;
        let cap = *self.spend.role_caps.get(role)?;
        let members: Vec<usize> = (0..self.slots.len())
            .filter(|&j| self.slots.get(j).is_some_and(|o| o.role == s.role))
            .collect();
        let role_spent = members
            .iter()
            .filter_map(|&j| self.slots.get(j))
            .map(spent)
            .fold(0u64, u64::saturating_add);
        (role_spent >= cap).then(|| {
            let msg = format!(
                "role daily budget reached: {} of {} spent today by role {role}; its slots start no new session until 00:00 UTC",
                dollars(role_spent),
                dollars(cap)
            );
            ("role", msg, members)
        })
    }

    /// One `daily_budget` alert per held slot when a scoped cap is reached.
    fn raise_scoped_hold(&mut self, now: Millis, i: Option<usize>, out: &mut Vec<Effect>) {
        let Some((scope, msg, held)) = i.and_then(|i| self.scoped_reason(now, i)) else {
            return;
        };
        for j in held {
            let Some(name) = self.slots.get(j).map(|s| s.name.clone()) else {
                continue;
            };
            self.alerts.raise(
                now,
                AlertKey::slot(&name, AlertKind::DailyBudget),
                Severity::Warning,
                &msg,
                &[],
                out,
            );
            out.push(event(
                now,
                Some(&name),
                EventKind::BudgetHold,
                msg.clone(),
                json!({ "scope": scope }),
            ));
        }
    }

    /// A new UTC day: the count starts again and a hold ends.
    pub(crate) fn roll_day(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let today = now / DAY;
        if self.spend.day == today {
            return;
        }
        self.spend.day = today;
        // Nothing to persist: a day without a row reads back as a day with nothing spent.
        self.spend.today_micros = 0;
        let budget_alerts = self
            .alerts
            .keys_where(|k| matches!(k.kind, AlertKind::DailyBudget));
        for key in budget_alerts {
            self.alerts.clear(now, &key, out);
        }
    }
}

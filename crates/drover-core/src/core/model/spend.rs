//! What the fleet spends: today's and all-time totals against the daily caps (`Spend`, held by
//! the fleet) and the view of it the faces show; the rules that count and hold are `spend`.

use serde::{Deserialize, Serialize};

use super::super::effect::Effect;
use super::Millis;
use drover_signals::usage::Tokens;
pub(crate) const DAY: Millis = 24 * 60 * 60 * 1000;

/// The fleet's spend, for faces (`status --json` → `metrics.spend`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendView {
    /// Today (UTC) in micro-dollars, and the cap if one is set.
    pub today_micros: u64,
    pub daily_cap_micros: Option<u64>,
    /// The cap is reached: no new sessions start until `held_until`.
    pub held_until: Option<Millis>,
    /// Since drover started.
    pub total_micros: u64,
    pub tokens: Tokens,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Spend {
    pub day: u64,
    pub today_micros: u64,
    pub total_micros: u64,
    pub tokens: Tokens,
    pub cap: Option<u64>,
    /// Scoped caps (see `FleetSpec::slot_daily_budget_micros`).
    pub slot_cap: Option<u64>,
    pub role_caps: std::collections::BTreeMap<String, u64>,
    /// Today's spend changed since it was last persisted.
    pub dirty: bool,
}

impl Spend {
    /// Today's spend reached the cap (as of `now`).
    pub fn held(&self, now: Millis) -> bool {
        self.cap
            .is_some_and(|c| self.day == now / DAY && self.today_micros >= c)
    }

    /// When the hold that today's spend causes ends (the next UTC midnight), if it does.
    pub fn hold_ends(&self) -> Option<Millis> {
        self.cap
            .is_some_and(|c| self.today_micros >= c)
            .then(|| (self.day + 1) * DAY)
    }

    /// When the hold ends, if held.
    pub fn held_until(&self, now: Millis) -> Option<Millis> {
        self.held(now).then(|| (now / DAY + 1) * DAY)
    }

    /// Persists today's spend if it changed.
    pub fn flush(&mut self, out: &mut Vec<Effect>) {
        if std::mem::take(&mut self.dirty) {
            out.push(Effect::PersistSpend {
                day: self.day,
                micros: self.today_micros,
            });
        }
    }

    pub fn view(&self, now: Millis) -> SpendView {
        SpendView {
            today_micros: if self.day == now / DAY {
                self.today_micros
            } else {
                0
            },
            daily_cap_micros: self.cap,
            held_until: self.held_until(now),
            total_micros: self.total_micros,
            tokens: self.tokens,
        }
    }
}

/// "$1.23" from micro-dollars.
pub fn dollars(micros: u64) -> String {
    format!(
        "${}.{:02}",
        micros / 1_000_000,
        (micros % 1_000_000) / 10_000
    )
}

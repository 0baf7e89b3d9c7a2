//! What the fleet does with the shared branch's check ([`Input::MainObserved`]): the
//! `upstream_red` alert (opened on the first red, restated as bisection names the first red
//! commit and the run ledger names who landed it, cleared on green), the `main_red`,
//! `main_culprit` and `main_green` events, and the hold: while the view says `hold`, no slot of
//! a role without `fixes_main` starts a new run (see `lifecycle::drive`); when it ends every
//! slot is driven again, so held slots start at once.
//!
//! [`Input::MainObserved`]: super::input::Input::MainObserved

use serde_json::json;

use super::effect::{Effect, EventKind};
use super::fleet::{Fleet, Scope, event};
use super::main_check::{Culprit, MainState, MainView};
use super::model::Millis;
use super::model::alert::{AlertKey, AlertKind, Severity};
use super::model::human;

/// Failing tests named in the alert's message (all of them are in its evidence).
const NAMED_TESTS: usize = 5;

impl Fleet {
    pub(crate) fn on_main(
        &mut self,
        now: Millis,
        view: MainView,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        // The first report after drover restarted while red: the restored alert stands.
        let resumed = self.main.is_none()
            && self
                .alerts
                .is_active(&AlertKey::fleet(AlertKind::UpstreamRed));
        let old = self.main.take().unwrap_or_default();
        let key = AlertKey::fleet(AlertKind::UpstreamRed);
        let red = view.state == MainState::Red;
        if red {
            let message = red_message(&view);
            let evidence = view
                .culprit
                .as_ref()
                .map_or(&view.failing, |c| &c.failing)
                .clone();
            if old.state != MainState::Red && !resumed {
                self.alerts
                    .raise(now, key, Severity::Critical, &message, &evidence, out);
                out.push(event(
                    now,
                    None,
                    EventKind::MainRed,
                    message,
                    json!({
                        "commit": view.commit,
                        "range": view.red_range,
                        "hold": view.hold,
                        "failing": view.failing,
                    }),
                ));
            } else {
                self.alerts
                    .restate(now, key, Severity::Critical, &message, &evidence, out);
            }
            if let Some(c) = &view.culprit
                && !resumed
                && old.culprit.as_ref().map(|o| &o.commit.id) != Some(&c.commit.id)
            {
                out.push(event(
                    now,
                    c.landed_by.as_ref().map(|l| l.slot.as_str()),
                    EventKind::MainCulprit,
                    format!("main broke at {}", culprit_text(c)),
                    json!({
                        "commit": c.commit.id,
                        "author": c.commit.author,
                        "exact": c.exact,
                        "range_from": c.range_from,
                        "slot": c.landed_by.as_ref().map(|l| &l.slot),
                        "run_started": c.landed_by.as_ref().map(|l| l.run_started),
                        "failing": c.failing,
                    }),
                ));
            }
        } else if old.state == MainState::Red {
            self.alerts.clear(now, &key, out);
            let red_for = old.since.map(|s| human(now.saturating_sub(s)));
            let held = self.slots.iter().filter(|s| s.main_held).count();
            let mut message = format!(
                "main is {} again at {}",
                view.state.label(),
                view.short_commit().unwrap_or("?")
            );
            if let Some(d) = &red_for {
                message.push_str(&format!(" after {d} red"));
            }
            if old.hold && !view.hold {
                message.push_str(&format!("; the hold ended ({held} held slots start)"));
            }
            out.push(event(
                now,
                None,
                EventKind::MainGreen,
                message,
                json!({
                    "commit": view.commit,
                    "red_since": old.since,
                    "hold_ended": old.hold && !view.hold,
                }),
            ));
        }
        if old.hold != view.hold {
            // Held slots have no deadline of their own: drive them all when the hold ends.
            scope.all = true;
        }
        scope.visible |= old != view;
        self.main = Some(view);
    }
}

/// "main is red since 1a2b3c4d: broke at … — failing: a, b".
fn red_message(view: &MainView) -> String {
    let mut m = match &view.culprit {
        Some(c) => format!("main is red: broke at {}", culprit_text(c)),
        None if view.bisecting => format!(
            "main is red at {} — bisecting {}",
            view.short_commit().unwrap_or("?"),
            range_text(view)
        ),
        None => format!(
            "main is red at {}{}",
            view.short_commit().unwrap_or("?"),
            match &view.red_range {
                Some((Some(_), _)) => format!(" ({})", range_text(view)),
                _ => String::new(),
            }
        ),
    };
    let failing = view.culprit.as_ref().map_or(&view.failing, |c| &c.failing);
    if !failing.is_empty() {
        let named: Vec<&str> = failing
            .iter()
            .take(NAMED_TESTS)
            .map(String::as_str)
            .collect();
        m.push_str(&format!(" — failing: {}", named.join(", ")));
        if failing.len() > NAMED_TESTS {
            m.push_str(&format!(" and {} more", failing.len() - NAMED_TESTS));
        }
    }
    if view.hold {
        m.push_str(" — new runs held until green");
    }
    m
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn range_text(view: &MainView) -> String {
    match &view.red_range {
        Some((Some(from), to)) => format!("{}..{}", short(from), short(to)),
        Some((None, to)) => short(to).to_string(),
        None => "?".into(),
    }
}

/// "1a2b3c4d "summary" by Name <mail>, landed by worker-3 (run of generation 4)".
fn culprit_text(c: &Culprit) -> String {
    let mut t = match (&c.range_from, c.exact) {
        (Some(from), false) => format!(
            "one of {}..{} (newest {} \"{}\" by {})",
            short(from),
            short(&c.commit.id),
            short(&c.commit.id),
            c.commit.summary,
            c.commit.author
        ),
        _ => format!(
            "{} \"{}\" by {}",
            short(&c.commit.id),
            c.commit.summary,
            c.commit.author
        ),
    };
    match &c.landed_by {
        Some(l) => t.push_str(&format!(
            ", landed by {} (run of generation {})",
            l.slot, l.generation
        )),
        None => t.push_str(", landed by no slot of this fleet"),
    }
    t
}

//! Why a slot is in its state, worded for the screen: the fleet table's REASON column, the
//! status line under a narrow table, the empty logs tab of a slot that never started and the
//! container tab's missing variables all read it from here, so they never disagree.
//!
//! Invariant: pure functions of the snapshot's slot view (the reason text comes from the core,
//! already ANSI-stripped and redacted).

use crate::core::{SlotState, SlotView};

/// The preflight's wording for unset required variables (see `docker::preflight`).
const MISSING_ENV_PREFIX: &str = "required environment variable";

/// The slot's reason as the screen shows it: a slot blocked before its first start says
/// "never started", and the preflight's missing-variable text is shortened to the names.
pub fn slot_reason(s: &SlotView) -> Option<String> {
    let reason = s.reason.as_deref()?;
    let reason = reason
        .strip_prefix("required environment variables ")
        .or_else(|| reason.strip_prefix("required environment variable "))
        .unwrap_or(reason);
    Some(if never_started(s) {
        format!("never started: {reason}")
    } else {
        reason.to_string()
    })
}

/// Blocked before any start (the preflight refused it, or an operator blocked it early).
pub fn never_started(s: &SlotView) -> bool {
    s.starts == 0 && matches!(s.state, SlotState::Blocked { .. })
}

/// Whether `name` is one of `required` that the preflight blocked this slot for (its reason
/// names exactly the missing variables).
pub fn missing_env(s: &SlotView, required: &[String], name: &str) -> bool {
    required.iter().any(|r| r == name)
        && matches!(s.state, SlotState::Blocked { .. })
        && s.reason.as_deref().is_some_and(|r| {
            r.starts_with(MISSING_ENV_PREFIX)
                && r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Actor;

    fn blocked(starts: u64, reason: &str) -> SlotView {
        let mut s = crate::ui::sample::fleet(1).slots.remove(0);
        s.state = SlotState::Blocked {
            reason: reason.into(),
            by: Actor::Drover,
        };
        s.reason = Some(reason.into());
        s.starts = starts;
        s
    }

    const MISSING: &str =
        "required environment variable DEMO_API_KEY missing or empty in drover's environment";

    #[test]
    fn a_slot_blocked_before_its_first_start_says_never_started_and_names_the_variable() {
        let s = blocked(0, MISSING);
        assert_eq!(
            slot_reason(&s).as_deref(),
            Some("never started: DEMO_API_KEY missing or empty in drover's environment")
        );
        let req = vec!["DEMO_API_KEY".to_string()];
        assert!(missing_env(&s, &req, "DEMO_API_KEY"));
        assert!(!missing_env(&s, &req, "DEMO_API"));
        assert!(!missing_env(&s, &[], "DEMO_API_KEY"));
    }

    #[test]
    fn a_slot_that_ran_keeps_its_reason_as_is() {
        let s = blocked(3, "crash loop: exit 2 three times");
        assert_eq!(
            slot_reason(&s).as_deref(),
            Some("crash loop: exit 2 three times")
        );
        assert!(!missing_env(&s, &["X".into()], "X"));
    }
}

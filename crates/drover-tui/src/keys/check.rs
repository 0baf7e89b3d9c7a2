//! Checking user key overrides without a terminal, for config validation: each problem names
//! the action whose binding caused it, so the config check can point at that `[ui.keys]` line.

use std::collections::BTreeMap;

use super::{Keymap, KeymapError};

/// One bad override: the message, and the action it is about when one can be named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingProblem {
    pub action: Option<String>,
    pub message: String,
}

/// What is wrong with `overrides` (action name → space-separated keys); empty when they apply.
pub fn binding_problems(overrides: &BTreeMap<String, String>) -> Vec<BindingProblem> {
    let Err(errors) = Keymap::with_overrides(overrides) else {
        return Vec::new();
    };
    errors
        .into_iter()
        .map(|e| {
            let action = match &e {
                KeymapError::UnknownAction { name, .. } => Some(name.clone()),
                KeymapError::NoKey { action } => Some(action.clone()),
                KeymapError::Duplicate { second, .. } => Some(second.clone()),
                KeymapError::UnknownKey(k) => overrides
                    .iter()
                    .find(|(_, v)| v.split_whitespace().any(|w| w == k))
                    .map(|(a, _)| a.clone()),
            };
            BindingProblem {
                action,
                message: e.to_string(),
            }
        })
        .collect()
}

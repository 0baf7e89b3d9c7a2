//! User overrides from `[ui.keys]`: each names an action and replaces its keys in every mode
//! where it is bound, keeping the row's place and description. The result is validated as a
//! whole, so an override that would shadow another binding is refused, never applied.

use std::collections::BTreeMap;

use super::{Action, Binding, KeyChord, Keymap, KeymapError, Mode};

impl Keymap {
    /// The defaults with `overrides` (action name → space-separated keys, e.g.
    /// `pause = "P"` or `down = "j ctrl-n"`) replacing that action's keys in every mode
    /// where it is bound. Every problem is reported, not just the first.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Self, Vec<KeymapError>> {
        let mut map = Self::default_map();
        let mut errors = Vec::new();
        for (name, keys) in overrides {
            let Ok(action) = name.parse::<Action>() else {
                errors.push(unknown_action(name));
                continue;
            };
            let mut chords = Vec::new();
            for k in keys.split_whitespace() {
                match k.parse::<KeyChord>() {
                    Ok(c) => chords.push(c),
                    Err(e) => errors.push(e),
                }
            }
            if keys.split_whitespace().next().is_none() {
                errors.push(KeymapError::NoKey {
                    action: name.clone(),
                });
                continue;
            }
            map.rebind(action, &chords);
        }
        errors.extend(map.validate());
        if errors.is_empty() {
            Ok(map)
        } else {
            Err(errors)
        }
    }

    fn rebind(&mut self, action: Action, chords: &[KeyChord]) {
        let mut modes: Vec<(Mode, &'static str)> = Vec::new();
        for b in self.bindings.iter().filter(|b| b.action == action) {
            if !modes.iter().any(|(m, _)| *m == b.mode) {
                modes.push((b.mode, b.description));
            }
        }
        let Some(pos) = self.bindings.iter().position(|b| b.action == action) else {
            return;
        };
        self.bindings.retain(|b| b.action != action);
        let new = modes.into_iter().flat_map(|(mode, description)| {
            chords.iter().map(move |key| Binding {
                mode,
                key: *key,
                action,
                description,
            })
        });
        let tail = self.bindings.split_off(pos.min(self.bindings.len()));
        self.bindings.extend(new);
        self.bindings.extend(tail);
    }
}

fn unknown_action(name: &str) -> KeymapError {
    let best = Action::ALL
        .iter()
        .map(|a| (strsim::levenshtein(name, a.name()), a.name()))
        .min();
    let hint = match best {
        Some((d, n)) if d <= 3 => format!(" — did you mean `{n}`?"),
        _ => String::new(),
    };
    KeymapError::UnknownAction {
        name: name.to_string(),
        hint,
        all: Action::ALL
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

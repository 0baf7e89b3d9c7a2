//! Colour themes: semantic roles (states, health, severities, verdicts, chrome) mapped to
//! terminal colours. Built-ins are embedded at build time; a user file of the same name in
//! `<config dir>/themes/` overrides them. `NO_COLOR` forces `mono`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::Color;
use serde::Deserialize;

/// Names and text of the themes compiled into the binary.
pub const BUILTIN: [(&str, &str); 4] = [
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../../themes/mono.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{0}` — built in: dark, light, high-contrast, mono")]
    Unknown(String),
    #[error("cannot read theme file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("theme {name}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: BaseColors,
    pub state: StateColors,
    pub health: HealthColors,
    pub severity: SeverityColors,
    pub verdict: VerdictColors,
    /// True for the colourless theme: widgets then lean on modifiers (bold, reverse) alone.
    pub mono: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseColors {
    #[serde(deserialize_with = "color")]
    pub text: Color,
    #[serde(deserialize_with = "color")]
    pub muted: Color,
    #[serde(deserialize_with = "color")]
    pub accent: Color,
    #[serde(deserialize_with = "color")]
    pub title: Color,
    #[serde(deserialize_with = "color")]
    pub border: Color,
    #[serde(deserialize_with = "color")]
    pub border_focused: Color,
    #[serde(deserialize_with = "color")]
    pub selection_fg: Color,
    #[serde(deserialize_with = "color")]
    pub selection_bg: Color,
    #[serde(deserialize_with = "color")]
    pub header_bg: Color,
    #[serde(deserialize_with = "color")]
    pub match_fg: Color,
    #[serde(deserialize_with = "color")]
    pub match_bg: Color,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateColors {
    #[serde(deserialize_with = "color")]
    pub pending: Color,
    #[serde(deserialize_with = "color")]
    pub starting: Color,
    #[serde(deserialize_with = "color")]
    pub running: Color,
    #[serde(deserialize_with = "color")]
    pub paused: Color,
    #[serde(deserialize_with = "color")]
    pub backoff: Color,
    /// Waiting for a usage limit to lift: not a failure, so not a failure colour.
    #[serde(deserialize_with = "color")]
    pub throttled: Color,
    #[serde(deserialize_with = "color")]
    pub exited: Color,
    #[serde(deserialize_with = "color")]
    pub blocked: Color,
    #[serde(deserialize_with = "color")]
    pub taken_over: Color,
    #[serde(deserialize_with = "color")]
    pub stopped: Color,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthColors {
    #[serde(deserialize_with = "color")]
    pub healthy: Color,
    #[serde(deserialize_with = "color")]
    pub unready: Color,
    #[serde(deserialize_with = "color")]
    pub stalled: Color,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityColors {
    #[serde(deserialize_with = "color")]
    pub info: Color,
    #[serde(deserialize_with = "color")]
    pub warning: Color,
    #[serde(deserialize_with = "color")]
    pub critical: Color,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictColors {
    #[serde(deserialize_with = "color")]
    pub pass: Color,
    #[serde(deserialize_with = "color")]
    pub fail: Color,
    #[serde(deserialize_with = "color")]
    pub error: Color,
    #[serde(deserialize_with = "color")]
    pub no_tests: Color,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    base: BaseColors,
    state: StateColors,
    health: HealthColors,
    severity: SeverityColors,
    verdict: VerdictColors,
}

fn color<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Color, D::Error> {
    let s = String::deserialize(d)?;
    Color::from_str(&s).map_err(|_| {
        serde::de::Error::custom(format!(
            "invalid colour `{s}` — use a name (red, lightgreen, darkgray, reset), \"#rrggbb\" or an index \"0\"-\"255\""
        ))
    })
}

impl Theme {
    /// Parses a theme's TOML text.
    pub fn parse(name: &str, text: &str) -> Result<Self, ThemeError> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Invalid {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        Ok(Self {
            name: name.to_string(),
            mono: name == "mono",
            base: f.base,
            state: f.state,
            health: f.health,
            severity: f.severity,
            verdict: f.verdict,
        })
    }

    /// Loads `name`: the user's `<themes_dir>/<name>.toml` first, then the built-ins.
    pub fn load(name: &str, themes_dir: Option<&Path>) -> Result<Self, ThemeError> {
        if let Some(dir) = themes_dir {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|source| ThemeError::Read {
                    path: path.clone(),
                    source,
                })?;
                return Self::parse(name, &text);
            }
        }
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::Unknown(name.to_string()))?;
        Self::parse(name, text)
    }

    /// Whether `load(name, themes_dir)` can find a theme of that name.
    pub fn exists(name: &str, themes_dir: Option<&Path>) -> bool {
        BUILTIN.iter().any(|(n, _)| *n == name)
            || themes_dir.is_some_and(|d| d.join(format!("{name}.toml")).is_file())
    }

    /// The theme to use: `mono` whenever `NO_COLOR` is set to anything non-empty.
    pub fn load_respecting_no_color(
        name: &str,
        themes_dir: Option<&Path>,
    ) -> Result<Self, ThemeError> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::load(if no_color { "mono" } else { name }, themes_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses() {
        for (name, text) in BUILTIN {
            let t = Theme::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.mono, name == "mono");
        }
    }

    #[test]
    fn bad_colour_is_named() {
        let text = BUILTIN[0]
            .1
            .replace("running = \"green\"", "running = \"grene\"");
        let err = Theme::parse("x", &text).unwrap_err().to_string();
        assert!(err.contains("invalid colour `grene`"), "{err}");
    }

    #[test]
    fn user_file_overrides_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let text = BUILTIN[0]
            .1
            .replace("running = \"green\"", "running = \"#010203\"");
        std::fs::write(dir.path().join("dark.toml"), text).unwrap();
        let t = Theme::load("dark", Some(dir.path())).unwrap();
        assert_eq!(t.state.running, Color::Rgb(1, 2, 3));
        assert!(Theme::exists("dark", None));
        assert!(!Theme::exists("solarized", Some(dir.path())));
    }
}

//! Key chords: a key plus ctrl/alt, parsed from config strings (`G`, `ctrl-d`, `shift-tab`,
//! `PageDown`) and shown in help and hints. Normalised so that `G`, `shift-g` and a terminal's
//! `G`+SHIFT report are one chord.

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::KeymapError;

/// A key with its modifiers, normalised so that `G` and `shift-g` are the same chord.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyChord {
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    pub fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        // Only ctrl and alt distinguish bindings: shift is already in the character (or in
        // BackTab), and terminals disagree on whether they report it.
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        if code == KeyCode::BackTab {
            mods = KeyModifiers::NONE;
        }
        Self { code, mods }
    }

    pub fn from_event(ev: &KeyEvent) -> Self {
        let code = match ev.code {
            // Some terminals report shift-tab as Tab + SHIFT.
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            c => c,
        };
        Self::new(code, ev.modifiers)
    }
}

impl FromStr for KeyChord {
    type Err = KeymapError;

    fn from_str(s: &str) -> Result<Self, KeymapError> {
        let bad = || KeymapError::UnknownKey(s.to_string());
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        // Prefixes are matched on an ASCII-lowercased copy of the same length, so the byte
        // offsets cut after them are char boundaries of `rest`.
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+")) {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if rest.len() > 1 && (lower.starts_with("alt-") || lower.starts_with("alt+")) {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else if rest.len() > 1 && (lower.starts_with("shift-") || lower.starts_with("shift+"))
            {
                rest = &rest[6..];
                if rest.eq_ignore_ascii_case("tab") {
                    return Ok(KeyChord::new(KeyCode::BackTab, mods));
                }
                let mut chars = rest.chars();
                return match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        Ok(KeyChord::new(KeyCode::Char(c.to_ascii_uppercase()), mods))
                    }
                    _ => Err(bad()),
                };
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            (None, _) => return Err(bad()),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(bad()),
                },
                _ => return Err(bad()),
            },
        };
        Ok(KeyChord::new(code, mods))
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::Insert => f.write_str("ins"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chord(s: &str) -> KeyChord {
        s.parse().unwrap()
    }

    #[test]
    fn key_strings_parse_and_normalise() {
        assert_eq!(chord("G"), chord("shift-g"));
        assert_eq!(chord("ctrl-C"), chord("ctrl-c"));
        assert_eq!(chord("shift-tab"), KeyChord::plain(KeyCode::BackTab));
        assert_eq!(chord("Space"), KeyChord::plain(KeyCode::Char(' ')));
        assert_eq!(chord("F5"), KeyChord::plain(KeyCode::F(5)));
        assert_eq!(chord("-"), KeyChord::plain(KeyCode::Char('-')));
        assert!("F13".parse::<KeyChord>().is_err());
        assert!("ctrl-".parse::<KeyChord>().is_err());
        assert_eq!(
            chord("ctrl--"),
            KeyChord::new(KeyCode::Char('-'), KeyModifiers::CONTROL)
        );
        assert!("hyper-x".parse::<KeyChord>().is_err());
        assert!("".parse::<KeyChord>().is_err());
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(KeyChord::from_event(&ev), chord("G"));
        let ev = KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(KeyChord::from_event(&ev), chord("backtab"));
    }
}

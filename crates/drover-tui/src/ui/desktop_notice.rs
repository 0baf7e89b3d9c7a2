//! Terminal notifications for alerts that need a human: the bell (`BEL`), and desktop
//! notifications as OSC 9 (iTerm2, WezTerm, kitty, foot, Windows Terminal) and OSC 777
//! (urxvt, Konsole, VTE-based terminals) — both are sent; terminals ignore the one they do
//! not know. Inside tmux the OSCs are wrapped in tmux's passthrough (needs
//! `set -g allow-passthrough on`); the bell reaches tmux's own bell handling.
//!
//! Invariants: alerts already active when the face starts are not news and are not notified;
//! each alert is notified once (again only if its severity rises); acknowledged alerts never
//! are (see [`NotifyGate`]). Messages are stripped of control characters first, so an alert
//! text can never smuggle an escape sequence to the terminal.

use std::io::Write;

use crate::core::{NotifyGate, Snapshot};

/// Where and how notifications go.
pub struct TerminalNotifier {
    pub bell: bool,
    pub desktop: bool,
    pub tmux: bool,
    gate: NotifyGate,
    primed: bool,
    out: Box<dyn Write + Send>,
}

impl TerminalNotifier {
    pub fn new(bell: bool, desktop: bool, tmux: bool, out: Box<dyn Write + Send>) -> Self {
        Self {
            bell,
            desktop,
            tmux,
            gate: NotifyGate::default(),
            primed: false,
            out,
        }
    }

    /// Looks at a new snapshot's alerts and notifies the ones that are news.
    pub fn on_snapshot(&mut self, snap: &Snapshot) {
        let mut news = Vec::new();
        for a in &snap.alerts {
            if self.gate.admit(a) && self.primed {
                news.push(a);
            }
        }
        self.gate
            .retain(|id| snap.alerts.iter().any(|a| a.id == id));
        self.primed = true;
        if news.is_empty() || !(self.bell || self.desktop) {
            return;
        }
        let mut bytes = Vec::new();
        if self.bell {
            bytes.push(0x07);
        }
        if self.desktop {
            for a in news {
                let title = format!("drover: {}", a.key.slot.as_deref().unwrap_or(&snap.fleet));
                bytes.extend(desktop_sequence(&title, &a.message, self.tmux));
            }
        }
        // A terminal that cannot be written to has gone; the next draw reports that.
        let _ = self.out.write_all(&bytes);
        let _ = self.out.flush();
    }
}

/// OSC 9 and OSC 777 for one notification, wrapped for tmux when asked.
pub fn desktop_sequence(title: &str, body: &str, tmux: bool) -> Vec<u8> {
    let title = printable(title, 60);
    let body = printable(body, 200);
    let osc9 = format!("\x1b]9;{title}: {body}\x07");
    let osc777 = format!("\x1b]777;notify;{title};{body}\x07");
    let mut out = Vec::new();
    for seq in [osc9, osc777] {
        if tmux {
            // tmux passthrough: DCS tmux; <sequence with every ESC doubled> ST
            out.extend_from_slice(b"\x1bPtmux;");
            out.extend_from_slice(seq.replace('\x1b', "\x1b\x1b").as_bytes());
            out.extend_from_slice(b"\x1b\\");
        } else {
            out.extend_from_slice(seq.as_bytes());
        }
    }
    out
}

/// `s` without control characters (and without `;`, the OSC 777 field separator), cut to
/// `max` characters.
fn printable(s: &str, max: usize) -> String {
    crate::untrusted::one_line(s, max).replace(';', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_in_alert_text_cannot_reach_the_terminal() {
        let seq = desktop_sequence("t", "evil\x1b]52;c;AAAA\x07 text", false);
        let text = String::from_utf8(seq).unwrap();
        assert_eq!(text.matches('\x1b').count(), 2, "{text:?}");
        assert!(
            text.contains("evil text"),
            "the whole OSC sequence is removed: {text:?}"
        );
    }

    #[test]
    fn tmux_passthrough_doubles_escapes() {
        let seq = desktop_sequence("t", "b", true);
        let text = String::from_utf8(seq).unwrap();
        assert!(
            text.starts_with("\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"),
            "{text:?}"
        );
    }
}

//! The one sanitiser for untrusted text — agent output, reasons and exit lines derived from it,
//! upstream repo content, anything a container or a repo can write — before it is shown on a
//! terminal or sent to one (TUI, headless log, desktop notices).
//!
//! Invariants: no escape sequence (CSI, OSC, DCS, SOS, PM, APC, two-byte ESC sequences, C1
//! CSI) and no control character survives, except `\n` and `\t` in [`multi_line`]; output never
//! exceeds the asked length by more than the note saying what was cut. Terminal control from a
//! container must never reach the operator's terminal.

use std::iter::Peekable;
use std::str::Chars;

/// One line of untrusted text made safe to show: escape sequences and control characters
/// removed, tabs as four spaces, at most `max_chars` characters kept and the rest named in a
/// note (`… [N more bytes]`).
pub fn one_line(input: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max_chars + 32));
    let mut chars = input.chars().peekable();
    let mut kept = 0usize;
    while let Some(c) = chars.next() {
        if kept >= max_chars {
            let rest: usize = c.len_utf8() + chars.map(char::len_utf8).sum::<usize>();
            out.push_str(&format!(" … [{rest} more bytes]"));
            break;
        }
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // A C1 CSI introducer starts a sequence like ESC [.
            '\u{9b}' => skip_csi(&mut chars),
            '\t' => {
                out.push_str("    ");
                kept += 4;
            }
            c if c.is_control() => {}
            c => {
                out.push(c);
                kept += 1;
            }
        }
    }
    out
}

/// Untrusted text that is rendered as a document (PROGRESS.md): newlines and tabs kept, `\r`
/// dropped, escape sequences removed, any other control character shown as U+FFFD so the
/// reader sees that something was there.
pub fn multi_line(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\r' => {}
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}

/// `input` with terminal escape sequences removed and everything else kept: the text a
/// terminal would show, for checks (secret masking) that must see what the reader sees.
pub fn without_escapes(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            c => out.push(c),
        }
    }
    out
}

/// Whether `input` holds anything [`without_escapes`] would remove.
pub fn has_escapes(input: &str) -> bool {
    input.contains(['\u{1b}', '\u{9b}'])
}

fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        // OSC, DCS, SOS, PM, APC: a string up to BEL or ESC \.
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        // Charset selection takes one more byte; other two-byte sequences (ESC c, ESC =) end
        // with the byte just read.
        Some('(' | ')' | '*' | '+') => {
            chars.next();
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_strips_escapes_and_controls_and_caps() {
        let s = |t: &str| one_line(t, 2000);
        assert_eq!(s("\u{1b}[31mred\u{1b}[0m ok"), "red ok");
        assert_eq!(s("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(s("a\u{1b}]8;;http://x\u{1b}\\link"), "alink");
        assert_eq!(s("x\ty\r\u{0}\u{8}"), "x    y");
        assert_eq!(s("bell\u{7} \u{9b}2Jz"), "bell z");
        let long = "é".repeat(2010);
        let cut = s(&long);
        assert!(
            cut.ends_with("… [20 more bytes]"),
            "{}",
            &cut[cut.len() - 30..]
        );
        assert_eq!(cut.chars().filter(|c| *c == 'é').count(), 2000);
    }

    #[test]
    fn multi_line_keeps_layout_and_marks_controls() {
        assert_eq!(
            multi_line("# Notes\r\n- \u{1b}[1mbold\u{1b}[0m\tx\u{7}\n"),
            "# Notes\n- bold\tx\u{fffd}\n"
        );
        assert_eq!(multi_line("a\u{1b}]52;c;ZXZpbA==\u{7}b"), "ab");
    }
}

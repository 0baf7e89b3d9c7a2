//! Turning untrusted repo bytes into display text: lossy UTF-8, control characters escaped,
//! every output capped, so odd lock files and names can never corrupt a terminal or grow memory.
//!
//! Holder names are parsed from lock-file content. Accepted forms, checked in this order within
//! the first 20 lines (first 4 KiB) of a text file:
//!
//! 1. A `key: value` or `key = value` line (keys case-insensitive; quotes, backticks, list
//!    markers and a leading `{` are ignored, so single-key YAML/TOML/JSON lines work) whose key is
//!    one of `agent`, `holder`, `slot`, `owner`, `claimed by`, `claimed_by`, `locked by`,
//!    `worker`, `assignee`, `agent id`, `agent name`, `agent_id`. The value's first word is the
//!    holder.
//! 2. A `claimed by <name>` / `locked by <name>` phrase anywhere in those lines.
//! 3. A first non-blank line whose first word looks like a slot name: `<role>-<number>` made of
//!    lowercase letters, digits, `-`, `_`, `.` (e.g. `implementer-2`, `implementer-2: parser
//!    work`).
//!
//! Anything else (binary, empty, free prose) names no holder; the caller falls back to the commit.

/// Lines of a lock file shown in previews.
pub(crate) const PREVIEW_MAX_LINES: usize = 5;
/// Characters per preview line before it is cut with `…`.
const PREVIEW_MAX_LINE_CHARS: usize = 160;
/// Bytes of a file decoded for previews and holder parsing; the rest is never decoded.
const TEXT_PREFIX_BYTES: usize = 4096;
/// Git's own heuristic: a NUL byte in the first 8000 bytes means binary.
const BINARY_SNIFF_BYTES: usize = 8000;
const HOLDER_SCAN_LINES: usize = 20;
const HOLDER_MAX_CHARS: usize = 64;
/// Cap for names, summaries and other single-line labels.
pub(crate) const LABEL_MAX_CHARS: usize = 200;

const HOLDER_KEYS: &[&str] = &[
    "agent",
    "holder",
    "slot",
    "owner",
    "claimed by",
    "locked by",
    "worker",
    "assignee",
    "agent id",
    "agent name",
];

/// Lossy-decodes `bytes`, escapes control characters and caps the result at `max_chars`
/// (with a trailing `…` when cut). Used for names, paths, summaries and operator text.
pub(crate) fn display_label(bytes: &[u8], max_chars: usize) -> String {
    let decoded = String::from_utf8_lossy(&bytes[..bytes.len().min(max_chars.saturating_mul(4))]);
    let mut out = escape_controls(&decoded);
    let cut = bytes.len() > max_chars.saturating_mul(4);
    truncate_chars(&mut out, max_chars, cut);
    out
}

/// Replaces control characters (which could move the cursor or recolour a terminal) with their
/// visible escape, e.g. ESC becomes `\u{1b}`; tabs become a space.
pub(crate) fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\t' {
            out.push(' ');
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate_chars(s: &mut String, max_chars: usize, force_ellipsis: bool) {
    if let Some((idx, _)) = s.char_indices().nth(max_chars) {
        s.truncate(idx);
        s.push('…');
    } else if force_ellipsis {
        s.push('…');
    }
}

/// True when git would call this content binary.
pub(crate) fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// Human size with binary units: `512 B`, `1.5 KiB`, `10.0 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss is irrelevant for a one-decimal display.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// The first lines of a text lock file, or a bracketed label (`[empty]`, `[binary, 2.0 KiB]`).
pub(crate) fn text_preview(content: &[u8]) -> String {
    if content.iter().all(u8::is_ascii_whitespace) {
        return "[empty]".to_owned();
    }
    if is_binary(content) {
        return format!("[binary, {}]", human_size(content.len() as u64));
    }
    let prefix = &content[..content.len().min(TEXT_PREFIX_BYTES)];
    let decoded = String::from_utf8_lossy(prefix);
    let mut lines: Vec<String> = Vec::new();
    let mut more = content.len() > prefix.len();
    for (i, line) in decoded.lines().enumerate() {
        if i >= PREVIEW_MAX_LINES {
            more = true;
            break;
        }
        let mut shown = escape_controls(line.trim_end());
        truncate_chars(&mut shown, PREVIEW_MAX_LINE_CHARS, false);
        lines.push(shown);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    if more {
        lines.push(format!("… ({} in all)", human_size(content.len() as u64)));
    }
    lines.join("\n")
}

/// The holder named by a lock file's content, by the forms listed in the module docs.
pub(crate) fn holder_from_content(content: &[u8]) -> Option<String> {
    if is_binary(content) {
        return None;
    }
    let prefix = &content[..content.len().min(TEXT_PREFIX_BYTES)];
    let decoded = String::from_utf8_lossy(prefix);
    let lines: Vec<&str> = decoded.lines().take(HOLDER_SCAN_LINES).collect();
    lines
        .iter()
        .find_map(|line| holder_from_key_value(line))
        .or_else(|| lines.iter().find_map(|line| holder_from_phrase(line)))
        .or_else(|| {
            let first = lines.iter().find(|l| !l.trim().is_empty())?;
            let word = first.split_whitespace().next()?;
            let word = word.trim_end_matches([':', ',', ';', '.']);
            is_slot_like(word).then(|| clean_holder(word)).flatten()
        })
}

fn holder_from_key_value(line: &str) -> Option<String> {
    let line = line
        .trim()
        .trim_start_matches(['-', '*', '#', '>', '{', '['])
        .trim();
    let sep = line.find([':', '='])?;
    let key: String = line[..sep]
        .trim()
        .trim_matches(['"', '\'', '`', '*'])
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect::<String>()
        .to_lowercase();
    if !HOLDER_KEYS.contains(&key.trim()) {
        return None;
    }
    first_word(&line[sep + 1..])
}

fn holder_from_phrase(line: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets valid for slicing the original line.
    let lower = line.to_ascii_lowercase();
    ["claimed by ", "locked by "].iter().find_map(|phrase| {
        let at = lower.find(phrase)?;
        first_word(line.get(at + phrase.len()..)?)
    })
}

pub(crate) fn first_word(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches(['"', '\'', '`', '*', '@']);
    let word: String = s
        .chars()
        .take_while(|c| {
            !c.is_whitespace() && !matches!(c, '"' | '\'' | '`' | ',' | ';' | '}' | ']' | ')' | '*')
        })
        .collect();
    clean_holder(word.trim_end_matches(['.', ':']))
}

fn clean_holder(word: &str) -> Option<String> {
    if word.is_empty() || word.chars().any(char::is_control) {
        return None;
    }
    let mut name = word.to_owned();
    truncate_chars(&mut name, HOLDER_MAX_CHARS, false);
    Some(name)
}

/// `<role>-<number>`: the slot naming scheme, e.g. `implementer-2` or `qa.web-10`. Lowercase
/// only, so that capitalised prose such as `Version-2 of the plan` is not taken for a slot.
fn is_slot_like(word: &str) -> bool {
    let Some((role, number)) = word.rsplit_once('-') else {
        return false;
    };
    role.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_forms_documented_in_module_docs_are_accepted() {
        let cases: &[(&str, &str)] = &[
            ("agent: implementer-2\nnote: parser", "implementer-2"),
            (
                "Task: parser\nAgent = implementer-3 (container 1f2e)",
                "implementer-3",
            ),
            ("holder=reviewer-1", "reviewer-1"),
            ("- claimed_by: \"tester-4\"", "tester-4"),
            (
                "{\"agent\": \"implementer-7\", \"task\": \"x\"}",
                "implementer-7",
            ),
            (
                "Working on the lexer.\nClaimed by implementer-5 at 10:02",
                "implementer-5",
            ),
            ("implementer-2: working on the parser", "implementer-2"),
            ("\n\nimplementer-9\n", "implementer-9"),
            ("slot: alice", "alice"),
        ];
        for (content, want) in cases {
            assert_eq!(
                holder_from_content(content.as_bytes()).as_deref(),
                Some(*want),
                "content {content:?}"
            );
        }
    }

    #[test]
    fn prose_binary_and_empty_name_no_holder() {
        for content in [
            &b"Fix the parser before lunch"[..],
            b"",
            b"   \n\n",
            b"agent:\n",
            b"\x00\x01agent: implementer-1",
            b"Version-2 of the plan",
        ] {
            assert_eq!(holder_from_content(content), None, "content {content:?}");
        }
    }

    #[test]
    fn previews_label_odd_content_clearly() {
        assert_eq!(text_preview(b""), "[empty]");
        assert_eq!(text_preview(b" \n\t\n"), "[empty]");
        assert_eq!(text_preview(b"\x00\x01\x02 abc"), "[binary, 7 B]");
        assert_eq!(text_preview(b"one\r\ntwo\n"), "one\ntwo");
        assert_eq!(text_preview(b"red \x1b[31mX"), "red \\u{1b}[31mX");
        let many: String = (1..=9).map(|i| format!("line {i}\n")).collect();
        let preview = text_preview(many.as_bytes());
        assert_eq!(preview.lines().count(), PREVIEW_MAX_LINES + 1);
        assert!(preview.ends_with("… (63 B in all)"), "{preview}");
    }

    #[test]
    fn huge_single_line_preview_is_capped() {
        let huge = vec![b'x'; 10 * 1024 * 1024];
        let preview = text_preview(&huge);
        assert!(
            preview.chars().count() < 300,
            "{} chars",
            preview.chars().count()
        );
        assert!(preview.ends_with("(10.0 MiB in all)"), "{preview}");
        assert_eq!(holder_from_content(&huge), None);
    }

    #[test]
    fn labels_are_lossy_escaped_and_capped() {
        assert_eq!(display_label(b"caf\xe9\n.txt", 50), "caf\u{fffd}\\n.txt");
        let long = display_label(&[b'a'; 1000], 10);
        assert_eq!(long, format!("{}…", "a".repeat(10)));
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
    }
}

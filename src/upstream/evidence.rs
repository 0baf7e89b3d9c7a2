//! Holder evidence from a lock file's content: the labelled lines that name a slot or a
//! machine, and every word, for `core::SlotDirectory::attribute` to match against the fleet.
//!
//! Untrusted input: only the first 4 KiB and 20 lines are read, words and lists are capped, and
//! binary content yields nothing.

use crate::core::HolderEvidence;

use super::text::{first_word, is_binary};

const SCAN_BYTES: usize = 4096;
const SCAN_LINES: usize = 20;
const MAX_TOKENS: usize = 512;
const MAX_VALUES: usize = 16;
/// A full container id is 64 characters; anything longer is no name.
const MAX_TOKEN_CHARS: usize = 80;

/// Keys whose value names the holding slot (after `_`/`-` become spaces, lowercased).
const NAMED_KEYS: &[&str] = &[
    "slot",
    "agent",
    "owner",
    "locked by",
    "claimed by",
    "holder",
    "worker",
    "assignee",
    "agent id",
    "agent name",
];
/// Keys whose value names the holder's machine.
const MACHINE_KEYS: &[&str] = &["container", "container id", "host", "hostname"];

/// What `content` says about its holder (`author` is filled in by the caller).
pub(crate) fn from_content(content: &[u8]) -> HolderEvidence {
    let mut ev = HolderEvidence::default();
    if is_binary(content) {
        return ev;
    }
    let prefix = &content[..content.len().min(SCAN_BYTES)];
    let decoded = String::from_utf8_lossy(prefix);
    for line in decoded.lines().take(SCAN_LINES) {
        if let Some((key, value)) = key_value(line) {
            let list = if NAMED_KEYS.contains(&key.as_str()) {
                Some(&mut ev.named)
            } else if MACHINE_KEYS.contains(&key.as_str()) {
                Some(&mut ev.machines)
            } else {
                None
            };
            if let Some(list) = list.filter(|l| l.len() < MAX_VALUES)
                && let Some(word) = first_word(value)
            {
                list.push(word);
            }
        } else if let Some(name) = phrase(line)
            && ev.named.len() < MAX_VALUES
        {
            ev.named.push(name);
        }
        for token in line.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
            let token = token.trim_matches('.');
            if ev.tokens.len() < MAX_TOKENS
                && token.len() >= 2
                && token.chars().count() <= MAX_TOKEN_CHARS
            {
                ev.tokens.push(token.to_owned());
            }
        }
    }
    ev
}

/// `key: value` / `key = value`, with list markers, quotes and a leading `{` ignored; the key
/// lowercased with `_`/`-` as spaces.
fn key_value(line: &str) -> Option<(String, &str)> {
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
    Some((key.trim().to_owned(), &line[sep + 1..]))
}

/// `claimed by <name>` / `locked by <name>` anywhere in a line.
fn phrase(line: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets valid for slicing the original line.
    let lower = line.to_ascii_lowercase();
    ["claimed by ", "locked by "].iter().find_map(|p| {
        let at = lower.find(p)?;
        first_word(line.get(at + p.len()..)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_lines_and_words_are_collected() {
        let ev = from_content(
            b"# Lock: parser\nAgent: implementer-2\nHostname: implementer-2\nContainer: 0123456789ab\nStarted: working on the lexer\n",
        );
        assert_eq!(ev.named, ["implementer-2"]);
        assert_eq!(ev.machines, ["implementer-2", "0123456789ab"]);
        assert!(ev.tokens.iter().any(|t| t == "lexer"));
        let ev = from_content(b"Locked by qa-1 at noon\n");
        assert_eq!(ev.named, ["qa-1"]);
        assert!(from_content(b"\0\x01binary").tokens.is_empty());
    }
}

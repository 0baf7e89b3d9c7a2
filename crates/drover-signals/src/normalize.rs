//! Line normalisation for loop detection: two lines that differ only in what changes between
//! repetitions of the same output (timestamps, counters, durations, hex and UUID ids, temp
//! directory names, ANSI colour, spacing) normalise to the same text and hash.
//!
//! Replacements: `<ts>` for dates and times, `<uuid>`, `<hex>` for hex ids of 7+ characters
//! that mix digits and letters (or start with `0x`), `<id>` for 16+ letters and digits mixing
//! both (generated ids; ids may be glued to a `req_`-like prefix), `<n>` for every run of digits (with a
//! decimal part), `<tmp>` for the directory right after `/tmp/`, `/var/tmp/`, `/var/folders/`
//! or `/dev/shm/`. Whitespace runs become one space and the ends are trimmed.
//!
//! Invariants: pure; O(line length); the only memory kept is one reusable output buffer whose
//! size is bounded by the cleaner's line cap.

use std::hash::BuildHasher;

use super::ansi::LineCleaner;

/// Seed of the normalised-line hash: fixed so hashes are comparable across detector instances
/// within one build of drover (they are not meant to be persisted).
const HASH_SEED: u64 = 0x6472_6f76_6572_2121;

/// Normalises raw log lines, reusing its buffers.
#[derive(Debug, Default)]
pub struct LineNormalizer {
    cleaner: LineCleaner,
    out: String,
}

impl LineNormalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The normalised form of one raw line (ANSI, prefixes and `\r` redraws are handled first).
    pub fn normalize(&mut self, raw: &[u8]) -> &str {
        let text = self.cleaner.clean(raw);
        self.out.clear();
        normalize_into(text, &mut self.out);
        &self.out
    }

    /// The 64-bit hash of the normalised form of one raw line.
    pub fn hash(&mut self, raw: &[u8]) -> u64 {
        let normalized = self.normalize(raw);
        line_hash(normalized)
    }
}

/// A fast, well-mixed 64-bit hash of an (already normalised) line.
pub fn line_hash(normalized: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(HASH_SEED).hash_one(normalized.as_bytes())
}

/// One hash for a sequence of line hashes (a block of lines), with the same seed.
pub(crate) fn hash_sequence(hashes: impl Iterator<Item = u64>) -> u64 {
    use std::hash::Hasher;
    let mut h = foldhash::quality::FixedState::with_seed(HASH_SEED).build_hasher();
    for x in hashes {
        h.write_u64(x);
    }
    h.finish()
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

const TEMP_ROOTS: [&str; 5] = [
    "/tmp/",
    "/var/tmp/",
    "/var/folders/",
    "/private/var/folders/",
    "/dev/shm/",
];

/// Appends the normalised form of already-cleaned text to `out`.
pub fn normalize_into(text: &str, out: &mut String) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut pending_space = false;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_whitespace() {
            pending_space = !out.is_empty();
            i += 1;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        let at_boundary = i == 0 || b.get(i - 1).is_some_and(|&p| !is_word(p));
        if c == b'/'
            && let Some(root) = TEMP_ROOTS
                .iter()
                .find(|r| b.get(i..).is_some_and(|t| t.starts_with(r.as_bytes())))
        {
            out.push_str(root);
            out.push_str("<tmp>");
            i += root.len();
            while b
                .get(i)
                .is_some_and(|&x| x != b'/' && !x.is_ascii_whitespace())
            {
                i += 1;
            }
            continue;
        }
        // Ids are often glued to a prefix (`req_3f2a9c1b`, `toolu_01AbC…`, `run-9f8e7d6c`).
        let at_id_boundary = i == 0 || b.get(i - 1).is_some_and(|&p| !p.is_ascii_alphanumeric());
        if at_id_boundary {
            if let Some(n) = match_uuid(b, i) {
                out.push_str("<uuid>");
                i += n;
                continue;
            }
            if at_boundary && let Some(n) = match_timestamp(b, i) {
                out.push_str("<ts>");
                i += n;
                continue;
            }
            if let Some(n) = match_hex(b, i) {
                out.push_str("<hex>");
                i += n;
                continue;
            }
            if let Some(n) = match_long_id(b, i) {
                out.push_str("<id>");
                i += n;
                continue;
            }
        }
        if c.is_ascii_digit() {
            i = skip_number(b, i);
            out.push_str("<n>");
            continue;
        }
        // Copy one whole character (multi-byte UTF-8 included).
        let len = utf8_len(c);
        match text.get(i..i + len) {
            Some(ch) => out.push_str(ch),
            None => out.push('\u{fffd}'),
        }
        i += len;
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn skip_number(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    i
}

fn hex_run(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .unwrap_or_default()
        .iter()
        .take_while(|x| x.is_ascii_hexdigit())
        .count()
}

fn ends_word(b: &[u8], i: usize) -> bool {
    b.get(i).is_none_or(|&x| !is_word(x))
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn match_uuid(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for (k, len) in [8usize, 4, 4, 4, 12].iter().enumerate() {
        if hex_run(b, j) < *len {
            return None;
        }
        j += len;
        if k < 4 {
            if b.get(j) != Some(&b'-') {
                return None;
            }
            j += 1;
        }
    }
    ends_word(b, j).then_some(j - i)
}

/// A hex id: `0x` + hex, or 7+ hex characters mixing digits and letters.
fn match_hex(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let n = hex_run(b, i + 2);
        return (n > 0 && ends_word(b, i + 2 + n)).then_some(n + 2);
    }
    let n = hex_run(b, i);
    if n < 7 || !ends_word(b, i + n) {
        return None;
    }
    let run = b.get(i..i + n)?;
    let digits = run.iter().any(u8::is_ascii_digit);
    let letters = run.iter().any(u8::is_ascii_alphabetic);
    (digits && letters).then_some(n)
}

/// A generated id: 16+ letters and digits, mixing both (base62 message and tool-call ids).
fn match_long_id(b: &[u8], i: usize) -> Option<usize> {
    let run = b.get(i..).unwrap_or_default();
    let n = run.iter().take_while(|x| x.is_ascii_alphanumeric()).count();
    if n < 16 || !ends_word(b, i + n) {
        return None;
    }
    let run = run.get(..n)?;
    let digits = run.iter().filter(|x| x.is_ascii_digit()).count();
    (digits >= 2 && digits < n).then_some(n)
}

fn digits(b: &[u8], i: usize, n: usize) -> bool {
    (i..i + n).all(|k| b.get(k).is_some_and(u8::is_ascii_digit))
}

/// `2024-01-02`, `2024-01-02T03:04:05.123Z`, `2024-01-02 03:04:05+01:00`, `03:04:05.123`.
fn match_timestamp(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut matched = false;
    if digits(b, j, 4)
        && b.get(j + 4) == Some(&b'-')
        && digits(b, j + 5, 2)
        && b.get(j + 7) == Some(&b'-')
        && digits(b, j + 8, 2)
    {
        j += 10;
        matched = true;
        if matches!(b.get(j), Some(b'T' | b' '))
            && digits(b, j + 1, 2)
            && b.get(j + 3) == Some(&b':')
        {
            j += 1;
        } else {
            return ends_word(b, j).then_some(j - i);
        }
    }
    if digits(b, j, 2) && b.get(j + 2) == Some(&b':') && digits(b, j + 3, 2) {
        j += 5;
        matched = true;
        if b.get(j) == Some(&b':') && digits(b, j + 1, 2) {
            j += 3;
        }
        if matches!(b.get(j), Some(b'.' | b',')) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
        }
        if b.get(j) == Some(&b'Z') {
            j += 1;
        } else if matches!(b.get(j), Some(b'+' | b'-')) && digits(b, j + 1, 2) {
            let mut k = j + 3;
            if b.get(k) == Some(&b':') {
                k += 1;
            }
            if digits(b, k, 2) {
                j = k + 2;
            }
        }
    }
    (matched && ends_word(b, j)).then_some(j - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        LineNormalizer::new().normalize(s.as_bytes()).to_owned()
    }

    #[test]
    fn replaces_what_changes_between_repetitions() {
        assert_eq!(
            norm("2026-01-05T10:00:00.123Z [agent] \x1b[31mretry 3/10\x1b[0m after 1.5s"),
            "retry <n>/<n> after <n>s"
        );
        assert_eq!(
            norm("container 3f2a9c1b7d4e exited; id 123e4567-e89b-12d3-a456-426614174000"),
            "container <hex> exited; id <uuid>"
        );
        assert_eq!(
            norm("at 2024-01-02 03:04:05,123 wrote /tmp/tmpa8Xk2/out.txt   ok"),
            "at <ts> wrote /tmp/<tmp>/out.txt ok"
        );
        assert_eq!(norm("pointer 0x7ffd5e8c done"), "pointer <hex> done");
        assert_eq!(
            norm("(req_0a1b2c3d) (req_9f8e7d6c)"),
            "(req_<hex>) (req_<hex>)"
        );
        assert_eq!(
            norm(r#"{"id":"toolu_01A2bCdEfGhIjKlMnOpQ"}"#),
            r#"{"id":"toolu_<id>"}"#
        );
        assert_eq!(norm("   spaced\t\tout  "), "spaced out");
    }

    #[test]
    fn keeps_words_that_only_look_like_ids() {
        assert_eq!(norm("deadbeef facade"), "deadbeef facade");
        assert_eq!(norm("Compiling serde v1.0.228"), "Compiling serde v<n>.<n>");
        assert_eq!(
            norm("Compiling serde v1.0.228"),
            norm("Compiling serde v1.2.3")
        );
    }

    #[test]
    fn same_line_different_numbers_same_hash() {
        let mut n = LineNormalizer::new();
        let a = n.hash(b"[12:00:01] attempt 3 failed after 120ms");
        let b = n.hash(b"[12:00:09] attempt 4 failed after 98ms");
        let c = n.hash(b"[12:00:09] attempt 4 succeeded after 98ms");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(norm("✔ naïve test 3"), "✔ naïve test <n>");
    }
}

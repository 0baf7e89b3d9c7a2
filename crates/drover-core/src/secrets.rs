//! Secrets: recognises secret-bearing environment keys (by name) and masks known secret values
//! (by value, as CI systems do) in any text drover writes or shows.
//!
//! Invariants: the set of values to mask is every `pass_env` value and every `env` value whose
//! key looks secret, installed once per (re)loaded config with [`install`]; values shorter than
//! [`MIN_SECRET_LEN`] characters are never masked (too many false hits on short words). Masking
//! is a pure function of the installed set and the text: no I/O, no clock.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use memchr::memmem;

/// Shown in place of a secret value.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this (in characters) are not masked.
pub const MIN_SECRET_LEN: usize = 6;

/// True for keys like `OPENAI_API_KEY`, `GH_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    k.ends_with("_KEY")
        || k == "KEY"
        || k.ends_with("_TOKEN")
        || k == "TOKEN"
        || k.ends_with("_SECRET")
        || k.contains("SECRET")
        || k.contains("PASSWORD")
        || k.contains("PASSWD")
        || k.contains("CREDENTIAL")
        || k.ends_with("_PAT")
}

/// The value to show for `key`: itself, or [`REDACTED`] for secrets.
pub fn display_value<'v>(key: &str, value: &'v str) -> &'v str {
    if is_secret_key(key) { REDACTED } else { value }
}

/// Replaces known secret values in text. Cheap when there is nothing to mask: one substring
/// search per value and no allocation.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    /// Longest first, so a value that contains another is replaced whole.
    needles: Vec<memmem::Finder<'static>>,
}

impl Masker {
    /// A masker for `values`; short values are skipped. A multi-line value (a PEM key, say) is
    /// also masked line by line, as programs print it, and every value also in its JSON-escaped
    /// form, as structured logs and socket replies carry it.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all: Vec<String> = Vec::new();
        let mut push = |v: &str| {
            if v.chars().count() >= MIN_SECRET_LEN && !all.iter().any(|a| a == v) {
                all.push(v.to_string());
            }
        };
        for v in values {
            let v = v.as_ref();
            push(v);
            for line in v.lines() {
                push(line.trim());
            }
            if let Ok(json) = serde_json::to_string(v) {
                let inner = &json[1..json.len() - 1];
                if inner != v {
                    push(inner);
                }
                // Some encoders also escape `/` (`\/`), which serde does not.
                if inner.contains('/') {
                    push(&inner.replace('/', "\\/"));
                }
            }
        }
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self {
            needles: all
                .into_iter()
                .map(|v| memmem::Finder::new(v.as_bytes()).into_owned())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every known secret value replaced by [`REDACTED`].
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for f in &self.needles {
            if f.find(out.as_bytes()).is_none() {
                continue;
            }
            let mut next = String::with_capacity(out.len());
            let mut rest: &str = &out;
            while let Some(i) = f.find(rest.as_bytes()) {
                // Needles are whole UTF-8 strings, so a match starts and ends on char bounds.
                next.push_str(&rest[..i]);
                next.push_str(REDACTED);
                rest = &rest[i + f.needle().len()..];
            }
            next.push_str(rest);
            out = Cow::Owned(next);
        }
        out
    }

    /// Masks in place; returns whether anything changed.
    pub fn mask_string(&self, text: &mut String) -> bool {
        match self.mask(text) {
            Cow::Borrowed(_) => false,
            Cow::Owned(masked) => {
                *text = masked;
                true
            }
        }
    }

    /// Masks text on its way to a terminal: the raw text first, then what a terminal would
    /// show of it. A value split by escape sequences (`grep --color` output) is only visible
    /// after stripping; such a line loses its escapes and is masked as shown. Returns whether
    /// anything changed.
    pub fn mask_shown(&self, text: &mut String) -> bool {
        let raw = self.mask_string(text);
        if self.is_empty() || !crate::untrusted::has_escapes(text) {
            return raw;
        }
        let shown = crate::untrusted::without_escapes(text);
        match self.mask(&shown) {
            Cow::Borrowed(_) => raw,
            Cow::Owned(masked) => {
                *text = masked;
                true
            }
        }
    }

    /// Masks bytes holding text (a JSON frame, a formatted log record). Bytes that are not
    /// UTF-8 come back unchanged unless a secret was found (then invalid sequences become U+FFFD).
    pub fn mask_bytes<'b>(&self, bytes: &'b [u8]) -> Cow<'b, [u8]> {
        if self.is_empty() {
            return Cow::Borrowed(bytes);
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => match self.mask(s) {
                Cow::Borrowed(_) => Cow::Borrowed(bytes),
                Cow::Owned(m) => Cow::Owned(m.into_bytes()),
            },
            Err(_) => match self.mask(&String::from_utf8_lossy(bytes)) {
                Cow::Borrowed(_) => Cow::Borrowed(bytes),
                Cow::Owned(m) => Cow::Owned(m.into_bytes()),
            },
        }
    }
}

/// The process-wide masker: one fleet per process, replaced as a whole on a config reload.
static GLOBAL: RwLock<Option<Arc<Masker>>> = RwLock::new(None);

/// Makes `masker` the one every writer of text uses from now on.
pub fn install(masker: Masker) {
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    *g = Some(Arc::new(masker));
}

/// The installed masker (empty before [`install`]).
pub fn masker() -> Arc<Masker> {
    GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// `text` masked with the installed masker.
pub fn mask(text: &str) -> Cow<'_, str> {
    let m = masker();
    match m.mask(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// `text` masked with the installed masker, reusing the allocation when nothing matches.
pub fn mask_owned(mut text: String) -> String {
    masker().mask_string(&mut text);
    text
}

/// Untrusted text as one line safe for a terminal: masked before and after escape stripping
/// (see [`Masker::mask_shown`]), then through [`crate::untrusted::one_line`].
pub fn shown_line(text: &str, max_chars: usize) -> String {
    let mut t = text.to_string();
    masker().mask_shown(&mut t);
    mask_owned(crate::untrusted::one_line(&t, max_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_secret_names() {
        for k in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GH_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "client_secret",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "PATH",
            "HOME",
            "RUST_LOG",
            "KEYBOARD_LAYOUT",
            "TOKENIZERS_PARALLELISM",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        assert_eq!(display_value("GH_TOKEN", "abc"), REDACTED);
        assert_eq!(display_value("MODE", "fast"), "fast");
    }

    #[test]
    fn values_are_masked_wherever_they_appear() {
        let m = Masker::new(["ghp_S3cr3tT0ken", "abc", "pa\"ss\\word"]);
        assert_eq!(
            m.mask("auth rejected for bearer ghp_S3cr3tT0ken (x=ghp_S3cr3tT0ken)"),
            "auth rejected for bearer <redacted> (x=<redacted>)"
        );
        // Short values are not masked: "abc" is a word in too many lines.
        assert_eq!(m.mask("abc def"), "abc def");
        assert!(matches!(m.mask("nothing here"), Cow::Borrowed(_)));
        // The JSON-escaped form is masked too (structured logs, socket frames).
        let json = serde_json::to_string("p: pa\"ss\\word").unwrap_or_default();
        assert_eq!(m.mask(&json), "\"p: <redacted>\"");
        assert_eq!(m.mask("p: pa\"ss\\word"), "p: <redacted>");
    }

    #[test]
    fn a_value_split_by_colour_codes_is_masked_as_shown() {
        let m = Masker::new(["ghp_S3cr3tT0ken"]);
        // `grep --color` wraps the match: the raw bytes never hold the value whole.
        let mut line = "token: ghp_S3c\u{1b}[01;31m\u{1b}[Kr3t\u{1b}[m\u{1b}[KT0ken ok".to_string();
        assert!(m.mask_shown(&mut line));
        assert_eq!(line, "token: <redacted> ok");
        let mut plain = "\u{1b}[31mred\u{1b}[0m".to_string();
        assert!(!m.mask_shown(&mut plain));
        assert_eq!(
            plain, "\u{1b}[31mred\u{1b}[0m",
            "colours stay when nothing is hidden"
        );
    }

    #[test]
    fn a_value_with_slashes_is_masked_in_its_escaped_slash_form() {
        let m = Masker::new(["https://user:pw@host/x"]);
        assert_eq!(
            m.mask(r#"{"url":"https:\/\/user:pw@host\/x"}"#),
            r#"{"url":"<redacted>"}"#
        );
    }

    #[test]
    fn longer_values_win_and_multiline_values_mask_per_line() {
        let m = Masker::new([
            "secret-one",
            "secret-one-and-more",
            "-----BEGIN\nline-two-xyz\n",
        ]);
        assert_eq!(m.mask("[secret-one-and-more]"), "[<redacted>]");
        assert_eq!(m.mask("got line-two-xyz"), "got <redacted>");
        assert_eq!(
            m.mask_bytes("é secret-one".as_bytes()).as_ref(),
            "é <redacted>".as_bytes()
        );
    }
}

//! Turns parse and validation failures into `file:line:column: message` diagnostics that name
//! the offending key, the table it sits in, and what would be valid.
//!
//! The typed parse (serde) knows *what* is wrong; a second, span-preserving parse of the same
//! text ([`SourceIndex`]) knows *where* each key lives, so every message can point at it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem in a config file, with a 1-based position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// A step in a key path: a table key or an index into an array (of tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Where the keys of a config text are, for pointing diagnostics at them.
pub struct SourceIndex<'a> {
    text: &'a str,
    file: &'a Path,
    root: Option<Spanned<DeTable<'a>>>,
}

impl<'a> SourceIndex<'a> {
    pub fn new(text: &'a str, file: &'a Path) -> Self {
        let root = DeTable::parse(text).ok();
        Self { text, file, root }
    }

    /// A diagnostic at byte offset `offset` of the text.
    pub fn at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        let (line, column) = line_column(self.text, offset);
        Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// A diagnostic at the value of `path`, or at the nearest enclosing key that exists (a key
    /// left at its default has no position of its own).
    pub fn at_path(&self, path: &[Seg], message: impl Into<String>) -> Diagnostic {
        let offset = self.span_of(path).map(|s| s.start).unwrap_or(0);
        self.at(offset, message)
    }

    fn span_of(&self, path: &[Seg]) -> Option<Range<usize>> {
        let root = self.root.as_ref()?;
        let mut best = None;
        let mut table: &DeTable = root.get_ref();
        let mut value: Option<&Spanned<DeValue>> = None;
        for seg in path {
            let next = match (seg, value.map(|v| v.get_ref())) {
                (Seg::Key(k), None) => table.get(k.as_str()),
                (Seg::Key(k), Some(DeValue::Table(t))) => t.get(k.as_str()),
                (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            let Some(next) = next else { break };
            // Prefer the key's own span for tables, which are otherwise spread over the file.
            best = Some(next.span());
            if let DeValue::Table(t) = next.get_ref() {
                table = t;
            }
            value = Some(next);
        }
        best
    }

    /// Finds the table holding a key whose key span starts at `offset` (for unknown-key errors).
    pub fn table_of_key_at(&self, offset: usize) -> Option<Vec<Seg>> {
        fn walk(table: &DeTable, offset: usize, path: &mut Vec<Seg>) -> bool {
            for (key, value) in table.iter() {
                if key.span().start == offset {
                    return true;
                }
                path.push(Seg::Key(key.get_ref().to_string()));
                if walk_value(value.get_ref(), offset, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        fn walk_value(value: &DeValue, offset: usize, path: &mut Vec<Seg>) -> bool {
            match value {
                DeValue::Table(t) => walk(t, offset, path),
                DeValue::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        path.push(Seg::Index(i));
                        if walk_value(item.get_ref(), offset, path) {
                            return true;
                        }
                        path.pop();
                    }
                    false
                }
                _ => false,
            }
        }
        let root = self.root.as_ref()?;
        let mut path = Vec::new();
        walk(root.get_ref(), offset, &mut path).then_some(path)
    }

    /// The path of the table (or array-of-tables item) whose span is exactly `span`.
    pub fn table_with_span(&self, span: Range<usize>) -> Option<Vec<Seg>> {
        fn walk(value: &Spanned<DeValue>, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
            if value.span() == *span && matches!(value.get_ref(), DeValue::Table(_)) {
                return true;
            }
            match value.get_ref() {
                DeValue::Table(t) => t.iter().any(|(k, v)| {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    let found = walk(v, span, path);
                    if !found {
                        path.pop();
                    }
                    found
                }),
                DeValue::Array(a) => a.iter().enumerate().any(|(i, v)| {
                    path.push(Seg::Index(i));
                    let found = walk(v, span, path);
                    if !found {
                        path.pop();
                    }
                    found
                }),
                _ => false,
            }
        }
        let root = self.root.as_ref()?;
        let mut path = Vec::new();
        let found = root.get_ref().iter().any(|(k, v)| {
            path.push(Seg::Key(k.get_ref().to_string()));
            let found = walk(v, &span, &mut path);
            if !found {
                path.pop();
            }
            found
        });
        found.then_some(path)
    }

    /// The table header governing `offset`, read from the text (works when the tree could not
    /// be built): `[fleet]`, `[[roles]] 2`, or `the top level`.
    pub fn header_before(&self, offset: usize) -> String {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let Some(header) = before
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
        else {
            return "the top level".into();
        };
        let header = header.split('#').next().unwrap_or(header).trim();
        if header.starts_with("[[") {
            let n = before
                .lines()
                .filter(|l| l.trim().starts_with(header))
                .count();
            format!("{header} {n}")
        } else {
            header.to_string()
        }
    }

    /// The bare key or word starting at `offset` (for messages that only carry a position).
    pub fn word_at(&self, offset: usize) -> &str {
        let rest = self.text.get(offset..).unwrap_or("");
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    /// The key path whose value span contains `offset` most tightly.
    pub fn key_of_value_at(&self, offset: usize) -> Option<Vec<Seg>> {
        fn walk(value: &DeValue, offset: usize, path: &mut Vec<Seg>, best: &mut Option<Vec<Seg>>) {
            match value {
                DeValue::Table(t) => {
                    for (key, v) in t.iter() {
                        path.push(Seg::Key(key.get_ref().to_string()));
                        if v.span().contains(&offset) {
                            *best = Some(path.clone());
                        }
                        walk(v.get_ref(), offset, path, best);
                        path.pop();
                    }
                }
                DeValue::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        path.push(Seg::Index(i));
                        if item.span().contains(&offset) {
                            *best = Some(path.clone());
                        }
                        walk(item.get_ref(), offset, path, best);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        let root = self.root.as_ref()?;
        let mut best = None;
        let mut path = Vec::new();
        for (key, v) in root.get_ref().iter() {
            path.push(Seg::Key(key.get_ref().to_string()));
            if v.span().contains(&offset) {
                best = Some(path.clone());
            }
            walk(v.get_ref(), offset, &mut path, &mut best);
            path.pop();
        }
        best
    }
}

/// Human name of a table path: `[fleet]`, `[[roles]] 2`, `[roles.limits] of [[roles]] 2`.
pub fn describe_table(path: &[Seg]) -> String {
    let mut keys = Vec::new();
    let mut role_index = None;
    for seg in path {
        match seg {
            Seg::Key(k) => keys.push(k.as_str()),
            Seg::Index(i) => role_index = Some(i + 1),
        }
    }
    match (keys.as_slice(), role_index) {
        ([], _) => "the top level".to_string(),
        ([array], Some(n)) => format!("[[{array}]] {n}"),
        ([array, rest @ ..], Some(n)) => format!("[{array}.{}] of [[{array}]] {n}", rest.join(".")),
        (keys, None) => format!("[{}]", keys.join(".")),
    }
}

/// The dotted name of a key path, for messages (`roles[2].limits.memory`).
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{}]", i + 1)),
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// The closest candidate to `word`, if it is plausibly a typo of it.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Rewrites a toml/serde error into a diagnostic that names the key and the table.
pub fn from_toml_error(index: &SourceIndex<'_>, err: &toml::de::Error) -> Diagnostic {
    let offset = err.span().map(|s| s.start).unwrap_or(0);
    let raw = err.message().trim();
    if let Some(rest) = raw.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let table = index
            .table_of_key_at(offset)
            .map(|p| describe_table(&p))
            .unwrap_or_else(|| "this table".into());
        let hint = match did_you_mean(field, expected.iter().copied()) {
            Some(s) => format!(" — did you mean `{s}`?"),
            None if expected.is_empty() => String::new(),
            None => format!(" — valid keys: {}", expected.join(", ")),
        };
        return index.at(offset, format!("unknown key `{field}` in {table}{hint}"));
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        // The error spans the table that lacks the key; only an exact match names it.
        let table = err
            .span()
            .and_then(|span| index.table_with_span(span))
            .map(|p| describe_table(&p))
            .unwrap_or_else(|| "the top level".into());
        return index.at(offset, format!("missing required key `{field}` in {table}"));
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let key = index.key_of_value_at(offset).map(|p| dotted(&p));
        let (variant, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let hint = match did_you_mean(variant, expected.iter().copied()) {
            Some(s) => format!(" — did you mean `{s}`?"),
            None => format!(" — valid values: {}", expected.join(", ")),
        };
        let key = key.map(|k| format!(" for `{k}`")).unwrap_or_default();
        return index.at(offset, format!("invalid value `{variant}`{key}{hint}"));
    }
    if raw.starts_with("duplicate key") {
        let key = index.word_at(offset);
        let table = index.header_before(offset);
        return index.at(
            offset,
            format!("duplicate key `{key}` in {table} — each key may appear once per table"),
        );
    }
    match index.key_of_value_at(offset) {
        Some(path) if err.span().is_some() => {
            index.at(offset, format!("`{}`: {}", dotted(&path), first_line(raw)))
        }
        _ => index.at(offset, first_line(raw).to_string()),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 4));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("replica", ["name", "replicas", "image"]),
            Some("replicas")
        );
        assert_eq!(did_you_mean("zzz", ["name", "replicas"]), None);
    }

    #[test]
    fn describes_tables_like_the_file_writes_them() {
        let role = [Seg::Key("roles".into()), Seg::Index(1)];
        assert_eq!(describe_table(&role), "[[roles]] 2");
        let limits = [
            Seg::Key("roles".into()),
            Seg::Index(0),
            Seg::Key("limits".into()),
        ];
        assert_eq!(describe_table(&limits), "[roles.limits] of [[roles]] 1");
        assert_eq!(describe_table(&[Seg::Key("fleet".into())]), "[fleet]");
    }
}

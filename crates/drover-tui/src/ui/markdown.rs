//! PROGRESS.md rendering: markdown (pulldown-cmark events with source offsets) to styled
//! logical lines, each knowing whether it comes from a changed source line; and word wrapping
//! of those lines to a width, so the view can scroll to a change exactly.
//!
//! Invariants: pure (no I/O); any input text renders (unknown constructs fall back to their
//! text); output size is linear in the input.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use crate::theme::Theme;

/// One rendered markdown line before wrapping.
#[derive(Clone, Debug, PartialEq)]
pub struct MdLine {
    /// Prefix repeated on wrapped continuation rows (list indent, quote bar).
    pub indent: Vec<Span<'static>>,
    pub spans: Vec<Span<'static>>,
    /// Some source line this line came from is in the changed set.
    pub changed: bool,
}

impl MdLine {
    pub fn text(&self) -> String {
        self.indent
            .iter()
            .chain(self.spans.iter())
            .map(|s| s.content.as_ref())
            .collect()
    }
}

struct Builder<'t> {
    theme: &'t Theme,
    out: Vec<MdLine>,
    cur: Vec<Span<'static>>,
    cur_changed: bool,
    styles: Vec<Style>,
    /// Prefix for the current block: quote bars and list indentation.
    prefix: Vec<Span<'static>>,
    lists: Vec<Option<u64>>,
    /// Pending list marker for the first line of an item.
    marker: Option<String>,
    in_code: bool,
    changed: &'t [bool],
    line_starts: Vec<usize>,
}

impl<'t> Builder<'t> {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let s = f(self.style());
        self.styles.push(s);
    }

    fn mark(&mut self, range: &Range<usize>) {
        let first = self.source_line(range.start);
        let last = self.source_line(range.end.saturating_sub(1).max(range.start));
        if (first..=last).any(|l| self.changed.get(l).copied().unwrap_or(false)) {
            self.cur_changed = true;
        }
    }

    fn source_line(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1)
    }

    fn text(&mut self, t: &str) {
        if self.cur.is_empty() {
            self.start_line();
        }
        let style = self.style();
        self.cur.push(Span::styled(t.to_string(), style));
    }

    fn start_line(&mut self) {
        if let Some(m) = self.marker.take() {
            let muted = Style::default().fg(self.theme.base.accent);
            self.cur.push(Span::styled(m, muted));
        }
    }

    fn flush(&mut self) {
        if self.cur.is_empty() && self.marker.is_none() {
            return;
        }
        self.start_line();
        let spans = std::mem::take(&mut self.cur);
        self.out.push(MdLine {
            indent: self.prefix.clone(),
            spans,
            changed: std::mem::take(&mut self.cur_changed),
        });
    }

    fn blank(&mut self) {
        self.flush();
        if self.out.last().is_some_and(|l| !l.spans.is_empty()) {
            self.out.push(MdLine {
                indent: Vec::new(),
                spans: Vec::new(),
                changed: false,
            });
        }
    }

    fn list_indent(&self) -> usize {
        self.lists.len().saturating_sub(1) * 2
    }
}

/// Renders `source` to logical lines; `changed_lines` are 0-based source line numbers.
pub fn render_markdown(source: &str, changed_lines: &[usize], theme: &Theme) -> Vec<MdLine> {
    let line_count = source.lines().count().max(1);
    let mut changed = vec![false; line_count];
    for l in changed_lines {
        if let Some(c) = changed.get_mut(*l) {
            *c = true;
        }
    }
    let mut line_starts = vec![0];
    line_starts.extend(
        source
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1),
    );
    let mut b = Builder {
        theme,
        out: Vec::new(),
        cur: Vec::new(),
        cur_changed: false,
        styles: vec![Style::default().fg(theme.base.text)],
        prefix: Vec::new(),
        lists: Vec::new(),
        marker: None,
        in_code: false,
        changed: &changed,
        line_starts,
    };
    let opts = Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH;
    for (event, range) in Parser::new_ext(source, opts).into_offset_iter() {
        match event {
            Event::Start(tag) => start_tag(&mut b, tag, &range),
            Event::End(tag) => end_tag(&mut b, tag),
            Event::Text(t) => {
                if b.in_code {
                    code_text(&mut b, &t, range.start);
                } else {
                    b.mark(&range);
                    b.text(&t);
                }
            }
            Event::Code(t) => {
                b.mark(&range);
                let style = b.style().fg(theme.base.accent);
                if b.cur.is_empty() {
                    b.start_line();
                }
                b.cur.push(Span::styled(format!("`{t}`"), style));
            }
            Event::SoftBreak => b.text(" "),
            Event::HardBreak => b.flush(),
            Event::Rule => {
                b.blank();
                b.mark(&range);
                let style = Style::default().fg(theme.base.muted);
                b.cur.push(Span::styled("─".repeat(40), style));
                b.flush();
            }
            Event::TaskListMarker(done) => {
                b.mark(&range);
                b.text(if done { "[x] " } else { "[ ] " });
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                b.mark(&range);
                b.text(t.trim_end_matches('\n'));
            }
            Event::FootnoteReference(t) => b.text(&format!("[^{t}]")),
            Event::InlineMath(t) | Event::DisplayMath(t) => b.text(&t),
        }
    }
    b.flush();
    while b.out.last().is_some_and(|l| l.spans.is_empty()) {
        b.out.pop();
    }
    b.out
}

fn code_text(b: &mut Builder<'_>, text: &str, start: usize) {
    let style = Style::default().fg(b.theme.base.accent);
    let mut offset = start;
    for piece in text.split_inclusive('\n') {
        let line = piece.trim_end_matches('\n');
        b.mark(&(offset..offset + piece.len().max(1)));
        b.cur.push(Span::styled(format!("  {line}"), style));
        b.flush();
        offset += piece.len();
    }
}

fn start_tag(b: &mut Builder<'_>, tag: Tag<'_>, range: &Range<usize>) {
    let theme = b.theme;
    match tag {
        Tag::Paragraph => {
            b.mark(&(range.start..range.start + 1));
        }
        Tag::Heading { level, .. } => {
            b.blank();
            b.mark(&(range.start..range.start + 1));
            let hashes = match level {
                HeadingLevel::H1 => "# ",
                HeadingLevel::H2 => "## ",
                HeadingLevel::H3 => "### ",
                _ => "#### ",
            };
            b.push_style(|_| {
                let s = Style::default()
                    .fg(theme.base.title)
                    .add_modifier(Modifier::BOLD);
                if level == HeadingLevel::H1 {
                    s.add_modifier(Modifier::UNDERLINED)
                } else {
                    s
                }
            });
            // The hashes keep heading levels readable without colour or bold.
            b.text(hashes);
        }
        Tag::BlockQuote(_) => {
            b.flush();
            b.prefix
                .push(Span::styled("│ ", Style::default().fg(theme.base.muted)));
            b.push_style(|s| s.add_modifier(Modifier::ITALIC));
        }
        Tag::CodeBlock(kind) => {
            b.flush();
            b.in_code = true;
            if let CodeBlockKind::Fenced(lang) = kind
                && !lang.is_empty()
            {
                b.cur.push(Span::styled(
                    format!("  ({lang})"),
                    Style::default().fg(theme.base.muted),
                ));
                b.flush();
            }
        }
        Tag::List(start) => {
            b.flush();
            if b.lists.is_empty() {
                b.blank();
            }
            b.lists.push(start);
        }
        Tag::Item => {
            b.flush();
            b.mark(&(range.start..range.start + 1));
            let indent = " ".repeat(b.list_indent());
            let marker = match b.lists.last_mut() {
                Some(Some(n)) => {
                    let m = format!("{indent}{n}. ");
                    *n += 1;
                    m
                }
                _ => format!("{indent}• "),
            };
            b.marker = Some(marker);
        }
        Tag::Emphasis => b.push_style(|s| s.add_modifier(Modifier::ITALIC)),
        Tag::Strong => b.push_style(|s| s.add_modifier(Modifier::BOLD)),
        Tag::Strikethrough => b.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
        Tag::Link { .. } | Tag::Image { .. } => {
            b.push_style(|s| s.add_modifier(Modifier::UNDERLINED));
        }
        Tag::Table(_) => b.blank(),
        Tag::TableHead => b.push_style(|s| s.add_modifier(Modifier::BOLD)),
        Tag::TableRow => b.flush(),
        Tag::TableCell if !b.cur.is_empty() => {
            let muted = Style::default().fg(theme.base.muted);
            b.cur.push(Span::styled(" │ ", muted));
        }
        _ => {}
    }
}

fn end_tag(b: &mut Builder<'_>, tag: TagEnd) {
    match tag {
        TagEnd::Paragraph => {
            b.flush();
            if b.lists.is_empty() {
                b.blank();
            }
        }
        TagEnd::Heading(_) => {
            b.styles.pop();
            b.flush();
            b.blank();
        }
        TagEnd::BlockQuote(_) => {
            b.flush();
            b.prefix.pop();
            b.styles.pop();
        }
        TagEnd::CodeBlock => {
            b.in_code = false;
            b.flush();
            b.blank();
        }
        TagEnd::List(_) => {
            b.flush();
            b.lists.pop();
            if b.lists.is_empty() {
                b.blank();
            }
        }
        TagEnd::Item => b.flush(),
        TagEnd::Emphasis
        | TagEnd::Strong
        | TagEnd::Strikethrough
        | TagEnd::Link
        | TagEnd::Image
        | TagEnd::TableHead => {
            b.styles.pop();
            if matches!(tag, TagEnd::TableHead) {
                b.flush();
            }
        }
        TagEnd::TableRow => b.flush(),
        TagEnd::Table => b.blank(),
        _ => {}
    }
    if b.styles.is_empty() {
        b.styles.push(Style::default().fg(b.theme.base.text));
    }
}

/// A row after wrapping, with the index of the logical line it belongs to.
pub struct WrappedRow {
    pub line: Line<'static>,
    pub source: usize,
}

/// Wraps logical lines at word boundaries to `width` columns; continuation rows repeat the
/// line's indent (and a list marker's width as blank space).
pub fn wrap_lines(lines: &[MdLine], width: u16) -> Vec<WrappedRow> {
    let width = usize::from(width.max(8));
    let mut rows = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let indent_w: usize = l.indent.iter().map(|s| s.content.width()).sum();
        let marker_w = l
            .spans
            .first()
            .filter(|s| {
                let t = s.content.trim_start();
                t.starts_with("• ")
                    || t.split_once(". ")
                        .is_some_and(|(n, _)| n.parse::<u64>().is_ok())
            })
            .map_or(0, |s| s.content.width());
        let mut row: Vec<Span<'static>> = l.indent.clone();
        let mut used = indent_w;
        let cont_indent = || {
            let mut v = l.indent.clone();
            if marker_w > 0 {
                v.push(Span::raw(" ".repeat(marker_w)));
            }
            v
        };
        let cont_w = (indent_w + marker_w).min(width / 2);
        for span in &l.spans {
            for word in split_keep_spaces(&span.content) {
                let w = word.width();
                if used + w > width && used > cont_w && !word.trim().is_empty() {
                    while row.last().is_some_and(|s| s.content == " ") {
                        row.pop();
                    }
                    rows.push(WrappedRow {
                        line: Line::from(std::mem::replace(&mut row, cont_indent())),
                        source: i,
                    });
                    used = cont_w;
                }
                if used == cont_w && word.trim().is_empty() && !rows.is_empty() {
                    continue;
                }
                let mut word = word.to_string();
                // A single word longer than the row is cut in pieces.
                while used + word.width() > width && word.chars().count() > 1 {
                    let room = width.saturating_sub(used).max(1);
                    let cut = cut_at_width(&word, room);
                    let rest = word.split_off(cut);
                    row.push(Span::styled(word, span.style));
                    rows.push(WrappedRow {
                        line: Line::from(std::mem::replace(&mut row, cont_indent())),
                        source: i,
                    });
                    used = cont_w;
                    word = rest;
                }
                used += word.width();
                row.push(Span::styled(word, span.style));
            }
        }
        rows.push(WrappedRow {
            line: Line::from(row),
            source: i,
        });
    }
    rows
}

fn split_keep_spaces(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == ' ' {
            if i > start {
                out.push(&s[start..i]);
            }
            out.push(&s[i..i + 1]);
            start = i + 1;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Byte index where the prefix of `s` reaches `cols` display columns (at least one char).
pub fn cut_at_width(s: &str, cols: usize) -> usize {
    let mut w = 0;
    for (i, c) in s.char_indices() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > cols && i > 0 {
            return i;
        }
        w += cw;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme() -> Theme {
        Theme::load("dark", None).unwrap()
    }

    fn texts(lines: &[MdLine]) -> Vec<String> {
        lines.iter().map(|l| l.text()).collect()
    }

    #[test]
    fn headings_lists_code_and_quotes_render_readably() {
        let src = "# Progress\n\nDone: **parser** and `lexer`.\n\n- [x] task a\n- [ ] task b\n  - nested\n\n1. first\n2. second\n\n```rust\nfn main() {}\n```\n\n> note\n\n---\n";
        let t = texts(&render_markdown(src, &[], &theme()));
        assert_eq!(
            t,
            [
                "# Progress",
                "",
                "Done: parser and `lexer`.",
                "",
                "• [x] task a",
                "• [ ] task b",
                "  • nested",
                "",
                "1. first",
                "2. second",
                "",
                "  (rust)",
                "  fn main() {}",
                "",
                "│ note",
                "",
                &"─".repeat(40),
            ]
        );
    }

    #[test]
    fn changed_source_lines_mark_their_rendered_lines() {
        let src = "# Title\n\nold paragraph\n\n- item one\n- item two\n";
        // Line 5 (0-based) is "- item two".
        let lines = render_markdown(src, &[5], &theme());
        let marked: Vec<String> = lines
            .iter()
            .filter(|l| l.changed)
            .map(|l| l.text())
            .collect();
        assert_eq!(marked, ["• item two"]);
        let lines = render_markdown(src, &[2], &theme());
        let marked: Vec<String> = lines
            .iter()
            .filter(|l| l.changed)
            .map(|l| l.text())
            .collect();
        assert_eq!(marked, ["old paragraph"]);
    }

    #[test]
    fn garbage_and_out_of_range_changes_do_not_panic() {
        let src = "\u{0}\u{1b}[31m<div>**unclosed `code\n|a|b|\n|-|-|\n|1|2|\n[^x]\n";
        let lines = render_markdown(src, &[0, 99, usize::MAX], &theme());
        assert!(!lines.is_empty());
        let _ = wrap_lines(&lines, 1);
    }

    #[test]
    fn wrapping_keeps_words_and_indents_continuations() {
        let src = "- alpha beta gamma delta epsilon\n";
        let lines = render_markdown(src, &[], &theme());
        let rows = wrap_lines(&lines, 16);
        let t: Vec<String> = rows
            .iter()
            .map(|r| r.line.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(t, ["• alpha beta", "  gamma delta", "  epsilon"]);
        assert!(rows.iter().all(|r| r.source == 0));
        let long = render_markdown(&"x".repeat(50), &[], &theme());
        let rows = wrap_lines(&long, 20);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.line.width() <= 20));
    }
}

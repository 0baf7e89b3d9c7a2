//! A JUnit XML document printed into the log rather than written to a file: `deno test
//! --reporter junit`, `node --test --test-reporter=junit`, `bun test --reporter=junit`
//! without an outfile. The lines from `<?xml …?>` or the root `<testsuites>` / `<testsuite>`
//! to the root's closing tag are gathered and read with the JUnit reader, which names the
//! runner from the root's `name` (`deno test`, `bun test`, …).
//!
//! Invariants: at most [`MAX_DOCUMENT_BYTES`] are held; a longer document, or one the reader
//! rejects (cut off, malformed, a header that contradicts its cases), is dropped, never
//! judged: drover does not guess from half a report. A document never starts inside another
//! runner's output, and its non-markup lines are free-form, so a run starting there ends it.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::junit::parse_junit;
use crate::run::Emitted;

/// A printed report larger than this is not read.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

#[derive(Default)]
pub(crate) struct JunitStdoutParser {
    doc: Option<Doc>,
}

struct Doc {
    text: String,
    start_line: u64,
    /// `testsuites` or `testsuite`, once the root element was seen.
    root: Option<&'static str>,
    /// Open root elements of the root's name (a `<testsuite>` may hold `<testsuite>`s).
    depth: usize,
}

fn root_of(t: &str) -> Option<&'static str> {
    if t.starts_with("<testsuites") {
        Some("testsuites")
    } else if t.starts_with("<testsuite") {
        Some("testsuite")
    } else {
        None
    }
}

/// Opening tags of `name` in the line, less the self-closing ones.
fn opens(t: &str, name: &str) -> usize {
    let open = format!("<{name}");
    t.match_indices(open.as_str())
        .filter(|(i, _)| {
            let after = t.get(i + open.len()..).unwrap_or("");
            let boundary = after.starts_with([' ', '>', '\t']) || after.is_empty();
            let tag_end = after.find('>').map(|e| after.get(..e).unwrap_or(""));
            boundary && !tag_end.is_some_and(|tag| tag.ends_with('/'))
        })
        .count()
}

impl Doc {
    fn push(&mut self, line: &str) -> bool {
        if self.text.len() + line.len() + 1 > MAX_DOCUMENT_BYTES {
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        true
    }
}

impl RunParser for JunitStdoutParser {
    fn phase(&self) -> Phase {
        if self.doc.is_some() {
            Phase::Running
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, _why: Interrupt, _out: &mut Vec<Emitted>) {
        // An unfinished document is never judged.
        self.doc = None;
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let Some(doc) = self.doc.as_mut() else {
            let declaration = t.starts_with("<?xml ") && t.ends_with("?>");
            let root = root_of(t);
            // Inside another runner's output a document is that run's test printing XML.
            if (!declaration && root.is_none()) || ctx.foreign_run_active {
                return Claim::NotMine;
            }
            let mut doc = Doc {
                text: String::new(),
                start_line: ctx.line_no,
                root: None,
                depth: 0,
            };
            doc.push(line);
            self.doc = Some(doc);
            if root.is_none() {
                return Claim::Mine;
            }
            return self.feed_root_line(t, out);
        };
        if !doc.push(line) {
            self.doc = None;
            return Claim::NotMine;
        }
        if doc.root.is_none() {
            if t.is_empty() || t.starts_with("<!--") {
                return Claim::Mine;
            }
            if root_of(t).is_none() {
                // A declaration followed by another document.
                self.doc = None;
                return Claim::NotMine;
            }
        }
        let claim = self.feed_root_line(t, out);
        // Text inside the document (a case's system-out) is free-form: another runner starting
        // a run there means the report was cut off, and it is dropped.
        if claim == Claim::Mine && self.doc.is_some() && !t.is_empty() && !t.starts_with('<') {
            Claim::Weak
        } else {
            claim
        }
    }
}

impl JunitStdoutParser {
    /// Tracks the root element's depth; at its close, reads the document.
    fn feed_root_line(&mut self, t: &str, out: &mut Vec<Emitted>) -> Claim {
        let Some(doc) = self.doc.as_mut() else {
            return Claim::NotMine;
        };
        let root = match doc.root {
            Some(r) => r,
            None => match root_of(t) {
                Some(r) => {
                    doc.root = Some(r);
                    r
                }
                None => return Claim::Mine,
            },
        };
        doc.depth += opens(t, root);
        let closes = t.matches(format!("</{root}>").as_str()).count();
        doc.depth = doc.depth.saturating_sub(closes);
        // Depth 0: the root closed (or was self-closing): the document is whole.
        if doc.depth == 0
            && let Some(doc) = self.doc.take()
            && let Ok(run) = parse_junit(doc.text.as_bytes())
        {
            out.push(Emitted {
                run,
                start_line: doc.start_line,
            });
        }
        Claim::Mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(log: &str) -> Vec<Emitted> {
        let mut p = JunitStdoutParser::default();
        let mut out = Vec::new();
        for (i, l) in log.lines().enumerate() {
            let ctx = LineCtx {
                line_no: i as u64 + 1,
                foreign_run_active: false,
            };
            p.feed(l, &ctx, &mut out);
        }
        p.interrupt(Interrupt::EndOfStream, &mut out);
        out
    }

    #[test]
    fn a_printed_report_is_read_and_a_cut_one_is_not() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"deno test\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"0.1\">\n  <testsuite name=\"a.ts\" tests=\"2\" disabled=\"0\" errors=\"0\" failures=\"1\">\n    <testcase name=\"ok\" time=\"0.01\">\n    </testcase>\n    <testcase name=\"bad\" time=\"0.01\">\n      <failure message=\"boom\">boom</failure>\n    </testcase>\n  </testsuite>\n</testsuites>\n";
        let got = runs(&format!("$ deno test --reporter junit\n\n{doc}"));
        assert_eq!(got.len(), 1);
        let r = &got[0].run;
        assert_eq!((r.runner.as_str(), r.passed, r.failed), ("deno", 1, 1));
        assert_eq!(got[0].start_line, 3);
        let cut: String = doc.lines().take(6).collect::<Vec<_>>().join("\n");
        assert!(runs(&cut).is_empty(), "half a report is never judged");
    }

    #[test]
    fn a_report_inside_another_run_or_cut_by_one_is_not_read() {
        let mut p = JunitStdoutParser::default();
        let mut out = Vec::new();
        let foreign = LineCtx {
            line_no: 1,
            foreign_run_active: true,
        };
        assert_eq!(
            p.feed("<testsuites name=\"x\">", &foreign, &mut out),
            Claim::NotMine
        );
        let idle = LineCtx {
            line_no: 2,
            foreign_run_active: false,
        };
        assert_eq!(
            p.feed("<testsuites name=\"x\">", &idle, &mut out),
            Claim::Mine
        );
        assert_eq!(p.feed("some captured text", &idle, &mut out), Claim::Weak);
        p.interrupt(Interrupt::OtherRunStarted, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn nested_suites_close_at_the_root() {
        assert_eq!(opens("<testsuite name=\"a\">", "testsuite"), 1);
        assert_eq!(opens("<testsuites name=\"a\">", "testsuite"), 0);
        assert_eq!(opens("<testsuite name=\"a\"/>", "testsuite"), 0);
    }
}

//! `pytest` output (pytest 9 at 80 columns): progress lines per file, failure sections
//! quoting the failing line, the short summary and the centred final count line.

use fastrand::Rng;

use super::{Failure, Reason, Suite, TestRun, file_of, fn_of, secs};

/// pytest's `sep`: `title` centred in a line of `ch` 80 columns wide.
pub fn pytest_sep(ch: char, title: &str) -> String {
    const WIDTH: usize = 80;
    if title.is_empty() {
        return ch.to_string().repeat(WIDTH);
    }
    let n = (WIDTH.saturating_sub(title.chars().count() + 2) / 2).max(1);
    let fill = ch.to_string().repeat(n);
    let mut line = format!("{fill} {title} {fill}");
    if line.chars().count() < WIDTH {
        line.push(ch);
    }
    line
}

pub(super) fn render(suite: &Suite, failures: &[Failure], rng: &mut Rng) -> TestRun {
    let mut run = TestRun::default();
    let out = &mut run.lines;
    let n = suite.tests.len();
    out.push(pytest_sep('=', "test session starts"));
    out.push("platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0".into());
    out.push("rootdir: /workspace".into());
    out.push(format!(
        "collected {n} item{}",
        if n == 1 { "" } else { "s" }
    ));
    out.push(String::new());
    let mut done = 0usize;
    let mut i = 0;
    while i < n {
        let file = file_of(&suite.tests[i]);
        let mut marks = String::new();
        while i < n && file_of(&suite.tests[i]) == file {
            marks.push(if suite.skipped.contains(&i) {
                's'
            } else if failures.iter().any(|f| f.test == i) {
                'F'
            } else {
                '.'
            });
            i += 1;
            done += 1;
        }
        let head = format!("{file} {marks}");
        let pct = format!("[{:>3}%]", done * 100 / n.max(1));
        // pytest leaves the last column free on progress lines: 79 wide at 80 columns.
        let pad = 79usize
            .saturating_sub(head.chars().count() + pct.len())
            .max(1);
        out.push(format!("{head}{}{pct}", " ".repeat(pad)));
    }
    out.push(String::new());
    let failed = failures.len();
    let skipped = suite.skipped.len();
    let passed = n - failed - skipped;
    if !failures.is_empty() {
        out.push(pytest_sep('=', "FAILURES"));
        for f in failures {
            let id = &suite.tests[f.test];
            let func = fn_of(id);
            out.push(pytest_sep('_', func));
            out.push(String::new());
            out.push(format!("    def {func}(client):"));
            let (code, e_lines, kind) = match &f.reason {
                Reason::NotEqual { left, right } => (
                    format!("assert resp.json()[\"count\"] == {right}"),
                    vec![format!("assert {left} == {right}")],
                    "AssertionError".to_string(),
                ),
                Reason::Message(m) => {
                    let kind = m.split(':').next().unwrap_or("Exception").to_string();
                    let code = if let Some(c) = &f.code {
                        c.clone()
                    } else if kind == "AssertionError" {
                        "assert len(page.items) == expected, f\"expected {expected} items, got {len(page.items)}\"".to_string()
                    } else {
                        format!("page = paginate(client, {})", suite.module)
                    };
                    (code, vec![m.clone()], kind)
                }
            };
            out.push(format!("        resp = client.get(\"/{}\")", suite.module));
            out.push(format!(">       {code}"));
            for e in &e_lines {
                out.push(format!("E       {e}"));
            }
            out.push(String::new());
            out.push(format!("{}:{}: {kind}", file_of(id), f.line));
        }
        out.push(pytest_sep('=', "short test summary info"));
        for f in failures {
            let summary = match &f.reason {
                Reason::NotEqual { left, right } => format!("assert {left} == {right}"),
                Reason::Message(m) => m.clone(),
            };
            out.push(format!("FAILED {} - {summary}", suite.tests[f.test]));
        }
    }
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    if passed > 0 {
        parts.push(format!("{passed} passed"));
    }
    if skipped > 0 {
        parts.push(format!("{skipped} skipped"));
    }
    let title = format!("{} in {}", parts.join(", "), secs(rng, 0..3));
    out.push(pytest_sep('=', &title));
    run.passed = passed;
    run.failed = failed;
    run.skipped = skipped;
    run
}

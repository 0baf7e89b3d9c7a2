//! Maven Surefire (and Failsafe) console output, with or without Maven's `[INFO]`/`[ERROR]`
//! prefixes (the line cleaner removes them): ` T E S T S`, per class `Running pkg.Class` and
//! `Tests run: N, Failures: F, Errors: E, Skipped: S, Time elapsed: … - in pkg.Class`, then
//! `Results :` with the failing tests listed (`Failed tests:` / `Tests in error:` in Surefire 2,
//! `Failures:` / `Errors:` with `  Class.method:line message` entries later) and the total
//! `Tests run: N, Failures: F, Errors: E, Skipped: S`.
//!
//! The total line (the one without `Time elapsed`) decides the counts: passed = N − F − E − S.
//! The lists after `Results` name the failures with their message. A run cut off before the
//! total keeps the per-class tallies; a forked JVM that died or a compile failure is an error.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{labelled_counts, leading_number};

#[derive(Default)]
pub(crate) struct SurefireParser {
    run: Option<SurefireRun>,
}

struct SurefireRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    in_results: bool,
    /// Inside a `Failed tests:` / `Failures:` / `Errors:` list.
    in_list: bool,
    /// The failure whose exception line comes next.
    detail: Option<usize>,
    broken: Option<RunEnd>,
}

impl SurefireRun {
    fn new(line_no: u64) -> Self {
        SurefireRun {
            b: RunBuilder::new(Runner::Surefire, line_no),
            tally: Counts::default(),
            summary: None,
            in_results: false,
            in_list: false,
            detail: None,
            broken: None,
        }
    }

    fn finish(self) -> Emitted {
        self.b
            .finish_by_summary(self.summary, self.tally, self.broken)
    }
}

/// `Tests run: 350, Failures: 1, Errors: 0, Skipped: 0[, Time elapsed: … - in X]` →
/// (counts, whether it is a per-class line).
fn tests_run(t: &str) -> Option<(Counts, bool)> {
    let rest = t.strip_prefix("Tests run: ")?;
    let (n, _) = leading_number(rest)?;
    let mut c = Counts::default();
    let mut per_class = false;
    for (key, v) in labelled_counts(rest, ", ") {
        match key {
            "Failures" => c.failed = v,
            "Errors" => c.errors = v,
            "Skipped" => c.skipped = v,
            "Time elapsed" => per_class = true,
            _ => {}
        }
    }
    c.passed = n
        .saturating_sub(c.failed)
        .saturating_sub(c.errors)
        .saturating_sub(c.skipped);
    Some((c, per_class || t.contains(" - in ") || t.contains("<<<")))
}

const LIST_HEADINGS: [&str; 4] = ["Failed tests:", "Tests in error:", "Failures:", "Errors:"];

fn is_list_heading(t: &str) -> bool {
    LIST_HEADINGS.iter().any(|h| t.starts_with(h))
}

/// `JUnit4Test.failWithNoParameters  Time elapsed: 0 s  <<< FAILURE!` → the test's name.
fn detail_line(t: &str) -> Option<&str> {
    if !(t.ends_with("<<< FAILURE!") || t.ends_with("<<< ERROR!")) || t.starts_with("Tests run:") {
        return None;
    }
    let (name, _) = t.split_once("Time elapsed")?;
    let name = name.trim().trim_end_matches("--").trim();
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

/// `Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.0.0-M4:test
/// (default-test) on project x: Execution … failed.: NullPointerException` → the goal, when the
/// test plugin itself failed (not `There are test failures`).
fn failed_goal(t: &str) -> Option<&str> {
    let rest = t.strip_prefix("Failed to execute goal ")?;
    let (goal, why) = rest.split_once(" on project ")?;
    if why.contains("There are test failures") || !why.contains(" failed") {
        return None;
    }
    let goal = goal
        .strip_prefix("org.apache.maven.plugins:")
        .unwrap_or(goal);
    (goal.contains("surefire") || goal.contains("failsafe")).then_some(goal)
}

/// The same test as the list names it (`Class.method`) and as its detail line or Surefire 2's
/// list names it (`method(pkg.Class)`).
fn same_test(a: &str, b: &str) -> bool {
    let dotted = |n: &str| -> Option<String> {
        let (method, class) = n.strip_suffix(')')?.split_once('(')?;
        let simple = class.rsplit('.').next()?;
        Some(format!("{simple}.{method}"))
    };
    a == b || dotted(a).is_some_and(|d| d == b) || dotted(b).is_some_and(|d| d == a)
}

/// Records a list entry, merged with the failure its detail line already named.
fn list_failure(b: &mut RunBuilder, name: &str, msg: &str) {
    let known = b.failures.iter().position(|f| same_test(&f.name, name));
    let i = match known {
        Some(i) => Some(i),
        None => b.push_failure(name, None, None),
    };
    if let Some(i) = i
        && !msg.trim().is_empty()
    {
        b.set_reason_if_none(i, msg);
    }
}

/// A list entry: `testX(pkg.Class): message` (Surefire 2) or `Class.method:12 message`.
fn list_entry(t: &str) -> Option<(&str, &str)> {
    if let Some(close) = t.find("): ") {
        let name = t.get(..=close)?;
        if name.contains('(') && !name.contains(' ') {
            return Some((name, t.get(close + 3..)?));
        }
    }
    if let Some(close) = t.strip_suffix(')')
        && close.contains('(')
        && !t.contains(' ')
    {
        return Some((t, ""));
    }
    let (head, msg) = t.split_once(' ').unwrap_or((t, ""));
    let name = match head.rsplit_once(':') {
        Some((n, line)) if line.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => head,
    };
    let msg = msg.trim_start_matches(['»', ' ']);
    (name.contains('.') && !name.contains('/')).then_some((name, msg))
}

impl RunParser for SurefireParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() || r.broken.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, _out: &mut Vec<Emitted>) -> Claim {
        let mut t = line.trim();
        // A bare Maven level tag (its trailing space trimmed away) is an empty line.
        if matches!(t, "[INFO]" | "[ERROR]" | "[WARNING]") {
            t = "";
        }
        let Some(run) = self.run.as_mut() else {
            if t == "T E S T S" || t == "Results :" || t == "Results:" {
                let mut run = SurefireRun::new(ctx.line_no);
                run.in_results = t != "T E S T S";
                self.run = Some(run);
                return Claim::Mine;
            }
            if let Some((c, per_class)) = tests_run(t) {
                if per_class {
                    let mut run = SurefireRun::new(ctx.line_no);
                    run.tally.add(c);
                    self.run = Some(run);
                    return Claim::Mine;
                }
                if !ctx.foreign_run_active {
                    let mut run = SurefireRun::new(ctx.line_no);
                    run.summary = Some(c);
                    self.run = Some(run);
                    return Claim::Mine;
                }
            }
            return Claim::NotMine;
        };
        if let Some((c, per_class)) = tests_run(t) {
            run.in_list = false;
            if per_class && !run.in_results {
                run.tally.add(c);
                run.b.running = None;
            } else if run.summary.is_none() {
                run.summary = Some(c);
            }
            return Claim::Mine;
        }
        if t == "Results :" || t == "Results:" {
            run.in_results = true;
            return Claim::Mine;
        }
        // `Class.method  Time elapsed: 0.01 s  <<< FAILURE!` (`name -- Time elapsed` in
        // Surefire 3): the exception follows on the next line.
        if let Some(name) = detail_line(t) {
            run.in_list = false;
            run.detail = run.b.failure_or_push(name);
            return Claim::Mine;
        }
        if let Some(i) = run.detail.take()
            && !t.is_empty()
            && !t.starts_with("at ")
            && !is_list_heading(t)
        {
            run.b.set_reason_if_none(i, t);
            return Claim::Mine;
        }
        if run.summary.is_none()
            && let Some(goal) = failed_goal(t)
        {
            // The plugin itself failed before its total (`… failed.: NullPointerException`).
            if run.broken.is_none() {
                let reason = t.split_once("failed.: ").map_or(t, |(_, r)| r);
                run.b.push_failure(goal, Some(reason), None);
                run.broken = Some(RunEnd::CutOff);
            }
            return Claim::Mine;
        }
        if let Some(class) = t.strip_prefix("Running ") {
            run.b.set_running(class.trim());
            return Claim::Mine;
        }
        if t.contains("The forked VM terminated without properly saying goodbye")
            || t.contains("There was an error in the forked process")
        {
            if run.broken.is_none() {
                run.b.push_failure("(forked JVM)", Some(t), None);
                run.broken = Some(RunEnd::CutOff);
            }
            return Claim::Mine;
        }
        // The lists after the results (`mvn -q` prints them without the `Results` heading).
        for head in LIST_HEADINGS {
            if let Some(rest) = t.strip_prefix(head) {
                run.in_list = true;
                if let Some((name, msg)) = list_entry(rest.trim()) {
                    list_failure(&mut run.b, name, msg);
                }
                return Claim::Mine;
            }
        }
        if run.in_list && !t.is_empty() && !t.starts_with("Tests run:") {
            if let Some((name, msg)) = list_entry(t) {
                list_failure(&mut run.b, name, msg);
                return Claim::Mine;
            }
            run.in_list = false;
        }
        if run.summary.is_some() {
            // Maven's closing block belongs to the run; anything else ends it.
            if t.is_empty()
                || t.starts_with("---")
                || t.starts_with("BUILD ")
                || t.starts_with("Reactor Summary")
                || t.starts_with("Total time:")
                || t.starts_with("Finished at:")
                || t.starts_with("Final Memory:")
                || t.starts_with("Failed to execute goal")
                || t.ends_with(']') && t.contains(" ....")
            {
                return Claim::Mine;
            }
            return Claim::NotMine;
        }
        if t.is_empty() {
            Claim::Mine
        } else {
            Claim::Weak
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let (c, per_class) =
            tests_run("Tests run: 350, Failures: 1, Errors: 0, Skipped: 0").unwrap();
        assert_eq!((c.passed, c.failed, per_class), (349, 1, false));
        let (_, per_class) = tests_run(
            "Tests run: 3, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.1 s - in a.B",
        )
        .unwrap();
        assert!(per_class);
        assert_eq!(
            list_entry("testA(pkg.C): expected:<1> but was:<2>"),
            Some(("testA(pkg.C)", "expected:<1> but was:<2>"))
        );
        assert_eq!(
            list_entry("CalcTest.testAdd:12 expected:<3> but was:<4>"),
            Some(("CalcTest.testAdd", "expected:<3> but was:<4>"))
        );
    }
}

//! One streaming parser per test runner, behind a common trait the detector drives.
//!
//! Contract for every parser:
//! - `feed` gets each cleaned line the parser may see. While `Idle`, a parser returns
//!   [`Claim::Mine`] only when the line starts a run (it then leaves `Idle`) or completes a
//!   one-line run (pushed to `out`). When `ctx.foreign_run_active` is set, only unambiguous
//!   run headers may start a run: never a summary-like line (a one-line run, or a start that is
//!   itself a summary such as jest's `Test Suites:`), since inside or right after another run
//!   such a line is that run's output quoting a summary.
//! - While `Running` or `Settling`, it returns `Mine` for the lines that belong to its run
//!   (`Weak` for free-form output within it).
//!   A settling parser that meets a line that is not its own emits its run, returns to `Idle`
//!   and returns [`Claim::NotMine`] so that the line is offered to the others.
//! - `interrupt` emits whatever is in progress and returns to `Idle`.
//! - Per-run state is bounded (counts plus capped failures and small fixed buffers).

mod bun;
mod cargo;
mod catch2;
mod ctest;
mod dart;
mod deno;
mod dotnet;
mod exunit;
mod generic;
mod gotest;
mod gradle;
mod gtest;
mod haskell;
mod jest;
mod junit_stdout;
mod mocha;
mod nextest;
mod node;
mod noted;
mod phpunit;
mod prove;
mod pytest;
mod rspec;
mod surefire;
mod tap;
mod unittest;
mod vitest;
mod xctest;
mod zig;

use super::run::Emitted;

/// Where a parser is in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No run in progress.
    Idle,
    /// A run started and has not printed its summary yet.
    Running,
    /// The summary was printed; further output may still belong to the run.
    Settling,
}

/// Whether a line belonged to the parser's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Structural output of the run (or captured output the runner framed): nobody else sees it.
    Mine,
    /// Free-form output inside the run (test output, tracebacks): part of the run unless another
    /// runner starts a run with this line, which then cuts this one off.
    Weak,
    NotMine,
}

/// Why the detector asks a parser to end its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// The stream ended.
    EndOfStream,
    /// Another runner started a run.
    OtherRunStarted,
    /// Enough unrelated output followed.
    Quiet,
    /// The caller flushed an idle stream.
    Flush,
}

/// Per-line context from the detector.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineCtx {
    /// 1-based line number within the stream.
    pub line_no: u64,
    /// Another runner's run is in progress or settling: summary-like lines (anything that
    /// would complete or pass a run on its own) must not become runs.
    pub foreign_run_active: bool,
}

pub(crate) trait RunParser {
    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim;
    fn phase(&self) -> Phase;
    fn interrupt(&mut self, why: Interrupt, out: &mut Vec<Emitted>);
}

/// The names `[roles.tests] parsers` accepts (besides `auto`), in the order parsers are tried.
pub const PARSER_NAMES: [&str; 27] = [
    "pytest", "unittest", "nextest", "cargo", "go", "node", "jest", "vitest", "mocha", "exunit",
    "rspec", "phpunit", "dotnet", "surefire", "gradle", "ctest", "gtest", "catch2", "bun", "deno",
    "zig", "xctest", "dart", "haskell", "tap", "junit", "generic",
];

/// All parsers, most specific first: an idle line is offered in this order and the first
/// claimant wins, so the generic `N passed, N failed` parser comes last.
pub(crate) fn all() -> Vec<Box<dyn RunParser + Send>> {
    selected(|_| true)
}

/// The parsers whose name (see [`PARSER_NAMES`]) `keep` accepts, in the same order.
pub(crate) fn selected(keep: impl Fn(&str) -> bool) -> Vec<Box<dyn RunParser + Send>> {
    let mut out: Vec<Box<dyn RunParser + Send>> = Vec::new();
    let mut add = |name: &str, p: Box<dyn RunParser + Send>| {
        if keep(name) {
            out.push(Box::new(noted::Noted::new(p)));
        }
    };
    add("pytest", Box::<pytest::PytestParser>::default());
    add("pytest", Box::<pytest::PytestRichParser>::default());
    add("unittest", Box::<unittest::UnittestParser>::default());
    add("nextest", Box::<nextest::NextestParser>::default());
    add("cargo", Box::<cargo::CargoTestParser>::default());
    add("go", Box::<gotest::GoTestParser>::default());
    add("node", Box::<node::NodeTapParser>::default());
    add("node", Box::<node::NodeSpecParser>::default());
    add("jest", Box::<jest::JestParser>::default());
    add("vitest", Box::<vitest::VitestParser>::default());
    add("mocha", Box::<mocha::MochaParser>::default());
    add("exunit", Box::<exunit::ExunitParser>::default());
    add("rspec", Box::<rspec::RspecParser>::default());
    add("phpunit", Box::<phpunit::PhpunitParser>::default());
    add("dotnet", Box::<dotnet::DotnetParser>::default());
    add("surefire", Box::<surefire::SurefireParser>::default());
    add("gradle", Box::<gradle::GradleParser>::default());
    add("ctest", Box::<ctest::CtestParser>::default());
    add("gtest", Box::<gtest::GtestParser>::default());
    add("catch2", Box::<catch2::Catch2Parser>::default());
    add("bun", Box::<bun::BunParser>::default());
    add("deno", Box::<deno::DenoParser>::default());
    add("zig", Box::<zig::ZigParser>::default());
    add("xctest", Box::<xctest::XctestParser>::default());
    add("dart", Box::<dart::DartParser>::default());
    add("haskell", Box::<haskell::TestFrameworkParser>::default());
    add("haskell", Box::<haskell::DoctestParser>::default());
    add("tap", Box::<tap::TapClassicParser>::default());
    add("tap", Box::<prove::ProveParser>::default());
    add("junit", Box::<junit_stdout::JunitStdoutParser>::default());
    add("generic", Box::<generic::GenericSummaryParser>::default());
    out
}

/// Parses a Rust panic header, old and new style, into (location, inline message):
/// `thread 'x' (123) panicked at src/lib.rs:15:9:` → (`src/lib.rs:15:9`, None);
/// `thread 'x' panicked at 'msg', src/lib.rs:10:5` → (`src/lib.rs:10:5`, Some(`msg`)).
pub(crate) fn rust_panic_header(line: &str) -> Option<(&str, Option<&str>)> {
    let t = line.trim();
    if !t.starts_with("thread '") {
        return None;
    }
    let (_, after) = t.split_once(" panicked at ")?;
    if let Some(loc) = after.strip_suffix(':') {
        return Some((loc, None));
    }
    // Old format: 'message', file:line:col
    let (msg, loc) = after.rsplit_once(", ")?;
    let msg = msg.strip_prefix('\'').and_then(|m| m.strip_suffix('\''));
    Some((loc, msg))
}

//! pytest lines seen while no run is open: the ones that start a run whose header was not
//! printed or not pasted (a section banner, `-q` progress, a crash glued to it, a collection
//! interruption, a `-qq` summary alone).

use super::lines::{interrupted_in_collection, parse_summary, progress_chars};
use super::{PytestParser, PytestRun, Section};
use crate::parsers::{Claim, LineCtx};
use crate::run::Emitted;

impl PytestParser {
    pub(super) fn feed_idle(
        &mut self,
        line: &str,
        banner: Option<&str>,
        ctx: &LineCtx,
        out: &mut Vec<Emitted>,
    ) -> Claim {
        if let Some(title) = banner {
            let section = match title {
                "FAILURES" => Some(Section::Failures),
                "ERRORS" => Some(Section::Errors),
                "short test summary info" => Some(Section::ShortSummary),
                t if t.starts_with("warnings summary") => Some(Section::Other),
                _ => None,
            };
            if let Some(s) = section {
                let run = self.start(ctx, s);
                if matches!(s, Section::Failures | Section::Errors) {
                    run.block_section = s;
                }
                return Claim::Mine;
            }
        }
        // `!!! Interrupted: 160 errors during collection !!!` with the run's start elided.
        if let Some(n) = interrupted_in_collection(line.trim())
            && !ctx.foreign_run_active
        {
            let run = self.start(ctx, Section::Other);
            run.collection_interrupted = true;
            run.collection_errors = n;
            return Claim::Mine;
        }
        // `-q` progress such as `....F.s  [ 42%]`.
        if let Some((chars, true)) = progress_chars(line)
            && !line.starts_with(' ')
        {
            let run = self.start(ctx, Section::Header);
            for c in chars.bytes() {
                run.tally_char(c);
            }
            return Claim::Mine;
        }
        // `-q` prints no header: a crash glued to the first progress line
        // (`...Fatal Python error: Segmentation fault`) is the first sign of the run, and the
        // tests that passed before it still count.
        if let Some(i) = line.find("Fatal Python error: ")
            && !ctx.foreign_run_active
            && let Some((chars, _)) = progress_chars(line.get(..i).unwrap_or(""))
        {
            let report = line.get(i..).unwrap_or("").trim().to_owned();
            let run = self.start(ctx, Section::Header);
            for c in chars.bytes() {
                run.tally_char(c);
            }
            run.crash_reason = Some(crate::run::truncate(&report, 200));
            run.cut_off = true;
            run.b.note(ctx.line_no, line, crate::run::Decides::Verdict);
            return Claim::Mine;
        }
        // `-qq` prints only the summary line.
        if !ctx.foreign_run_active
            && !line.starts_with(' ')
            && let Some(summary) = parse_summary(line.trim())
        {
            let run = PytestRun::new(ctx.line_no, Section::Header);
            out.push(run.finish(Some(summary)));
            return Claim::Mine;
        }
        Claim::NotMine
    }
}

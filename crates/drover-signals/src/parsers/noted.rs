//! Records, for every parser, the lines that decided a run: the line on which the parser left
//! `Idle` (it named the runner), the line on which it went from `Running` to `Settling` or
//! emitted the run (the summary: counts and verdict), and a one-line run's only line. Parsers
//! add their own notes for the lines only they understand (a failure, a load error, a crash).
//!
//! Invariant: the wrapper never changes what the parser claims or emits, only the runs'
//! `evidence`, which stays bounded by [`MAX_EVIDENCE`](crate::run::MAX_EVIDENCE).

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Decides, Emitted, Evidence, push_evidence};

pub(crate) struct Noted {
    inner: Box<dyn RunParser + Send>,
    /// Evidence of the run in progress, merged into it when it is emitted.
    current: Vec<Evidence>,
}

impl Noted {
    pub(crate) fn new(inner: Box<dyn RunParser + Send>) -> Self {
        Noted {
            inner,
            current: Vec::new(),
        }
    }

    fn attach(list: &[Evidence], e: &mut Emitted) {
        for n in list {
            push_evidence(&mut e.run.evidence, n.line, &n.text, n.decides);
        }
    }
}

impl RunParser for Noted {
    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let before = self.inner.phase();
        let first_new = out.len();
        let claim = self.inner.feed(line, ctx, out);
        let after = self.inner.phase();
        let mine = claim != Claim::NotMine;
        for (k, e) in out.iter_mut().enumerate().skip(first_new) {
            if k == first_new && before != Phase::Idle {
                // The run in progress ended on this line: it was its summary when the parser
                // claimed the line, else the line merely followed it.
                if mine && before == Phase::Running && after == Phase::Idle {
                    push_evidence(&mut self.current, ctx.line_no, line, Decides::Counts);
                }
                Self::attach(&self.current, e);
                self.current.clear();
            } else {
                // A run begun and completed on this very line.
                push_evidence(&mut e.run.evidence, ctx.line_no, line, Decides::Runner);
                push_evidence(&mut e.run.evidence, ctx.line_no, line, Decides::Counts);
            }
        }
        if after != Phase::Idle && (before == Phase::Idle || out.len() > first_new) && mine {
            self.current.clear();
            push_evidence(&mut self.current, ctx.line_no, line, Decides::Runner);
        }
        if after == Phase::Settling && before != Phase::Settling && mine {
            push_evidence(&mut self.current, ctx.line_no, line, Decides::Counts);
        }
        if after == Phase::Idle && out.len() == first_new {
            self.current.clear();
        }
        claim
    }

    fn phase(&self) -> Phase {
        self.inner.phase()
    }

    fn interrupt(&mut self, why: Interrupt, out: &mut Vec<Emitted>) {
        let first_new = out.len();
        self.inner.interrupt(why, out);
        for e in out.iter_mut().skip(first_new) {
            Self::attach(&self.current, e);
        }
        self.current.clear();
    }
}

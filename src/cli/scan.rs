//! `drover scan`: runs drover's log signal extraction over files or stdin and prints each
//! finding — test runs and loop-detector firings — so users can check drover (and their
//! `[loops]` thresholds) against their own agents' logs and transcripts (the format — plain
//! log, JSON lines, terminal transcript, JSON document — is detected by content). The thresholds come from the config
//! when one is given or found, else the defaults.

use std::io::{Read, Write};

use anyhow::Context;

use crate::config::ConfigError;
use crate::signals::{
    Finding, ScanLimits, Scanner, looks_like_json_document, looks_like_junit, looks_like_trx,
    scan_bytes_with,
};

/// JUnit reports larger than this are cut (and then fail to parse, said as an error).
const MAX_JUNIT_BYTES: u64 = 64 * 1024 * 1024;

/// The limits of the config given or found (`drover scan` works without one: defaults).
pub fn limits(explicit: Option<&std::path::Path>) -> anyhow::Result<ScanLimits> {
    let path = match crate::config::locate(explicit) {
        Ok(p) => p,
        Err(ConfigError::NotFound { .. }) if explicit.is_none() => return Ok(ScanLimits::default()),
        Err(e) => return Err(e.into()),
    };
    Ok(crate::config::load(&path)?.file.loops.scan_limits())
}

/// How `drover scan` prints each finding.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOutput {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// With each test run, the lines that decided its runner, counts and verdict.
    pub explain: bool,
}

/// Characters of one printed line of untrusted text.
const SHOWN_CHARS: usize = 2000;

/// Scans `files` (stdin when empty); returns how many findings were printed.
pub fn scan(
    files: &[std::path::PathBuf],
    output: ScanOutput,
    limits: ScanLimits,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let mut printed = 0;
    let mut emit = |findings: Vec<Finding>, out: &mut dyn Write| -> anyhow::Result<()> {
        for f in findings {
            // Findings quote the scanned input: text goes to a terminal through the sanitiser.
            let shown = |text: String| {
                text.lines()
                    .map(|l| crate::secrets::shown_line(l, SHOWN_CHARS))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let line = match (output.json, output.explain) {
                (true, false) => f.to_json_line(),
                (true, true) => f.to_json_line_explained(),
                (false, false) => shown(f.to_text()),
                (false, true) => match f.explain_text() {
                    Some(why) => shown(format!("{}\n{why}", f.to_text())),
                    None => shown(f.to_text()),
                },
            };
            writeln!(out, "{line}")?;
            printed += 1;
        }
        Ok(())
    };
    let mut sources: Vec<Box<dyn Read>> = Vec::new();
    if files.is_empty() {
        sources.push(Box::new(std::io::stdin().lock()));
    } else {
        for f in files {
            sources.push(Box::new(
                std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?,
            ));
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    for mut source in sources {
        let n = source.read(&mut buf).context("reading input")?;
        let head = buf.get(..n).unwrap_or_default();
        // A JUnit report or a JSON transcript (mini-swe-agent, SWE-agent, OpenHands) is one
        // document: read it whole (bounded). JSON lines that are not one document are then
        // scanned as a log.
        if looks_like_junit(head) || looks_like_trx(head) || looks_like_json_document(head) {
            let mut doc = head.to_vec();
            source
                .take(MAX_JUNIT_BYTES)
                .read_to_end(&mut doc)
                .context("reading input")?;
            emit(scan_bytes_with(&doc, limits), out)?;
            continue;
        }
        let mut scanner = Scanner::with_limits(limits);
        emit(scanner.push(head), out)?;
        loop {
            let n = source.read(&mut buf).context("reading input")?;
            if n == 0 {
                break;
            }
            emit(scanner.push(&buf[..n]), out)?;
        }
        emit(scanner.finish(), out)?;
    }
    Ok(printed)
}

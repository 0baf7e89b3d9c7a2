//! `drover scan`: runs drover's log signal extraction over files or stdin and prints each
//! finding, so users can check drover against their own agents' logs.

use std::io::{Read, Write};

use anyhow::Context;

use crate::signals::{Finding, Scanner};

/// Scans `files` (stdin when empty); returns how many findings were printed.
pub fn scan(
    files: &[std::path::PathBuf],
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let mut printed = 0;
    let mut emit = |findings: Vec<Finding>, out: &mut dyn Write| -> anyhow::Result<()> {
        for f in findings {
            let line = if json { f.to_json_line() } else { f.to_text() };
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
        let mut scanner = Scanner::new();
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

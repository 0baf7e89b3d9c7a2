//! Log pipeline throughput on one thread: the captured runner fixtures (plus the noisy,
//! coloured, prefixed ones and agent chatter) repeated to at least 2 M lines, fed line by line
//! through ANSI/prefix cleaning and every test-runner parser; then the loop-detection
//! normaliser and hash, the output loop detectors (windows, blocks, tool calls) and the usage
//! reader over the same lines, and the whole per-line pipeline of an agent's output (test runs,
//! then loop detectors outside runs, then usage). Prints lines/s and MB/s.
//!
//! Run: `cargo bench --bench signals_pipeline` (release profile).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use drover::signals::{
    LineCleaner, LineNormalizer, LoopFinding, OutputLoopDetector, TestRunDetector, usage_tokens,
};

const TARGET_LINES: usize = 2_000_000;
const ROUNDS: usize = 5;

fn load_corpus() -> Vec<Vec<u8>> {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/drover-signals/tests/fixtures/signals");
    let mut files = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("fixture folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("runner folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        entries.sort();
        files.extend(entries);
    }
    let chatter: &[&[u8]] = &[
        b"[agent] Reading src/cart.py (212 lines)",
        b"2026-01-05T10:00:00.123456789Z [agent] tool call: Bash(git status --short)",
        b"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"Let me look at the failing test.\"}]}}",
        b"   Compiling serde v1.0.228",
        b"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01\",\"usage\":{\"input_tokens\":1200,\"output_tokens\":80}}}",
        b"\x1b[2m12:00:01\x1b[0m \x1b[32mINFO\x1b[0m fetching dependency index",
        b"diff --git a/src/cart.py b/src/cart.py",
        b"+    return qty * unit",
        b"-    return qty * unit + 1",
    ];
    let mut lines = Vec::new();
    while lines.len() < TARGET_LINES {
        for f in &files {
            let bytes = std::fs::read(f).expect("fixture readable");
            for line in bytes.split(|b| *b == b'\n') {
                lines.push(line.to_vec());
            }
            for c in chatter {
                lines.push(c.to_vec());
            }
        }
    }
    lines
}

fn report(what: &str, lines: usize, bytes: usize, best: Duration) {
    let secs = best.as_secs_f64();
    println!(
        "{what:<44} {:>7.2} M lines/s  {:>7.1} MB/s  ({lines} lines, {:.1} MB, best of {ROUNDS}: {:.0} ms)",
        lines as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
        bytes as f64 / 1e6,
        secs * 1e3
    );
}

fn best_of(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let lines = load_corpus();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();

    let mut runs_found = 0usize;
    let pipeline = best_of(|| {
        let mut d = TestRunDetector::new();
        let mut out = Vec::new();
        for l in &lines {
            d.feed_line_into(l, &mut out);
        }
        out.extend(d.finish());
        runs_found = out.len();
        black_box(&out);
    });
    report(
        "strip + all test-run parsers (detector)",
        lines.len(),
        bytes,
        pipeline,
    );
    println!("    runs found per pass: {runs_found}");

    let clean_only = best_of(|| {
        let mut c = LineCleaner::new();
        let mut total = 0usize;
        for l in &lines {
            total += c.clean(l).len();
        }
        black_box(total);
    });
    report(
        "strip only (ANSI, \\r, prefixes)",
        lines.len(),
        bytes,
        clean_only,
    );

    // The lines that need the ANSI stripper (anstream) rather than the no-escape fast path.
    let coloured: Vec<&Vec<u8>> = lines.iter().filter(|l| l.contains(&0x1b)).collect();
    let coloured_bytes: usize = coloured.iter().map(|l| l.len() + 1).sum();
    let strip_coloured = best_of(|| {
        let mut c = LineCleaner::new();
        let mut total = 0usize;
        for l in &coloured {
            total += c.clean(l).len();
        }
        black_box(total);
    });
    report(
        "strip, lines with escapes only (anstream)",
        coloured.len(),
        coloured_bytes,
        strip_coloured,
    );

    let normalise = best_of(|| {
        let mut n = LineNormalizer::new();
        let mut acc = 0u64;
        for l in &lines {
            acc ^= n.hash(l);
        }
        black_box(acc);
    });
    report(
        "strip + normalise + hash (loop detection)",
        lines.len(),
        bytes,
        normalise,
    );

    let loops = best_of(|| {
        let mut d = OutputLoopDetector::default();
        let mut out: Vec<LoopFinding> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            d.feed(l, i as u64, &mut out);
            out.clear();
        }
        black_box(out.len());
    });
    report(
        "output loop detectors (windows + blocks + tool calls)",
        lines.len(),
        bytes,
        loops,
    );

    let usage = best_of(|| {
        let mut c = LineCleaner::new();
        let mut total = 0u64;
        for l in &lines {
            total += usage_tokens(c.clean(l)).unwrap_or(0);
        }
        black_box(total);
    });
    report("usage reader (budget)", lines.len(), bytes, usage);

    let whole = best_of(|| {
        let mut tests = TestRunDetector::new();
        let mut d = OutputLoopDetector::default();
        let mut c = LineCleaner::new();
        let mut out: Vec<LoopFinding> = Vec::new();
        let mut acc = 0u64;
        for (i, l) in lines.iter().enumerate() {
            acc += tests.feed_line(l).len() as u64;
            if !tests.in_run() {
                d.feed(l, i as u64, &mut out);
                out.clear();
            }
            acc += usage_tokens(c.clean(l)).unwrap_or(0);
        }
        black_box(acc);
    });
    report(
        "whole agent-output pipeline (tests + loops + usage)",
        lines.len(),
        bytes,
        whole,
    );
}

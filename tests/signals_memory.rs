//! Memory stays bounded whatever the log: 10 MB lines, long runs with thousands of failures and
//! huge reasons, a long stream. Measured with a counting allocator (this test binary has one
//! test so that nothing else allocates concurrently).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use drover::signals::{Scanner, TestRunDetector};

/// Counts live heap bytes; delegates the work to the system allocator.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's layout and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn detector_and_scanner_memory_stays_bounded() {
    const BOUND: isize = 512 * 1024;

    let mut d = TestRunDetector::new();
    d.feed_line(b"warm up");
    let base = live();

    // 10 MB lines, plain and with escapes, inside a running cargo block.
    d.feed_line(b"running 2 tests");
    for fill in [b'a', 0x1b, 0xff] {
        let mut big = vec![fill; 10 * 1024 * 1024];
        big.extend_from_slice(b"\r\n");
        d.feed_line(&big);
        drop(big);
        assert!(
            live() - base < BOUND,
            "after a 10 MB line: {} bytes",
            live() - base
        );
    }

    // Thousands of failures with very long panic messages.
    for i in 0..20_000 {
        d.feed_line(format!("test t{i} ... FAILED").as_bytes());
    }
    d.feed_line(b"failures:");
    for i in 0..2_000 {
        d.feed_line(format!("---- t{i} stdout ----").as_bytes());
        d.feed_line(b"thread 't' panicked at src/lib.rs:1:1:");
        d.feed_line("x".repeat(100_000).as_bytes());
    }
    assert!(
        live() - base < BOUND,
        "after 20k failures: {} bytes",
        live() - base
    );
    let runs = d.finish();
    assert_eq!(runs.len(), 1);
    drop(runs);

    // A long stream through the scanner, in chunks, without newlines for a while.
    let mut s = Scanner::new();
    let chunk = vec![b'z'; 1024 * 1024];
    let line = b"2026-01-05T10:00:00Z [agent] ok  \tpkg\t0.1s\n".repeat(1000);
    let base = live();
    for _ in 0..50 {
        s.push(&chunk);
    }
    s.push(b"\n");
    for _ in 0..100 {
        drop(s.push(&line));
    }
    assert!(live() - base < BOUND, "scanner: {} bytes", live() - base);
}

//! Upstream reads bounded before inflation: a push of a few hundred KB can hold gigabytes of
//! well-compressed blobs; drover sizes them from their object headers and never inflates one
//! over its read limit.

use crate::upstream_support;

use drover::upstream::UpstreamRepo;
use upstream_support::{SEED_TIME, Upstream};

const T: i64 = SEED_TIME;

fn open(up: &Upstream) -> UpstreamRepo {
    UpstreamRepo::open(&up.bare, None, "current_tasks", "PROGRESS.md").expect("open upstream")
}

/// Peak resident memory of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A cheap push (a few hundred KB of pack) holding a 256 MiB PROGRESS.md and a 256 MiB lock
/// file: drover reads their sizes from the object headers and inflates neither (before, every
/// read inflated each blob whole). Run alone: the peak is the whole test process's.
#[test]
fn huge_blobs_in_a_push_are_sized_from_their_headers_not_inflated() {
    const HUGE: usize = 256 << 20;
    let up = Upstream::new();
    let a = up.agent("implementer-1");
    // Written in small chunks, so this process's own peak stays low before the reads.
    let chunk = vec![0u8; 1 << 20];
    for path in ["PROGRESS.md", "current_tasks/big.txt"] {
        let full = a.dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        let mut f = std::fs::File::create(full).unwrap();
        for _ in 0..HUGE / chunk.len() {
            std::io::Write::write_all(&mut f, &chunk).unwrap();
        }
    }
    a.commit_all("huge", T + 10);
    a.push().expect("push");
    std::fs::remove_file(a.dir.join("PROGRESS.md")).unwrap();
    std::fs::remove_file(a.dir.join("current_tasks/big.txt")).unwrap();

    let before = peak_rss();
    let mut repo = open(&up);
    let progress = repo.progress().expect("progress").expect("present");
    let locks = repo.lock_table().expect("locks");
    let grew = peak_rss().saturating_sub(before);
    eprintln!("peak RSS grew by {} KiB reading both", grew / 1024);
    assert_eq!(progress.size, HUGE as u64);
    assert!(progress.truncated);
    assert!(progress.content.len() < 1024, "{}", progress.content.len());
    let big = locks.iter().find(|l| l.task == "big").expect("the lock");
    assert_eq!(big.size, HUGE as u64);
    assert!(
        grew < 64 << 20,
        "reading the repo grew the peak by {} MiB",
        grew >> 20
    );
}

/// Two lock files whose names agree in their first 200 characters (a long folder path) are two
/// tasks, each with its own name, and releasing one finds exactly that file; before, both read
/// as the same cut name, so the fleet's lock table (keyed by task) merged them and a release
/// was refused as ambiguous.
#[test]
fn long_lock_names_that_share_a_prefix_stay_two_locks() {
    let up = Upstream::new();
    let a = up.agent("implementer-1");
    let folder = "a-very-long-folder-name-".repeat(10);
    for task in ["alpha", "beta"] {
        a.write(
            format!("current_tasks/{folder}/{task}.txt"),
            b"implementer-1\n",
        );
    }
    a.commit_all("claim two long tasks", T + 10);
    a.push().expect("push");

    let mut repo = open(&up);
    let locks = repo.lock_table().expect("locks");
    assert_eq!(
        locks.len(),
        2,
        "{:?}",
        locks.iter().map(|l| &l.task).collect::<Vec<_>>()
    );
    assert_ne!(locks[0].task, locks[1].task);
    for lock in &locks {
        let prepared = repo
            .prepare_release(&lock.task, "operator", "test")
            .expect("release")
            .expect("the lock is found by its shown name");
        drop(prepared);
    }
}

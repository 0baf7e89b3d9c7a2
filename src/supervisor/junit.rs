//! JUnit XML results from `[roles.tests] junit_dir`: while a container's output is followed, the
//! folder is read through Docker's archive API every [`POLL_EVERY`] (and once more when the
//! container's output ends), and every new or changed `*.xml` file (JUnit: Surefire's and
//! Gradle's `TEST-*.xml`, PHPUnit `--log-junit`, `ctest --output-junit`…) or `*.trx` file
//! (`dotnet test --logger trx`), in the folder or below it, becomes a test run — stored
//! and reported to the core like a run parsed from the log, with `runner = junit` unless the
//! report names a closer one.
//!
//! Invariants: one poller per container id; a file is judged only after two polls saw the same
//! (size, mtime) (or on the last poll, once the container's output ended), so a report being
//! written is never read half-way; it is recorded once per (size, mtime), and only
//! if it was written after `since_ms` — the start of the container's current run, or drover's
//! own start for a container it adopted — so a restart in place or a drover restart never
//! records an old report again. Reading never blocks the supervisor loop; a failed read is
//! logged once per failure streak.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::core::Input;
use crate::signals::{parse_junit, parse_trx};
use crate::store::StoreWriter;
use drover_runtime::Runtime;

pub const POLL_EVERY: Duration = Duration::from_secs(5);

/// What one poller needs.
pub struct JunitSource {
    pub docker: Runtime,
    pub id: String,
    pub slot: String,
    pub dir: String,
    /// Files last modified before this (ms since the epoch) are not new.
    pub since_ms: u64,
    pub writer: StoreWriter,
    pub inputs: mpsc::Sender<Input>,
    /// Becomes true when the container's output ended.
    pub drained: Option<watch::Receiver<bool>>,
}

#[derive(Clone, Default)]
pub struct JunitPollers {
    active: Arc<Mutex<HashSet<String>>>,
}

impl JunitPollers {
    /// Starts polling container `id` unless a poller for it runs; `build` makes the poller's
    /// source and runs only when one is started.
    pub fn ensure(&self, id: &str, build: impl FnOnce() -> JunitSource) {
        {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if !active.insert(id.to_string()) {
                return;
            }
        }
        let src = build();
        let registry = self.clone();
        tokio::spawn(async move {
            let id = src.id.clone();
            poll(src).await;
            registry
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
    }
}

async fn poll(mut src: JunitSource) {
    // Per report: its last (size, mtime) and whether that version was judged.
    let mut seen: HashMap<String, ((u64, u64), bool)> = HashMap::new();
    let mut failing = false;
    // Report mtimes have whole seconds.
    let since_s = src.since_ms / 1000;
    loop {
        let ended = src.drained.as_ref().is_some_and(|d| *d.borrow());
        // One archive read per poll; the reports are picked from it by name.
        match src.docker.read_folder(&src.id, &src.dir, "").await {
            Ok(mut files) => {
                files.retain(|f| is_report(&f.path));
                failing = false;
                // Reports that are gone are forgotten, so a folder of per-run file names that
                // the agent cleans up never grows this map.
                seen.retain(|path, _| files.iter().any(|f| &f.path == path));
                for f in files {
                    let stamp = (f.size, f.mtime);
                    // A report is judged only once it stopped changing: seen with the same
                    // (size, mtime) by two polls in a row, or on the last poll after the
                    // container's output ended. A runner still writing it is never judged.
                    match seen.get(&f.path) {
                        Some(&(s, judged)) if s == stamp && judged => continue,
                        Some(&(s, _)) if s == stamp => {}
                        _ if !ended => {
                            seen.insert(f.path.clone(), (stamp, false));
                            continue;
                        }
                        _ => {}
                    }
                    seen.insert(f.path.clone(), (stamp, true));
                    if f.mtime < since_s {
                        continue;
                    }
                    let Some(xml) = f.content else {
                        tracing::warn!(
                            slot = src.slot,
                            file = f.path,
                            size = f.size,
                            "JUnit report too large to read; skipped"
                        );
                        continue;
                    };
                    let parsed = if f.path.ends_with(".trx") {
                        parse_trx(&xml)
                    } else {
                        parse_junit(&xml)
                    };
                    match parsed {
                        Ok(run) => super::output::record_run(
                            &src.slot,
                            &src.writer,
                            &src.inputs,
                            f.mtime.saturating_mul(1000),
                            run,
                        ),
                        Err(e) => {
                            tracing::warn!(
                                slot = src.slot,
                                file = f.path,
                                "JUnit report not readable: {e}"
                            )
                        }
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(
                        slot = src.slot,
                        dir = src.dir,
                        "cannot read JUnit results: {e}"
                    );
                }
                failing = true;
            }
        }
        if ended {
            return;
        }
        match src.drained.as_mut() {
            Some(d) => {
                let _ = tokio::time::timeout(POLL_EVERY, d.wait_for(|x| *x)).await;
            }
            None => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// A report file the poller reads: JUnit XML or TRX.
fn is_report(path: &str) -> bool {
    path.ends_with(".xml") || path.ends_with(".trx")
}

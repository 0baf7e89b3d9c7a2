//! Integration tests: the house rules that Cargo cannot express, read from the sources and the
//! lock file — which crate may depend on what (`purity`), and that no module of any crate
//! imports its importer (`circles`). They build nothing of drover's and run in a second.

// Test support code may unwrap: a panic is a failed test with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod circles;
mod purity;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Circles still standing, each as the set of its files: the checker fails on any other
/// circle, and on a listed one that is gone (so the list only shrinks). None is left.
const KNOWN: &[&[&str]] = &[];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The root file of every library crate in the workspace: the root package and `crates/*`.
fn crate_roots() -> Vec<PathBuf> {
    let ws = workspace();
    let mut roots = vec![ws.join("src/lib.rs")];
    let mut members: Vec<PathBuf> = std::fs::read_dir(ws.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src/lib.rs"))
        .filter(|p| p.exists())
        .collect();
    members.sort();
    roots.extend(members);
    roots
}

fn relative(p: &Path) -> String {
    p.strip_prefix(workspace())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn no_module_of_any_crate_imports_its_importer() {
    let roots = crate_roots();
    assert!(
        roots.len() >= 4,
        "the workspace's crates were found: {roots:?}"
    );
    let known: Vec<BTreeSet<String>> = KNOWN
        .iter()
        .map(|c| c.iter().map(|f| f.to_string()).collect())
        .collect();
    let mut seen_known = Vec::new();
    let mut report = String::new();
    let mut imports = 0;
    for root in &roots {
        let edges = circles::edges(root);
        imports += edges.len();
        // Files first, then the crate's top-level modules: `ui` ↔ `control` through different
        // files is a circle too.
        let modules = circles::top_level(&edges);
        let found = circles::circles(&edges)
            .into_iter()
            .chain(circles::circles(&modules));
        for (files, inside) in found {
            let names: BTreeSet<String> = files.iter().map(|f| relative(f)).collect();
            if known.contains(&names) {
                seen_known.push(names);
                continue;
            }
            report.push_str(&format!("circle of {} files:\n", names.len()));
            for e in inside {
                report.push_str(&format!(
                    "  {}:{} uses {} ({})\n",
                    relative(&e.from),
                    e.line,
                    e.path,
                    relative(&e.to)
                ));
            }
        }
    }
    assert!(imports > 200, "the imports were read: {imports}");
    assert!(
        report.is_empty(),
        "modules that import their importer:\n{report}"
    );
    for k in &known {
        assert!(
            seen_known.contains(k),
            "the circle {k:?} is gone: remove it from KNOWN"
        );
    }
}

/// The layers of `drover-core`'s `core`, lowest first: the model (data, the books that keep
/// records, a slot's state, the fleet), the rules per concern, the dispatch. Files under
/// `core/model/` are model.
const CORE_LAYERS: &[&[&str]] = &[
    &[
        "model",
        "signature",
        "policy",
        "effect",
        "input",
        "holders",
        "alerts",
        "incidents",
        "ledger",
        "claims",
        "locks",
        "slot",
        "fleet",
        "main_check",
        "hosts",
    ],
    &[
        "run_limit",
        "throttle",
        "unblock",
        "loops",
        "failure",
        "lifecycle",
        "command",
        "command_words",
        "spend",
        "runs",
        "scale",
        "context",
        "quota_groups",
        "main_rules",
        "outages",
    ],
    &["dispatch", "health", "reconcile", "settle", "snapshot"],
];

/// A file of the core imports only from its own layer or below: the model imports no rule,
/// a rule no dispatch (circles inside a layer are the other test's business).
#[test]
fn the_cores_layers_import_only_downwards() {
    let core = workspace().join("crates/drover-core/src/core");
    let layer = |f: &Path| -> Option<usize> {
        let rel = f.strip_prefix(&core).ok()?;
        if rel.starts_with("model") || rel == Path::new("mod.rs") {
            return Some(0);
        }
        let name = rel.file_stem()?.to_str()?;
        CORE_LAYERS.iter().position(|l| l.contains(&name))
    };
    let edges = circles::edges(&workspace().join("crates/drover-core/src/lib.rs"));
    let mut report = String::new();
    let mut seen = 0;
    // Uses of the crate's other modules (`secrets`, `untrusted`) are outside the layers.
    for e in edges
        .iter()
        .filter(|e| e.from.starts_with(&core) && e.to.starts_with(&core))
    {
        seen += 1;
        let (Some(from), Some(to)) = (layer(&e.from), layer(&e.to)) else {
            report.push_str(&format!(
                "  {} or {} is in no layer of CORE_LAYERS\n",
                relative(&e.from),
                relative(&e.to)
            ));
            continue;
        };
        // `mod.rs` re-exports from every layer: it is the core's face, not a layer.
        if to > from && !e.from.ends_with("core/mod.rs") {
            report.push_str(&format!(
                "  {}:{} uses {} ({})\n",
                relative(&e.from),
                e.line,
                e.path,
                relative(&e.to)
            ));
        }
    }
    assert!(seen > 100, "the core's imports were read: {seen}");
    assert!(report.is_empty(), "imports upwards:\n{report}");
}

/// The checker itself, on a crate made for it: a circle through `super::`, a child path and a
/// re-export is found with its lines; the same files without the back edge are not a circle.
#[test]
fn the_checker_finds_a_circle_through_a_reexport_and_names_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub use b::Thing;\n// crate::a::x::f() in a comment is no import\n",
    )
    .unwrap();
    std::fs::write(src.join("a/mod.rs"), "pub mod x;\npub use x::f;\n").unwrap();
    std::fs::write(
        src.join("a/x.rs"),
        "pub fn f() -> crate::Thing {\n    crate::Thing\n}\n#[cfg(test)]\nmod tests { use crate::b::back; }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct Thing;\npub fn back() {\n    let s = \"crate::a::f\";\n    super::a::f();\n}\n",
    )
    .unwrap();
    let edges = circles::edges(&src.join("lib.rs"));
    let found = circles::circles(&edges);
    assert_eq!(found.len(), 1, "{edges:?}");
    let (files, inside) = &found[0];
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a/x.rs", "b.rs"]);
    let lines: BTreeSet<(String, usize)> = inside
        .iter()
        .map(|e| {
            (
                e.from.file_name().unwrap().to_string_lossy().into_owned(),
                e.line,
            )
        })
        .collect();
    assert_eq!(
        lines,
        BTreeSet::from([("x.rs".into(), 1), ("x.rs".into(), 2), ("b.rs".into(), 4)])
    );

    // Without the back edge the same imports make no circle.
    std::fs::write(src.join("b.rs"), "pub struct Thing;\n").unwrap();
    assert!(circles::circles(&circles::edges(&src.join("lib.rs"))).is_empty());
}

/// Every integration-test binary links the whole tree of its crate, so they are few: at most
/// 12 in the workspace (`tests/*.rs` and `tests/*/main.rs` of every crate).
#[test]
fn the_workspace_has_at_most_twelve_test_binaries() {
    let ws = workspace();
    let mut dirs = vec![ws.clone()];
    dirs.extend(
        std::fs::read_dir(ws.join("crates"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let mut binaries = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join("tests")) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let is_binary = if p.is_dir() {
                p.join("main.rs").exists()
            } else {
                p.extension().is_some_and(|x| x == "rs")
            };
            if is_binary {
                binaries.push(relative(&p));
            }
        }
    }
    binaries.sort();
    assert!(
        binaries.contains(&"tests/house".to_string()),
        "{binaries:?}"
    );
    assert!(
        binaries.len() <= 12,
        "{} test binaries: {binaries:?}",
        binaries.len()
    );
}
